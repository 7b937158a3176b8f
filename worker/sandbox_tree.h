// Walking and removing a job's sandbox tree without following symlinks: listing, recursive
// removal (directories handed to a DirRecycler when given), and emptying a tree while keeping
// its skeleton of directories for reuse. Free functions on fds; thread-compatible.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"

namespace recomp::worker {

class DirRecycler;

// Sorted names in the directory open as `fd` ("." and ".." excluded), read from its start;
// the fd stays open and owned by the caller. `path` names it in errors.
Result<std::vector<std::string>> ListNames(int fd, const std::string& path);
// The same for a directory by path (opened O_NOFOLLOW).
Result<std::vector<std::string>> ListDirNames(const std::string& path);

// Removes `name` in the directory open as `parent_fd` (`path` names it in errors) and, for a
// directory, everything under it, first granting ourselves rwx on directories a job made
// read-only. Symlinks are unlinked, never followed. With a `recycler`, emptied directories go
// to DirRecycler::Retire instead of rmdir. Holds one fd per level.
Status RemoveAt(int parent_fd, const std::string& name, const std::string& path,
                DirRecycler* recycler);

// RemoveAt for `path`. NotFound if absent.
Status RemoveTree(const std::string& path, DirRecycler* recycler = nullptr);

// Empties the directory open as `fd` (`path`; `rel` its path relative to the tree's top, ""
// for the top) but keeps the subdirectories named in `skeleton` (relative paths) that still
// are plain directories of a reusable shape (DirRecycler::ReusableShape), each reset to mode
// 0700 and emptied the same way; everything else goes (RemoveAt with `recycler`, which must
// not be null). Appends the kept directories to *kept and returns how many direct children of
// `fd` were kept.
Result<size_t> EmptyKeeping(int fd, const std::string& path, const std::string& rel,
                            const std::set<std::string>& skeleton, DirRecycler* recycler,
                            std::vector<std::string>* kept);

// Empties the tree at `path` (EmptyKeeping from its top) and retires it with the skeleton
// directories kept as one spare (DirRecycler::RetireTree, which removes it instead when it
// cannot keep it). A `path` that is no longer a directory is just removed. NotFound if absent.
Status RecycleTree(const std::string& path, const std::set<std::string>& skeleton,
                   DirRecycler* recycler);

}  // namespace recomp::worker
