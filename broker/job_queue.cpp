// JobQueue (see job_queue.h).
#include "broker/job_queue.h"

namespace recomp::broker {

int JobQueue::Rank(Priority p) {
  switch (p) {
    case Priority::kHigh:
      return 0;
    case Priority::kStandard:
      return 1;
    case Priority::kLow:
      return 2;
  }
  return 1;
}

JobQueue::PushResult JobQueue::Push(QueuedJob job) {
  JobRef key = RefOf(job);
  if (index_.count(key) != 0) return PushResult::kDuplicate;
  if (items_.size() >= max_size_) return PushResult::kFull;
  Order order{Rank(job.priority), next_back_++};
  items_.emplace(order, std::move(job));
  index_.emplace(std::move(key), order);
  return PushResult::kQueued;
}

void JobQueue::PushFront(QueuedJob job) {
  JobRef key = RefOf(job);
  if (index_.count(key) != 0) return;
  Order order{Rank(job.priority), next_front_--};
  items_.emplace(order, std::move(job));
  index_.emplace(std::move(key), order);
}

std::optional<QueuedJob> JobQueue::Pop() {
  if (items_.empty()) return std::nullopt;
  auto it = items_.begin();
  QueuedJob job = std::move(it->second);
  items_.erase(it);
  index_.erase(RefOf(job));
  return job;
}

std::optional<QueuedJob> JobQueue::Remove(const JobRef& key) {
  auto idx = index_.find(key);
  if (idx == index_.end()) return std::nullopt;
  auto it = items_.find(idx->second);
  QueuedJob job = std::move(it->second);
  items_.erase(it);
  index_.erase(idx);
  return job;
}

}  // namespace recomp::broker
