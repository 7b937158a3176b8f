// ProcessRunner tests: real processes in temp dirs. Nothing sleeps to synchronise: waits poll a
// condition (or the runner's wait fd) against a deadline.
#include "worker/process_runner.h"

#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

namespace recomp::worker {
namespace {

using namespace std::chrono_literals;
using Kind = ProcessOutcome::Kind;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "recomp-runner-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

// Polls `pred` every 5 ms until it holds or `limit` elapses.
bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    ::poll(nullptr, 0, 5);
  }
  return true;
}

// Alive = exists and is not a zombie (a zombie whose parent is init is dead for our purposes).
bool ProcessAlive(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z' &&
         stat[paren + 2] != 'X';
}

// Waits until the job wrote a pid into `path`, returns it.
pid_t ReadPidFile(const std::string& path) {
  pid_t pid = 0;
  REQUIRE(WaitUntil([&] {
    std::string text = ReadFile(path);
    if (text.empty() || text.back() != '\n') return false;
    pid = static_cast<pid_t>(std::stol(text));
    return true;
  }));
  return pid;
}

ProcessSpec MakeSpec(const TempDir& dir, std::vector<std::string> argv) {
  ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.working_dir = dir.path();
  spec.log_path = dir / "job.log";
  return spec;
}

ProcessOutcome Run(const ProcessSpec& spec) {
  auto outcome = RunToCompletion(spec);
  REQUIRE_MESSAGE(outcome.ok(), outcome.status().ToString());
  return *outcome;
}

// Polls the runner through its wait fd (the way the worker's loop does) until it finishes.
ProcessOutcome PollToEnd(ProcessRunner& runner) {
  ProcessOutcome out;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!runner.Poll(&out)) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    struct pollfd pfd = {runner.wait_fd(), POLLIN, 0};
    ::poll(&pfd, 1, 1000);
  }
  return out;
}

TEST_CASE("exit codes are reported") {
  TempDir dir;
  ProcessOutcome ok = Run(MakeSpec(dir, {"/bin/true"}));
  CHECK(ok.kind == Kind::kExited);
  CHECK(ok.exit_code == 0);
  CHECK(ok.success());
  ProcessOutcome three = Run(MakeSpec(dir, {"/bin/sh", "-c", "exit 3"}));
  CHECK(three.kind == Kind::kExited);
  CHECK(three.exit_code == 3);
  CHECK_FALSE(three.success());
  CHECK(three.message == "exited with code 3");
  CHECK(three.max_rss_kb > 0);
}

TEST_CASE("death by a signal is reported as signaled") {
  TempDir dir;
  ProcessOutcome out = Run(MakeSpec(dir, {"/bin/sh", "-c", "kill -USR1 $$"}));
  CHECK(out.kind == Kind::kSignaled);
  CHECK(out.signal == SIGUSR1);
  CHECK(out.exit_code == -1);
  CHECK(out.message == "killed by SIGUSR1");
}

TEST_CASE("the child sees exactly the given environment") {
  TempDir dir;
  REQUIRE(::setenv("RECOMP_TEST_LEAK_CANARY", "leaked", 1) == 0);
  ProcessSpec spec = MakeSpec(dir, {"/usr/bin/env"});
  spec.env = {{"RECOMP_STAGE", "lift"}, {"FOO", "bar baz"}};
  CHECK(Run(spec).success());
  ::unsetenv("RECOMP_TEST_LEAK_CANARY");
  std::string log = ReadFile(spec.log_path);
  CHECK(log == "FOO=bar baz\nRECOMP_STAGE=lift\n");
  CHECK(log.find("LEAK_CANARY") == std::string::npos);
}

TEST_CASE("argv is passed literally, without a shell") {
  TempDir dir;
  ProcessSpec spec = MakeSpec(dir, {"/bin/echo", "a;b", "$HOME", "`id`", "*", "x > y"});
  CHECK(Run(spec).success());
  CHECK(ReadFile(spec.log_path) == "a;b $HOME `id` * x > y\n");
  CHECK_FALSE(fs::exists(dir / "y"));
}

TEST_CASE("stdout and stderr are interleaved in one log; stdin is /dev/null") {
  TempDir dir;
  ProcessSpec spec =
      MakeSpec(dir, {"/bin/sh", "-c", "echo out1; echo err1 >&2; echo out2; cat; echo done >&2"});
  CHECK(Run(spec).success());
  CHECK(ReadFile(spec.log_path) == "out1\nerr1\nout2\ndone\n");
}

TEST_CASE("argv[0] is resolved against the job's PATH, never the worker's") {
  TempDir dir;
  REQUIRE(::getenv("PATH") != nullptr);  // the worker's PATH would find sh
  ProcessSpec spec = MakeSpec(dir, {"sh", "-c", "exit 4"});
  ProcessOutcome no_path = Run(spec);
  CHECK(no_path.kind == Kind::kSpawnFailed);
  CHECK(no_path.message.find("command not found: sh") == 0);
  CHECK(ReadFile(spec.log_path).find("recomp: spawn failed: command not found: sh") == 0);

  spec.env["PATH"] = "/nonexistent:/usr/bin:/bin";
  ProcessOutcome with_path = Run(spec);
  CHECK(with_path.kind == Kind::kExited);
  CHECK(with_path.exit_code == 4);
}

TEST_CASE("a relative argv[0] is relative to the working dir") {
  TempDir dir;
  WriteFile(dir / "tool.sh", "#!/bin/sh\necho \"$0 $1\"\nexit 7\n", 0755);
  ProcessSpec spec = MakeSpec(dir, {"./tool.sh", "arg"});
  ProcessOutcome out = Run(spec);
  CHECK(out.exit_code == 7);
  CHECK(ReadFile(spec.log_path) == "./tool.sh arg\n");
}

TEST_CASE("spawn failures are outcomes with clear messages, also in the log") {
  TempDir dir;
  SUBCASE("missing binary") {
    ProcessSpec spec = MakeSpec(dir, {"/nonexistent/recomp-no-such-tool", "x"});
    ProcessOutcome out = Run(spec);
    CHECK(out.kind == Kind::kSpawnFailed);
    CHECK(out.message == "command not found: /nonexistent/recomp-no-such-tool");
    CHECK(ReadFile(spec.log_path) ==
          "recomp: spawn failed: command not found: /nonexistent/recomp-no-such-tool\n");
  }
  SUBCASE("not executable") {
    WriteFile(dir / "data.txt", "hello\n", 0644);
    ProcessOutcome out = Run(MakeSpec(dir, {"./data.txt"}));
    CHECK(out.kind == Kind::kSpawnFailed);
    CHECK(out.message.find("permission denied") == 0);
  }
  SUBCASE("working dir missing") {
    ProcessSpec spec = MakeSpec(dir, {"/bin/true"});
    spec.working_dir = dir / "gone";
    ProcessOutcome out = Run(spec);
    CHECK(out.kind == Kind::kSpawnFailed);
    CHECK(out.message == "working directory does not exist: " + spec.working_dir);
  }
  SUBCASE("the wait fd is readable at once") {
    auto runner = ProcessRunner::Start(MakeSpec(dir, {"/nonexistent/tool"}));
    REQUIRE(runner.ok());
    struct pollfd pfd = {(*runner)->wait_fd(), POLLIN, 0};
    CHECK(::poll(&pfd, 1, 1000) == 1);
    ProcessOutcome out;
    CHECK((*runner)->Poll(&out));
    CHECK(out.kind == Kind::kSpawnFailed);
  }
}

TEST_CASE("an invalid spec is an error, not an outcome") {
  TempDir dir;
  CHECK(ProcessRunner::Start(MakeSpec(dir, {})).status().code() == Status::Code::kInvalidArgument);
  ProcessSpec spec = MakeSpec(dir, {"/bin/true"});
  spec.env["A=B"] = "c";
  CHECK(ProcessRunner::Start(spec).status().code() == Status::Code::kInvalidArgument);
  spec = MakeSpec(dir, {"/bin/true"});
  spec.log_path = dir / "no/such/dir/job.log";
  CHECK(ProcessRunner::Start(spec).status().code() == Status::Code::kNotFound);
}

TEST_CASE("a timeout kills the whole process group, grandchildren included") {
  TempDir dir;
  ProcessSpec spec =
      MakeSpec(dir, {"/bin/sh", "-c", "sleep 100 & echo $! > gpid; sleep 100; echo not-reached"});
  spec.timeout = 300ms;
  auto runner = ProcessRunner::Start(spec);
  REQUIRE(runner.ok());
  pid_t grandchild = ReadPidFile(dir / "gpid");
  CHECK(ProcessAlive(grandchild));
  ProcessOutcome out = PollToEnd(**runner);
  CHECK(out.kind == Kind::kTimedOut);
  CHECK(out.signal == SIGTERM);
  CHECK(out.group_drained);
  CHECK(out.wall_ms >= 300);
  CHECK(out.wall_ms < 2000);  // SIGTERM sufficed: no wait for the grace
  CHECK_FALSE(ProcessAlive(grandchild));
  CHECK_FALSE(ProcessAlive((*runner)->pid()));
  CHECK(ReadFile(spec.log_path) == "recomp: timed out after 300 ms\n");
}

TEST_CASE("SIGTERM is escalated to SIGKILL after the grace") {
  TempDir dir;
  // TERM is ignored by the shell and (inherited) by its background child.
  ProcessSpec spec =
      MakeSpec(dir, {"/bin/sh", "-c", "trap '' TERM; sleep 100 & echo $! > gpid; wait; wait"});
  spec.timeout = 200ms;
  spec.kill_grace = 300ms;
  auto runner = ProcessRunner::Start(spec);
  REQUIRE(runner.ok());
  pid_t grandchild = ReadPidFile(dir / "gpid");
  ProcessOutcome out = PollToEnd(**runner);
  CHECK(out.kind == Kind::kTimedOut);
  CHECK(out.signal == SIGKILL);
  CHECK(out.wall_ms >= 500);
  CHECK_FALSE(ProcessAlive(grandchild));
  CHECK(ReadFile(spec.log_path).find("sending SIGKILL") != std::string::npos);
}

TEST_CASE("what the leader leaves behind in its group dies when it exits") {
  TempDir dir;
  ProcessSpec spec = MakeSpec(dir, {"/bin/sh", "-c", "sleep 100 & echo $! > gpid; exit 0"});
  auto runner = ProcessRunner::Start(spec);
  REQUIRE(runner.ok());
  pid_t grandchild = ReadPidFile(dir / "gpid");
  ProcessOutcome out = PollToEnd(**runner);
  CHECK(out.kind == Kind::kExited);
  CHECK(out.exit_code == 0);
  CHECK_FALSE(ProcessAlive(grandchild));
}

// The parent pid of `pid` from /proc (0 when it is gone).
pid_t ParentOf(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  char state = 0;
  long ppid = 0;
  if (std::sscanf(stat.c_str() + paren + 1, " %c %ld", &state, &ppid) != 2) return 0;
  return static_cast<pid_t>(ppid);
}

// Gone: not even a zombie any more (reaped).
bool Reaped(pid_t pid) {
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

TEST_CASE("the runner's process is a child subreaper: the job's orphans become its children") {
  TempDir dir;
  // The subshell exits at once, orphaning its background sleep; the leader keeps running.
  auto runner = ProcessRunner::Start(
      MakeSpec(dir, {"/bin/sh", "-c", "(sleep 100 & echo $! > gpid); exec sleep 100"}));
  REQUIRE(runner.ok());
  int subreaper = 0;
  REQUIRE(::prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0) == 0);
  CHECK(subreaper == 1);
  pid_t orphan = ReadPidFile(dir / "gpid");
  CHECK(WaitUntil([&] { return ParentOf(orphan) == ::getpid(); }));
  (*runner)->Kill();
  ProcessOutcome out = PollToEnd(**runner);
  CHECK(out.kind == Kind::kKilled);
  CHECK(out.group_drained);
  CHECK(Reaped(orphan));  // waited for and reaped by the runner, not left to init
}

TEST_CASE(
    "an orphaned grandchild that outlives the leader is killed and reaped before the outcome") {
  TempDir dir;
  auto runner = ProcessRunner::Start(
      MakeSpec(dir, {"/bin/sh", "-c", "(sleep 100 & echo $! > gpid); exit 4"}));
  REQUIRE(runner.ok());
  pid_t grandchild = ReadPidFile(dir / "gpid");
  ProcessOutcome out = PollToEnd(**runner);
  CHECK(out.kind == Kind::kExited);
  CHECK(out.exit_code == 4);
  CHECK(out.group_drained);
  CHECK(Reaped(grandchild));
}

TEST_CASE("draining a job's group never reaps another job's or the embedder's children") {
  TempDir dir_a, dir_b;
  pid_t unrelated = ::fork();  // a child of the embedding process, exited, not yet waited for
  REQUIRE(unrelated >= 0);
  if (unrelated == 0) ::_exit(7);
  auto b = ProcessRunner::Start(MakeSpec(dir_b, {"/bin/sleep", "100"}));
  REQUIRE(b.ok());
  // Job A leaves a background child in its group: its drain reaps that one and its leader.
  ProcessOutcome a = Run(MakeSpec(dir_a, {"/bin/sh", "-c", "sleep 100 & exit 0"}));
  CHECK(a.kind == Kind::kExited);
  CHECK(a.group_drained);
  siginfo_t info = {};
  REQUIRE(::waitid(P_PID, static_cast<id_t>((*b)->pid()), &info, WEXITED | WNOHANG | WNOWAIT) == 0);
  CHECK(info.si_pid == 0);  // job B's leader: still running, still ours to wait for
  int status = 0;
  CHECK(::waitpid(unrelated, &status, 0) == unrelated);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 7);
  (*b)->Kill();
  ProcessOutcome out_b = PollToEnd(**b);
  CHECK(out_b.kind == Kind::kKilled);
  CHECK(out_b.signal == SIGTERM);
}

TEST_CASE("Kill cancels a running job") {
  TempDir dir;
  auto runner = ProcessRunner::Start(MakeSpec(dir, {"/bin/sleep", "100"}));
  REQUIRE(runner.ok());
  ProcessOutcome out;
  CHECK_FALSE((*runner)->Poll(&out));
  (*runner)->Kill();
  (*runner)->Kill();  // idempotent
  out = PollToEnd(**runner);
  CHECK(out.kind == Kind::kKilled);
  CHECK(out.signal == SIGTERM);
  CHECK(out.message == "cancelled (killed by SIGTERM)");
  (*runner)->Kill();  // after the end: no-op
  ProcessOutcome again;
  CHECK((*runner)->Poll(&again));
  CHECK(again.kind == Kind::kKilled);
}

TEST_CASE("destroying a running runner kills and reaps its group") {
  TempDir dir;
  pid_t leader = 0, grandchild = 0;
  {
    auto runner = ProcessRunner::Start(
        MakeSpec(dir, {"/bin/sh", "-c", "sleep 100 & echo $! > gpid; sleep 100"}));
    REQUIRE(runner.ok());
    leader = (*runner)->pid();
    grandchild = ReadPidFile(dir / "gpid");
  }
  CHECK_FALSE(ProcessAlive(leader));
  CHECK_FALSE(ProcessAlive(grandchild));
  CHECK(ReadFile("/proc/" + std::to_string(leader) + "/stat").empty());  // reaped, not zombie
}

TEST_CASE("the worker's poll loop keeps turning while a job runs") {
  TempDir dir;
  auto runner = ProcessRunner::Start(MakeSpec(dir, {"/bin/sleep", "1"}));
  REQUIRE(runner.ok());
  int iterations = 0;
  ProcessOutcome out;
  auto start = std::chrono::steady_clock::now();
  while (!(*runner)->Poll(&out)) {
    // The wait fd is a plain fd: zmq_poll accepts it next to sockets.
    zmq_pollitem_t item = {nullptr, (*runner)->wait_fd(), ZMQ_POLLIN, 0};
    REQUIRE(zmq_poll(&item, 1, 50) >= 0);
    ++iterations;  // a heartbeat would be sent here
    REQUIRE(std::chrono::steady_clock::now() - start < 10s);
  }
  CHECK(out.success());
  CHECK(out.wall_ms >= 900);
  CHECK(iterations >= 10);
  CHECK(iterations <= 40);  // the fd is not spuriously readable (no busy loop)
}

}  // namespace
}  // namespace recomp::worker
