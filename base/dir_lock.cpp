// DirLock (see dir_lock.h).
#include "base/dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

namespace recomp {
namespace {

std::string LockPath(const std::string& dir) {
  return dir + "/LOCK";
}

}  // namespace

Result<DirLock> DirLock::Acquire(const std::string& dir) {
  const std::string path = LockPath(dir);
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return ErrnoStatus("open lock file", path, errno);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err != EWOULDBLOCK) return ErrnoStatus("flock", path, err);
    int pid = RecordedPid(dir);
    return Status::FailedPrecondition(
        "data directory " + dir + " is in use by " +
        (pid > 0 ? "pid " + std::to_string(pid) : std::string("another process")) + " (it holds " +
        path + "); stop that pool first, or use another --data");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0) return ErrnoStatus("truncate", path, errno);
  if (::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return ErrnoStatus("write", path, errno);
  }
  return DirLock(std::move(fd));
}

int DirLock::RecordedPid(const std::string& dir) {
  Fd fd(::open(LockPath(dir).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return 0;
  char buf[32] = {};
  ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  return std::atoi(buf);
}

}  // namespace recomp
