// JobPool: tasks run on at most max_threads threads, which are reused; WaitIdle waits for
// queued and running tasks; destruction runs what is still queued.
#include "worker/job_pool.h"

#include <doctest/doctest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

namespace recomp::worker {

TEST_CASE("tasks run on at most max_threads threads, reused across tasks") {
  JobPool pool(2);
  std::mutex mu;
  std::set<std::thread::id> ids;
  std::atomic<int> done{0};
  for (int i = 0; i < 200; ++i) {
    pool.Submit([&] {
      {
        std::lock_guard<std::mutex> l(mu);
        ids.insert(std::this_thread::get_id());
      }
      ++done;
    });
  }
  pool.WaitIdle();
  CHECK(done == 200);
  CHECK(pool.threads() <= 2);
  CHECK(ids.size() <= 2);
  CHECK(ids.count(std::this_thread::get_id()) == 0);
}

TEST_CASE("two tasks run at once when two threads are allowed") {
  JobPool pool(2);
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  auto meet = [&] {  // each waits for the other: only completes if both run concurrently
    std::unique_lock<std::mutex> l(mu);
    ++arrived;
    cv.notify_all();
    cv.wait(l, [&] { return arrived == 2; });
  };
  pool.Submit(meet);
  pool.Submit(meet);
  pool.WaitIdle();
  CHECK(arrived == 2);
}

TEST_CASE("destruction runs the tasks still queued") {
  std::atomic<int> done{0};
  {
    JobPool pool(1);
    for (int i = 0; i < 50; ++i) pool.Submit([&] { ++done; });
  }
  CHECK(done == 50);
}

}  // namespace recomp::worker
