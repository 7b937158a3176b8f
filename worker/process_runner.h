// ProcessRunner: runs one job's command as a child process group without blocking the worker's
// ZeroMQ loop: poll wait_fd() next to the sockets and call Poll() when it is readable.
// Thread-compatible: one thread owns a runner; distinct runners may live on distinct threads.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/posix_file.h"
#include "base/status.h"
#include "worker/job_cgroup.h"

namespace recomp::worker {

// The worker package's logger ("worker", to stderr; base/log.h).
inline const PackageLogger WorkerLog("worker");

// How the child is started. Nothing is inherited from the worker except its uid/gid, rlimits and
// umask: the environment is exactly `env`, stdin is /dev/null, fds >= 3 are closed, every signal
// disposition is reset to default and the signal mask is empty.
struct ProcessSpec {
  // argv[0] is resolved WITHOUT the worker's PATH (see docs/worker-sandbox.md):
  //  - containing '/': used as is; a relative path is relative to working_dir;
  //  - a bare name: searched in env["PATH"] (empty or relative entries relative to
  //    working_dir); if env has no PATH the spawn fails with "command not found".
  // The child sees argv unchanged (argv[0] as given). No shell is involved.
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // exact environment; keys non-empty, no '=' or NUL
  std::string working_dir;                 // must exist; "" is a programming error
  std::string log_path;  // stdout+stderr, opened O_APPEND|O_CREAT (0644), interleaved in order
  std::chrono::milliseconds timeout{0};  // wall-clock limit from spawn; 0 = none
  // After SIGTERM (timeout or Kill()), the group gets SIGKILL once this elapses.
  std::chrono::milliseconds kill_grace{2000};
  // Confinement (worker/confinement.h): the argv prefix the command runs under (bwrap,
  // setpriv); the resolved command, made absolute, follows it. Empty: the command itself.
  std::vector<std::string> launcher;
  // A cgroup v2 directory: the job gets a cgroup `cgroup_name` below it, killed whole when the
  // leader exits and removed at the end ("" = none).
  std::string cgroup_parent, cgroup_name;
};

struct ProcessOutcome {
  enum class Kind {
    kExited,       // the leader exited by itself; exit_code is valid
    kSignaled,     // the leader died of `signal` (not sent by us)
    kTimedOut,     // spec.timeout elapsed; we terminated the group
    kKilled,       // Kill() was called; we terminated the group
    kSpawnFailed,  // the command never ran; `message` says why (also written to the log)
    kLost,         // the exit status was reaped by someone else (SIGCHLD ignored / waitpid(-1))
  };
  Kind kind = Kind::kSpawnFailed;
  int exit_code = -1;         // the leader's exit code when it exited (any kind), else -1
  int signal = 0;             // the signal that ended the leader (any kind), else 0
  std::string message;        // one-line human summary, e.g. "exited with code 2"
  int64_t wall_ms = 0;        // spawn to reap
  int64_t max_rss_kb = 0;     // wait4 ru_maxrss: largest of the leader and its reaped children
  bool group_drained = true;  // false: members of the group still alive after the drain limit

  bool success() const { return kind == Kind::kExited && exit_code == 0; }
};

const char* OutcomeKindName(ProcessOutcome::Kind kind);

// Makes this process a child subreaper (prctl PR_SET_CHILD_SUBREAPER), once per process;
// ProcessRunner::Start calls it, the worker calls it at start. Orphaned descendants are then
// re-parented to this process instead of init, so a job's background processes stay children
// of the worker and its group can be waited for (waitid P_PGID) without scanning /proc.
Status EnableChildSubreaper();

class ProcessRunner {
 public:
  // Spawns spec.argv (posix_spawn, new process group) and returns at once. A spawn failure of
  // the command (not found, permission denied, working dir missing) is NOT an error here: the
  // runner is returned already finished with a kSpawnFailed outcome. Errors are reserved for an
  // invalid spec (InvalidArgument) and worker-side failures (log file, pidfd: IOError/Internal).
  // Requires Linux >= 5.3 (pidfd_open) and that nothing else in the process reaps our child
  // (no SIGCHLD=SIG_IGN, no waitpid(-1)). Makes the process a child subreaper (see above).
  // Runners on distinct threads are independent: each reaps only its own process group.
  static Result<std::unique_ptr<ProcessRunner>> Start(const ProcessSpec& spec);

  // Kills the whole group (SIGKILL) and reaps the leader if still running; blocks at most
  // about the group drain limit.
  ~ProcessRunner();
  ProcessRunner(const ProcessRunner&) = delete;
  ProcessRunner& operator=(const ProcessRunner&) = delete;

  // A pollable fd (an epoll fd over a pidfd and a timerfd): readable when Poll() has something
  // to do (exit, timeout, grace expiry). Use with poll()/zmq_poll (as a raw fd, POLLIN). Owned by
  // the runner; valid until destruction. Never read or close it.
  int wait_fd() const { return epoll_fd_.get(); }

  // Non-blocking. Advances timers, escalates signals, reaps. Returns true and fills *out once
  // the job is finished: the leader exited, the group got SIGKILL, and every member that is
  // (or, orphaned, became) our child was reaped -- waitid(P_PGID) says ECHILD -- or the drain
  // limit (2 s) passed (group_drained = false). Later calls return true with the same
  // outcome. Calling it spuriously is harmless.
  bool Poll(ProcessOutcome* out);

  // Cancels: SIGTERM to the group now, SIGKILL after kill_grace. The outcome is kKilled unless
  // the job had already finished or timed out. Idempotent.
  void Kill();

  pid_t pid() const { return pid_; }  // == the process group id; 0 after a spawn failure
  bool finished() const { return state_ == State::kDone; }

 private:
  enum class State { kRunning, kTerminating, kDraining, kDone };
  explicit ProcessRunner(const ProcessSpec& spec);

  using Clock = std::chrono::steady_clock;

  Status Init();
  Status Spawn();
  Status Watch();
  void FinishSpawnFailed(const std::string& message);
  void OnLeaderExited(Clock::time_point now);
  void Terminate(Clock::time_point now, ProcessOutcome::Kind why);
  void Escalate(Clock::time_point now);
  // One non-blocking pass of waitid(P_PGID, pid_): reaps every exited child of ours in the
  // job's group (keeping the leader's status). True when none is left (ECHILD): drained.
  bool ReapGroup();
  void Finish(Clock::time_point now, bool drained);
  void ArmTimer(Clock::time_point when);
  void AppendToLog(const std::string& line);

  ProcessSpec spec_;
  State state_ = State::kRunning;
  pid_t pid_ = 0;
  std::unique_ptr<JobCgroup> cgroup_;  // the job's cgroup, when spec_.cgroup_parent is set
  Fd pidfd_;
  Fd timer_fd_;
  Fd epoll_fd_;
  Fd log_fd_;
  bool kill_sent_ = false;  // SIGKILL escalation done (sent once)
  ProcessOutcome::Kind stop_kind_ = ProcessOutcome::Kind::kExited;  // kTimedOut/kKilled once set
  Clock::time_point start_;
  Clock::time_point deadline_;     // timeout, or SIGKILL after SIGTERM
  Clock::time_point drain_until_;  // give up waiting for the group
  bool leader_reaped_ = false;
  int leader_status_ = 0;  // wait(2)-style status of the leader once reaped
  struct rusage leader_usage_ = {};
  ProcessOutcome outcome_;
};

// Blocking convenience: Start, then wait (poll on wait_fd) until finished.
Result<ProcessOutcome> RunToCompletion(const ProcessSpec& spec);

}  // namespace recomp::worker
