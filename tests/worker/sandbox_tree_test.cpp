// sandbox_tree: RemoveTree removes read-only trees without following symlinks; EmptyKeeping
// empties a tree but keeps the skeleton directories that still qualify, with mode 0700.
#include "worker/sandbox_tree.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/posix_file.h"
#include "tests/worker/worker_test_util.h"
#include "worker/dir_recycler.h"

namespace recomp::worker {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

mode_t ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("RemoveTree removes a locked tree and unlinks symlinks without following them") {
  TempDir root, outside;
  std::ofstream(outside / "keep") << "precious";
  fs::create_directories(root / "t/a/b");
  std::ofstream(root / "t/a/b/f") << "x";
  REQUIRE(::symlink(outside.path().c_str(), (root / "t/a/link").c_str()) == 0);
  REQUIRE(::chmod((root / "t/a/b").c_str(), 0) == 0);
  REQUIRE(::chmod((root / "t/a").c_str(), 0500) == 0);
  CHECK(RemoveTree(root / "t").ok());
  CHECK_FALSE(fs::exists(root / "t"));
  CHECK(fs::exists(outside / "keep"));
  CHECK(RemoveTree(root / "t").code() == Status::Code::kNotFound);
  CHECK(ListDirNames(root / "missing").status().code() == Status::Code::kNotFound);
}

TEST_CASE("EmptyKeeping keeps the skeleton's directories, emptied and 0700, and removes the rest") {
  TempDir root;
  auto recycler = DirRecycler::ForRoot(root.path()).value();
  fs::create_directories(root / "top/work/in/module");
  fs::create_directories(root / "top/work/out/deep");
  std::ofstream(root / "top/job.log") << "log";
  std::ofstream(root / "top/work/in/module/rom") << "rom";
  std::ofstream(root / "top/work/out/deep/o") << "o";
  REQUIRE(::chmod((root / "top/work/in/module").c_str(), 0555) == 0);
  REQUIRE(::chmod((root / "top/work/in").c_str(), 0555) == 0);
  Fd fd(::open((root / "top").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(fd.valid());
  std::vector<std::string> kept;
  auto n = EmptyKeeping(fd.get(), root / "top", "", {"work", "work/in", "work/in/module"},
                        recycler.get(), &kept);
  REQUIRE_MESSAGE(n.ok(), n.status().ToString());
  CHECK(*n == 1);  // work/
  std::sort(kept.begin(), kept.end());
  CHECK(kept == std::vector<std::string>{"work", "work/in", "work/in/module"});
  CHECK_FALSE(fs::exists(root / "top/job.log"));
  CHECK_FALSE(fs::exists(root / "top/work/out"));
  CHECK(fs::is_empty(root / "top/work/in/module"));
  CHECK(ModeOf(root / "top/work/in") == 0700);
  CHECK(ModeOf(root / "top/work/in/module") == 0700);
  CHECK(recycler->spares() == 2);  // out/ and out/deep/, retired one by one
}

TEST_CASE("EmptyKeeping drops a skeleton entry that is no longer a directory") {
  TempDir root;
  auto recycler = DirRecycler::ForRoot(root.path()).value();
  fs::create_directories(root / "top/work");
  std::ofstream(root / "top/work/in") << "a file where in/ was";
  Fd fd(::open((root / "top").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  std::vector<std::string> kept;
  auto n = EmptyKeeping(fd.get(), root / "top", "", {"work", "work/in"}, recycler.get(), &kept);
  REQUIRE(n.ok());
  CHECK(kept == std::vector<std::string>{"work"});
  CHECK(fs::is_empty(root / "top/work"));
}

}  // namespace recomp::worker
