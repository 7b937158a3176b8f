// StreamHasher (see stream_hasher.h).
#include "base/stream_hasher.h"

namespace recomp {

StreamHasher::StreamHasher(size_t max_pending)
    : max_pending_(max_pending == 0 ? 1 : max_pending), thread_([this] { Run(); }) {}

StreamHasher::~StreamHasher() {
  {
    MutexLock l(&mu_);
    done_ = true;
  }
  changed_.SignalAll();
  thread_.join();
}

void StreamHasher::Add(std::string chunk) {
  MutexLock l(&mu_);
  while (pending_.size() >= max_pending_) changed_.Wait(&mu_);
  pending_.push_back(std::move(chunk));
  changed_.SignalAll();
}

std::string StreamHasher::TakeSpare() {
  MutexLock l(&mu_);
  if (spares_.empty()) return {};
  std::string s = std::move(spares_.back());
  spares_.pop_back();
  return s;
}

Digest StreamHasher::Finish() {
  MutexLock l(&mu_);
  done_ = true;
  changed_.SignalAll();
  while (!drained_) changed_.Wait(&mu_);
  return hasher_.Finish();
}

void StreamHasher::Run() {
  mu_.Lock();
  for (;;) {
    while (pending_.empty() && !done_) changed_.Wait(&mu_);
    if (pending_.empty()) break;
    std::string chunk = std::move(pending_.front());
    pending_.pop_front();
    changed_.SignalAll();
    mu_.Unlock();
    hasher_.Update(chunk);  // only this thread touches hasher_ until drained_
    mu_.Lock();
    if (spares_.size() < max_pending_) spares_.push_back(std::move(chunk));
  }
  drained_ = true;
  changed_.SignalAll();
  mu_.Unlock();
}

}  // namespace recomp
