// A deliberate thread-safety violation: tests/lint/thread_safety.py requires clang to refuse it.
#include "base/mutex.h"

namespace {

class Counter {
 public:
  void Bump() { ++n_; }  // touches n_ without holding mu_

 private:
  recomp::Mutex mu_;
  int n_ GUARDED_BY(mu_) = 0;
};

}  // namespace

void ThreadSafetyProbe() {
  Counter().Bump();
}
