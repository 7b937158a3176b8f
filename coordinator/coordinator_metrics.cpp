// The coordinator's metrics.
#include "coordinator/coordinator_metrics.h"

namespace recomp::coordinator {
namespace {

using metrics::CounterFamily;
using metrics::GaugeFamily;
using metrics::HistogramFamily;

prometheus::Gauge& RunsGauge(const std::string& state) {
  return GaugeFamily("recomp_runs", "Runs in flight by state (queued, running, blocked).")
      .Add({{"state", state}});
}

prometheus::Gauge& QueueGauge(const std::string& queue) {
  return GaugeFamily("recomp_queue_depth",
                     "Jobs waiting in a queue: the coordinator's ready queues by priority, its "
                     "retry timers, and the broker's queue.")
      .Add({{"queue", queue}});
}

prometheus::Counter& Removed(const std::string& what) {
  return CounterFamily("recomp_retention_removed_total",
                       "What retention removed from the coordinator's state: runs, jobs, events "
                       "and action-cache entries whose blobs are gone.")
      .Add({{"what", what}});
}

}  // namespace

void CoordinatorMetrics::OnRetention(const Retention::Pass& p) {
  static prometheus::Counter& runs = Removed("runs");
  static prometheus::Counter& jobs = Removed("jobs");
  static prometheus::Counter& events = Removed("events");
  static prometheus::Counter& cache = Removed("cache_entries");
  runs.Increment(static_cast<double>(p.runs));
  jobs.Increment(static_cast<double>(p.jobs));
  events.Increment(static_cast<double>(p.events));
  cache.Increment(static_cast<double>(p.cache_entries));
}

CoordinatorMetrics::CoordinatorMetrics()
    : attempts_(CounterFamily("recomp_job_attempts_total",
                              "Job attempts that ended, by stage and outcome (cache hits "
                              "excluded).")),
      durations_(HistogramFamily("recomp_job_duration_seconds",
                                 "Wall time of executed job attempts, by stage.")),
      cache_hits_(
          CounterFamily("recomp_action_cache_hits_total", "Jobs served from the action cache.")
              .Add({})),
      cache_misses_(CounterFamily("recomp_action_cache_misses_total",
                                  "Action cache lookups that found nothing usable.")
                        .Add({})),
      submitted_(CounterFamily("recomp_runs_submitted_total", "Runs accepted.").Add({})),
      succeeded_(CounterFamily("recomp_runs_completed_total", "Runs that ended, by state.")
                     .Add({{"state", "succeeded"}})),
      failed_(CounterFamily("recomp_runs_completed_total", "Runs that ended, by state.")
                  .Add({{"state", "failed"}})),
      commit_(HistogramFamily("recomp_lmdb_commit_seconds",
                              "Latency of the coordinator's LMDB batch commits.")
                  .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001,
                                                                   0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                   0.1, 0.25, 1.0})),
      head_(GaugeFamily("recomp_event_sequence", "The newest committed event's sequence.").Add({})),
      queued_(RunsGauge("queued")),
      running_(RunsGauge("running")),
      blocked_(RunsGauge("blocked")),
      ready_low_(QueueGauge("ready_low")),
      ready_standard_(QueueGauge("ready_standard")),
      ready_high_(QueueGauge("ready_high")),
      retry_waiting_(QueueGauge("retry_backoff")),
      inflight_(GaugeFamily("recomp_jobs_inflight", "Jobs dispatched to the broker and not landed.")
                    .Add({})) {}

CoordinatorMetrics::StageSeries& CoordinatorMetrics::Series(const std::string& stage) {
  auto [it, fresh] = stages_.try_emplace(stage);
  if (fresh) it->second.duration = &durations_.Add({{"stage", stage}}, metrics::DurationBuckets());
  return it->second;
}

prometheus::Counter& CoordinatorMetrics::Attempts(StageSeries& s, const std::string& stage,
                                                  JobOutcome outcome) {
  prometheus::Counter*& c = s.attempts.at(static_cast<size_t>(outcome));
  if (c == nullptr)
    c = &attempts_.Add({{"stage", stage}, {"outcome", std::string(ToString(outcome))}});
  return *c;
}

void CoordinatorMetrics::OnCommitted(const Effects& fx, double commit_seconds, uint64_t head) {
  for (const Effects::AttemptEnd& a : fx.attempts_ended) {
    StageSeries& series = Series(a.stage);
    Attempts(series, a.stage, a.outcome).Increment();
    series.duration->Observe(static_cast<double>(a.duration_ms) / 1000.0);
  }
  if (fx.cache_hits) cache_hits_.Increment(fx.cache_hits);
  if (fx.cache_misses) cache_misses_.Increment(fx.cache_misses);
  for (const Event& e : fx.events) {
    if (e.type == EventType::kRequested) submitted_.Increment();
    if (e.type != EventType::kCompleted) continue;
    (e.data.value("state", "") == "succeeded" ? succeeded_ : failed_).Increment();
  }
  commit_.Observe(commit_seconds);
  head_.Set(static_cast<double>(head));
}

void CoordinatorMetrics::Sample(const RunEngine::Gauges& g) {
  queued_.Set(static_cast<double>(g.runs[0]));
  running_.Set(static_cast<double>(g.runs[1]));
  blocked_.Set(static_cast<double>(g.runs[2]));
  ready_low_.Set(static_cast<double>(g.ready[0]));
  ready_standard_.Set(static_cast<double>(g.ready[1]));
  ready_high_.Set(static_cast<double>(g.ready[2]));
  retry_waiting_.Set(static_cast<double>(g.retry_waiting));
  inflight_.Set(static_cast<double>(g.inflight));
}

}  // namespace recomp::coordinator
