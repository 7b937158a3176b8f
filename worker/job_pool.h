// JobPool: a fixed set of threads running submitted tasks in FIFO order, so that a worker's job
// does not pay for creating and tearing down a thread (clone, an 8 MiB stack mapping, thread-
// local state) on every attempt. Threads start on demand, up to `max_threads`, and live until
// the pool is destroyed. Thread-safe: Submit and WaitIdle may be called from any thread.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "base/mutex.h"

namespace recomp::worker {

class JobPool {
 public:
  explicit JobPool(size_t max_threads);
  // Runs every task still queued, then joins the threads.
  ~JobPool();
  JobPool(const JobPool&) = delete;
  JobPool& operator=(const JobPool&) = delete;

  // Queues `task`; an idle thread runs it, or a new one when fewer than max_threads exist.
  void Submit(std::function<void()> task) EXCLUDES(mu_);
  // Blocks until no task is queued or running.
  void WaitIdle() EXCLUDES(mu_);
  size_t threads() const EXCLUDES(mu_);  // started so far

 private:
  void Loop() EXCLUDES(mu_);
  const size_t max_threads_;
  mutable Mutex mu_;
  CondVar work_cv_;  // a task was queued, or stopping
  CondVar idle_cv_;  // a task finished
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  size_t idle_ GUARDED_BY(mu_) = 0;     // threads waiting for work
  size_t running_ GUARDED_BY(mu_) = 0;  // tasks being run
  bool stop_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ GUARDED_BY(mu_);
};

}  // namespace recomp::worker
