// WorkerRegistry: the broker's view of registered workers: their hello (slots = credits,
// heartbeat interval, liveness), their leases (jobs currently held, keyed by (job_id, attempt)),
// liveness timestamps, and the assignment order (most free credits first, ties least recently
// used). Not thread-safe: the broker thread owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "broker/job_queue.h"
#include "messages/protocol.h"

namespace recomp::broker {

using Clock = std::chrono::steady_clock;

// A job attempt held by a worker. The credit it uses is freed only by the worker's RESULT for
// exactly this (job_id, attempt) or by the worker being dropped.
struct Lease {
  JobAttempt job;
  bool revoked = false;  // CANCEL_JOB sent; the lease stays until the worker reports
  Clock::time_point started;
  // The job's timeout_s plus the broker's grace after `started`: a worker still holding the
  // lease then is dropped, whatever its heartbeats say.
  Clock::time_point deadline;
};

struct WorkerEntry {
  std::string identity;  // ROUTER routing id of the worker's DEALER
  std::string user_id;   // with CURVE: the name of the key it registered with
  proto::WorkerHello hello;
  std::map<JobRef, Lease> jobs;
  Clock::time_point last_seen;  // last message received (any traffic counts)
  Clock::time_point last_sent;  // last message sent (heartbeats fill silences)
  int64_t last_seen_unix_ms = 0;
  uint64_t last_used = 0;  // assignment stamp: smaller = less recently used

  uint32_t free_credits() const {
    return jobs.size() >= hello.slots ? 0 : hello.slots - static_cast<uint32_t>(jobs.size());
  }
  // The heartbeat interval both sides use: the worker's own (READY) until the broker stretches
  // it (WELCOME / HEARTBEAT carry the new one).
  uint32_t heartbeat_ms = 0;
  // The interval silence is judged by: after a shortening, the old one for one old window (the
  // worker may not have heard of it yet).
  uint32_t expiry_heartbeat_ms = 0;
  Clock::time_point shortened_until{};

  // liveness x the interval silence is judged by.
  std::chrono::milliseconds expiry() const {
    return std::chrono::milliseconds(uint64_t{expiry_heartbeat_ms} * hello.liveness);
  }
  // Switches to interval `ms` as of `now` (see expiry_heartbeat_ms).
  void SetHeartbeat(uint32_t ms, Clock::time_point now) {
    if (ms < heartbeat_ms) {
      shortened_until = now + expiry();
    } else {
      expiry_heartbeat_ms = ms;
    }
    heartbeat_ms = ms;
  }
  // Ends a shortening's grace once it has passed.
  void SettleHeartbeat(Clock::time_point now) {
    if (expiry_heartbeat_ms != heartbeat_ms && now >= shortened_until) {
      expiry_heartbeat_ms = heartbeat_ms;
    }
  }
};

class WorkerRegistry {
 public:
  WorkerEntry* Find(const std::string& identity);
  WorkerEntry* FindByWorkerId(const std::string& worker_id);
  // Registers a worker under `identity`; both the identity and hello.worker_id must be free.
  WorkerEntry& Add(const std::string& identity, const proto::WorkerHello& hello,
                   Clock::time_point now, int64_t now_unix_ms);
  // Unregisters and returns the entry (with the leases it still held).
  std::optional<WorkerEntry> Remove(const std::string& identity);

  // The worker with the most free credits (ties: least recently used, then identity), or
  // nullptr when no worker has a free credit. With `eligible`, only among workers whose label
  // set it accepts (asked once per distinct label set, not per worker).
  WorkerEntry* PickFreeSlot();
  WorkerEntry* PickFreeSlot(const std::function<bool(const Labels&)>& eligible);
  // Whether any registered worker (free or not) has labels satisfying `required`.
  bool AnySatisfies(const Labels& required) const;
  // Records a lease (consumes a credit, stamps the worker as most recently used).
  void AddLease(WorkerEntry& w, Lease lease);
  // Releases a lease of `w`; nullopt when `w` does not hold `key` (a stale result).
  std::optional<Lease> RemoveLease(WorkerEntry& w, const JobRef& key);
  // The worker holding `key`, or nullptr.
  WorkerEntry* Holder(const JobRef& key);

  // Identities of workers silent for longer than their expiry.
  std::vector<std::string> Expired(Clock::time_point now) const;
  // The first lease of each worker holding one past its deadline: (identity, lease).
  std::vector<std::pair<std::string, Lease>> OverdueLeases(Clock::time_point now) const;
  // Smallest heartbeat interval among registered workers (0 when none).
  uint32_t MinHeartbeatMs() const { return hb_.empty() ? 0 : *hb_.begin(); }

  size_t size() const { return by_identity_.size(); }
  size_t leased() const { return holders_.size(); }
  // Sum of the registered workers' slots.
  uint64_t total_slots() const { return total_slots_; }
  template <typename F>
  void ForEach(F&& f) {
    for (auto& [id, w] : by_identity_) f(w);
  }
  // Entries sorted by worker id (for stable listings).
  std::vector<const WorkerEntry*> Sorted() const;

 private:
  using OrderKey = std::tuple<int64_t, uint64_t, std::string>;  // (-free, last_used, identity)
  static OrderKey KeyFor(const WorkerEntry& w) {
    return {-static_cast<int64_t>(w.free_credits()), w.last_used, w.identity};
  }
  void Unorder(const WorkerEntry& w);
  void Order(const WorkerEntry& w);

  std::unordered_map<std::string, WorkerEntry> by_identity_;
  std::unordered_map<std::string, std::string> by_worker_id_;
  std::unordered_map<JobRef, std::string, JobRefHash> holders_;  // lease -> identity
  // Workers with free credits, grouped by their label set (few distinct sets).
  std::map<Labels, std::set<OrderKey>> free_order_;
  std::map<Labels, size_t> label_sets_;  // every registered worker's labels, counted
  std::multiset<uint32_t> hb_;
  uint64_t total_slots_ = 0;
  uint64_t use_clock_ = 0;
};

}  // namespace recomp::broker
