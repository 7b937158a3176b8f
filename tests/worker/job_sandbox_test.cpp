// JobSandbox tests: real directories and real job processes, with in-memory fakes for the
// BlobSource / BlobSink seam. Permission checks that the kernel waives for root are asserted
// on modes, and on behaviour only when not running as root.
#include "worker/job_sandbox.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <tuple>

#include "base/blake2b.h"
#include "messages/stage_job.h"
#include "messages/tree.h"
#include "tests/worker/worker_test_util.h"
#include "worker/process_runner.h"

namespace recomp::worker {
namespace {

using recomp::ValidateRelativePath;
using testing::NoSandboxLeft;
using testing::TempDir;

namespace fs = std::filesystem;
using Code = Status::Code;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Digest DigestOf(uint8_t n) {
  Digest d;
  d.bytes[0] = n;
  d.bytes[31] = 0xee;
  return d;
}

// The sink every sandbox test expects its producer from.
class FakeSink : public testing::MemorySink {
 public:
  Result<std::vector<std::string>> PutFiles(const std::vector<std::string>& paths,
                                            const std::string& producer) override {
    CHECK(producer == "job j1 attempt 1");
    return MemorySink::PutFiles(paths, producer);
  }
};
using testing::FakeSource;

std::unique_ptr<JobSandbox> MakeSandbox(const TempDir& root, SandboxLimits limits = {}) {
  auto sb = JobSandbox::Create(root / "sandboxes", "j1", 1, limits);
  REQUIRE_MESSAGE(sb.ok(), sb.status().ToString());
  return std::move(sb).value();
}

// Runs `script` with /bin/sh in the sandbox's work dir, as the worker would.
ProcessOutcome RunJob(const JobSandbox& sb, const std::string& script) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  spec.working_dir = sb.work_dir();
  spec.log_path = sb.log_path();
  auto out = RunToCompletion(spec);
  REQUIRE(out.ok());
  return *out;
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

const std::string kProducer = "job j1 attempt 1";

TEST_CASE("a sandbox is a fresh, uniquely named dir, removed on destruction") {
  TempDir root;
  std::string dir;
  {
    auto a = MakeSandbox(root);
    auto b = MakeSandbox(root);
    dir = a->dir();
    CHECK(a->dir() != b->dir());
    CHECK(fs::path(dir).filename().string().rfind("j1.1.", 0) == 0);
    CHECK(fs::is_directory(a->work_dir()));
    CHECK(fs::is_directory(a->input_dir()));
    CHECK(fs::is_regular_file(a->log_path()));
    CHECK(fs::path(a->log_path()).parent_path() == fs::path(dir));  // outside the job's cwd
  }
  CHECK_FALSE(fs::exists(dir));
  for (const char* bad : {"", "../x", "a/b", ".hidden", "x y"}) {
    CHECK(JobSandbox::Create(root / "sandboxes", bad, 1).status().code() == Code::kInvalidArgument);
  }
}

TEST_CASE("inputs are laid out under in/ read-only") {
  TempDir root;
  auto sb = MakeSandbox(root);
  FakeSource source;
  source.blobs = {{DigestOf(1), "rom bytes"}, {DigestOf(2), "[syms]"}};
  REQUIRE(sb->MaterializeInputs({{"rom.z64", DigestOf(1)},
                                 {"syms/game.toml", DigestOf(2)},
                                 {"syms/deep/copy.z64", DigestOf(1)}},
                                source)
              .ok());
  CHECK(ReadFile(sb->input_dir() + "/rom.z64") == "rom bytes");
  CHECK(ReadFile(sb->input_dir() + "/syms/game.toml") == "[syms]");
  CHECK(ReadFile(sb->input_dir() + "/syms/deep/copy.z64") == "rom bytes");
  CHECK((ModeOf(sb->input_dir() + "/rom.z64") & 0222) == 0);
  CHECK(ModeOf(sb->input_dir()) == 0555);
  CHECK(ModeOf(sb->input_dir() + "/syms/deep") == 0555);
  // The job sees them from its cwd; without root it cannot change or add to them.
  ProcessOutcome out = RunJob(*sb,
                              "cat in/rom.z64; { echo x > in/rom.z64; } 2>/dev/null ||"
                              " echo denied; touch in/new 2>/dev/null || echo denied");
  CHECK(out.success());
  if (::geteuid() != 0) CHECK(ReadFile(sb->log_path()) == "rom bytesdenied\ndenied\n");
  // Root bypasses the modes, so its "echo x > in/rom.z64" succeeded: the check catches it.
  CHECK(sb->CheckInputsUnchanged().ok() == (::geteuid() != 0));
}

TEST_CASE("a job that writes an input (possibly the store's hard link) is caught") {
  TempDir root;
  auto sb = MakeSandbox(root);
  FakeSource source;
  source.blobs = {{DigestOf(1), "rom bytes"}, {DigestOf(2), "syms"}};
  REQUIRE(
      sb->MaterializeInputs({{"rom.z64", DigestOf(1)}, {"syms.toml", DigestOf(2)}}, source).ok());
  REQUIRE(
      RunJob(*sb, "chmod u+w in/rom.z64 && echo patched >> in/rom.z64 && echo o > out").success());
  FakeSink sink;
  auto got = sb->CollectOutputs({"out"}, sink, kProducer);
  CHECK(got.status().code() == Code::kFailedPrecondition);
  CHECK(got.status().message() ==
        "input 'rom.z64' (" + DigestOf(1).Ref() + ") was modified, replaced or removed by the job");
  CHECK(sink.commits.empty());
}

TEST_CASE("hostile or conflicting input paths are rejected before anything is created") {
  TempDir root;
  auto sb = MakeSandbox(root);
  FakeSource source;
  source.blobs = {{DigestOf(1), "x"}};
  for (const char* bad :
       {"/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "", ".", "..", "ok/.."}) {
    INFO("path: ", bad);
    Status st = sb->MaterializeInputs({{"fine", DigestOf(1)}, {bad, DigestOf(1)}}, source);
    CHECK(st.code() == Code::kInvalidArgument);
    CHECK(st.message().find("input path '" + std::string(bad) + "'") == 0);
  }
  Status dup = sb->MaterializeInputs({{"a", DigestOf(1)}, {"a", DigestOf(1)}}, source);
  CHECK(dup.message() == "input path 'a' is listed twice");
  Status both = sb->MaterializeInputs(
      {{"a", DigestOf(1)}, {"a-b", DigestOf(1)}, {"a/b", DigestOf(1)}}, source);
  CHECK(both.code() == Code::kInvalidArgument);
  CHECK(both.message().find("'a' is both a file and a directory") != std::string::npos);
  CHECK(source.calls == 0);
  CHECK(fs::is_empty(sb->input_dir()));
  SandboxLimits few;
  few.max_inputs = 1;
  auto small = MakeSandbox(root, few);
  CHECK(small->MaterializeInputs({{"a", DigestOf(1)}, {"b", DigestOf(1)}}, source).code() ==
        Code::kResourceExhausted);
}

TEST_CASE("a missing blob names the input") {
  TempDir root;
  auto sb = MakeSandbox(root);
  FakeSource source;
  Status st = sb->MaterializeInputs({{"rom.z64", DigestOf(9)}}, source);
  CHECK(st.code() == Code::kNotFound);
  CHECK(st.message().find("input 'rom.z64' (" + DigestOf(9).Ref() + ")") == 0);
}

TEST_CASE("declared outputs are collected sorted, files and directories, with the log") {
  TempDir root;
  auto sb = MakeSandbox(root);
  ProcessOutcome out = RunJob(*sb,
                              "echo building; mkdir -p gen/sub && echo a > gen/a.c &&"
                              " echo b > gen/sub/b.c && ln -s a.c gen/link.c &&"
                              " echo bin > out.bin && echo scratch > tmp.txt");
  REQUIRE(out.success());
  FakeSink sink;
  auto got = sb->CollectOutputs({"out.bin", "gen/", "gen/a.c"}, sink, kProducer);
  REQUIRE_MESSAGE(got.ok(), got.status().ToString());
  std::vector<std::string> paths;
  for (const auto& f : got->files) paths.push_back(f.path);
  CHECK(paths == std::vector<std::string>{"gen/", "gen/a.c", "out.bin"});
  // A directory is one tree; the inside symlink is stored by content.
  using Files = std::vector<std::pair<std::string, std::string>>;
  CHECK(sink.TreeFiles(got->files[0].ref) ==
        Files{{"a.c", "a\n"}, {"link.c", "a\n"}, {"sub/b.c", "b\n"}});
  CHECK(sink.Bytes(got->files[1].ref) == "a\n");
  CHECK(sink.Bytes(got->files[2].ref) == "bin\n");
  CHECK(sink.Bytes(got->log_ref) == "building\n");
  CHECK(sink.commits.size() == 1);  // one durable commit for outputs and log
}

TEST_CASE("a missing or mistyped output fails the collection naming the path") {
  TempDir root;
  auto sb = MakeSandbox(root);
  REQUIRE(RunJob(*sb, "echo working; echo x > present; mkdir dir; echo y > dir/f").success());
  FakeSink sink;
  auto missing = sb->CollectOutputs({"present", "missing.txt"}, sink, kProducer);
  CHECK(missing.status().code() == Code::kNotFound);
  CHECK(missing.status().message() == "declared output 'missing.txt' is missing");
  CHECK(sb->CollectOutputs({"nodir/x"}, sink, kProducer).status().code() == Code::kNotFound);
  auto file_as_dir = sb->CollectOutputs({"present/"}, sink, kProducer);
  CHECK(file_as_dir.status().message() ==
        "output 'present/' was declared a directory but is not one");
  auto dir_as_file = sb->CollectOutputs({"dir"}, sink, kProducer);
  CHECK(dir_as_file.status().message() == "output 'dir' is a directory: declare it as 'dir/'");
  CHECK(sink.commits.empty());
  auto log = sb->StoreLog(sink, kProducer);  // the failure path still keeps the log
  REQUIRE(log.ok());
  CHECK(sink.commits.size() == 1);
}

TEST_CASE("an empty log is not stored: log_ref is empty") {
  TempDir root;
  auto sb = MakeSandbox(root);
  REQUIRE(RunJob(*sb, "true").success());
  FakeSink sink;
  SUBCASE("no outputs either: nothing is stored, no commit at all") {
    auto got = sb->CollectOutputs({}, sink, kProducer);
    REQUIRE_MESSAGE(got.ok(), got.status().ToString());
    CHECK(got->files.empty());
    CHECK(got->log_ref.empty());
    CHECK(sink.commits.empty());
  }
  SUBCASE("outputs are stored without the log") {
    REQUIRE(RunJob(*sb, "echo x > out.bin").success());
    auto got = sb->CollectOutputs({"out.bin"}, sink, kProducer);
    REQUIRE_MESSAGE(got.ok(), got.status().ToString());
    REQUIRE(got->files.size() == 1);
    CHECK(sink.Bytes(got->files[0].ref) == "x\n");
    CHECK(got->log_ref.empty());
    REQUIRE(sink.commits.size() == 1);
    CHECK(sink.commits[0].size() == 1);  // out.bin only
  }
  SUBCASE("StoreLog of an empty log stores nothing") {
    auto log = sb->StoreLog(sink, kProducer);
    REQUIRE(log.ok());
    CHECK(log->empty());
    CHECK(sink.commits.empty());
  }
}

TEST_CASE("outputs escaping the working dir fail the job") {
  TempDir root;
  auto sb = MakeSandbox(root);
  REQUIRE(RunJob(*sb,
                 "mkdir gen && echo ok > gen/ok.c && ln -s /etc/passwd gen/evil.c &&"
                 " ln -s /etc/passwd leak && ln -s /etc etcdir && ln -s ../job.log up &&"
                 " ln -s nowhere dangling && mkfifo fifo && ln -s ../ gen2")
              .success());
  FakeSink sink;
  auto expect = [&](const std::string& declared, Code code, const std::string& message_start) {
    INFO("declared: ", declared);
    auto got = sb->CollectOutputs({declared}, sink, kProducer);
    CHECK(got.status().code() == code);
    CHECK(got.status().message().substr(0, message_start.size()) == message_start);
  };
  expect("../x", Code::kInvalidArgument, "output path '../x' has a '..' component");
  expect("/etc/passwd", Code::kInvalidArgument, "output path '/etc/passwd' is absolute");
  expect("leak", Code::kFailedPrecondition, "output 'leak' escapes the working dir");
  expect("gen/", Code::kFailedPrecondition, "output 'gen/evil.c' escapes the working dir");
  expect("etcdir/passwd", Code::kFailedPrecondition, "output 'etcdir/passwd' escapes");
  expect("etcdir/", Code::kFailedPrecondition, "output 'etcdir' escapes");
  expect("up", Code::kFailedPrecondition, "output 'up' escapes");
  expect("dangling", Code::kFailedPrecondition, "output 'dangling' is a dangling symlink");
  expect("fifo", Code::kFailedPrecondition, "output 'fifo' is not a regular file");
  expect("gen2/", Code::kFailedPrecondition, "output 'gen2' escapes");
  CHECK(sink.commits.empty());
}

TEST_CASE("output count, size and log limits") {
  TempDir root;
  SandboxLimits limits;
  limits.max_output_files = 2;
  limits.max_output_bytes = 10;
  limits.max_log_bytes = 10;
  auto sb = MakeSandbox(root, limits);
  REQUIRE(RunJob(*sb,
                 "mkdir d; echo 1 > d/a; echo 2 > d/b; echo 3 > d/c; echo 0123456789 > big;"
                 " printf 0123456789abcdefghij")
              .success());
  FakeSink sink;
  auto many = sb->CollectOutputs({"d/"}, sink, kProducer);
  CHECK(many.status().code() == Code::kResourceExhausted);
  CHECK(many.status().message() == "outputs exceed 2 files (at 'd/c')");
  auto large = sb->CollectOutputs({"d/a", "big"}, sink, kProducer);
  CHECK(large.status().message() == "outputs exceed 10 bytes (at 'big')");
  auto ok = sb->CollectOutputs({"d/a", "d/b"}, sink, kProducer);
  REQUIRE(ok.ok());
  CHECK(sink.Bytes(ok->log_ref) ==
        "[recomp: log truncated: first 10 of 20 bytes dropped]\nabcdefghij");
}

TEST_CASE("the sandbox is removed even when the job locked parts of it") {
  TempDir root;
  TempDir outside;
  std::ofstream(outside / "keep") << "precious";
  std::string dir;
  {
    auto sb = MakeSandbox(root);
    dir = sb->dir();
    FakeSource source;
    source.blobs = {{DigestOf(1), "rom"}};
    REQUIRE(sb->MaterializeInputs({{"a/b/rom", DigestOf(1)}}, source).ok());
    REQUIRE(RunJob(*sb,
                   "mkdir -p ro/sub/deeper && echo x > ro/sub/f && chmod 0 ro/sub &&"
                   " chmod 0555 ro && echo y > locked && chmod 0 locked && ln -s " +
                       outside.path() + " escape && ln -s " + outside.path() + "/keep escape_file")
                .success());
    CHECK(sb->Remove().ok());
    CHECK(sb->Remove().ok());  // idempotent
  }
  CHECK_FALSE(fs::exists(dir));
  CHECK(ReadFile(outside / "keep") == "precious");  // symlinks were removed, not followed

  {
    auto sb = MakeSandbox(root);  // an error path: RAII still removes it
    dir = sb->dir();
    FakeSource empty;
    REQUIRE_FALSE(sb->MaterializeInputs({{"x/y", DigestOf(3)}}, empty).ok());
  }
  CHECK_FALSE(fs::exists(dir));
  CHECK(NoSandboxLeft(root / "sandboxes"));
}

TEST_CASE("a tree input is materialised as its entries, with their exec bits") {
  TempDir root;
  auto sb = MakeSandbox(root);
  FakeSource source;
  Tree tree;
  for (auto [path, bytes, exec] : {std::tuple{"run.sh", "#!/bin/sh\necho ran\n", true},
                                   std::tuple{"sub/data.txt", "data\n", false}}) {
    TreeEntry e;
    e.path = path;
    e.executable = exec;
    e.size = std::string(bytes).size();
    e.digest = Blake2b256::Of(bytes);
    source.blobs[e.digest] = bytes;
    tree.entries.push_back(e);
  }
  std::string text = EncodeTree(tree);
  Digest tree_digest = Blake2b256::Of(text);
  source.blobs[tree_digest] = text;
  REQUIRE(
      sb->MaterializeInputs({{"lift/0/out/", tree_digest}, {"rom", DigestOf(1)}}, source).code() ==
      Code::kNotFound);  // rom is not in the source: nothing was made
  auto sb2 = MakeSandbox(root);
  Status st = sb2->MaterializeInputs({{"lift/0/out/", tree_digest}}, source);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  CHECK(ReadFile(sb2->input_dir() + "/lift/0/out/sub/data.txt") == "data\n");
  struct stat run;
  REQUIRE(::stat((sb2->input_dir() + "/lift/0/out/run.sh").c_str(), &run) == 0);
  CHECK((run.st_mode & 0111) != 0);
  CHECK((run.st_mode & 0222) == 0);
  CHECK(RunJob(*sb2, "in/lift/0/out/run.sh > ran.txt").success());
  // A tree input whose blob is not a tree is refused naming the input.
  source.blobs[DigestOf(2)] = "not json";
  auto sb3 = MakeSandbox(root);
  Status bad = sb3->MaterializeInputs({{"x/", DigestOf(2)}}, source);
  CHECK(bad.code() == Code::kInvalidArgument);
  CHECK(bad.message().find("tree input 'x/'") == 0);
}

TEST_CASE("an executable output keeps its exec bit in the tree") {
  TempDir root;
  auto sb = MakeSandbox(root);
  REQUIRE(RunJob(*sb,
                 "mkdir bin && printf 'x' > bin/tool && chmod 755 bin/tool && "
                 "printf 'y' > bin/data")
              .success());
  FakeSink sink;
  auto got = sb->CollectOutputs({"bin/"}, sink, kProducer);
  REQUIRE_MESSAGE(got.ok(), got.status().ToString());
  auto tree = DecodeTree(sink.Bytes(got->files[0].ref));
  REQUIRE(tree.ok());
  REQUIRE(tree->entries.size() == 2);
  CHECK(tree->entries[0].path == "data");
  CHECK_FALSE(tree->entries[0].executable);
  CHECK(tree->entries[1].path == "tool");
  CHECK(tree->entries[1].executable);
  CHECK(tree->entries[1].size == 1);
}

TEST_CASE("sandboxes of dead workers are reclaimed; live ones and anything else stay") {
  TempDir root;
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  REQUIRE(::waitpid(dead, nullptr, 0) == dead);  // a pid that no longer runs
  const std::string hex = "0123456789ab";
  const std::string gone = root / ("j1.1." + std::to_string(dead) + "." + hex);
  const std::string mine = root / ("j1.2." + std::to_string(::getpid()) + "." + hex);
  for (const std::string& d :
       {gone + "/work/in/sub", mine + "/work", root / ".spare.1.x", root / "unrelated.dir"}) {
    fs::create_directories(d);
  }
  { std::ofstream(gone + "/work/in/sub/f") << "x"; }
  fs::permissions(gone + "/work/in", fs::perms::owner_read | fs::perms::owner_exec);
  auto n = ReclaimDeadSandboxes(root.path());
  REQUIRE_MESSAGE(n.ok(), n.status().ToString());
  CHECK(*n == 1);
  CHECK_FALSE(fs::exists(gone));
  CHECK(fs::exists(mine));
  CHECK(fs::exists(root / ".spare.1.x"));
  CHECK(fs::exists(root / "unrelated.dir"));
  CHECK(ReclaimDeadSandboxes(root / "absent").value() == 0);
}

TEST_CASE("job paths are validated lexically") {
  CHECK(ValidateRelativePath("a/b.c", "p", false).ok());
  CHECK(ValidateRelativePath("gen/", "p", true).ok());
  CHECK(ValidateRelativePath("gen/", "p", false).code() == Code::kInvalidArgument);
  CHECK(ValidateRelativePath("..a/b..", "p", false).ok());  // dots inside names are fine
  CHECK(ValidateRelativePath(std::string("a\0b", 3), "p", false).code() == Code::kInvalidArgument);
  CHECK(ValidateRelativePath(std::string(256, 'x'), "p", false).code() == Code::kInvalidArgument);
  CHECK(ValidateRelativePath("//", "p", true).code() == Code::kInvalidArgument);
}

}  // namespace
}  // namespace recomp::worker
