// DirRecycler: emptied directories are renamed into a per-process pool and back into place
// instead of rmdir + mkdir; only empty, small, unmarked directories are kept; stale pools of
// dead processes go away. And the sandbox uses it: a job's directories are recycled.
#include "worker/dir_recycler.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "worker/job_sandbox.h"
#include "tests/worker/worker_test_util.h"

namespace recomp::worker {
namespace {

using testing::TempDir;

namespace fs = std::filesystem;

ino_t InodeOf(const std::string& path) {
  struct stat st;
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_ino;
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

Status RetireDir(DirRecycler& r, const std::string& parent, const std::string& name) {
  store::Fd fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(fd.valid());
  return r.Retire(fd.get(), name, parent + "/" + name);
}

int PoolCount(const std::string& root) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.path().filename().string().rfind(".spare.", 0) == 0) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("a retired empty directory is renamed back into place, with the mode asked for") {
  TempDir root;
  auto r = DirRecycler::ForRoot(root.path());
  REQUIRE(r.ok());
  CHECK(DirRecycler::ForRoot(root.path()).value() == *r);  // one per root and process
  REQUIRE((*r)->Make(root / "a", 0700).ok());
  ino_t ino = InodeOf(root / "a");
  REQUIRE(::chmod((root / "a").c_str(), 0555) == 0);
  REQUIRE(RetireDir(**r, root.path(), "a").ok());
  CHECK_FALSE(fs::exists(root / "a"));
  CHECK((*r)->spares() == 1);
  REQUIRE((*r)->Make(root / "b", 0700).ok());
  CHECK(InodeOf(root / "b") == ino);  // the same directory, renamed: no rmdir, no mkdir
  CHECK(ModeOf(root / "b") == 0700);
  CHECK(fs::is_empty(root / "b"));
  CHECK((*r)->spares() == 0);
}

TEST_CASE("Make never replaces an existing path and reports mkdir's errors") {
  TempDir root;
  auto r = DirRecycler::ForRoot(root.path()).value();
  REQUIRE(r->Make(root / "a", 0700).ok());
  REQUIRE(r->Make(root / "b", 0700).ok());
  REQUIRE(RetireDir(*r, root.path(), "b").ok());
  REQUIRE(r->spares() == 1);
  CHECK(r->Make(root / "a", 0700).code() == Status::Code::kAlreadyExists);
  CHECK(r->Make(root / "missing/x", 0700).code() == Status::Code::kNotFound);
  CHECK(r->spares() == 1);  // the spare is kept for the next Make
}

TEST_CASE("only empty, unmarked directories are kept; others are removed") {
  TempDir root;
  auto r = DirRecycler::ForRoot(root.path()).value();
  REQUIRE(r->Make(root / "full", 0700).ok());
  std::ofstream(root / "full/f") << "x";
  CHECK(RetireDir(*r, root.path(), "full").code() != Status::Code::kOk);  // rmdir: not empty
  CHECK(r->spares() == 0);
  REQUIRE(r->Make(root / "marked", 0700).ok());
  if (::setxattr((root / "marked").c_str(), "user.recomp", "1", 1, 0) == 0) {
    REQUIRE(RetireDir(*r, root.path(), "marked").ok());
    CHECK_FALSE(fs::exists(root / "marked"));
    CHECK(r->spares() == 0);  // removed, not kept
  }
}

TEST_CASE("pools of dead processes are removed when a process first uses the root") {
  TempDir root;
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {  // leaves a pool with a spare behind, then dies
    auto r = DirRecycler::ForRoot(root.path());
    bool ok = r.ok() && (*r)->Make(root / "x", 0700).ok() &&
              RetireDir(**r, root.path(), "x").ok();
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(PoolCount(root.path()) == 1);
  REQUIRE(DirRecycler::ForRoot(root.path()).ok());
  CHECK(PoolCount(root.path()) == 1);  // the dead one's is gone, ours exists
}

TEST_CASE("a job sandbox takes its directories from the recycler and gives them back") {
  TempDir root;
  std::string sandboxes = root / "sandboxes";
  ino_t first;
  {
    auto sb = JobSandbox::Create(sandboxes, "j1", 1).value();
    first = InodeOf(sb->dir());
    ::chmod(sb->input_dir().c_str(), 0555);
  }
  auto r = DirRecycler::ForRoot(sandboxes).value();
  CHECK(r->spares() == 3);  // dir, work, work/in
  auto sb = JobSandbox::Create(sandboxes, "j2", 1).value();
  CHECK(r->spares() == 0);
  CHECK(ModeOf(sb->dir()) == 0700);
  CHECK(ModeOf(sb->input_dir()) == 0700);
  CHECK(fs::is_empty(sb->input_dir()));
  std::set<ino_t> inodes = {InodeOf(sb->dir()), InodeOf(sb->work_dir()), InodeOf(sb->input_dir())};
  CHECK(inodes.count(first) == 1);
}

}  // namespace recomp::worker
