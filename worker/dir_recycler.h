// DirRecycler: keeps the empty directories a worker would remove (a finished job's sandbox
// skeleton) and renames them into place when it next needs a directory, because on some
// filesystems rmdir is expensive while rename is not: ext4 mounted with `discard` frees a
// directory's block on rmdir and waits for the device to discard it (docs/performance.md has
// the figures).
//
// Spares live in <root>/.spare.<pid>.<hex>/ (one pool per process and root, same filesystem
// as the sandboxes). Only a directory that is empty, small (one block), owned by the worker's
// uid/gid and without extended attributes (no ACLs) is kept; Make resets its mode. A whole
// sandbox may be kept as one tree of such directories (MakeTree/RetireTree). Pools of
// dead processes are removed when a process first uses the root. Thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/posix_file.h"
#include "base/status.h"

namespace recomp::worker {

class DirRecycler {
 public:
  // The recycler of this process for sandbox root `root` (an existing directory). Created on
  // first use: then the pools left in `root` by processes that no longer exist are removed.
  static Result<std::shared_ptr<DirRecycler>> ForRoot(const std::string& root);

  // The root's canonical path (symlinks resolved), as it was when the recycler was created.
  const std::string& root_real() const { return root_real_; }

  // Creates directory `path` (on root's filesystem) with exactly `mode`, like mkdir: a spare
  // renamed into place (never replacing anything), else mkdir. Errors are mkdir's.
  Status Make(const std::string& path, mode_t mode);
  // Disposes of the EMPTY directory `name` in the directory open as `parent_fd` (`path` names
  // it in errors): kept as a spare when it qualifies and the pool has room, else rmdir'ed.
  // `dir_fd`, when >= 0, is the directory itself, already open (saves reopening it).
  Status Retire(int parent_fd, const std::string& name, const std::string& path, int dir_fd = -1);

  // Like Make, but prefers a whole retired tree (RetireTree): returns the relative paths of
  // the empty subdirectories `path` then holds (sorted; each mode 0700), {} for a bare one.
  // A job's sandbox is the same few directories every time, so reusing the tree costs one
  // rename where a directory at a time cost one per directory each way.
  Result<std::vector<std::string>> MakeTree(const std::string& path, mode_t mode);
  // Keeps the directory `name` in `parent_fd` (open as `dir_fd`) with its subdirectories
  // `skeleton` (relative paths) as one spare. The caller guarantees the tree holds nothing
  // else, that every skeleton directory is empty but for its skeleton children, mode 0700 and
  // passed ReusableShape. Without room (kMaxTrees), or if `dir_fd` itself does not qualify,
  // the tree is removed (rmdir, deepest first).
  Status RetireTree(int parent_fd, const std::string& name, const std::string& path, int dir_fd,
                    std::vector<std::string> skeleton);
  // True when the open directory may be kept with `child_dirs` subdirectories and no other
  // entry (not checked here): a directory, ours, one block, no xattr. `*mode` gets its bits.
  bool ReusableShape(int dir_fd, size_t child_dirs, mode_t* mode) const;

  size_t spares() const;  // for tests
  size_t trees() const;   // for tests
  // Removes the spares and the pool (a clean exit leaves no .spare.* behind; the recyclers
  // live until static destruction).
  ~DirRecycler();
  static constexpr size_t kMaxSpares = 256;
  static constexpr size_t kMaxTrees = 64;  // about one per job slot is what a worker reuses

 private:
  DirRecycler() = default;
  struct Spare {
    std::string name;                   // in pool_
    mode_t mode;                        // its permission bits: Make chmods only when they differ
    std::vector<std::string> skeleton;  // trees only: the empty subdirectories, sorted
  };
  void RemoveSpareTree(const Spare& tree) const;  // rmdir, deepest first
  bool Reusable(int dir_fd, mode_t* mode) const;
  std::string pool_;  // the spare directory
  std::string root_real_;
  Fd pool_fd_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  mutable Mutex mu_;
  std::vector<Spare> spares_ GUARDED_BY(mu_);  // bare directories
  std::vector<Spare> trees_ GUARDED_BY(mu_);   // directories with their skeleton
  uint64_t next_ GUARDED_BY(mu_) = 0;
};

}  // namespace recomp::worker
