// Job process groups and the zombies of processes that escaped them. The worker is a child
// subreaper, so a process a job detaches into its own group or session (setsid, setpgid) is
// re-parented to the worker when its job's shell exits, and nobody waits for it: its zombie
// would stay in the process table until the worker exits. ProcessRunner registers each job's
// group here for as long as it reaps that group itself; ReapEscapedZombies reaps the zombie
// children of this process that belong to no registered group. Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <unordered_set>

#include "base/mutex.h"

namespace recomp::worker {

class JobGroups {
 public:
  static JobGroups& Get();  // the process-wide registry

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
  Mutex mu_;
  std::unordered_set<pid_t> groups_ GUARDED_BY(mu_);
};

}  // namespace recomp::worker
