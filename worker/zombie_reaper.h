// Job process groups and the zombies of processes that escaped them. The worker is a child
// subreaper, so a process a job detaches into its own group or session (setsid, setpgid) is
// re-parented to the worker when its job's shell exits, and nobody waits for it: its zombie
// would stay in the process table until the worker exits. ProcessRunner registers each job's
// group here for as long as it reaps that group itself; ReapEscapedZombies reaps the zombie
// children of this process that belong to no registered group. Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <mutex>
#include <unordered_set>

namespace recomp::worker {

class JobGroups {
 public:
  static JobGroups& Get();  // the process-wide registry

  // Hold the returned lock across posix_spawn and AddLocked: a job whose leader exits at once
  // must not be taken for an escaped process in between.
  std::unique_lock<std::mutex> Lock() { return std::unique_lock<std::mutex>(mu_); }
  void AddLocked(pid_t pgid) { groups_.insert(pgid); }
  // The runner is done with the group: any member left is an escapee from now on.
  void Remove(pid_t pgid);

  // Reaps (waitpid on the exact pid, WNOHANG) every zombie child of this process whose
  // process group is not registered; returns how many. Reads /proc/self/task/*/children and
  // /proc/<pid>/stat; a child that vanishes meanwhile is skipped.
  size_t ReapEscapedZombies();

 private:
  JobGroups() = default;
  std::mutex mu_;
  std::unordered_set<pid_t> groups_;  // guarded by mu_
};

}  // namespace recomp::worker
