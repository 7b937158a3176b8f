// The POSIX adapter: the one place where errno becomes a Status (naming the operation, the path
// and what errno said), an RAII file descriptor, and the file operations the store and the
// worker need (durable writes, no-replace renames, directory fsync, advisory locks).
// Free functions are thread-safe; an Fd object is thread-compatible.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace recomp {

// ENOENT -> NotFound, EEXIST -> AlreadyExists, everything else -> IOError. Message:
// "<op> '<path>': <strerror> (<ERRNO NAME>)", without the quoted part when `path` is empty.
Status ErrnoStatus(std::string_view op, const std::string& path, int err);
// "<strerror> (<ERRNO NAME>)", for messages that are not a Status (a job's failure text, logs).
std::string ErrnoText(int err);

// Owns a file descriptor; closes it on destruction. Move-only.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  // Closes now, reporting a close(2) error (relevant after writes on NFS-like filesystems).
  Status Close(const std::string& path);

 private:
  int fd_ = -1;
};

// Opens an existing file for reading. A directory is InvalidArgument ("is a directory").
Result<Fd> OpenForRead(const std::string& path);
// Creates a new file (O_EXCL) for writing with `mode`.
Result<Fd> CreateExclusive(const std::string& path, mode_t mode);
// Opens a directory (for fsync).
Result<Fd> OpenDir(const std::string& path);

// Reads up to `n` bytes (retrying EINTR); 0 means end of file.
Result<size_t> ReadSome(int fd, void* buf, size_t n, const std::string& path);
// Writes all `n` bytes (retrying short writes and EINTR).
Status WriteAll(int fd, const void* buf, size_t n, const std::string& path);
// fdatasync(2) of a file's data and size.
Status SyncData(int fd, const std::string& path);
// Starts asynchronous writeback of a byte range (sync_file_range WRITE), so that a later
// SyncData has little left to do and dirty pages stay bounded.
Status StartWriteback(int fd, uint64_t offset, uint64_t len, const std::string& path);
// Advises sequential access (readahead); failures are ignored.
void AdviseSequential(int fd);
// fsync(2) of a directory so that entries created or removed in it are durable.
Status SyncDir(const std::string& dir);
Result<struct stat> StatFd(int fd, const std::string& path);
// stat(2); NotFound when absent.
Result<struct stat> StatPath(const std::string& path);
Status ChmodFd(int fd, mode_t mode, const std::string& path);

// Renames `from` to `to` unless `to` exists (AlreadyExists then; `from` is left in place).
Status RenameNoReplace(const std::string& from, const std::string& to);
// Renames `from` to `to`, atomically replacing `to`.
Status RenameReplace(const std::string& from, const std::string& to);
// Hard-links `from` as `to` (EXDEV becomes Unavailable: different filesystems).
Status HardLink(const std::string& from, const std::string& to);
// unlink(2); NotFound when absent.
Status Unlink(const std::string& path);
// mkdir -p with `mode` for created directories.
Status MakeDirs(const std::string& path, mode_t mode);
// Calls `fn(name)` for each entry except "." and "..". Stops at the first non-OK status.
Status ListDir(const std::string& dir, const std::function<Status(const std::string&)>& fn);

// Takes an exclusive flock(2). With `wait` false, returns false when another holder has it.
Result<bool> LockExclusive(int fd, bool wait, const std::string& path);

// The directory part of `path` ("." when none), and the last component.
std::string DirName(const std::string& path);
std::string BaseName(const std::string& path);
// Raises this process's soft limit on open descriptors to its hard limit (a coordinator with
// thousands of worker connections needs one descriptor per connection). Returns the limit now
// in force.
Result<uint64_t> RaiseOpenFileLimit();

// 64 bits distinct from every other call in this process (a counter through splitmix64 from
// one random seed per process): no system call. *sequence, when given, gets the counter.
uint64_t UniqueBits(uint64_t* sequence = nullptr);
// A short random token (hex) for unique temporary names: pid + counter + random bits.
std::string UniqueToken();

// This process's id, read once: getpid() is a system call, and this process never forks
// without exec (children are made with posix_spawn).
int ProcessId();

}  // namespace recomp
