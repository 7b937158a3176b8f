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

#include "tests/worker/worker_test_util.h"
#include "worker/job_sandbox.h"

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
  Fd fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
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
    bool ok = r.ok() && (*r)->Make(root / "x", 0700).ok() && RetireDir(**r, root.path(), "x").ok();
    auto sb = JobSandbox::Create(root.path(), "j", 1);  // and a spare tree (nested dirs)
    ok = ok && sb.ok() && (*sb)->Remove().ok() && (*r)->trees() == 1;
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

namespace {

// A BlobSource that writes each digest's first byte as the file's content.
struct ByteSource : BlobSource {
  Status Materialize(const Digest& d, const std::string& dest, bool) override {
    std::ofstream(dest) << static_cast<int>(d.bytes[0]);
    return Status::Ok();
  }
};

Digest DigestN(uint8_t n) {
  Digest d{};
  d.bytes[0] = n;
  return d;
}

std::set<std::string> Names(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

}  // namespace

TEST_CASE("a job sandbox goes back to the recycler as one tree and comes back in one piece") {
  TempDir root;
  std::string sandboxes = root / "sandboxes";
  ByteSource source;
  ino_t top, in;
  {
    auto sb = JobSandbox::Create(sandboxes, "j1", 1).value();
    REQUIRE(sb->MaterializeInputs({{"module/rom", DigestN(1)}, {"lift/0/a.c", DigestN(2)}}, source)
                .ok());
    top = InodeOf(sb->dir());
    in = InodeOf(sb->input_dir());
    std::ofstream(sb->work_dir() + "/out.txt") << "output";
    fs::create_directories(sb->work_dir() + "/out/deep");  // the job's own: not kept
  }
  auto r = DirRecycler::ForRoot(sandboxes).value();
  CHECK(r->trees() == 1);   // dir, work, work/in, in/module, in/lift, in/lift/0 as one spare
  CHECK(r->spares() == 2);  // out/, out/deep/ on their own
  {
    auto sb = JobSandbox::Create(sandboxes, "j2", 1).value();
    CHECK(r->trees() == 0);
    CHECK(InodeOf(sb->dir()) == top);
    CHECK(InodeOf(sb->input_dir()) == in);
    CHECK(ModeOf(sb->input_dir()) == 0700);  // writable again until inputs are in
    CHECK(Names(sb->work_dir()) == std::set<std::string>{"in"});  // no file of j1's
    CHECK(Names(sb->dir()) == std::set<std::string>{"job.log", "work"});
    // Another shape: in/lift/ and in/lift/0/ are pruned before the job can see them,
    // in/module/ is reused, in/tools/ is new.
    REQUIRE(sb->MaterializeInputs({{"module/rom", DigestN(3)}, {"tools/t.py", DigestN(4)}}, source)
                .ok());
    CHECK(Names(sb->input_dir()) == std::set<std::string>{"module", "tools"});
    CHECK(Names(sb->input_dir() + "/module") == std::set<std::string>{"rom"});
    CHECK(ModeOf(sb->input_dir()) == 0555);
    CHECK(ModeOf(sb->input_dir() + "/tools") == 0555);
  }
  CHECK(r->trees() == 1);
  auto sb = JobSandbox::Create(sandboxes, "j3", 1).value();
  REQUIRE(sb->MaterializeInputs({}, source).ok());  // no inputs: every reused subdir goes
  CHECK(fs::is_empty(sb->input_dir()));
  CHECK(ModeOf(sb->dir()) == 0700);
}

TEST_CASE("a sandbox whose job damaged its skeleton keeps only what still qualifies") {
  TempDir root;
  TempDir outside;
  std::string sandboxes = root / "sandboxes";
  ByteSource source;
  {
    auto sb = JobSandbox::Create(sandboxes, "j1", 1).value();
    REQUIRE(sb->MaterializeInputs({{"module/rom", DigestN(1)}}, source).ok());
    // What a hostile job could do: move in/ away and put a symlink in its place, lock a dir.
    REQUIRE(::rename(sb->input_dir().c_str(), (sb->work_dir() + "/moved").c_str()) == 0);
    REQUIRE(::symlink(outside.path().c_str(), sb->input_dir().c_str()) == 0);
    REQUIRE(::chmod(sb->work_dir().c_str(), 0500) == 0);
  }
  CHECK(fs::is_empty(outside.path()));  // the symlink was removed, not followed
  auto r = DirRecycler::ForRoot(sandboxes).value();
  CHECK(r->trees() == 1);  // the top and work/ (mode restored); in/ was a symlink
  auto sb = JobSandbox::Create(sandboxes, "j2", 1).value();
  CHECK(ModeOf(sb->work_dir()) == 0700);
  struct stat st;
  REQUIRE(::lstat(sb->input_dir().c_str(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK(fs::is_empty(sb->input_dir()));
  CHECK(Names(sb->work_dir()) == std::set<std::string>{"in"});
  REQUIRE(sb->MaterializeInputs({{"module/rom", DigestN(2)}}, source).ok());
  CHECK(Names(sb->input_dir()) == std::set<std::string>{"module"});
}

TEST_CASE("a marked skeleton directory is not kept in the tree") {
  TempDir root;
  std::string sandboxes = root / "sandboxes";
  ByteSource source;
  std::string marked;
  {
    auto sb = JobSandbox::Create(sandboxes, "j1", 1).value();
    REQUIRE(sb->MaterializeInputs({{"module/rom", DigestN(1)}}, source).ok());
    marked = sb->input_dir() + "/module";
    REQUIRE(::chmod(marked.c_str(), 0700) == 0);
    if (::setxattr(marked.c_str(), "user.recomp", "1", 1, 0) != 0) return;  // no user xattrs here
  }
  auto r = DirRecycler::ForRoot(sandboxes).value();
  REQUIRE(r->trees() == 1);
  auto sb = JobSandbox::Create(sandboxes, "j2", 1).value();
  REQUIRE(sb->MaterializeInputs({{"module/rom", DigestN(2)}}, source).ok());
  CHECK(::getxattr((sb->input_dir() + "/module").c_str(), "user.recomp", nullptr, 0) <
        0);  // a new one
}

}  // namespace recomp::worker
