// DirRecycler: keeps the empty directories a worker would remove (a finished job's sandbox
// skeleton) and renames them into place when it next needs a directory, because on some
// filesystems rmdir is expensive while rename is not: ext4 mounted with `discard` (the dev VM)
// frees a directory's block on rmdir and waits for the device to discard it, ~2.5-3 ms per
// directory, i.e. ~10 ms per job for a sandbox's four directories; a rename costs ~0.1 ms.
//
// Spares live in <root>/.spare.<pid>.<hex>/ (one pool per process and root, same filesystem
// as the sandboxes). Only a directory that is empty, small (one block), owned by the worker's
// uid/gid and without extended attributes (no ACLs) is kept; Make resets its mode. Pools of
// dead processes are removed when a process first uses the root. Thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "messages/status.h"
#include "store/posix_file.h"

namespace recomp::worker {

class DirRecycler {
 public:
  // The recycler of this process for sandbox root `root` (an existing directory). Created on
  // first use: then the pools left in `root` by processes that no longer exist are removed.
  static Result<std::shared_ptr<DirRecycler>> ForRoot(const std::string& root);

  // Creates directory `path` (on root's filesystem) with exactly `mode`, like mkdir: a spare
  // renamed into place (never replacing anything), else mkdir. Errors are mkdir's.
  Status Make(const std::string& path, mode_t mode);
  // Disposes of the EMPTY directory `name` in the directory open as `parent_fd` (`path` names
  // it in errors): kept as a spare when it qualifies and the pool has room, else rmdir'ed.
  // `dir_fd`, when >= 0, is the directory itself, already open (saves reopening it).
  Status Retire(int parent_fd, const std::string& name, const std::string& path, int dir_fd = -1);

  size_t spares() const;  // for tests
  // Removes the spares and the pool (a clean exit leaves no .spare.* behind; the recyclers
  // live until static destruction).
  ~DirRecycler();
  static constexpr size_t kMaxSpares = 256;

 private:
  DirRecycler() = default;
  struct Spare {
    std::string name;  // in pool_
    mode_t mode;       // its permission bits: Make chmods only when they differ
  };
  bool Reusable(int dir_fd, mode_t* mode) const;
  std::string pool_;     // the spare directory
  store::Fd pool_fd_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  mutable std::mutex mu_;
  std::vector<Spare> spares_;
  uint64_t next_ = 0;
};

}  // namespace recomp::worker
