// DirLock: one process at a time per directory, through an flock(2) on `<dir>/LOCK` that
// records the holder's pid. The kernel drops the lock when the holder exits, however it
// exits, so a crashed holder never leaves a stale lock behind.
// Thread-safety: a DirLock is owned by one thread; distinct DirLocks are independent.
#pragma once

#include <string>

#include "base/posix_file.h"
#include "base/status.h"

namespace recomp {

class DirLock {
 public:
  DirLock() = default;
  DirLock(DirLock&&) = default;
  DirLock& operator=(DirLock&&) = default;

  // Takes the lock of existing directory `dir` without waiting (the LOCK file is created with
  // mode 0600 when missing) and writes this process's pid into it. FailedPrecondition when
  // another open of the file holds it, naming `dir` and the holder's pid; IOError otherwise.
  static Result<DirLock> Acquire(const std::string& dir);

  // The pid recorded in `<dir>/LOCK` (0 when none is readable); for messages only.
  static int RecordedPid(const std::string& dir);

  bool held() const { return fd_.valid(); }
  // Releases the lock (the file stays: removing it would race with a new holder).
  void Release() { fd_ = Fd(); }

 private:
  explicit DirLock(Fd fd) : fd_(std::move(fd)) {}
  Fd fd_;
};

}  // namespace recomp
