// JobCgroup: one job's cgroup (v2). The job's leader is moved in right after it is spawned, so
// everything it starts is in it, a `setsid` daemon included; at the job's end the whole cgroup
// is killed (cgroup.kill, or SIGKILL to each member where the kernel has no cgroup.kill) and
// removed. Thread-compatible: one owner.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace recomp::worker {

class JobCgroup {
 public:
  // Creates `parent`/`name` (a cgroup v2 directory the worker may write).
  static Result<std::unique_ptr<JobCgroup>> Create(const std::string& parent,
                                                   std::string_view name);
  ~JobCgroup();  // KillAll + remove; failures are logged
  JobCgroup(const JobCgroup&) = delete;
  JobCgroup& operator=(const JobCgroup&) = delete;

  // Moves process `pid` into the cgroup.
  Status Attach(pid_t pid);
  // Kills every process in the cgroup and waits (bounded, 2 s) until it is empty; true when
  // it is. Its processes' zombies are left to their parents.
  bool KillAll();
  const std::string& dir() const { return dir_; }

 private:
  explicit JobCgroup(std::string dir) : dir_(std::move(dir)) {}
  bool Populated() const;
  std::string dir_;
};

}  // namespace recomp::worker
