// WorkerRegistry (see worker_registry.h).
#include "broker/worker_registry.h"

#include <algorithm>

namespace recomp::broker {

WorkerEntry* WorkerRegistry::Find(const std::string& identity) {
  auto it = by_identity_.find(identity);
  return it == by_identity_.end() ? nullptr : &it->second;
}

WorkerEntry* WorkerRegistry::FindByWorkerId(const std::string& worker_id) {
  auto it = by_worker_id_.find(worker_id);
  return it == by_worker_id_.end() ? nullptr : Find(it->second);
}

WorkerEntry& WorkerRegistry::Add(const std::string& identity, const proto::WorkerHello& hello,
                                 Clock::time_point now, int64_t now_unix_ms) {
  WorkerEntry& w = by_identity_[identity];
  w.identity = identity;
  w.hello = hello;
  w.heartbeat_ms = w.expiry_heartbeat_ms = hello.heartbeat_ms;
  w.last_seen = now;
  w.last_sent = now;
  w.last_seen_unix_ms = now_unix_ms;
  w.last_used = 0;  // never used: first among equals
  by_worker_id_[hello.worker_id] = identity;
  hb_.insert(hello.heartbeat_ms);
  total_slots_ += hello.slots;
  ++label_sets_[hello.labels];
  Order(w);
  return w;
}

std::optional<WorkerEntry> WorkerRegistry::Remove(const std::string& identity) {
  auto it = by_identity_.find(identity);
  if (it == by_identity_.end()) return std::nullopt;
  WorkerEntry w = std::move(it->second);
  by_identity_.erase(it);
  total_slots_ -= w.hello.slots;
  Unorder(w);
  auto wid = by_worker_id_.find(w.hello.worker_id);
  if (wid != by_worker_id_.end() && wid->second == identity) by_worker_id_.erase(wid);
  for (const auto& [key, lease] : w.jobs) {
    auto h = holders_.find(key);
    if (h != holders_.end() && h->second == identity) holders_.erase(h);
  }
  auto hb = hb_.find(w.hello.heartbeat_ms);
  if (hb != hb_.end()) hb_.erase(hb);
  auto ls = label_sets_.find(w.hello.labels);
  if (ls != label_sets_.end() && --ls->second == 0) label_sets_.erase(ls);
  return w;
}

WorkerEntry* WorkerRegistry::PickFreeSlot() {
  return PickFreeSlot([](const Labels&) { return true; });
}

WorkerEntry* WorkerRegistry::PickFreeSlot(const std::function<bool(const Labels&)>& eligible) {
  const OrderKey* best = nullptr;
  for (const auto& [labels, order] : free_order_) {
    if (!eligible(labels)) continue;
    if (best == nullptr || *order.begin() < *best) best = &*order.begin();
  }
  return best ? Find(std::get<2>(*best)) : nullptr;
}

bool WorkerRegistry::AnySatisfies(const Labels& required) const {
  for (const auto& [labels, count] : label_sets_) {
    if (Satisfies(labels, required)) return true;
  }
  return false;
}

void WorkerRegistry::AddLease(WorkerEntry& w, Lease lease) {
  Unorder(w);
  JobRef key{lease.job.job_id, lease.job.attempt};
  holders_[key] = w.identity;
  w.jobs[key] = std::move(lease);
  w.last_used = ++use_clock_;
  Order(w);
}

std::optional<Lease> WorkerRegistry::RemoveLease(WorkerEntry& w, const JobRef& key) {
  auto it = w.jobs.find(key);
  if (it == w.jobs.end()) return std::nullopt;
  Unorder(w);
  Lease lease = std::move(it->second);
  w.jobs.erase(it);
  auto h = holders_.find(key);
  if (h != holders_.end() && h->second == w.identity) holders_.erase(h);
  Order(w);
  return lease;
}

WorkerEntry* WorkerRegistry::Holder(const JobRef& key) {
  auto h = holders_.find(key);
  return h == holders_.end() ? nullptr : Find(h->second);
}

std::vector<std::string> WorkerRegistry::Expired(Clock::time_point now) const {
  std::vector<std::string> out;
  for (const auto& [id, w] : by_identity_) {
    if (now - w.last_seen > w.expiry()) out.push_back(id);
  }
  return out;
}

std::vector<std::pair<std::string, Lease>> WorkerRegistry::OverdueLeases(
    Clock::time_point now) const {
  std::vector<std::pair<std::string, Lease>> out;
  for (const auto& [id, w] : by_identity_) {
    for (const auto& [key, lease] : w.jobs) {
      if (now > lease.deadline) {
        out.emplace_back(id, lease);
        break;  // one is enough: the worker is dropped with all its leases
      }
    }
  }
  return out;
}

std::vector<const WorkerEntry*> WorkerRegistry::Sorted() const {
  std::vector<const WorkerEntry*> out;
  out.reserve(by_identity_.size());
  for (const auto& [id, w] : by_identity_) out.push_back(&w);
  std::sort(out.begin(), out.end(), [](const WorkerEntry* a, const WorkerEntry* b) {
    return std::tie(a->hello.worker_id, a->identity) < std::tie(b->hello.worker_id, b->identity);
  });
  return out;
}

void WorkerRegistry::Unorder(const WorkerEntry& w) {
  auto g = free_order_.find(w.hello.labels);
  if (g == free_order_.end()) return;
  g->second.erase(KeyFor(w));
  if (g->second.empty()) free_order_.erase(g);
}

void WorkerRegistry::Order(const WorkerEntry& w) {
  if (w.free_credits() > 0) free_order_[w.hello.labels].insert(KeyFor(w));
}

}  // namespace recomp::broker
