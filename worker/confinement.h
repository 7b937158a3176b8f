// Confinement of job processes (docs/worker-sandbox.md, "Confined jobs"): when the worker runs
// as root, jobs run as an unprivileged user with no new privileges (setpriv); with bubblewrap,
// a job sees a read-only system, a private /tmp, empty directories over the worker's data
// (store, cache, other sandboxes), its own working directory as its only writable path, its
// own pid namespace (everything in it dies with the job) and no network unless its stage says
// `network = true`. Pure functions and one probe at start; thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "worker/blob_source.h"

namespace recomp::worker {

struct ConfinementOptions {
  bool bubblewrap = false;  // run jobs under bwrap
  std::string bwrap = "/usr/bin/bwrap";
  bool change_user = false;  // run jobs as uid:gid (the worker is root)
  uid_t uid = 65534;
  gid_t gid = 65534;
  std::string setpriv = "/usr/bin/setpriv";
  // Directories the job must not see (data directory, store, cache, work root): each becomes
  // an empty tmpfs in the job's view. Only existing absolute paths are used.
  std::vector<std::string> hidden;
  // A cgroup v2 directory under which each job gets its own cgroup ("" = none).
  std::string cgroup_parent;
  bool active() const { return bubblewrap || change_user; }
};

// What the operator asked for (`[worker] confine`, job_uid, job_gid).
struct ConfinementRequest {
  enum class Mode { kAuto, kBubblewrap, kNone } mode = Mode::kAuto;
  uid_t uid = 65534;
  gid_t gid = 65534;
  bool cgroups = true;
  std::vector<std::string> hidden;
};

// Decides the confinement this machine allows: change_user when running as root (unless
// kNone); bubblewrap when `bwrap` runs a trivial sandbox here (kAuto: else without, logged;
// kBubblewrap: else FailedPrecondition naming why); a cgroup parent when a cgroup v2 hierarchy
// is mounted and writable. `*notes` gets one line per decision for the worker's log.
Result<ConfinementOptions> DecideConfinement(const ConfinementRequest& request,
                                             std::vector<std::string>* notes);

// The argv prefix that runs a job confined: bwrap's options (binding `work_dir` writable,
// `--unshare-net` unless `network`) and setpriv's; the job's resolved command follows it.
// Empty when nothing is confined.
std::vector<std::string> Launcher(const ConfinementOptions& c, const std::string& work_dir,
                                  bool network);

// Gives the job's user its working directory (chown of `work_dir` itself; in/ stays the
// worker's and read-only). No-op without change_user.
Status PrepareWorkDir(const ConfinementOptions& c, const std::string& work_dir);

// A BlobSource for a job that runs as another user: inputs from `inner` may be hard links to
// the store's 0400 files, so each is materialised as the job user's readable copy (0444, or
// 0555 when executable) instead.
class ReadableCopies : public BlobSource {
 public:
  explicit ReadableCopies(BlobSource& inner) : inner_(inner) {}
  Status Materialize(const Digest& digest, const std::string& dest_path, bool executable) override;
  void Prefetch(const std::vector<Digest>& digests) override { inner_.Prefetch(digests); }

 private:
  BlobSource& inner_;
};

}  // namespace recomp::worker
