// JobGroups: a process that leaves its job's group (setsid) and outlives the job is adopted
// by this subreaper process; once it exits, ReapEscapedZombies reaps its zombie. A job's own
// leader, registered while its runner owns it, is never taken.
#include "worker/job_groups.h"

#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "tests/worker/worker_test_util.h"
#include "worker/process_runner.h"

namespace recomp::worker {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// 'Z' when `pid` is a zombie, 0 when it is gone, else its state letter.
char StateOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  size_t paren = line.rfind(')');
  return paren + 2 < line.size() ? line[paren + 2] : 0;
}

ProcessSpec Shell(const TempDir& dir, const std::string& script) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  spec.working_dir = dir.path();
  spec.log_path = dir / "job.log";
  return spec;
}

}  // namespace

TEST_CASE("the zombie of a process that escaped its job's group is reaped; nothing else is") {
  TempDir dir;
  // The job detaches a child into its own session and exits once the child has detached (it
  // writes its pid after setsid): when a job's leader exits, its whole group is killed.
  auto outcome = RunToCompletion(
      Shell(dir,
            "setsid /bin/sh -c 'echo $$ > escaped.pid; sleep 0.3' </dev/null >/dev/null 2>&1 &"
            " while [ ! -s escaped.pid ]; do sleep 0.01; done"));
  REQUIRE_MESSAGE(outcome.ok(), outcome.status().ToString());
  CHECK(outcome->success());
  pid_t escaped = 0;
  std::ifstream(dir / "escaped.pid") >> escaped;
  REQUIRE(escaped > 0);
  // It is ours now (subreaper) and dies on its own; until reaped it is a zombie.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (StateOf(escaped) != 'Z' && std::chrono::steady_clock::now() < deadline) {
    ::poll(nullptr, 0, 10);
  }
  REQUIRE(StateOf(escaped) == 'Z');
  CHECK(JobGroups::Get().ReapEscapedZombies() >= 1);
  CHECK(StateOf(escaped) == 0);  // gone from the process table
}

TEST_CASE("a running job's exited leader is left to its runner") {
  TempDir dir;
  auto runner = ProcessRunner::Start(Shell(dir, "exit 7"));
  REQUIRE(runner.ok());
  pid_t leader = (*runner)->pid();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (StateOf(leader) != 'Z' && std::chrono::steady_clock::now() < deadline) {
    ::poll(nullptr, 0, 5);
  }
  REQUIRE(StateOf(leader) == 'Z');
  JobGroups::Get().ReapEscapedZombies();  // must not touch it: its group is registered
  CHECK(StateOf(leader) == 'Z');
  ProcessOutcome out;
  while (!(*runner)->Poll(&out)) ::poll(nullptr, 0, 5);
  CHECK(out.kind == ProcessOutcome::Kind::kExited);
  CHECK(out.exit_code == 7);  // not kLost
}

TEST_CASE("the guard kills every registered job group when its process dies, even by SIGKILL") {
  int pipefd[2];
  REQUIRE(::pipe(pipefd) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The "worker": starts the guard, spawns a job (a shell with a child of its own, in a new
    // process group), reports the group, and waits to be killed.
    ::close(pipefd[0]);
    if (!JobGroups::Get().StartGuard().ok()) ::_exit(2);
    pid_t pgid = JobGroups::Get().SpawnRegistered([] {
      posix_spawnattr_t attr;
      posix_spawnattr_init(&attr);
      posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
      posix_spawnattr_setpgroup(&attr, 0);
      char* argv[] = {const_cast<char*>("/bin/sh"), const_cast<char*>("-c"),
                      const_cast<char*>("sleep 60 & sleep 60; wait"), nullptr};
      char* envp[] = {const_cast<char*>("PATH=/usr/bin:/bin"), nullptr};
      pid_t pid = 0;
      int rc = posix_spawn(&pid, "/bin/sh", nullptr, &attr, argv, envp);
      posix_spawnattr_destroy(&attr);
      return rc == 0 ? pid : 0;
    });
    (void)!::write(pipefd[1], &pgid, sizeof pgid);
    for (;;) ::pause();
  }
  ::close(pipefd[1]);
  pid_t pgid = 0;
  REQUIRE(::read(pipefd[0], &pgid, sizeof pgid) == static_cast<ssize_t>(sizeof pgid));
  ::close(pipefd[0]);
  REQUIRE(pgid > 0);
  // Both sleeps are up (the group has 3 members) before the worker dies.
  auto members = [pgid] {
    int n = 0;
    for (const auto& e : fs::directory_iterator("/proc")) {
      std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      pid_t pid = std::stoi(name);
      char state = StateOf(pid);
      if (state == 0 || state == 'Z') continue;
      if (::getpgid(pid) == pgid) ++n;
    }
    return n;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (members() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(members() == 3);
  ::kill(child, SIGKILL);
  REQUIRE(::waitpid(child, nullptr, 0) == child);
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (members() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(members() == 0);
  // This process may be a subreaper (an earlier case ran jobs): reap what it adopted.
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

}  // namespace recomp::worker
