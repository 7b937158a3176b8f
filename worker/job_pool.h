// JobPool: a fixed set of threads running submitted tasks in FIFO order, so that a worker's job
// does not pay for creating and tearing down a thread (clone, an 8 MiB stack mapping, thread-
// local state) on every attempt. Threads start on demand, up to `max_threads`, and live until
// the pool is destroyed. Thread-safe: Submit and WaitIdle may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace recomp::worker {

class JobPool {
 public:
  explicit JobPool(size_t max_threads);
  // Runs every task still queued, then joins the threads.
  ~JobPool();
  JobPool(const JobPool&) = delete;
  JobPool& operator=(const JobPool&) = delete;

  // Queues `task`; an idle thread runs it, or a new one when fewer than max_threads exist.
  void Submit(std::function<void()> task);
  // Blocks until no task is queued or running.
  void WaitIdle();
  size_t threads() const;  // started so far

 private:
  void Loop();
  const size_t max_threads_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // a task was queued, or stopping
  std::condition_variable idle_cv_;  // a task finished
  std::deque<std::function<void()>> queue_;
  size_t idle_ = 0;     // threads waiting for work
  size_t running_ = 0;  // tasks being run
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace recomp::worker
