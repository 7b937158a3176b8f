// RunEngine: planning stages into jobs, the ready queue, the action cache, dispatch, results,
// retries and worker-loss re-offers.
#include "base/blake2b.h"
#include "coordinator/log.h"

#include <algorithm>
#include <cmath>

#include "coordinator/retention.h"
#include "coordinator/run_engine.h"
#include "coordinator/run_engine_internal.h"
#include "messages/codec.h"

namespace recomp::coordinator {
namespace {

std::string ExitStatus(const StageResult& r) {
  switch (r.outcome) {
    case JobOutcome::kSucceeded:
    case JobOutcome::kFailed:
      return r.signal != 0 ? "signaled:" + std::to_string(r.signal)
                           : "exited:" + std::to_string(r.exit_code);
    default:
      return std::string(ToString(r.outcome));
  }
}

// The data of recomp.run.stage.completed (docs/events.md), packed directly: one per job, so no
// JSON tree is built, copied and freed for it.
std::string StageEventData(const JobRow& job, const StageResult& r) {
  msgpack::sbuffer buf(256 + 96 * r.outputs.size() + r.message.size());
  wire::Packer pk(buf);
  pk.pack_map(14);
  pk.pack("stage");
  pk.pack(job.stage);
  pk.pack("shard");
  pk.pack(job.shard);
  pk.pack("shards");
  pk.pack(job.shards);
  pk.pack("job_id");
  pk.pack(job.job_id);
  pk.pack("attempt");
  pk.pack(r.attempt);
  pk.pack("worker");
  pk.pack(r.worker);
  pk.pack("outcome");
  pk.pack(ToString(r.outcome));
  pk.pack("exit_status");
  pk.pack(ExitStatus(r));
  pk.pack("exit_code");
  pk.pack(r.exit_code);
  pk.pack("duration_ms");
  pk.pack(r.duration_ms);
  pk.pack("outputs");
  PackPathRefs(pk, r.outputs);
  pk.pack("log_ref");
  pk.pack(r.log_ref);
  pk.pack("cached");
  pk.pack(r.cached);
  pk.pack("message");
  pk.pack(r.message);
  return wire::ToBytes(buf);
}

}  // namespace

JobRow* RunEngine::FindJob(ActiveRun& run, const std::string& stage, uint32_t shard) {
  auto it = run.jobs.find(stage);
  if (it == run.jobs.end() || shard >= it->second.size()) return nullptr;
  return &it->second[shard];
}

void RunEngine::Touch(ActiveRun& run, JobRow& job, Effects* fx) {
  (void)run;
  fx->jobs[job.Key()] = EncodeJobRow(job);  // a later touch in the same batch overwrites
}

Status RunEngine::PlanReadyStages(ActiveRun& run, Effects* fx) {
  for (size_t i = 0; i < run.pipeline.pipeline.stages.size(); ++i) {
    RECOMP_RETURN_IF_ERROR(PlanStageIfReady(run, i, fx));
  }
  return Status::Ok();
}

Status RunEngine::PlanStageIfReady(ActiveRun& run, size_t index, Effects* fx) {
  const Pipeline& p = run.pipeline.pipeline;
  const Stage& st = p.stages[index];
  if (run.planned.count(st.name)) return Status::Ok();  // planned once; its rows moved on
  for (const std::string& need : st.needs) {
    if (run.succeeded[need] < p.stages[p.index.at(need)].shards) return Status::Ok();
  }
  StageOutputs outputs;
  for (const std::string& need : st.needs) {
    auto& shard_outputs = outputs[need];
    for (const JobRow& j : run.jobs[need]) {
      ShardOutputs so;
      for (const PathRef& o : j.result->outputs) {
        so.emplace_back(o.path, ParseArtifactRef(o.ref).value());
      }
      shard_outputs.push_back(std::move(so));
    }
  }
  RECOMP_ASSIGN_OR_RETURN(auto planned, PlanStageJobs(run.pipeline, st.name, run.module, outputs));
  std::vector<JobRow>& rows = run.jobs[st.name];
  for (size_t i = 0; i < rows.size(); ++i) {
    JobRow& j = rows[i];
    if (j.state == JobState::kWaiting) {
      j.job_id = planned[i].id.Hex();
      j.state = JobState::kReady;
      Touch(run, j, fx);
      Enqueue(run, j);
    }
  }
  run.planned[st.name] = std::move(planned);
  return Status::Ok();
}

void RunEngine::Enqueue(ActiveRun& run, const JobRow& job) {
  ShardKey key{job.run_id, job.stage, job.shard};
  if (job.not_before_ms > now_ms_) {
    retry_at_.emplace(job.not_before_ms, std::move(key));
    return;
  }
  ready_[static_cast<size_t>(run.row.submission.priority)].push_back(std::move(key));
}

int64_t RunEngine::NextWakeMs(int64_t now_ms) const {
  if (inflight_ < opts_.max_inflight) {  // work left over by a bounded Tick: at once
    for (const auto& q : ready_) {
      if (!q.empty()) return 0;
    }
  }
  if (retry_at_.empty()) return -1;
  return std::max<int64_t>(0, retry_at_.begin()->first - now_ms);
}

void RunEngine::Tick(int64_t now_ms, Effects* fx) {
  now_ms_ = now_ms;
  while (!retry_at_.empty() && retry_at_.begin()->first <= now_ms) {
    ShardKey key = retry_at_.begin()->second;
    retry_at_.erase(retry_at_.begin());
    auto it = active_.find(key.run_id);
    if (it != active_.end())
      ready_[static_cast<size_t>(it->second->row.submission.priority)].push_back(key);
  }
  size_t handled = 0, bytes = 0;  // bounded, so the service answers clients between turns
  for (size_t p = ready_.size(); p-- > 0;) {  // high first
    while (!ready_[p].empty() && inflight_ < opts_.max_inflight && handled < kMaxJobsPerTick &&
           bytes < kMaxDispatchBytesPerTick) {
      ++handled;
      ShardKey key = std::move(ready_[p].front());
      ready_[p].pop_front();
      auto it = active_.find(key.run_id);
      if (it == active_.end()) continue;  // the run ended meanwhile
      ActiveRun& run = *it->second;
      JobRow* job = FindJob(run, key.stage, key.shard);
      if (job == nullptr || job->state != JobState::kReady) continue;
      if (!ServeFromCache(run, *job, fx)) bytes += Dispatch(run, *job, fx);
    }
  }
}

bool RunEngine::ServeFromCache(ActiveRun& run, JobRow& job, Effects* fx) {
  const auto& fresh = run.row.no_cache_stages;  // a rerun re-executes these
  if (!fresh.empty() && std::binary_search(fresh.begin(), fresh.end(), job.stage)) return false;
  auto cached = runs_->GetCache(job.job_id);
  if (!cached.ok()) {
    Log()->warn("job={} action cache unreadable: {}", job.job_id, cached.status().ToString());
    return false;
  }
  // A hit is served only if every blob it names still exists (bazel#19348).
  if (!cached->has_value() || !AllBlobsPresent(store_, **cached)) {
    ++fx->cache_misses;
    return false;
  }
  ++fx->cache_hits;
  StageResult r = **cached;
  r.run_id = job.run_id;
  r.attempt = std::max<uint32_t>(job.attempt, 1);
  job.attempt = r.attempt;
  r.worker = "";
  r.duration_ms = 0;
  r.cached = true;
  StartIfQueued(run, fx);
  CompleteJob(run, job, std::move(r), fx);
  return true;
}

size_t RunEngine::Dispatch(ActiveRun& run, JobRow& job, Effects* fx) {
  ShardKey key{job.run_id, job.stage, job.shard};
  if (auto it = flying_.find(job.job_id); it != flying_.end()) {
    // The same job (same ID: same work and inputs) is in flight for another run: wait for it
    // and be served from the action cache (or run it) once it lands.
    twins_[job.job_id].push_back(std::move(key));
    return 0;
  }
  flying_.emplace(job.job_id, std::move(key));
  StartIfQueued(run, fx);
  JobSpec spec = run.planned.at(job.stage).at(job.shard).Spec();  // copied for in-flight jobs only
  job.attempt += 1;
  job.state = JobState::kDispatched;
  ++inflight_;
  StageJob sj;
  sj.job_id = job.job_id;
  sj.run_id = job.run_id;
  sj.stage = job.stage;
  sj.shard = job.shard;
  sj.shards = job.shards;
  sj.attempt = job.attempt;
  size_t bytes = 0;
  for (const std::string& a : spec.argv) bytes += a.size();
  for (const auto& [k, v] : spec.env) bytes += k.size() + v.size();
  sj.argv = std::move(spec.argv);
  sj.env = std::move(spec.env);
  for (const auto& [path, digest] : spec.inputs) sj.inputs.push_back({path, digest.Ref()});
  sj.outputs = std::move(spec.outputs);
  sj.timeout_s = spec.timeout_s;
  sj.requirements = std::move(spec.requirements);
  sj.network = spec.network;
  sj.priority = run.row.submission.priority;
  fx->dispatch.push_back(std::move(sj));
  Touch(run, job, fx);
  return bytes;
}

void RunEngine::OnResult(const StageResult& r, Effects* fx) {
  auto log = Log();
  auto it = active_.find(r.run_id);
  if (it == active_.end()) {
    log->info("run={} job={} result ignored: run not active", r.run_id, r.job_id);
    return;
  }
  ActiveRun& run = *it->second;
  JobRow* job = FindJob(run, r.stage, r.shard);
  if (job == nullptr || job->job_id != r.job_id || job->state != JobState::kDispatched ||
      job->attempt != r.attempt) {
    log->info("run={} job={} attempt={} stale result ignored", r.run_id, r.job_id, r.attempt);
    return;
  }
  --inflight_;
  Land(job->job_id);
  fx->attempts_ended.push_back({job->stage, r.outcome, r.duration_ms});
  if (r.outcome == JobOutcome::kSucceeded) {
    CompleteJob(run, *job, r, fx);
  } else if (r.outcome == JobOutcome::kWorkerLost && job->lost + 1 < opts_.lost_cap) {
    job->lost += 1;  // not the job's fault (probably): offer again at once, attempt + 1
    job->state = JobState::kReady;
    job->not_before_ms = 0;
    Touch(run, *job, fx);
    EmitRetry(run, *job, r, fx);
    Enqueue(run, *job);
  } else {
    StageResult final_r = r;
    if (r.outcome == JobOutcome::kWorkerLost) {
      job->lost += 1;
      final_r.message = "job lost " + std::to_string(job->lost) + " workers (cap " +
                        std::to_string(opts_.lost_cap) + "): " + r.message;
      job->failures = 1000;  // no retries: this job kills workers
    }
    FailOrRetry(run, *job, final_r, fx);
  }
}

void RunEngine::OnRejected(const proto::JobRef& ref, Effects* fx) {
  JobRow* job = nullptr;
  ActiveRun* run = FindFlying(ref, &job);
  if (run == nullptr) return;
  --inflight_;
  Land(ref.job_id);
  job->state = JobState::kReady;
  job->not_before_ms = now_ms_ + 100;
  Touch(*run, *job, fx);
  Enqueue(*run, *job);
}

std::vector<proto::JobRef> RunEngine::InFlight() const {
  std::vector<proto::JobRef> out;
  out.reserve(flying_.size());
  for (const auto& [job_id, key] : flying_) {
    auto it = active_.find(key.run_id);
    if (it == active_.end()) continue;
    const JobRow& j = it->second->jobs.at(key.stage).at(key.shard);
    if (j.state == JobState::kDispatched) out.push_back({j.job_id, j.attempt});
  }
  return out;
}

void RunEngine::OnUnknownToBroker(const proto::JobRef& ref, Effects* fx) {
  JobRow* job = nullptr;
  if (FindFlying(ref, &job) == nullptr) return;  // it landed meanwhile
  StageResult lost = ResultFor({job->job_id, job->run_id, job->stage, job->shard, job->attempt});
  lost.outcome = JobOutcome::kWorkerLost;
  lost.message = "the broker does not know job " + ref.job_id + " attempt " +
                 std::to_string(ref.attempt) + " (its DISPATCH or its RESULT was lost)";
  Log()->warn("run={} {}: offered again", job->run_id, lost.message);
  OnResult(lost, fx);
}

RunEngine::ActiveRun* RunEngine::FindFlying(const proto::JobRef& ref, JobRow** job) {
  auto f = flying_.find(ref.job_id);
  if (f == flying_.end()) return nullptr;
  auto it = active_.find(f->second.run_id);
  if (it == active_.end()) return nullptr;
  JobRow* j = FindJob(*it->second, f->second.stage, f->second.shard);
  if (j == nullptr || j->state != JobState::kDispatched || j->attempt != ref.attempt) {
    return nullptr;
  }
  *job = j;
  return it->second.get();
}

void RunEngine::Land(const std::string& job_id) {
  flying_.erase(job_id);
  auto t = twins_.find(job_id);
  if (t == twins_.end()) return;
  // The twins try again after this batch is committed (the next Tick), so a success is in the
  // action cache for them by then.
  for (ShardKey& key : t->second) retry_at_.emplace(now_ms_ + 1, std::move(key));
  twins_.erase(t);
}

void RunEngine::CompleteJob(ActiveRun& run, JobRow& job, StageResult r, Effects* fx) {
  if (!r.cached) fx->cache.push_back(r);  // only successes reach here: failures never cached
  job.state = JobState::kSucceeded;
  ++jobs_completed_;
  job.result = std::move(r);
  const StageResult& res = *job.result;
  --run.unfinished;
  Touch(run, job, fx);
  EmitPacked(run, EventType::kStageCompleted,
             "stage/" + job.stage + "/" + std::to_string(job.shard), StageEventData(job, res), fx);
  // A counter, not a scan of the stage's shards: finishing a stage is O(1) per job.
  if (++run.succeeded[job.stage] == job.shards) FinishStage(run, job.stage, fx);
}

namespace {

// Whether another attempt could end differently: timeouts, lost workers, worker-side errors and
// cancellations by someone other than the run always; a non-zero exit only for the exit codes
// the stage lists (docs/pipeline.md, "Retries").
bool Retryable(const Stage& st, const StageResult& r) {
  switch (r.outcome) {
    case JobOutcome::kTimedOut:
    case JobOutcome::kWorkerLost:
    case JobOutcome::kError:
    case JobOutcome::kCancelled:
      return true;
    case JobOutcome::kFailed:
      return r.signal == 0 && r.exit_code > 0 &&
             std::find(st.retry_exit_codes.begin(), st.retry_exit_codes.end(), r.exit_code) !=
                 st.retry_exit_codes.end();
    case JobOutcome::kSucceeded:
      break;
  }
  return false;
}

}  // namespace

void RunEngine::FailOrRetry(ActiveRun& run, JobRow& job, const StageResult& r, Effects* fx) {
  const Stage* st = run.pipeline.pipeline.FindStage(job.stage);
  job.failures += 1;
  if (job.failures <= st->retries && Retryable(*st, r)) {
    job.state = JobState::kReady;
    job.not_before_ms = now_ms_ + BackoffMs(job);
    Touch(run, job, fx);
    EmitRetry(run, job, r, fx);
    Enqueue(run, job);
    Log()->info("run={} job={} attempt={} {}: retry in {} ms", job.run_id, job.job_id, job.attempt,
                ToString(r.outcome), job.not_before_ms - now_ms_);
    return;
  }
  job.state = JobState::kFailed;
  ++jobs_completed_;
  job.result = r;
  --run.unfinished;
  Touch(run, job, fx);
  EmitPacked(run, EventType::kStageCompleted,
             "stage/" + job.stage + "/" + std::to_string(job.shard), StageEventData(job, r), fx);
  std::string reason = "stage '" + job.stage + "' shard " + std::to_string(job.shard) + " " +
                       std::string(ToString(r.outcome)) + ": " + r.message +
                       (r.log_ref.empty() ? "" : " (log " + r.log_ref + ")");
  if (st->validation) {
    run.row.verdict = "failed";
    Emit(run, EventType::kValidationCompleted, "validation",
         {{"stage", job.stage},
          {"verdict", "failed"},
          {"job_id", job.job_id},
          {"report", r.outputs.empty() ? "" : r.outputs.front().ref},
          {"log_ref", r.log_ref},
          {"reports", ToJson(r.outputs)}},
         fx);
    reason = "validation failed: " + reason;
  }
  FinishRun(run, RunState::kFailed, reason, fx);
}

void RunEngine::FinishStage(ActiveRun& run, const std::string& stage, Effects* fx) {
  const Stage* st = run.pipeline.pipeline.FindStage(stage);
  if (st->validation) {
    run.row.verdict = "passed";
    const JobRow& first = run.jobs[stage].front();
    std::vector<PathRef> reports;
    for (const JobRow& j : run.jobs[stage])
      reports.insert(reports.end(), j.result->outputs.begin(), j.result->outputs.end());
    Emit(run, EventType::kValidationCompleted, "validation",
         {{"stage", stage},
          {"verdict", "passed"},
          {"job_id", first.job_id},
          {"report", reports.empty() ? "" : reports.front().ref},
          {"log_ref", first.result->log_ref},
          {"reports", ToJson(reports)}},
         fx);
  }
  if (run.unfinished == 0) {
    FinishRun(run, RunState::kSucceeded, "", fx);
    return;
  }
  const Pipeline& p = run.pipeline.pipeline;
  for (size_t d : p.dependents[p.index.at(stage)]) {
    Status s = PlanStageIfReady(run, d, fx);
    if (!s.ok()) {
      FinishRun(run, RunState::kFailed, "planning failed: " + s.message(), fx);
      return;
    }
  }
}

int64_t RunEngine::BackoffMs(const JobRow& job) const {
  double base = opts_.retry_initial_ms * std::pow(opts_.retry_coefficient, job.failures - 1);
  base = std::min<double>(base, static_cast<double>(opts_.retry_max_ms));
  // Deterministic jitter in [0.5, 1.0) from the job ID and attempt (Temporal-style retries, seeded
  // so a replay computes the same delay).
  Digest h = Blake2b256::Of(job.job_id + "/" + std::to_string(job.attempt));
  uint32_t u = static_cast<uint32_t>(h.bytes[0]) << 8 | h.bytes[1];
  return static_cast<int64_t>(base * (0.5 + 0.5 * (u / 65536.0)));
}

}  // namespace recomp::coordinator
