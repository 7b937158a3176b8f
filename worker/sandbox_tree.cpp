// Sandbox tree walking and removal (see sandbox_tree.h).
#include "worker/sandbox_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>

#include "base/posix_file.h"
#include "worker/dir_recycler.h"

namespace recomp::worker {
namespace {

Result<bool> KeepSkeletonDir(int parent_fd, const std::string& name, const std::string& path,
                             const std::string& rel, const std::set<std::string>& skeleton,
                             DirRecycler* recycler, std::vector<std::string>* kept);

}  // namespace

// Sorted names in the directory open as `fd`, read from its start (the fd stays open and owned
// by the caller). getdents64 on the fd itself: no dup/fdopendir/closedir per directory.
Result<std::vector<std::string>> ListNames(int fd, const std::string& path) {
  if (::lseek(fd, 0, SEEK_SET) < 0) return ErrnoStatus("rewind dir", path, errno);
  std::vector<std::string> names;
  alignas(struct dirent64) char buf[8192];
  for (;;) {
    ssize_t n = ::getdents64(fd, buf, sizeof buf);
    if (n < 0) return ErrnoStatus("read dir", path, errno);
    if (n == 0) break;
    for (ssize_t at = 0; at < n;) {
      const auto* e = reinterpret_cast<const struct dirent64*>(buf + at);
      std::string_view name = e->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
      at += e->d_reclen;
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::vector<std::string>> ListDirNames(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open dir", path, errno);
  return ListNames(fd.get(), path);
}

Status RemoveAt(int parent_fd, const std::string& name, const std::string& path,
                DirRecycler* recycler) {
  struct stat st;
  if (::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoStatus("lstat", path, errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(parent_fd, name.c_str(), 0) != 0) return ErrnoStatus("unlink", path, errno);
    return Status::Ok();
  }
  // A directory (not a symlink: lstat above, and nothing runs in the tree any more). The job
  // may have made it read-only or unreadable: take rwx back before listing and unlinking.
  if ((st.st_mode & S_IRWXU) != S_IRWXU &&
      ::fchmodat(parent_fd, name.c_str(), st.st_mode | S_IRWXU, 0) != 0) {
    return ErrnoStatus("chmod u+rwx", path, errno);
  }
  Fd fd(::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open dir", path, errno);
  RECOMP_ASSIGN_OR_RETURN(std::vector<std::string> names, ListNames(fd.get(), path));
  for (const std::string& child : names) {
    RECOMP_RETURN_IF_ERROR(RemoveAt(fd.get(), child, path + "/" + child, recycler));
  }
  if (recycler != nullptr) return recycler->Retire(parent_fd, name, path, fd.get());
  fd = Fd();
  if (::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0) {
    return ErrnoStatus("rmdir", path, errno);
  }
  return Status::Ok();
}

// Empties the directory open as `fd` (`path`; `rel` relative to the sandbox, "" for its top)
// but keeps the subdirectories named in `skeleton` that still qualify (KeepSkeletonDir),
// appending them to *kept. Returns how many direct children it kept.
Result<size_t> EmptyKeeping(int fd, const std::string& path, const std::string& rel,
                            const std::set<std::string>& skeleton, DirRecycler* recycler,
                            std::vector<std::string>* kept) {
  RECOMP_ASSIGN_OR_RETURN(std::vector<std::string> names, ListNames(fd, path));
  size_t children = 0;
  for (const std::string& child : names) {
    std::string child_rel = rel.empty() ? child : rel + "/" + child;
    std::string child_path = path + "/" + child;
    if (skeleton.count(child_rel) != 0) {
      RECOMP_ASSIGN_OR_RETURN(
          bool keep, KeepSkeletonDir(fd, child, child_path, child_rel, skeleton, recycler, kept));
      if (keep) {
        ++children;
        continue;
      }
    }
    RECOMP_RETURN_IF_ERROR(RemoveAt(fd, child, child_path, recycler));
  }
  return children;
}

namespace {

// Opens `name` in `parent_fd` as a directory to keep, first resetting its mode to 0700 (a job
// may have changed it). An invalid Fd (no error) when it is not a directory (a symlink or a
// file a job put in its place): the caller removes it instead.
Result<Fd> OpenKeptDir(int parent_fd, const std::string& name, const std::string& path) {
  struct stat st;
  if (::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoStatus("lstat", path, errno);
  }
  if (!S_ISDIR(st.st_mode)) return Fd();
  if ((st.st_mode & 07777) != 0700 && ::fchmodat(parent_fd, name.c_str(), 0700, 0) != 0) {
    return ErrnoStatus("chmod 0700", path, errno);
  }
  Fd fd(::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open dir", path, errno);
  return fd;
}

// A directory of the sandbox's skeleton: if it still is a directory, reset to mode 0700,
// emptied (keeping its own skeleton children) and of a reusable shape, it is kept (true).
// Otherwise false: the caller removes it with whatever was kept under it.
Result<bool> KeepSkeletonDir(int parent_fd, const std::string& name, const std::string& path,
                             const std::string& rel, const std::set<std::string>& skeleton,
                             DirRecycler* recycler, std::vector<std::string>* kept) {
  RECOMP_ASSIGN_OR_RETURN(Fd fd, OpenKeptDir(parent_fd, name, path));
  if (!fd.valid()) return false;
  std::vector<std::string> sub;
  RECOMP_ASSIGN_OR_RETURN(size_t children,
                          EmptyKeeping(fd.get(), path, rel, skeleton, recycler, &sub));
  mode_t mode;
  if (!recycler->ReusableShape(fd.get(), children, &mode)) return false;
  kept->insert(kept->end(), sub.begin(), sub.end());
  kept->push_back(rel);
  return true;
}

// Opens the parent directory of `path` and sets *name to its last component.
Result<Fd> OpenParent(const std::string& path, std::string* name) {
  assert(!path.empty());
  size_t slash = path.find_last_of('/');
  std::string parent =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  *name = slash == std::string::npos ? path : path.substr(slash + 1);
  Fd parent_fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!parent_fd.valid()) return ErrnoStatus("open dir", parent, errno);
  return parent_fd;
}

}  // namespace

Status RemoveTree(const std::string& path, DirRecycler* recycler) {
  std::string name;
  RECOMP_ASSIGN_OR_RETURN(Fd parent_fd, OpenParent(path, &name));
  return RemoveAt(parent_fd.get(), name, path, recycler);
}

Status RecycleTree(const std::string& path, const std::set<std::string>& skeleton,
                   DirRecycler* recycler) {
  std::string name;
  RECOMP_ASSIGN_OR_RETURN(Fd parent_fd, OpenParent(path, &name));
  RECOMP_ASSIGN_OR_RETURN(Fd fd, OpenKeptDir(parent_fd.get(), name, path));
  if (!fd.valid()) return RemoveAt(parent_fd.get(), name, path, recycler);
  std::vector<std::string> kept;
  RECOMP_RETURN_IF_ERROR(EmptyKeeping(fd.get(), path, "", skeleton, recycler, &kept).status());
  return recycler->RetireTree(parent_fd.get(), name, path, fd.get(), std::move(kept));
}

}  // namespace recomp::worker
