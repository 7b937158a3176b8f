// CoordinatorMetrics: the coordinator's Prometheus metrics (docs/metrics.md): fed from each
// committed batch (attempts ended, cache lookups, runs completed, the commit's latency, the
// event head) and from a once-a-second sample of the engine's gauges. Updated by the
// coordinator's service thread only; read by the metrics endpoint's threads (atomics).
#pragma once

#include <string>
#include <unordered_map>

#include "base/metrics.h"
#include "coordinator/run_engine.h"

namespace recomp::coordinator {

class CoordinatorMetrics {
 public:
  CoordinatorMetrics();
  // After `fx` was committed (in `commit_seconds`) and the event head is `head`.
  void OnCommitted(const Effects& fx, double commit_seconds, uint64_t head);
  void Sample(const RunEngine::Gauges& g);

 private:
  prometheus::Counter& Attempts(const std::string& stage, JobOutcome outcome);
  prometheus::Histogram& Duration(const std::string& stage);

  prometheus::Family<prometheus::Counter>& attempts_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Counter &cache_hits_, &cache_misses_, &submitted_;
  prometheus::Counter &succeeded_, &failed_;
  prometheus::Histogram& commit_;
  prometheus::Gauge& head_;
  prometheus::Gauge &queued_, &running_, &blocked_;
  prometheus::Gauge &ready_low_, &ready_standard_, &ready_high_, &retry_waiting_, &inflight_;
  std::unordered_map<std::string, prometheus::Counter*> attempt_counters_;  // stage \0 outcome
  std::unordered_map<std::string, prometheus::Histogram*> duration_of_;     // by stage
};

}  // namespace recomp::coordinator
