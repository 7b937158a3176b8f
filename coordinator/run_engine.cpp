// RunEngine: submission, resume, cancel, events and run completion. Job dispatch and results
// are in run_engine_jobs.cpp.
#include "coordinator/run_engine.h"
#include "base/blake2b.h"

#include "coordinator/log.h"

#include <random>

#include "base/clock.h"
#include "coordinator/pipeline_graph.h"
#include "coordinator/run_engine_internal.h"
#include "coordinator/run_reducer.h"
#include "messages/artifact_ref.h"
#include "messages/module_manifest.h"

namespace recomp::coordinator {
namespace {

std::string NewRunId() {
  std::random_device rd;
  std::mt19937_64 gen((static_cast<uint64_t>(rd()) << 32) ^ rd());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(gen()));
  std::string t = FormatRfc3339(std::chrono::system_clock::now());
  // run-YYYYMMDDTHHMMSS-<16 hex>: sortable by creation, unique by the random part.
  std::string stamp;
  for (char c : t.substr(0, 19))
    if (c != '-' && c != ':') stamp.push_back(c);
  return "run-" + stamp + "-" + buf;
}

Result<std::string> ReadArtifact(store::ArtifactStore* store, const std::string& ref,
                                 const char* what) {
  auto d = ParseArtifactRef(ref);
  if (!d.ok()) return d.status().WithContext(what);
  if (!store->Contains(*d))
    return Status::NotFound(std::string(what) + " " + ref + " is not in the store");
  auto bytes = store->GetBytes(*d, kMaxManifestBytes);
  if (!bytes.ok()) return bytes.status().WithContext(what);
  return bytes;
}

}  // namespace

RunEngine::RunEngine(EngineOptions opts, RunStore* runs, store::ArtifactStore* store,
                     uint64_t last_sequence)
    : opts_(std::move(opts)), runs_(runs), store_(store), seq_(last_sequence) {}

RunEngine::~RunEngine() = default;

Status RunEngine::LoadInputs(const RunSubmission& sub, ActiveRun* run) {
  RECOMP_ASSIGN_OR_RETURN(std::string config,
                          ReadArtifact(store_, sub.config_manifest, "config_manifest"));
  RECOMP_ASSIGN_OR_RETURN(run->pipeline, ParseResolvedPipeline(config, "config_manifest"));
  RECOMP_ASSIGN_OR_RETURN(std::string module_text,
                          ReadArtifact(store_, sub.module_manifest, "module_manifest"));
  RECOMP_ASSIGN_OR_RETURN(ModuleManifest module, DecodeModuleManifest(module_text));
  RECOMP_RETURN_IF_ERROR(
      ReadArtifact(store_, sub.provenance_manifest, "provenance_manifest").status());
  for (const ModuleFile& f : module.files) {
    if (!store_->Contains(f.digest)) {
      return Status::NotFound("module file " + f.name + " (" + f.digest.Ref() +
                              ") is not in the store");
    }
  }
  run->module = std::move(module.files);
  for (const ToolRef& t : run->pipeline.tools) {
    if (!store_->Contains(t.digest)) {
      return Status::NotFound("tool " + t.basename + " (" + t.digest.Ref() +
                              ") is not in the store");
    }
  }
  return ValidateModuleFiles(run->module);
}

Result<std::unique_ptr<RunEngine::ActiveRun>> RunEngine::LoadRun(const RunRow& row,
                                                                 std::vector<JobRow> jobs) {
  auto run = std::make_unique<ActiveRun>();
  run->row = row;
  RECOMP_RETURN_IF_ERROR(LoadInputs(row.submission, run.get()));
  if (jobs.empty()) {
    for (const std::string& name : run->pipeline.pipeline.order) {
      const Stage* st = run->pipeline.pipeline.FindStage(name);
      for (uint32_t i = 0; i < st->shards; ++i) {
        JobRow j;
        j.run_id = row.submission.run_id;
        j.stage = name;
        j.shard = i;
        j.shards = st->shards;
        jobs.push_back(std::move(j));
      }
    }
  }
  for (JobRow& j : jobs) {
    auto& shards = run->jobs[j.stage];
    if (shards.size() <= j.shard) shards.resize(j.shards);
    if (j.state != JobState::kSucceeded && j.state != JobState::kFailed) ++run->unfinished;
    if (j.state == JobState::kSucceeded) ++run->succeeded[j.stage];
    shards[j.shard] = std::move(j);
  }
  return run;
}

void RunEngine::Emit(ActiveRun& run, EventType type, std::string id_suffix, nlohmann::json data,
                     Effects* fx) {
  Event e;
  e.data = std::move(data);
  Append(run, type, std::move(id_suffix), std::move(e), fx);
}

void RunEngine::EmitPacked(ActiveRun& run, EventType type, std::string id_suffix,
                           std::string packed, Effects* fx) {
  Event e;
  e.data = nullptr;  // the packed form is the data
  e.packed_data = std::move(packed);
  Append(run, type, std::move(id_suffix), std::move(e), fx);
}

void RunEngine::Append(ActiveRun& run, EventType type, std::string id_suffix, Event e,
                       Effects* fx) {
  e.sequence = ++seq_;
  e.id = run.row.submission.run_id + "/" + id_suffix;
  e.source = opts_.source;
  e.type = type;
  e.subject = run.row.submission.run_id;
  e.time = NowRfc3339();
  // The row is always the reducer's fold of the events: audit compares exactly this.
  Status s = ApplyEvent(e, &run.row.status);
  assert(s.ok() && "the engine emitted an event its own reducer refuses");
  (void)s;
  fx->events.push_back(std::move(e));
  fx->touched_runs.insert(run.row.submission.run_id);  // the row is copied once, at Commit
}

Status RunEngine::Commit(Effects* fx) {
  for (const std::string& id : fx->touched_runs) {
    if (auto it = active_.find(id); it != active_.end()) fx->runs[id] = it->second->row;
  }  // a run that finished in this batch put its final row in fx->runs already
  fx->encoded_events.clear();
  fx->encoded_events.reserve(fx->events.size());
  for (const Event& e : fx->events) fx->encoded_events.push_back(EncodeEvent(e));
  if (fx->events.empty() && fx->runs.empty() && fx->jobs.empty() && fx->cache.empty())
    return Status::Ok();
  RECOMP_ASSIGN_OR_RETURN(RunStore::Batch batch, runs_->Begin());
  for (size_t i = 0; i < fx->events.size(); ++i)
    RECOMP_RETURN_IF_ERROR(batch.AppendEncodedEvent(fx->events[i], fx->encoded_events[i]));
  for (const auto& [id, row] : fx->runs) RECOMP_RETURN_IF_ERROR(batch.PutRun(row));
  for (const auto& [key, row] : fx->jobs) RECOMP_RETURN_IF_ERROR(batch.PutEncodedJob(key, row));
  for (const StageResult& r : fx->cache) RECOMP_RETURN_IF_ERROR(batch.PutCache(r));
  RECOMP_RETURN_IF_ERROR(batch.Commit());
  OnCommitted();
  return Status::Ok();
}

Effects::Pin RunEngine::ActivePin(const ActiveRun& run) {
  const RunSubmission& sub = run.row.submission;
  std::vector<Digest> refs;
  for (const std::string* ref :
       {&sub.module_manifest, &sub.config_manifest, &sub.provenance_manifest}) {
    refs.push_back(ParseArtifactRef(*ref).value());
  }
  for (const auto& m : run.module) refs.push_back(m.digest);
  for (const auto& t : run.pipeline.tools) refs.push_back(t.digest);
  return {sub.run_id, store::RunPinState::kActive, std::move(refs)};
}

Result<RunStatus> RunEngine::Submit(RunSubmission sub, Effects* fx) {
  return Accept(std::move(sub), RerunOf{}, fx);
}

Result<RunStatus> RunEngine::Rerun(const std::string& run_id, const std::string& from_stage,
                                   const std::string& requested_by, Effects* fx) {
  std::optional<RunSubmission> old;
  if (auto it = active_.find(run_id); it != active_.end()) {
    old = it->second->row.submission;
  } else if (auto f = finished_uncommitted_.find(run_id); f != finished_uncommitted_.end()) {
    old = f->second.submission;
  } else {
    RECOMP_ASSIGN_OR_RETURN(auto row, runs_->GetRun(run_id));
    if (row) old = row->submission;
  }
  if (!old) return Status::NotFound("no run " + run_id);
  RunSubmission sub = *old;
  sub.run_id.clear();  // a new run: a fresh id
  sub.requested_by = requested_by;
  return Accept(std::move(sub), RerunOf{run_id, from_stage}, fx);
}

Result<RunStatus> RunEngine::Accept(RunSubmission sub, const RerunOf& rerun, Effects* fx) {
  if (sub.execution_mode != ExecutionMode::kLocal && !opts_.cloud_gate_open) {
    return Status::FailedPrecondition("execution_mode '" +
                                      std::string(ToString(sub.execution_mode)) +
                                      "' is gated: only 'local' runs are accepted (open the gate "
                                      "with [coordinator] cloud_gate = true)");
  }
  std::string content_key = Blake2b256::Of(SubmissionContentKey(sub)).Hex();
  if (sub.run_id.empty()) sub.run_id = NewRunId();
  std::optional<std::string> existing_key;
  if (auto it = active_.find(sub.run_id); it != active_.end()) {
    existing_key = it->second->row.content_key_hex;  // accepted earlier in this batch, perhaps
  } else if (auto f = finished_uncommitted_.find(sub.run_id); f != finished_uncommitted_.end()) {
    existing_key = f->second.content_key_hex;
  } else {
    RECOMP_ASSIGN_OR_RETURN(auto existing, runs_->GetRun(sub.run_id));
    if (existing) existing_key = existing->content_key_hex;
  }
  if (existing_key) {
    if (*existing_key != content_key) {
      return Status::AlreadyExists("run " + sub.run_id + " already exists with different content");
    }
    return GetStatus(sub.run_id);  // idempotent: the same run, nothing new recorded
  }
  RunRow row;
  row.submission = sub;
  row.content_key_hex = content_key;
  if (!rerun.run_id.empty()) row.rerun_of = rerun.run_id;
  RECOMP_ASSIGN_OR_RETURN(auto run, LoadRun(row, {}));
  ActiveRun& r = *run;
  if (!rerun.from_stage.empty()) {
    RECOMP_ASSIGN_OR_RETURN(r.row.no_cache_stages,
                            StageAndDependents(r.pipeline.pipeline, rerun.from_stage));
  }
  nlohmann::json data = {{"execution_mode", ToString(sub.execution_mode)},
                         {"priority", ToString(sub.priority)},
                         {"requested_by", sub.requested_by},
                         {"module_manifest", sub.module_manifest},
                         {"config_manifest", sub.config_manifest},
                         {"provenance_manifest", sub.provenance_manifest},
                         {"stages", r.pipeline.pipeline.order},
                         {"jobs", r.unfinished}};
  if (!r.row.rerun_of.empty()) {
    data["rerun_of"] = r.row.rerun_of;
    data["no_cache_stages"] = r.row.no_cache_stages;
  }
  bool blocked = sub.execution_mode != ExecutionMode::kLocal;
  if (blocked) {
    data["initial_state"] = "blocked";
    data["reason"] = "no cloud backend is configured for execution_mode '" +
                     std::string(ToString(sub.execution_mode)) + "'";
  }
  Emit(r, EventType::kRequested, "requested", std::move(data), fx);
  fx->pins.push_back(ActivePin(r));
  for (auto& [stage, shards] : r.jobs)
    for (JobRow& j : shards) Touch(r, j, fx);
  if (!blocked) RECOMP_RETURN_IF_ERROR(PlanReadyStages(r, fx));
  RunStatus status = r.row.status;
  active_[sub.run_id] = std::move(run);
  Log()->info("run={} accepted stages={} blocked={}", sub.run_id, r.pipeline.pipeline.order.size(),
              blocked);
  return status;
}

Status RunEngine::Resume(Effects* fx) {
  RECOMP_ASSIGN_OR_RETURN(auto rows, runs_->ListRuns());
  for (const RunRow& row : rows) {
    if (IsTerminal(row.status.state)) continue;
    RECOMP_ASSIGN_OR_RETURN(auto jobs, runs_->GetJobs(row.submission.run_id));
    auto loaded = LoadRun(row, std::move(jobs));
    if (!loaded.ok()) {
      // Its inputs are gone: it can never finish, so it fails (and stays visible, not stuck).
      Log()->error("run={} cannot resume: {}", row.submission.run_id, loaded.status().ToString());
      auto dead = std::make_unique<ActiveRun>();
      dead->row = row;
      ActiveRun& d = *dead;
      active_[row.submission.run_id] = std::move(dead);
      FinishRun(d, RunState::kFailed, "cannot resume: " + loaded.status().message(), fx);
      continue;
    }
    ActiveRun& r = **loaded;
    active_[row.submission.run_id] = std::move(loaded).value();
    // Pins are written after the commit that accepted the run: a crash in between left it
    // unpinned. Pinning again is idempotent.
    fx->pins.push_back(ActivePin(r));
    if (r.row.status.state == RunState::kBlocked) continue;
    for (auto& [stage, shards] : r.jobs) {
      for (JobRow& j : shards) {
        // In flight when we died: offer again, same job ID, a new attempt (a late result of
        // the old attempt is stale). Ready ones are re-queued.
        if (j.state == JobState::kDispatched) j.state = JobState::kReady;
        if (j.state == JobState::kReady) Enqueue(r, j);
      }
    }
    RECOMP_RETURN_IF_ERROR(PlanReadyStages(r, fx));
    Log()->info("run={} resumed state={}", row.submission.run_id, ToString(r.row.status.state));
  }
  return Status::Ok();
}

Result<RunStatus> RunEngine::Cancel(const std::string& run_id, Effects* fx) {
  auto it = active_.find(run_id);
  if (it == active_.end()) return GetStatus(run_id);  // terminal (or NotFound)
  FinishRun(*it->second, RunState::kFailed, "cancelled", fx);
  return GetStatus(run_id);
}

Result<std::string> RunEngine::WriteProvenance(const ActiveRun& run) {
  ProvenanceInput in;
  in.submission = run.row.submission;
  in.module = run.module;
  in.tools = run.pipeline.tools;
  in.started_on = run.row.status.started_at;
  in.finished_on = NowRfc3339();
  in.builder_id = opts_.provenance->builder_id;
  for (const std::string& stage : run.pipeline.pipeline.order) {
    auto it = run.jobs.find(stage);
    if (it == run.jobs.end()) continue;
    for (const JobRow& j : it->second) {
      if (!j.result) continue;
      const StageResult& r = *j.result;
      in.jobs.push_back(
          {j.stage, j.shard, j.job_id, r.attempt, r.worker, r.duration_ms, r.cached, r.outputs});
    }
  }
  store::PutOptions o;
  o.media_type = std::string(kEnvelopeMediaType);
  o.producer = "coordinator";
  RECOMP_ASSIGN_OR_RETURN(ArtifactRecord rec,
                          store_->PutBytes(SignedProvenance(in, *opts_.provenance), o));
  return rec.ref;
}

void RunEngine::StartIfQueued(ActiveRun& run, Effects* fx) {
  if (run.row.status.state == RunState::kQueued) {
    Emit(run, EventType::kStarted, "started", nlohmann::json::object(), fx);
  }
}

void RunEngine::FinishRun(ActiveRun& run, RunState state, const std::string& reason, Effects* fx) {
  for (auto& [stage, shards] : run.jobs) {
    for (JobRow& j : shards) {
      if (j.state == JobState::kDispatched) {
        fx->revoke.push_back({j.job_id, j.attempt});
        --inflight_;
        Land(j.job_id);
      }
      if (j.state == JobState::kDispatched || j.state == JobState::kReady) {
        j.state = JobState::kFailed;  // abandoned with the run; queues skip it
        Touch(run, j, fx);
      }
    }
  }
  nlohmann::json data = {
      {"state", ToString(state)}, {"reason", reason}, {"verdict", run.row.verdict}};
  std::vector<Digest> refs;
  if (state == RunState::kSucceeded && opts_.provenance != nullptr) {
    // Before the event that names it; a failure to write it is logged, the run still succeeded.
    if (Result<std::string> ref = WriteProvenance(run); ref.ok()) {
      refs.push_back(ParseArtifactRef(*ref).value());
      data["provenance"] = *ref;
    } else {
      Log()->error("run={}: provenance not written: {}", run.row.submission.run_id,
                   ref.status().ToString());
    }
  }
  Emit(run, EventType::kCompleted, "completed", std::move(data), fx);
  for (const std::string& a : run.row.status.artifacts) refs.push_back(ParseArtifactRef(a).value());
  for (auto& [stage, shards] : run.jobs) {
    for (JobRow& j : shards) {
      if (j.result && !j.result->log_ref.empty())
        refs.push_back(ParseArtifactRef(j.result->log_ref).value());
    }
  }
  fx->pins.push_back(
      {run.row.submission.run_id,
       state == RunState::kSucceeded ? store::RunPinState::kSucceeded : store::RunPinState::kFailed,
       std::move(refs)});
  Log()->info("run={} completed state={} reason=\"{}\"", run.row.submission.run_id, ToString(state),
              reason);
  finished_uncommitted_[run.row.submission.run_id] = run.row;
  fx->runs[run.row.submission.run_id] = run.row;  // its final row (it leaves active_ now)
  active_.erase(run.row.submission.run_id);  // memory stays flat: terminal runs live in LMDB only
}

Result<RunStatus> RunEngine::GetStatus(const std::string& run_id) const {
  auto it = active_.find(run_id);
  if (it != active_.end()) return it->second->row.status;
  if (auto f = finished_uncommitted_.find(run_id); f != finished_uncommitted_.end())
    return f->second.status;
  RECOMP_ASSIGN_OR_RETURN(auto row, runs_->GetRun(run_id));
  if (!row) return Status::NotFound("no run " + run_id);
  return row->status;
}

}  // namespace recomp::coordinator
