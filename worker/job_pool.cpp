// JobPool (see job_pool.h).
#include "worker/job_pool.h"

#include <utility>

namespace recomp::worker {

JobPool::JobPool(size_t max_threads) : max_threads_(max_threads < 1 ? 1 : max_threads) {}

JobPool::~JobPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : threads_) t.join();  // each drains the queue before leaving
}

void JobPool::Submit(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(task));
  if (idle_ >= queue_.size() || threads_.size() >= max_threads_) {
    work_cv_.notify_one();
    return;
  }
  threads_.emplace_back([this] { Loop(); });
}

void JobPool::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [&] { return queue_.empty() && running_ == 0; });
}

size_t JobPool::threads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return threads_.size();
}

void JobPool::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    ++idle_;
    work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    --idle_;
    if (queue_.empty()) return;  // stopping, nothing left
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    task();
    task = nullptr;  // destroy captures outside the lock, before reporting idle
    lock.lock();
    --running_;
    idle_cv_.notify_all();
  }
}

}  // namespace recomp::worker
