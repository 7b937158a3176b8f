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
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto& p : pins) queue_.push_back(std::move(p));
    enqueued_ += pins.size();
  }
  cv_.notify_one();
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

// Invariant: pins are written in the order they were enqueued (one thread, FIFO), so a run's
// terminal state is never overwritten by its earlier active pin.
void Pinner::Loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left
    Effects::Pin pin = std::move(queue_.front());
    queue_.pop_front();
    lk.unlock();
    Status s = store_->PinRun(pin.run_id, pin.state, pin.refs, std::chrono::system_clock::now());
    if (!s.ok()) Log()->error("run={} pin failed: {}", pin.run_id, s.ToString());
    lk.lock();
    ++finished_;
    if (!s.ok()) ++failed_;
    done_cv_.notify_all();
  }
}

}  // namespace recomp::coordinator
