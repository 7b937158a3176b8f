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

void JobQueue::Insert(QueuedJob job, int64_t seq) {
  if (job.queued_at == std::chrono::steady_clock::time_point{}) {
    job.queued_at = std::chrono::steady_clock::now();
  }
  Order order{Rank(job.priority), seq};
  JobRef key = RefOf(job);
  Labels req = job.requirements;
  queues_[req].emplace(order, std::move(job));
  index_.emplace(std::move(key), std::make_pair(std::move(req), order));
}

JobQueue::PushResult JobQueue::Push(QueuedJob job) {
  if (index_.count(RefOf(job)) != 0) return PushResult::kDuplicate;
  if (index_.size() >= max_size_) return PushResult::kFull;
  Insert(std::move(job), next_back_++);
  return PushResult::kQueued;
}

void JobQueue::PushFront(QueuedJob job) {
  if (index_.count(RefOf(job)) != 0) return;
  Insert(std::move(job), next_front_--);
}

QueuedJob JobQueue::Take(std::map<Labels, Queue>::iterator q, Queue::iterator it) {
  QueuedJob job = std::move(it->second);
  q->second.erase(it);
  if (q->second.empty()) queues_.erase(q);
  index_.erase(RefOf(job));
  return job;
}

std::optional<QueuedJob> JobQueue::Pop() {
  auto best = queues_.end();
  for (auto q = queues_.begin(); q != queues_.end(); ++q) {
    if (best == queues_.end() || q->second.begin()->first < best->second.begin()->first) best = q;
  }
  if (best == queues_.end()) return std::nullopt;
  return Take(best, best->second.begin());
}

std::optional<QueuedJob> JobQueue::PopFor(const Labels& labels) {
  auto best = queues_.end();
  for (auto q = queues_.begin(); q != queues_.end(); ++q) {
    if (!Satisfies(labels, q->first)) continue;
    if (best == queues_.end() || q->second.begin()->first < best->second.begin()->first) best = q;
  }
  if (best == queues_.end()) return std::nullopt;
  return Take(best, best->second.begin());
}

std::optional<QueuedJob> JobQueue::Remove(const JobRef& key) {
  auto idx = index_.find(key);
  if (idx == index_.end()) return std::nullopt;
  auto q = queues_.find(idx->second.first);
  return Take(q, q->second.find(idx->second.second));
}

std::vector<QueuedJob> JobQueue::TakeUnservable(
    std::chrono::steady_clock::time_point cutoff,
    const std::function<bool(const Labels&)>& servable) {
  std::vector<QueuedJob> out;
  for (auto q = queues_.begin(); q != queues_.end();) {
    if (servable(q->first)) {
      ++q;
      continue;
    }
    std::vector<JobRef> old;
    for (const auto& [order, job] : q->second) {
      if (job.queued_at < cutoff) old.push_back(RefOf(job));
    }
    ++q;  // Remove may erase the queue just passed
    for (const JobRef& key : old) out.push_back(std::move(Remove(key)).value());
  }
  return out;
}

}  // namespace recomp::broker
