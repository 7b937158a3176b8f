// Pinner: writes run pins (the refs a run protects from gc) into the artifact store on its own
// thread, so a pin's durable commit is never on a run's critical path. It lingers kLinger
// after the first queued pin and writes everything queued by then in one commit (one fsync
// for many runs instead of one per pin competing with the run store's). Pins only guide gc: an
// announced run whose pin is not yet written is protected by gc's unpinned-retention window,
// and RunEngine::Resume re-pins every active run after a crash (docs/coordinator-storage.md).
// Thread-safe: Enqueue/Drain from any thread; one internal thread calls ArtifactStore::PinRun.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "coordinator/run_engine.h"
#include "store/artifact_store.h"

namespace recomp::coordinator {

class Pinner {
 public:
  // `store` must outlive the Pinner.
  explicit Pinner(store::ArtifactStore* store);
  ~Pinner();  // writes everything enqueued, then joins
  Pinner(const Pinner&) = delete;
  Pinner& operator=(const Pinner&) = delete;

  // Queues `pins` in order (a run's terminal pin after its active one). Never blocks on I/O.
  void Enqueue(std::vector<Effects::Pin> pins) EXCLUDES(mu_);
  // Blocks until every pin enqueued before the call is written (or failed and logged).
  void Drain() EXCLUDES(mu_);
  static constexpr std::chrono::milliseconds kLinger{10};
  static constexpr size_t kMaxBatch = 4096;
  // Pins written and pins that failed so far (failures are logged with the run id).
  uint64_t written() const EXCLUDES(mu_);
  uint64_t failed() const EXCLUDES(mu_);

 private:
  void Loop() EXCLUDES(mu_);
  uint64_t Write(const std::vector<Effects::Pin>& batch);

  store::ArtifactStore* store_;
  mutable Mutex mu_;
  CondVar cv_;       // work queued, or stop
  CondVar done_cv_;  // progress made
  std::deque<Effects::Pin> queue_ GUARDED_BY(mu_);
  uint64_t enqueued_ GUARDED_BY(mu_) = 0;
  uint64_t finished_ GUARDED_BY(mu_) = 0;
  uint64_t failed_ GUARDED_BY(mu_) = 0;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts after the fields above exist
};

}  // namespace recomp::coordinator
