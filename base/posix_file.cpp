// POSIX file adapter (see posix_file.h). Every errno is converted here and only here.
#include "base/posix_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>

namespace recomp {
namespace {

std::string ErrnoName(int err) {
  switch (err) {
    case ENOENT:
      return "ENOENT";
    case EEXIST:
      return "EEXIST";
    case EACCES:
      return "EACCES";
    case EPERM:
      return "EPERM";
    case ENOSPC:
      return "ENOSPC";
    case EDQUOT:
      return "EDQUOT";
    case EROFS:
      return "EROFS";
    case EISDIR:
      return "EISDIR";
    case ENOTDIR:
      return "ENOTDIR";
    case EXDEV:
      return "EXDEV";
    case EIO:
      return "EIO";
    case EMFILE:
      return "EMFILE";
    case ENFILE:
      return "ENFILE";
    case ENAMETOOLONG:
      return "ENAMETOOLONG";
    case EINVAL:
      return "EINVAL";
    case EBADF:
      return "EBADF";
    case EWOULDBLOCK:
      return "EWOULDBLOCK";
    default:
      return "errno " + std::to_string(err);
  }
}

}  // namespace

std::string ErrnoText(int err) {
  return std::string(std::strerror(err)) + " (" + ErrnoName(err) + ")";
}

Status ErrnoStatus(std::string_view op, const std::string& path, int err) {
  std::string msg = std::string(op);
  if (!path.empty()) msg += " '" + path + "'";
  msg += ": " + ErrnoText(err);
  switch (err) {
    case ENOENT:
      return Status::NotFound(std::move(msg));
    case EEXIST:
      return Status::AlreadyExists(std::move(msg));
    default:
      return Status::IOError(std::move(msg));
  }
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Status Fd::Close(const std::string& path) {
  int f = release();
  if (f >= 0 && ::close(f) != 0) return ErrnoStatus("close", path, errno);
  return Status::Ok();
}

Result<Fd> OpenForRead(const std::string& path) {
  int f = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f < 0) return ErrnoStatus("open", path, errno);
  Fd fd(f);
  RECOMP_ASSIGN_OR_RETURN(struct stat st, StatFd(fd.get(), path));
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument("'" + path + "' is a directory");
  return fd;
}

Result<Fd> CreateExclusive(const std::string& path, mode_t mode) {
  int f = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (f < 0) return ErrnoStatus("create", path, errno);
  return Fd(f);
}

Result<Fd> OpenDir(const std::string& path) {
  int f = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (f < 0) return ErrnoStatus("open directory", path, errno);
  return Fd(f);
}

Result<size_t> ReadSome(int fd, void* buf, size_t n, const std::string& path) {
  for (;;) {
    ssize_t r = ::read(fd, buf, n);
    if (r >= 0) return static_cast<size_t>(r);
    if (errno != EINTR) return ErrnoStatus("read", path, errno);
  }
}

Status WriteAll(int fd, const void* buf, size_t n, const std::string& path) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path, errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

Status SyncData(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0) return ErrnoStatus("fdatasync", path, errno);
  return Status::Ok();
}

Status StartWriteback(int fd, uint64_t offset, uint64_t len, const std::string& path) {
  if (::sync_file_range(fd, static_cast<off64_t>(offset), static_cast<off64_t>(len),
                        SYNC_FILE_RANGE_WRITE) != 0 &&
      errno != ENOSYS && errno != EINVAL) {
    return ErrnoStatus("sync_file_range", path, errno);
  }
  return Status::Ok();
}

void AdviseSequential(int fd) {
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
}

Status SyncDir(const std::string& dir) {
  RECOMP_ASSIGN_OR_RETURN(Fd fd, OpenDir(dir));
  if (::fsync(fd.get()) != 0) return ErrnoStatus("fsync directory", dir, errno);
  return Status::Ok();
}

Result<struct stat> StatFd(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus("fstat", path, errno);
  return st;
}

Result<struct stat> StatPath(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
  return st;
}

Status ChmodFd(int fd, mode_t mode, const std::string& path) {
  if (::fchmod(fd, mode) != 0) return ErrnoStatus("chmod", path, errno);
  return Status::Ok();
}

Status RenameNoReplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) {
    return Status::Ok();
  }
  if (errno != EINVAL && errno != ENOSYS) return ErrnoStatus("rename to", to, errno);
  // Filesystem without RENAME_NOREPLACE: link(2) also refuses to replace.
  if (::link(from.c_str(), to.c_str()) != 0) return ErrnoStatus("link to", to, errno);
  return Unlink(from);
}

Status RenameReplace(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus("rename to", to, errno);
  return Status::Ok();
}

Status HardLink(const std::string& from, const std::string& to) {
  if (::link(from.c_str(), to.c_str()) == 0) return Status::Ok();
  int err = errno;
  if (err == EXDEV || err == EPERM || err == EMLINK) {
    return Status::Unavailable("cannot hard-link to '" + to + "': " + std::strerror(err));
  }
  return ErrnoStatus("link to", to, err);
}

Status Unlink(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return ErrnoStatus("unlink", path, errno);
  return Status::Ok();
}

Status MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return Status::Ok();
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    std::string part = path.substr(0, pos);
    if (::mkdir(part.c_str(), mode) != 0 && errno != EEXIST) {
      return ErrnoStatus("mkdir", part, errno);
    }
  }
  RECOMP_ASSIGN_OR_RETURN(struct stat st, StatPath(path));
  if (!S_ISDIR(st.st_mode)) return Status::IOError("'" + path + "' exists and is not a directory");
  return Status::Ok();
}

Status ListDir(const std::string& dir, const std::function<Status(const std::string&)>& fn) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus("open directory", dir, errno);
  Status st;
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(d);
    if (e == nullptr) {
      if (errno != 0) st = ErrnoStatus("read directory", dir, errno);
      break;
    }
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    st = fn(name);
    if (!st.ok()) break;
  }
  ::closedir(d);
  return st;
}

Result<bool> LockExclusive(int fd, bool wait, const std::string& path) {
  for (;;) {
    if (::flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) == 0) return true;
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return false;
    return ErrnoStatus("flock", path, errno);
  }
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

int ProcessId() {
  static const int pid = static_cast<int>(::getpid());
  return pid;
}

uint64_t UniqueBits(uint64_t* sequence) {
  // One random seed per process mixed with a counter: std::random_device is slow in a VM
  // (it probes the CPU), too slow to construct per job thread.
  static const uint64_t seed = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }();
  static std::atomic<uint64_t> counter{0};
  uint64_t n = counter.fetch_add(1);
  if (sequence != nullptr) *sequence = n;
  uint64_t z = seed + (n + 1) * 0x9e3779b97f4a7c15ull;  // splitmix64
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::string UniqueToken() {
  uint64_t n = 0;
  uint64_t z = UniqueBits(&n);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%d-%llu-%08llx", ProcessId(), static_cast<unsigned long long>(n),
                static_cast<unsigned long long>(z & 0xffffffffu));
  return buf;
}

Result<uint64_t> RaiseOpenFileLimit() {
  struct rlimit lim {};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return ErrnoStatus("getrlimit", "NOFILE", errno);
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return ErrnoStatus("setrlimit", "NOFILE", errno);
  }
  return static_cast<uint64_t>(lim.rlim_cur);
}

}  // namespace recomp
