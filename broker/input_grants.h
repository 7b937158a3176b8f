// InputGrants: which worker may read which input blobs right now: the inputs of the jobs it
// holds a lease on. The broker's thread grants on assignment and revokes when the lease ends
// (RESULT, or the worker dropped); the blob service's thread asks, before it serves an
// external blob (a ROM, game assets), whether the asking worker holds a job naming it.
// Thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/digest.h"
#include "base/mutex.h"
#include "messages/protocol.h"

namespace recomp::broker {

class InputGrants {
 public:
  // `worker_id` holds `job`, which names `inputs`.
  void Grant(const std::string& worker_id, const proto::JobRef& job, std::vector<Digest> inputs)
      EXCLUDES(mu_);
  // The lease of `job` ended.
  void Revoke(const std::string& worker_id, const proto::JobRef& job) EXCLUDES(mu_);
  // The worker is gone: all its grants end.
  void RevokeWorker(const std::string& worker_id) EXCLUDES(mu_);
  // Whether `worker_id` holds a job naming `digest`.
  bool Holds(const std::string& worker_id, const Digest& digest) const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  std::map<std::string, std::map<proto::JobRef, std::vector<Digest>>> by_worker_ GUARDED_BY(mu_);
};

}  // namespace recomp::broker
