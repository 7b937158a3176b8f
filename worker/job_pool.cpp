// JobPool (see job_pool.h).
#include "worker/job_pool.h"

#include <utility>

namespace recomp::worker {

JobPool::JobPool(size_t max_threads) : max_threads_(max_threads < 1 ? 1 : max_threads) {}

JobPool::~JobPool() {
  std::vector<std::thread> threads;
  {
    MutexLock lock(&mu_);
    stop_ = true;
    threads.swap(threads_);  // Submit is not called once destruction began
  }
  work_cv_.SignalAll();
  for (std::thread& t : threads) t.join();  // each drains the queue before leaving
}

void JobPool::Submit(std::function<void()> task) {
  MutexLock lock(&mu_);
  queue_.push_back(std::move(task));
  if (idle_ >= queue_.size() || threads_.size() >= max_threads_) {
    work_cv_.Signal();
    return;
  }
  threads_.emplace_back([this] { Loop(); });
}

void JobPool::WaitIdle() {
  MutexLock lock(&mu_);
  while (!queue_.empty() || running_ != 0) idle_cv_.Wait(&mu_);
}

size_t JobPool::threads() const {
  MutexLock lock(&mu_);
  return threads_.size();
}

void JobPool::Loop() {
  mu_.Lock();
  for (;;) {
    ++idle_;
    while (!stop_ && queue_.empty()) work_cv_.Wait(&mu_);
    --idle_;
    if (queue_.empty()) break;  // stopping, nothing left
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    mu_.Unlock();
    task();
    task = nullptr;  // destroy captures outside the lock, before reporting idle
    mu_.Lock();
    --running_;
    idle_cv_.SignalAll();
  }
  mu_.Unlock();
}

}  // namespace recomp::worker
