// RunEngine: recomp's extension events (docs/events.md, "Extensions"): a job attempt started,
// a failed attempt scheduled for retry, a worker joined or left.
#include <algorithm>

#include "base/clock.h"
#include "coordinator/log.h"
#include "coordinator/run_engine.h"
#include "coordinator/run_engine_internal.h"
#include "messages/codec.h"

namespace recomp::coordinator {

void RunEngine::OnStarted(const proto::StartedJob& started, Effects* fx) {
  if (!opts_.job_started_events) return;
  JobRow* job = nullptr;
  ActiveRun* run = FindFlying(started.ref, &job);
  if (run == nullptr) return;  // revoked, landed or re-offered meanwhile
  msgpack::sbuffer buf(160);
  wire::Packer pk(buf);
  pk.pack_map(5);
  pk.pack("stage");
  pk.pack(job->stage);
  pk.pack("shard");
  pk.pack(job->shard);
  pk.pack("job_id");
  pk.pack(job->job_id);
  pk.pack("attempt");
  pk.pack(job->attempt);
  pk.pack("worker");
  pk.pack(started.worker);
  EmitPacked(*run, EventType::kJobStarted,
             "job/" + job->stage + "/" + std::to_string(job->shard) + "/started/" +
                 std::to_string(job->attempt),
             wire::ToBytes(buf), fx);
}

void RunEngine::EmitRetry(ActiveRun& run, const JobRow& job, const StageResult& r, Effects* fx) {
  const int64_t due = std::max(job.not_before_ms, now_ms_);
  Emit(run, EventType::kJobRetryScheduled,
       "job/" + job.stage + "/" + std::to_string(job.shard) + "/retry/" + std::to_string(r.attempt),
       {{"stage", job.stage},
        {"shard", job.shard},
        {"job_id", job.job_id},
        {"attempt", r.attempt},
        {"worker", r.worker},
        {"outcome", ToString(r.outcome)},
        {"exit_code", r.exit_code},
        {"message", r.message},
        {"log_ref", r.log_ref},
        {"next_attempt", job.attempt + 1},
        {"not_before", FormatRfc3339(FromUnixMillis(due))}},
       fx);
}

RunEngine::Gauges RunEngine::Sample() const {
  Gauges g;
  for (const auto& [id, run] : active_) {
    switch (run->row.status.state) {
      case RunState::kQueued:
        ++g.runs[0];
        break;
      case RunState::kRunning:
        ++g.runs[1];
        break;
      case RunState::kBlocked:
        ++g.runs[2];
        break;
      default:
        break;
    }
  }
  for (size_t i = 0; i < ready_.size(); ++i) g.ready[i] = ready_[i].size();
  g.retry_waiting = retry_at_.size();
  g.inflight = inflight_;
  return g;
}

std::vector<RunEngine::ActiveSummary> RunEngine::ActiveRuns(size_t max) const {
  std::vector<ActiveSummary> out;
  for (const auto& [id, run] : active_) {
    ActiveSummary a;
    a.status = run->row.status;
    for (const auto& [stage, shards] : run->jobs) a.jobs += shards.size();
    a.jobs_done = a.jobs - run->unfinished;
    out.push_back(std::move(a));
  }
  std::sort(out.begin(), out.end(), [](const ActiveSummary& x, const ActiveSummary& y) {
    return x.status.started_at < y.status.started_at;
  });
  if (out.size() > max) out.resize(max);
  return out;
}

void RunEngine::OnWorkerEvent(EventType type, nlohmann::json data, Effects* fx) {
  assert(!IsRunEvent(type));
  Event e;
  e.sequence = ++seq_;
  e.subject = data.value("worker_id", "");
  e.id = e.subject + "/" + (type == EventType::kWorkerJoined ? "joined/" : "left/") +
         std::to_string(e.sequence);
  e.source = opts_.source;
  e.type = type;
  e.time = NowRfc3339();
  e.data = std::move(data);
  fx->events.push_back(std::move(e));
}

}  // namespace recomp::coordinator
