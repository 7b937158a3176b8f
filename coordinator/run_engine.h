// RunEngine: the coordinator's scheduling logic. It accepts submissions, expands stages into
// jobs as their needs complete, serves jobs from the action cache, decides retries (backoff
// with deterministic jitter), worker-loss re-offers and run completion, and emits the events
// that drive every run row. It performs no network I/O: each call appends what must happen to
// an Effects value. The service sends the batch's DISPATCHes, persists the batch in ONE LMDB
// transaction, and only then publishes events, revokes and replies, so nothing is announced
// that is not durable (Titanic, RFC 9). A DISPATCH sent before its commit announces nothing: a
// job ID names only what the job does and reads (docs/coordinator-storage.md, crash table).
// Not thread-safe: owned by the coordinator's service thread.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "coordinator/job_plan.h"
#include "coordinator/provenance.h"
#include "coordinator/run_model.h"
#include "coordinator/run_store.h"
#include "messages/event.h"
#include "messages/protocol.h"
#include "messages/stage_job.h"
#include "store/artifact_store.h"

namespace recomp::coordinator {

struct EngineOptions {
  uint32_t max_inflight = 10000;    // jobs dispatched to the broker at once (all runs)
  uint32_t lost_cap = 5;            // a job that loses this many workers fails
  int64_t retry_initial_ms = 1000;  // Temporal's defaults: 1 s, x2, at most 100x
  double retry_coefficient = 2.0;
  int64_t retry_max_ms = 100000;
  bool cloud_gate_open = false;  // accept cloud/hybrid runs (they block: no backend yet)
  // Publish recomp.job.started (one event per attempt: docs/events.md, Extensions).
  bool job_started_events = true;
  std::string source = "recomp/coordinator";
  // Signs every succeeded run's provenance (docs/provenance.md); not owned; null = none.
  const ProvenanceSigner* provenance = nullptr;
};

// What one batch of engine calls requires, in the order it must happen.
struct Effects {
  std::vector<Event> events;                    // append (same txn as rows), then publish
  std::vector<std::string> encoded_events;      // EncodeEvent(events[i]), filled by Commit
  std::set<std::string> touched_runs;           // runs whose row changed (copied once, at Commit)
  std::map<std::string, RunRow> runs;           // rows to write, by run id
  std::map<std::string, std::string> jobs;      // JobRow::Key() -> EncodeJobRow(row), to write
  std::vector<StageResult> cache;               // action cache entries to write
  using Pin = store::ArtifactStore::PinUpdate;  // {run_id, state, refs}
  std::vector<Pin> pins;                        // store pins, after the commit (not on the path)
  std::vector<StageJob> dispatch;               // to the broker, before the commit
  std::vector<proto::JobRef> revoke;            // to the broker, after the commit
  std::vector<std::string> watch_logs;          // WATCH_LOG bodies to the broker, after it
  // For metrics (docs/metrics.md): attempts that ended in this batch, cache lookups.
  struct AttemptEnd {
    std::string stage;
    JobOutcome outcome;
    uint64_t duration_ms;
  };
  std::vector<AttemptEnd> attempts_ended;
  uint32_t cache_hits = 0, cache_misses = 0;
  bool empty() const {
    return events.empty() && runs.empty() && jobs.empty() && dispatch.empty() && revoke.empty();
  }
};

class RunEngine {
 public:
  // `last_sequence` is the newest stored event's sequence.
  RunEngine(EngineOptions opts, RunStore* runs, store::ArtifactStore* store,
            uint64_t last_sequence);
  ~RunEngine();

  // Reloads every non-terminal run; jobs that were dispatched are offered again under the
  // same job ID with attempt + 1 (finished jobs are never redone).
  Status Resume(Effects* fx);

  // Validates and accepts a submission (idempotent per run id). InvalidArgument /
  // NotFound / AlreadyExists / FailedPrecondition name the problem; nothing is recorded then.
  Result<RunStatus> Submit(RunSubmission sub, Effects* fx);
  // A new run of `run_id`'s manifests (same mode and priority) submitted by `requested_by`;
  // from `from_stage` on (that stage and every stage needing it, recorded in the row as
  // no_cache_stages) nothing is served from the action cache; "" = all may be. NotFound for an
  // unknown run, InvalidArgument for an unknown stage; nothing is recorded then.
  Result<RunStatus> Rerun(const std::string& run_id, const std::string& from_stage,
                          const std::string& requested_by, Effects* fx);
  // Cancels a non-terminal run (its dispatched jobs are revoked); a terminal run is returned
  // unchanged. NotFound for an unknown run.
  Result<RunStatus> Cancel(const std::string& run_id, Effects* fx);
  // A result from the broker. Stale attempts and unknown runs are ignored (and logged).
  void OnResult(const StageResult& r, Effects* fx);
  // The broker leased attempt `ref` to `worker`: recomp.job.started, when that attempt is still
  // in flight (a late STARTED for a revoked or landed attempt is ignored).
  void OnStarted(const proto::StartedJob& started, Effects* fx);
  // A worker joined or left the pool (WORKER_JOINED / WORKER_LEFT's body as `data`, which
  // must name worker_id): recomp.worker.joined / .left, in the global log only.
  void OnWorkerEvent(EventType type, nlohmann::json data, Effects* fx);
  // The broker refused a job (queue full): offered again shortly.
  void OnRejected(const proto::JobRef& ref, Effects* fx);
  // The jobs dispatched and not landed, for the reconciliation with the broker (RECONCILE).
  std::vector<proto::JobRef> InFlight() const;
  // The broker has never heard of `ref` (neither queued, leased nor reported): its DISPATCH or
  // its RESULT was lost. Handled like a lost worker: offered again with attempt + 1, counting
  // towards the lost cap. Ignored when `ref` is no longer in flight.
  void OnUnknownToBroker(const proto::JobRef& ref, Effects* fx);
  // Dispatches ready jobs (cache first) up to the in-flight window, per call at most
  // kMaxJobsPerTick of them and kMaxDispatchBytesPerTick of their argv and env; wakes retries
  // due by now.
  void Tick(int64_t now_ms, Effects* fx);
  static constexpr size_t kMaxJobsPerTick = 1000;
  static constexpr size_t kMaxDispatchBytesPerTick = size_t{4} << 20;
  // Milliseconds until Tick has work: 0 when ready jobs were left over, else until the next
  // retry is due; -1 when nothing is waiting.
  int64_t NextWakeMs(int64_t now_ms) const;

  // The row of an active run from memory (or of one finished since the last commit), else
  // from the store.
  Result<RunStatus> GetStatus(const std::string& run_id) const;
  // Whether `run_id` is active or finished since the last commit (so not necessarily in the
  // store yet). Memory only.
  bool InMemory(const std::string& run_id) const {
    return active_.count(run_id) != 0 || finished_uncommitted_.count(run_id) != 0;
  }
  // Writes `fx` as ONE RunStore batch (its events, the rows of the runs they changed, job rows,
  // cache entries), commits it and fills fx->encoded_events. Only after OK may anything in fx
  // be announced; finished runs are then readable from the store. On error nothing was
  // written and the caller must stop (a restart resumes from the last commit).
  Status Commit(Effects* fx);
  size_t active_runs() const { return active_.size(); }
  // What the metrics sample: active runs by state, jobs ready by priority (low, standard,
  // high), jobs waiting for a retry's time, jobs in flight.
  struct Gauges {
    std::array<size_t, 3> runs{};  // queued, running, blocked
    std::array<size_t, 3> ready{};
    size_t retry_waiting = 0, inflight = 0;
  };
  Gauges Sample() const;
  // Runs in flight, oldest first (at most `max`): what `recomp top` shows.
  struct ActiveSummary {
    RunStatus status;
    size_t jobs = 0, jobs_done = 0;
  };
  std::vector<ActiveSummary> ActiveRuns(size_t max) const;
  // Jobs that finished for good (succeeded, cache hits included, or failed) since the start.
  uint64_t jobs_completed() const { return jobs_completed_; }
  size_t inflight() const { return inflight_; }
  uint64_t last_sequence() const { return seq_; }

 private:
  struct ActiveRun;
  // Where a job sits in a run; JobRow::Key() is its stored form.
  struct ShardKey {
    std::string run_id, stage;
    uint32_t shard;
  };

  struct RerunOf {
    std::string run_id, from_stage;  // both "" for a plain submission
  };
  Result<RunStatus> Accept(RunSubmission sub, const RerunOf& rerun, Effects* fx);
  Result<std::unique_ptr<ActiveRun>> LoadRun(const RunRow& row, std::vector<JobRow> jobs);
  Status LoadInputs(const RunSubmission& sub, ActiveRun* run);
  static Effects::Pin ActivePin(const ActiveRun& run);
  void Emit(ActiveRun& run, EventType type, std::string id_suffix, nlohmann::json data,
            Effects* fx);
  // The same with the data already packed as a MessagePack map (Event::packed_data).
  void EmitPacked(ActiveRun& run, EventType type, std::string id_suffix, std::string packed,
                  Effects* fx);
  void Append(ActiveRun& run, EventType type, std::string id_suffix, Event e, Effects* fx);
  // recomp.job.retry_scheduled: attempt `r` of `job` failed; the next one is due at
  // job.not_before_ms (now when 0).
  void EmitRetry(ActiveRun& run, const JobRow& job, const StageResult& r, Effects* fx);
  void Touch(ActiveRun& run, JobRow& job, Effects* fx);
  // Plans every stage whose needs have all succeeded (at submit and resume).
  Status PlanReadyStages(ActiveRun& run, Effects* fx);
  // Plans stage `index` if all its needs have succeeded and it is not planned yet.
  Status PlanStageIfReady(ActiveRun& run, size_t index, Effects* fx);
  void Enqueue(ActiveRun& run, const JobRow& job);
  bool ServeFromCache(ActiveRun& run, JobRow& job, Effects* fx);
  // Returns the bytes of the job's argv and env (0 when it waits for a twin in flight).
  size_t Dispatch(ActiveRun& run, JobRow& job, Effects* fx);
  void CompleteJob(ActiveRun& run, JobRow& job, StageResult r, Effects* fx);
  void FailOrRetry(ActiveRun& run, JobRow& job, const StageResult& r, Effects* fx);
  void FinishStage(ActiveRun& run, const std::string& stage, Effects* fx);
  void FinishRun(ActiveRun& run, RunState state, const std::string& reason, Effects* fx);
  // Writes the run's signed provenance into the store; its ref.
  Result<std::string> WriteProvenance(const ActiveRun& run);
  void StartIfQueued(ActiveRun& run, Effects* fx);
  JobRow* FindJob(ActiveRun& run, const std::string& stage, uint32_t shard);
  // The run and job of `ref` when that exact attempt is in flight, else nullptr.
  ActiveRun* FindFlying(const proto::JobRef& ref, JobRow** job);
  // A dispatched job left flight (a result, a rejection, a revoke): its twins try again.
  void Land(const std::string& job_id);
  int64_t BackoffMs(const JobRow& job) const;

  EngineOptions opts_;
  RunStore* runs_;
  store::ArtifactStore* store_;
  uint64_t seq_;
  int64_t now_ms_ = 0;
  size_t inflight_ = 0;
  uint64_t jobs_completed_ = 0;
  std::map<std::string, std::unique_ptr<ActiveRun>> active_;
  std::map<std::string, RunRow> finished_uncommitted_;  // left active_, not yet committed
  // Called by Commit: finished runs are now readable from the store.
  void OnCommitted() { finished_uncommitted_.clear(); }
  std::array<std::deque<ShardKey>, 3> ready_;  // by Priority: low, standard, high
  std::multimap<int64_t, ShardKey> retry_at_;  // backoff timers
  // At most one attempt of a job ID is in flight (broker leases are keyed by job ID and
  // attempt): the job in flight by ID, and the jobs of other runs waiting for it to land.
  std::unordered_map<std::string, ShardKey> flying_;
  std::unordered_map<std::string, std::vector<ShardKey>> twins_;
};

}  // namespace recomp::coordinator
