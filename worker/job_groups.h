// Job process groups and the zombies of processes that escaped them. The worker is a child
// subreaper, so a process a job detaches into its own group or session (setsid, setpgid) is
// re-parented to the worker when its job's shell exits, and nobody waits for it: its zombie
// would stay in the process table until the worker exits. ProcessRunner registers each job's
// group here for as long as it reaps that group itself; ReapEscapedZombies reaps the zombie
// children of this process that belong to no registered group.
//
// The guard: a child process, forked once, that learns every registered group over a socket
// and SIGKILLs all groups still registered when this process dies (its end of the socket
// closes: a crash or SIGKILL included), so a job never outlives its worker. A process that
// leaves its job's group (setsid) escapes the guard too. Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <unordered_set>

#include "base/mutex.h"
#include "base/status.h"

namespace recomp::worker {

// The guard's process name (/proc/PID/comm); its command line is its worker's.
inline constexpr char kGuardName[] = "recomp-guard";

class JobGroups {
 public:
  static JobGroups& Get();  // the process-wide registry

  // Forks the guard (once per process; later calls return its first result). Call before
  // the first job is spawned: groups registered earlier are not guarded.
  Status StartGuard() EXCLUDES(mu_);
  // Runs `spawn` under the registry's lock and registers the group it returns (its leader's
  // pid; 0 when nothing was spawned), so that a job whose leader exits at once is never taken
  // for an escaped process. Returns what `spawn` returned.
  pid_t SpawnRegistered(const std::function<pid_t()>& spawn) EXCLUDES(mu_);
  // The runner is done with the group: any member left is an escapee from now on.
  void Remove(pid_t pgid) EXCLUDES(mu_);

  // Reaps (waitpid on the exact pid, WNOHANG) every zombie child of this process whose
  // process group is not registered; returns how many. Reads /proc/self/task/*/children and
  // /proc/<pid>/stat; a child that vanishes meanwhile is skipped.
  size_t ReapEscapedZombies() EXCLUDES(mu_);

 private:
  JobGroups() = default;
  // Tells the guard (if started) that `pgid` was added (op 1) or removed (op 2).
  void TellGuard(int32_t op, pid_t pgid) REQUIRES(mu_);
  Mutex mu_;
  std::unordered_set<pid_t> groups_ GUARDED_BY(mu_);
  int guard_fd_ GUARDED_BY(mu_) = -1;  // our end of the guard's socket; -1 before StartGuard
};

}  // namespace recomp::worker
