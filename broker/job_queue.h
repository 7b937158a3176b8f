// JobQueue: the broker's bounded queue of jobs waiting for a worker credit. Priority order
// (high > standard > low), FIFO within a priority; keyed by (job_id, attempt) so a duplicate
// DISPATCH is recognised and a REVOKE removes in O(log n). Not thread-safe: the broker thread
// owns it.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

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
  std::string wire;  // EncodeStageJob(*this), or "" when not known
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
  // Removes and returns the next job to assign.
  std::optional<QueuedJob> Pop();
  // Removes a queued job; nullopt when it is not queued.
  std::optional<QueuedJob> Remove(const JobRef& key);
  bool Contains(const JobRef& key) const { return index_.count(key) != 0; }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  size_t max_size() const { return max_size_; }

 private:
  using Order = std::pair<int, int64_t>;  // (priority rank: 0 = high, sequence)
  static int Rank(Priority p);
  size_t max_size_;
  std::map<Order, QueuedJob> items_;
  std::unordered_map<JobRef, Order, JobRefHash> index_;  // by (job_id, attempt)
  int64_t next_back_ = 0;
  int64_t next_front_ = -1;
};

}  // namespace recomp::broker
