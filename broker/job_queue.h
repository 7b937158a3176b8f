// JobQueue: the broker's bounded queue of jobs waiting for a worker credit: one queue per
// requirement set (a stage's `requires` labels), each in priority order (high > standard >
// low), FIFO within a priority, with one sequence over all of them, so "the best job a worker
// may take" is well defined across queues. Keyed by (job_id, attempt) so a duplicate DISPATCH
// is recognised and a REVOKE removes in O(log n). The number of requirement sets is small (one
// per distinct `requires`), so a pop looks at each queue's head.
// Not thread-safe: the broker thread owns it.
#pragma once

#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "messages/protocol.h"
#include "messages/stage_job.h"

namespace recomp::broker {

using proto::JobRef;
using proto::JobRefHash;
inline JobRef RefOf(const StageJob& j) {
  return {j.job_id, j.attempt};
}

// A queued job and, when known, its wire form (the DISPATCH body the broker validated): the
// JOB sent to a worker forwards those bytes instead of encoding the job again.
struct QueuedJob : StageJob {
  QueuedJob(StageJob j, std::string wire_bytes = {})  // NOLINT: implicit by design
      : StageJob(std::move(j)), wire(std::move(wire_bytes)) {}
  std::string wire;                                   // EncodeStageJob(*this), or "" when not known
  std::chrono::steady_clock::time_point queued_at{};  // set by Push when unset
};

class JobQueue {
 public:
  explicit JobQueue(size_t max_size) : max_size_(max_size) {}

  enum class PushResult { kQueued, kDuplicate, kFull };
  // Appends behind every queued job of the same priority. kFull when size() == max_size.
  PushResult Push(QueuedJob job);
  // Puts a job back at the head of its priority (a send to a worker failed). Not bounded: the
  // job was already counted when it was first queued.
  void PushFront(QueuedJob job);
  // Removes and returns the next job to assign, whatever it requires.
  std::optional<QueuedJob> Pop();
  // Removes and returns the best job a worker with `labels` may take (priority, then age, over
  // the queues whose requirements the labels satisfy); nullopt when there is none.
  std::optional<QueuedJob> PopFor(const Labels& labels);
  // Removes a queued job; nullopt when it is not queued.
  std::optional<QueuedJob> Remove(const JobRef& key);
  // Removes the jobs queued before `cutoff` whose requirements `servable` says no live worker
  // meets (those jobs would wait forever).
  std::vector<QueuedJob> TakeUnservable(std::chrono::steady_clock::time_point cutoff,
                                        const std::function<bool(const Labels&)>& servable);
  bool Contains(const JobRef& key) const { return index_.count(key) != 0; }
  size_t size() const { return index_.size(); }
  bool empty() const { return index_.empty(); }
  size_t max_size() const { return max_size_; }

 private:
  using Order = std::pair<int, int64_t>;  // (priority rank: 0 = high, sequence)
  using Queue = std::map<Order, QueuedJob>;
  static int Rank(Priority p);
  void Insert(QueuedJob job, int64_t seq);
  QueuedJob Take(std::map<Labels, Queue>::iterator q, Queue::iterator it);
  size_t max_size_;
  std::map<Labels, Queue> queues_;  // by requirement set; empty queues are erased
  std::unordered_map<JobRef, std::pair<Labels, Order>, JobRefHash> index_;
  int64_t next_back_ = 0;
  int64_t next_front_ = -1;
};

}  // namespace recomp::broker
