// Pinner (see pinner.h).
#include "coordinator/pinner.h"

#include <chrono>

#include "coordinator/log.h"

namespace recomp::coordinator {

Pinner::Pinner(store::ArtifactStore* store) : store_(store), thread_([this] { Loop(); }) {}

Pinner::~Pinner() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Pinner::Enqueue(std::vector<Effects::Pin> pins) {
  if (pins.empty()) return;
  bool wake;
  {
    std::lock_guard<std::mutex> lk(mu_);
    wake = queue_.empty() || queue_.size() + pins.size() >= kMaxBatch;  // else it is lingering
    for (auto& p : pins) queue_.push_back(std::move(p));
    enqueued_ += pins.size();
  }
  if (wake) cv_.notify_one();
}

void Pinner::Drain() {
  std::unique_lock<std::mutex> lk(mu_);
  const uint64_t target = enqueued_;
  done_cv_.wait(lk, [&] { return finished_ >= target; });
}

uint64_t Pinner::written() const {
  std::lock_guard<std::mutex> lk(mu_);
  return finished_ - failed_;
}

uint64_t Pinner::failed() const {
  std::lock_guard<std::mutex> lk(mu_);
  return failed_;
}

// One commit for the batch; if it fails, each pin alone, so that one bad pin (or a commit
// that failed for a passing reason) does not take the others down. Returns the failures.
uint64_t Pinner::Write(const std::vector<Effects::Pin>& batch) {
  auto now = std::chrono::system_clock::now();
  Status s = store_->PinRuns(batch, now);
  if (s.ok()) return 0;
  if (batch.size() > 1)
    Log()->warn("a batch of {} pins failed ({}): writing them one by one", batch.size(),
                s.ToString());
  uint64_t failed = 0;
  for (const Effects::Pin& pin : batch) {
    Status one = batch.size() == 1 ? s : store_->PinRun(pin.run_id, pin.state, pin.refs, now);
    if (one.ok()) continue;
    Log()->error("run={} pin failed: {}", pin.run_id, one.ToString());
    ++failed;
  }
  return failed;
}

// Invariant: pins are written in the order they were enqueued (one thread, FIFO, and PinRuns
// applies a batch in order), so a run's terminal state is never overwritten by its earlier
// active pin.
void Pinner::Loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left
    // Pins are gc hints (an unpinned blob is kept for the unpinned-retention window): a few
    // ms late costs nothing, and the commit then carries every pin queued meanwhile.
    cv_.wait_for(lk, kLinger, [&] { return stop_ || queue_.size() >= kMaxBatch; });
    std::vector<Effects::Pin> batch;
    while (!queue_.empty() && batch.size() < kMaxBatch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lk.unlock();
    uint64_t failed = Write(batch);
    lk.lock();
    finished_ += batch.size();
    failed_ += failed;
    done_cv_.notify_all();
  }
}

}  // namespace recomp::coordinator
