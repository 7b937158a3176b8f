// CoordinatorMetrics: the coordinator's Prometheus metrics (docs/metrics.md): fed from each
// committed batch (attempts ended, cache lookups, runs completed, the commit's latency, the
// event head) and from a once-a-second sample of the engine's gauges. Updated by the
// coordinator's service thread only; read by the metrics endpoint's threads (atomics).
#pragma once

#include <array>
#include <string>
#include <unordered_map>

#include "base/metrics.h"
#include "coordinator/retention.h"
#include "coordinator/run_engine.h"

namespace recomp::coordinator {

class CoordinatorMetrics {
 public:
  CoordinatorMetrics();
  // After `fx` was committed (in `commit_seconds`) and the event head is `head`.
  void OnCommitted(const Effects& fx, double commit_seconds, uint64_t head);
  void Sample(const RunEngine::Gauges& g);
  // After a retention pass.
  void OnRetention(const Retention::Pass& p);

 private:
  // A stage's series, created on its first attempt: one map lookup per ended attempt.
  struct StageSeries {
    prometheus::Histogram* duration = nullptr;
    std::array<prometheus::Counter*, kJobOutcomeNames.size()> attempts{};
  };
  StageSeries& Series(const std::string& stage);
  prometheus::Counter& Attempts(StageSeries& s, const std::string& stage, JobOutcome outcome);

  prometheus::Family<prometheus::Counter>& attempts_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Counter &cache_hits_, &cache_misses_, &submitted_;
  prometheus::Counter &succeeded_, &failed_;
  prometheus::Histogram& commit_;
  prometheus::Gauge& head_;
  prometheus::Gauge &queued_, &running_, &blocked_;
  prometheus::Gauge &ready_low_, &ready_standard_, &ready_high_, &retry_waiting_, &inflight_;
  std::unordered_map<std::string, StageSeries> stages_;
};

}  // namespace recomp::coordinator
