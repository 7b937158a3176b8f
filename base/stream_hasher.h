// StreamHasher: BLAKE2b-256 of a stream of chunks, computed on a thread of its own so that the
// caller receives and writes the next chunk while this one is hashed (hashing is the slowest
// step of a download or a store put). Holds at most `max_pending` chunks; Add blocks beyond
// that. Hashed chunks are kept (at most `max_pending`) for TakeSpare, so a producer that
// reuses them allocates nothing per chunk.
// Thread-safety: one producer thread calls Add and Finish; the hashing thread is internal.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "base/blake2b.h"
#include "base/mutex.h"

namespace recomp {

class StreamHasher {
 public:
  explicit StreamHasher(size_t max_pending = 8);
  ~StreamHasher();  // joins the thread (a digest not asked for is dropped)
  StreamHasher(const StreamHasher&) = delete;
  StreamHasher& operator=(const StreamHasher&) = delete;

  // Queues the next chunk (moved in; hashed in order).
  void Add(std::string chunk) EXCLUDES(mu_);
  // A buffer already hashed (its contents are stale, its capacity kept), or an empty string
  // when none is free.
  std::string TakeSpare() EXCLUDES(mu_);
  // The digest of every chunk added. Call at most once, after the last Add.
  Digest Finish() EXCLUDES(mu_);

 private:
  void Run() EXCLUDES(mu_);
  const size_t max_pending_;
  Mutex mu_;
  CondVar changed_;
  std::deque<std::string> pending_ GUARDED_BY(mu_);
  std::vector<std::string> spares_ GUARDED_BY(mu_);
  bool done_ GUARDED_BY(mu_) = false;     // no more chunks will come
  bool drained_ GUARDED_BY(mu_) = false;  // the thread hashed everything and stopped
  Blake2b256 hasher_;                     // the thread's until drained_
  std::thread thread_;
};

}  // namespace recomp
