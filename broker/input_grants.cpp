// InputGrants (see input_grants.h).
#include "broker/input_grants.h"

#include <algorithm>

namespace recomp::broker {

void InputGrants::Grant(const std::string& worker_id, const proto::JobRef& job,
                        std::vector<Digest> inputs) {
  MutexLock l(&mu_);
  by_worker_[worker_id][job] = std::move(inputs);
}

void InputGrants::Revoke(const std::string& worker_id, const proto::JobRef& job) {
  MutexLock l(&mu_);
  auto w = by_worker_.find(worker_id);
  if (w == by_worker_.end()) return;
  w->second.erase(job);
  if (w->second.empty()) by_worker_.erase(w);
}

void InputGrants::RevokeWorker(const std::string& worker_id) {
  MutexLock l(&mu_);
  by_worker_.erase(worker_id);
}

bool InputGrants::Holds(const std::string& worker_id, const Digest& digest) const {
  MutexLock l(&mu_);
  auto w = by_worker_.find(worker_id);
  if (w == by_worker_.end()) return false;
  for (const auto& [job, inputs] : w->second) {
    if (std::find(inputs.begin(), inputs.end(), digest) != inputs.end()) return true;
  }
  return false;
}

}  // namespace recomp::broker
