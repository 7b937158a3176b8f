// Pinner (see pinner.h).
#include "coordinator/pinner.h"

#include <chrono>

#include "coordinator/log.h"

namespace recomp::coordinator {

Pinner::Pinner(store::ArtifactStore* store) : store_(store), thread_([this] { Loop(); }) {}

Pinner::~Pinner() {
  {
    MutexLock lk(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  thread_.join();
}

void Pinner::Enqueue(std::vector<Effects::Pin> pins) {
  if (pins.empty()) return;
  bool wake;
  {
    MutexLock lk(&mu_);
    wake = queue_.empty() || queue_.size() + pins.size() >= kMaxBatch;  // else it is lingering
    for (auto& p : pins) queue_.push_back(std::move(p));
    enqueued_ += pins.size();
  }
  if (wake) cv_.Signal();
}

void Pinner::Drain() {
  MutexLock lk(&mu_);
  const uint64_t target = enqueued_;
  while (finished_ < target) done_cv_.Wait(&mu_);
}

uint64_t Pinner::written() const {
  MutexLock lk(&mu_);
  return finished_ - failed_;
}

uint64_t Pinner::failed() const {
  MutexLock lk(&mu_);
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
  mu_.Lock();
  for (;;) {
    while (!stop_ && queue_.empty()) cv_.Wait(&mu_);
    if (queue_.empty()) break;  // stop_ and nothing left
    // Pins are gc hints (an unpinned blob is kept for the unpinned-retention window): a few
    // ms late costs nothing, and the commit then carries every pin queued meanwhile.
    auto linger_until = std::chrono::steady_clock::now() + kLinger;
    while (!stop_ && queue_.size() < kMaxBatch && cv_.WaitUntil(&mu_, linger_until)) {
    }
    std::vector<Effects::Pin> batch;
    while (!queue_.empty() && batch.size() < kMaxBatch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    mu_.Unlock();
    uint64_t failed = Write(batch);
    mu_.Lock();
    finished_ += batch.size();
    failed_ += failed;
    done_cv_.SignalAll();
  }
  mu_.Unlock();
}

}  // namespace recomp::coordinator
