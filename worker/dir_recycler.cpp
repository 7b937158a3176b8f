// DirRecycler (see dir_recycler.h).
#include "worker/dir_recycler.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>

namespace recomp::worker {
namespace {

constexpr char kPoolPrefix[] = ".spare.";

Mutex g_mu;
// One recycler per root (device + inode) for the life of the process: its spares are only
// known to it, so it must not be dropped while the root is in use.
std::map<std::pair<dev_t, ino_t>, std::shared_ptr<DirRecycler>> g_recyclers GUARDED_BY(g_mu);

// True when the directory open as `fd` has no entry but "." and ".." (read from its start).
bool EmptyDir(int fd) {
  if (::lseek(fd, 0, SEEK_SET) < 0) return false;
  alignas(struct dirent64) char buf[4096];
  for (;;) {
    ssize_t n = ::getdents64(fd, buf, sizeof buf);
    if (n < 0) return false;
    if (n == 0) return true;
    for (ssize_t at = 0; at < n;) {
      const auto* e = reinterpret_cast<const struct dirent64*>(buf + at);
      std::string_view name = e->d_name;
      if (name != "." && name != "..") return false;
      at += e->d_reclen;
    }
  }
}

// Removes the (empty) directories under the directory open as `fd`, recursively (spare trees
// nest a few levels), and closes `fd`. Anything that is not an empty directory tree stays.
void RemoveEmptyDirs(int fd, int depth) {
  DIR* p = ::fdopendir(fd);
  if (p == nullptr) {
    ::close(fd);
    return;
  }
  std::vector<std::string> names;
  while (struct dirent* s = ::readdir(p)) {
    std::string_view n = s->d_name;
    if (n != "." && n != ".." && s->d_type == DT_DIR) names.emplace_back(n);
  }
  for (const std::string& n : names) {
    int sub = ::openat(::dirfd(p), n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub >= 0 && depth < 64)
      RemoveEmptyDirs(sub, depth + 1);
    else if (sub >= 0)
      ::close(sub);
    (void)::unlinkat(::dirfd(p), n.c_str(), AT_REMOVEDIR);
  }
  ::closedir(p);
}

// Removes the pools in `root` of processes that no longer exist (they hold empty
// directories only; anything else is left for the operator).
void RemoveStalePools(const std::string& root) {
  DIR* d = ::opendir(root.c_str());
  if (d == nullptr) return;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    long pid = 0;
    if (name.rfind(kPoolPrefix, 0) != 0 || std::sscanf(name.c_str() + 7, "%ld.", &pid) != 1)
      continue;
    if (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    int pool = ::openat(::dirfd(d), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (pool < 0) continue;
    RemoveEmptyDirs(pool, 0);
    (void)::unlinkat(::dirfd(d), name.c_str(), AT_REMOVEDIR);
  }
  ::closedir(d);
}

}  // namespace

Result<std::shared_ptr<DirRecycler>> DirRecycler::ForRoot(const std::string& root) {
  struct stat st;
  if (::stat(root.c_str(), &st) != 0) return ErrnoStatus("stat", root, errno);
  MutexLock lock(&g_mu);
  auto key = std::make_pair(st.st_dev, st.st_ino);
  if (auto it = g_recyclers.find(key); it != g_recyclers.end()) {
    struct stat pool;  // a root deleted and its inode reused: start over
    if (::fstat(it->second->pool_fd_.get(), &pool) == 0 && pool.st_nlink > 0) return it->second;
    g_recyclers.erase(it);
  }
  RemoveStalePools(root);
  unsigned char rnd[6];
  if (::getrandom(rnd, sizeof rnd, 0) != static_cast<ssize_t>(sizeof rnd)) {
    return ErrnoStatus("getrandom", "", errno);
  }
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "%d.%02x%02x%02x%02x%02x%02x", static_cast<int>(::getpid()),
                rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
  std::shared_ptr<DirRecycler> r(new DirRecycler());
  char real[PATH_MAX];
  if (::realpath(root.c_str(), real) == nullptr) return ErrnoStatus("realpath", root, errno);
  r->root_real_ = real;
  r->pool_ = root + "/" + kPoolPrefix + suffix;
  if (::mkdir(r->pool_.c_str(), 0700) != 0) return ErrnoStatus("mkdir", r->pool_, errno);
  r->pool_fd_ = Fd(::open(r->pool_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!r->pool_fd_.valid()) return ErrnoStatus("open dir", r->pool_, errno);
  if (::fstat(r->pool_fd_.get(), &st) != 0) return ErrnoStatus("fstat", r->pool_, errno);
  r->uid_ = st.st_uid;  // what a directory we create here gets
  r->gid_ = st.st_gid;
  g_recyclers[key] = r;
  return r;
}

DirRecycler::~DirRecycler() {
  MutexLock lock(&mu_);
  if (pool_fd_.valid()) {
    for (const Spare& sp : spares_) (void)::unlinkat(pool_fd_.get(), sp.name.c_str(), AT_REMOVEDIR);
    for (const Spare& tree : trees_) RemoveSpareTree(tree);
  }
  spares_.clear();
  trees_.clear();
  if (!pool_.empty()) (void)::rmdir(pool_.c_str());  // fails (kept) only if someone added files
}

Status DirRecycler::Make(const std::string& path, mode_t mode) {
  Spare spare{"", 0};
  {
    MutexLock lock(&mu_);
    if (!spares_.empty()) {
      spare = std::move(spares_.back());
      spares_.pop_back();
    }
  }
  if (!spare.name.empty()) {
    const char* name = spare.name.c_str();
    if (::renameat2(pool_fd_.get(), name, AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) {
      if (spare.mode != (mode & 07777) && ::chmod(path.c_str(), mode) != 0) {
        return ErrnoStatus("chmod", path, errno);
      }
      return Status::Ok();
    }
    // `path` exists or its parent does not (mkdir below says which), or the spare vanished.
    if (::faccessat(pool_fd_.get(), name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
      MutexLock lock(&mu_);
      spares_.push_back(std::move(spare));
    }
  }
  if (::mkdir(path.c_str(), mode) != 0) return ErrnoStatus("mkdir", path, errno);
  return Status::Ok();
}

bool DirRecycler::Reusable(int dir_fd, mode_t* mode) const {
  // One block, ours, no subdirectory, no xattr (a default ACL would shape the next job's files).
  return ReusableShape(dir_fd, 0, mode) && EmptyDir(dir_fd);
}

Status DirRecycler::Retire(int parent_fd, const std::string& name, const std::string& path,
                           int dir_fd) {
  Fd opened;
  if (dir_fd < 0) {
    opened = Fd(::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    dir_fd = opened.get();
  }
  Spare spare{"", 0};
  if (dir_fd >= 0 && Reusable(dir_fd, &spare.mode)) {
    MutexLock lock(&mu_);
    if (spares_.size() < kMaxSpares) spare.name = std::to_string(next_++);
  }
  if (!spare.name.empty() && ::renameat2(parent_fd, name.c_str(), pool_fd_.get(),
                                         spare.name.c_str(), RENAME_NOREPLACE) == 0) {
    MutexLock lock(&mu_);
    spares_.push_back(std::move(spare));
    return Status::Ok();
  }
  if (::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0) {
    return ErrnoStatus("rmdir", path, errno);
  }
  return Status::Ok();
}

size_t DirRecycler::spares() const {
  MutexLock lock(&mu_);
  return spares_.size();
}

size_t DirRecycler::trees() const {
  MutexLock lock(&mu_);
  return trees_.size();
}

void DirRecycler::RemoveSpareTree(const Spare& tree) const {
  for (auto it = tree.skeleton.rbegin(); it != tree.skeleton.rend(); ++it) {  // children first
    (void)::unlinkat(pool_fd_.get(), (tree.name + "/" + *it).c_str(), AT_REMOVEDIR);
  }
  (void)::unlinkat(pool_fd_.get(), tree.name.c_str(), AT_REMOVEDIR);
}

Result<std::vector<std::string>> DirRecycler::MakeTree(const std::string& path, mode_t mode) {
  Spare tree;
  {
    MutexLock lock(&mu_);
    if (!trees_.empty()) {
      tree = std::move(trees_.back());
      trees_.pop_back();
    }
  }
  if (tree.name.empty()) {  // no tree: a bare directory
    RECOMP_RETURN_IF_ERROR(Make(path, mode));
    return std::vector<std::string>{};
  }
  if (::renameat2(pool_fd_.get(), tree.name.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) !=
      0) {
    // `path` exists or its parent does not (Make says which), or the spare vanished.
    if (::faccessat(pool_fd_.get(), tree.name.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
      MutexLock lock(&mu_);
      trees_.push_back(std::move(tree));
    }
    RECOMP_RETURN_IF_ERROR(Make(path, mode));
    return std::vector<std::string>{};
  }
  if (tree.mode != (mode & 07777) && ::chmod(path.c_str(), mode) != 0) {
    return ErrnoStatus("chmod", path, errno);
  }
  return std::move(tree.skeleton);
}

bool DirRecycler::ReusableShape(int dir_fd, size_t child_dirs, mode_t* mode) const {
  struct stat st;
  if (::fstat(dir_fd, &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  *mode = st.st_mode & 07777;
  if (st.st_size > 4096 || st.st_uid != uid_ || st.st_gid != gid_ || st.st_nlink != 2 + child_dirs)
    return false;
  return ::flistxattr(dir_fd, nullptr, 0) == 0;
}

Status DirRecycler::RetireTree(int parent_fd, const std::string& name, const std::string& path,
                               int dir_fd, std::vector<std::string> skeleton) {
  std::sort(skeleton.begin(), skeleton.end());
  size_t top_children = 0;
  for (const std::string& s : skeleton) top_children += s.find('/') == std::string::npos;
  Spare tree{"", 0, std::move(skeleton)};
  if (ReusableShape(dir_fd, top_children, &tree.mode)) {
    MutexLock lock(&mu_);
    if (trees_.size() < kMaxTrees) tree.name = "t" + std::to_string(next_++);
  }
  if (!tree.name.empty() && ::renameat2(parent_fd, name.c_str(), pool_fd_.get(), tree.name.c_str(),
                                        RENAME_NOREPLACE) == 0) {
    MutexLock lock(&mu_);
    trees_.push_back(std::move(tree));
    return Status::Ok();
  }
  for (auto it = tree.skeleton.rbegin(); it != tree.skeleton.rend(); ++it) {
    if (::unlinkat(dir_fd, it->c_str(), AT_REMOVEDIR) != 0) {
      return ErrnoStatus("rmdir", path + "/" + *it, errno);
    }
  }
  if (::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0)
    return ErrnoStatus("rmdir", path, errno);
  return Status::Ok();
}

}  // namespace recomp::worker
