// Mutex, MutexLock and CondVar: mutual exclusion, waiting for a condition, deadlines.
#include "base/mutex.h"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>
#include <vector>

using namespace recomp;

namespace {

class Counter {
 public:
  void Add() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    ++n_;
    if (n_ == target_) done_.SignalAll();
  }
  // Waits (bounded) until n reaches `target`.
  bool WaitFor(int target, std::chrono::milliseconds limit) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    target_ = target;
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (n_ < target) {
      if (!done_.WaitUntil(&mu_, deadline) && n_ < target) return false;
    }
    return true;
  }
  int value() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return n_;
  }

 private:
  Mutex mu_;
  CondVar done_;
  int n_ GUARDED_BY(mu_) = 0;
  int target_ GUARDED_BY(mu_) = -1;
};

}  // namespace

TEST_CASE("MutexLock makes increments from many threads exact") {
  Counter c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&c] {
      for (int i = 0; i < 10000; ++i) c.Add();
    });
  }
  CHECK(c.WaitFor(40000, std::chrono::seconds(30)));
  for (auto& t : threads) t.join();
  CHECK(c.value() == 40000);
}

TEST_CASE("CondVar::WaitUntil returns false at the deadline without a signal") {
  Counter c;
  auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(c.WaitFor(1, std::chrono::milliseconds(20)));
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(20));
}

TEST_CASE("TryLock fails while another holder has the mutex") {
  Mutex mu;
  mu.Lock();
  bool got = true;
  std::thread other([&] {
    got = mu.TryLock();
    if (got) mu.Unlock();
  });
  other.join();
  mu.Unlock();
  CHECK_FALSE(got);
}
