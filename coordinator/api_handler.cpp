// Client API requests -> engine calls -> replies.
#include "coordinator/api_handler.h"

#include "base/clock.h"

#include "coordinator/log.h"

#include "coordinator/run_reducer.h"
#include "coordinator/run_view.h"
#include "messages/codec.h"
#include "messages/protocol.h"
#include "net/framing.h"

namespace recomp::coordinator {
namespace {}  // namespace

std::optional<Reply> ApiHandler::Handle(const std::vector<std::string>& frames, Effects* fx,
                                        const std::string& user) {
  if (frames.empty()) return std::nullopt;
  Reply reply;
  auto split = net::SplitEnvelope(proto::kTag, frames);
  Result<std::string> body = Status::InvalidArgument("unset");
  if (!split.ok()) {
    reply.frames = net::FallbackEnvelope(frames);
    body = Status::InvalidArgument("malformed request: " + split.status().message());
  } else {
    reply.frames = split->envelope;
    auto msg = net::Parse(proto::kTag, split->message);
    body =
        msg.ok() ? Execute(msg->command, msg->body, fx, user) : Result<std::string>(msg.status());
  }
  bool ok = body.ok();
  if (!ok) Log()->info("api error: {}", body.status().ToString());
  for (auto& f : net::Frames(proto::kTag, ok ? proto::kOk : proto::kError,
                             ok ? std::move(body).value() : proto::ErrorBody(body.status()))) {
    reply.frames.push_back(std::move(f));
  }
  return reply;
}

Result<std::string> ApiHandler::RunIdRequest(const std::string& body, std::string* run_id) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(body, "request"));
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(oh.get(), "request"));
  RECOMP_RETURN_IF_ERROR(r.Str("run_id", run_id, wire::Need::kRequired, 128));
  RECOMP_RETURN_IF_ERROR(ValidateRunId(*run_id).WithContext("request.run_id"));
  return ResolveRunId(run_id);
}

Result<std::string> ApiHandler::ResolveRunId(std::string* run_id) const {
  // A run accepted in this batch is not in the store yet: its exact id is taken as given.
  // Otherwise one cursor seek in the store (an exact id wins over longer ids it prefixes).
  if (engine_->InMemory(*run_id)) return std::string();
  RECOMP_ASSIGN_OR_RETURN(*run_id, runs_->ResolveRunId(*run_id));
  return std::string();
}

Status ApiHandler::Permit(const std::string& user, const std::string& cmd) const {
  if (access_ == nullptr) return Status::Ok();
  const bool changes = cmd == proto::kSubmit || cmd == proto::kCancelRun || cmd == proto::kRerun;
  return access_->Authorize(user, changes ? Permission::kSubmit : Permission::kRead);
}

Status ApiHandler::PermitCancel(const std::string& user, const std::string& run_id) const {
  if (access_ == nullptr || !cancel_own_runs_only_) return Status::Ok();
  RECOMP_ASSIGN_OR_RETURN(auto row, runs_->GetRun(run_id));
  if (!row) return Status::NotFound("no run " + run_id);
  if (row->submission.requested_by == user) return Status::Ok();
  return Status::PermissionDenied("run " + run_id + " was submitted by " +
                                  row->submission.requested_by +
                                  "; with [security] cancel = \"own\" only its submitter may "
                                  "cancel it");
}

Result<std::string> ApiHandler::Execute(const std::string& cmd, const std::string& body,
                                        Effects* fx, const std::string& user) {
  std::string run_id;
  RECOMP_RETURN_IF_ERROR(Permit(user, cmd));
  if (!paused_.empty() &&
      (cmd == proto::kSubmit || cmd == proto::kCancelRun || cmd == proto::kRerun)) {
    return Status::ResourceExhausted("the coordinator cannot record anything now (" + paused_ +
                                     "): " + cmd +
                                     " is refused until it can; it retries every second");
  }
  if (cmd == proto::kSubmit) {
    RECOMP_ASSIGN_OR_RETURN(RunSubmission sub, DecodeRunSubmission(body));
    if (access_ != nullptr) sub.requested_by = user;  // the authenticated identity
    RECOMP_ASSIGN_OR_RETURN(RunStatus st, engine_->Submit(std::move(sub), fx));
    return EncodeRunStatus(st);
  }
  if (cmd == proto::kRerun) return Rerun(body, fx, user);
  if (cmd == proto::kList) return List(body);
  if (cmd == proto::kLogTail) return LogTail(body, fx);
  if (cmd == proto::kStats) return Stats(body);
  if (cmd == proto::kEndpoints) {
    RECOMP_RETURN_IF_ERROR(proto::BodyJson(body, "request").status());
    return proto::JsonBody(endpoints_);
  }
  if (cmd == proto::kWorkers) {
    // No fields, but the body must still be exactly one map (docs/protocol.md).
    RECOMP_RETURN_IF_ERROR(proto::BodyJson(body, "request").status());
    if (worker_list_.empty()) return proto::JsonBody({{"workers", nlohmann::json::array()}});
    return worker_list_;
  }
  if (cmd != proto::kStatus && cmd != proto::kCancelRun && cmd != proto::kAudit &&
      cmd != proto::kResultOf && cmd != proto::kShow) {
    return Status::InvalidArgument("unknown command " + cmd);
  }
  RECOMP_RETURN_IF_ERROR(RunIdRequest(body, &run_id).status());
  if (cmd == proto::kStatus) {
    RECOMP_ASSIGN_OR_RETURN(RunStatus st, engine_->GetStatus(run_id));
    return EncodeRunStatus(st);
  }
  if (cmd == proto::kCancelRun) {
    RECOMP_RETURN_IF_ERROR(PermitCancel(user, run_id));
    RECOMP_ASSIGN_OR_RETURN(RunStatus st, engine_->Cancel(run_id, fx));
    return EncodeRunStatus(st);
  }
  if (cmd == proto::kAudit) return Audit(run_id);
  if (cmd == proto::kShow) return Show(run_id);
  return Results(run_id);
}

Result<std::string> ApiHandler::List(const std::string& body) {
  RECOMP_ASSIGN_OR_RETURN(proto::ListRequest q, proto::DecodeListRequest(body));
  const size_t limit = static_cast<size_t>(q.limit);
  SysTime since{};
  if (!q.since.empty()) since = ParseRfc3339(q.since).value();  // validated by the decoder
  // Filters are applied while paging; one request scans at most kMaxScan rows, then answers
  // with what it found and a cursor to go on from (`next`), so a rare state costs bounded work.
  constexpr size_t kMaxScan = 10000;
  nlohmann::json runs = nlohmann::json::array();
  std::string cursor = q.after, next;
  size_t scanned = 0;
  while (next.empty()) {
    RECOMP_ASSIGN_OR_RETURN(auto rows, runs_->ListRunsPage(cursor, 1000));
    if (rows.empty()) break;
    for (const RunRow& row : rows) {
      ++scanned;
      cursor = row.submission.run_id;
      auto live = engine_->GetStatus(cursor);
      const RunStatus& st = live.ok() ? *live : row.status;
      bool match = q.state.empty() || ToString(st.state) == q.state;
      if (match && !q.since.empty()) {
        auto t = ParseRfc3339(st.started_at);
        match = t.ok() && *t >= since;
      }
      if (match) {
        nlohmann::json entry = ToJson(st);
        // The list view names how many artifacts a run has; STATUS lists them.
        entry["artifact_count"] = entry["artifacts"].size();
        entry["artifacts"] = nlohmann::json::array();
        runs.push_back(std::move(entry));
      }
      if (runs.size() == limit || scanned == kMaxScan) {
        next = cursor;  // "" below when it was the last run
        break;
      }
    }
  }
  if (!next.empty()) {  // nothing after it: no further page
    RECOMP_ASSIGN_OR_RETURN(auto after, runs_->ListRunsPage(next, 1));
    if (after.empty()) next.clear();
  }
  return proto::JsonBody({{"runs", std::move(runs)}, {"next", next}});
}

Result<std::string> ApiHandler::Audit(const std::string& run_id) {
  RECOMP_ASSIGN_OR_RETURN(auto row, runs_->GetRun(run_id));
  if (!row) return Status::NotFound("no run " + run_id);
  RECOMP_ASSIGN_OR_RETURN(auto events, runs_->ReadEvents(0, SIZE_MAX, run_id));
  auto replayed = ReduceEvents(events);
  nlohmann::json stored = ToJson(row->status);
  nlohmann::json out = {{"run_id", run_id}, {"events", events.size()}, {"stored", stored}};
  if (!replayed.ok()) {
    out["ok"] = false;
    out["error"] = replayed.status().ToString();
    return proto::JsonBody(out);
  }
  nlohmann::json rebuilt = ToJson(*replayed);
  out["replayed"] = rebuilt;
  out["ok"] = rebuilt == stored;
  out["diff"] = nlohmann::json::diff(stored, rebuilt);
  return proto::JsonBody(out);
}

Result<std::string> ApiHandler::Results(const std::string& run_id) {
  RECOMP_ASSIGN_OR_RETURN(auto row, runs_->GetRun(run_id));
  if (!row) return Status::NotFound("no run " + run_id);
  RECOMP_ASSIGN_OR_RETURN(auto jobs, runs_->GetJobs(run_id));
  nlohmann::json list = nlohmann::json::array();
  for (const JobRow& j : jobs) list.push_back(ToJson(j));
  return proto::JsonBody({{"run_id", run_id}, {"jobs", list}});
}

Result<std::string> ApiHandler::Rerun(const std::string& body, Effects* fx,
                                      const std::string& user) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(body, "rerun"));
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(oh.get(), "rerun"));
  std::string run_id, from_stage, requested_by;
  RECOMP_RETURN_IF_ERROR(r.Str("run_id", &run_id, wire::Need::kRequired, 128));
  RECOMP_RETURN_IF_ERROR(ValidateRunId(run_id).WithContext("rerun.run_id"));
  RECOMP_RETURN_IF_ERROR(ResolveRunId(&run_id).status());
  RECOMP_RETURN_IF_ERROR(r.Str("from_stage", &from_stage, wire::Need::kOptional, 128));
  RECOMP_RETURN_IF_ERROR(r.Str("requested_by", &requested_by, wire::Need::kOptional, 256));
  if (access_ != nullptr) requested_by = user;  // the authenticated identity
  RECOMP_ASSIGN_OR_RETURN(RunStatus st, engine_->Rerun(run_id, from_stage, requested_by, fx));
  return EncodeRunStatus(st);
}

namespace {

// NotFound naming what the run has, for a stage or shard it does not.
Status NoSuchJob(RunStore* runs, const std::string& run_id, const std::string& stage,
                 int64_t shard) {
  RECOMP_ASSIGN_OR_RETURN(auto jobs, runs->GetJobs(run_id));
  if (jobs.empty()) return Status::NotFound("no run " + run_id);
  std::string stages;
  uint32_t shards = 0;
  for (const JobRow& j : jobs) {
    if (j.shard == 0) stages += (stages.empty() ? "" : ", ") + j.stage;
    if (j.stage == stage) shards = j.shards;
  }
  if (shards == 0)
    return Status::NotFound("run " + run_id + " has no stage '" + stage + "' (stages: " + stages +
                            ")");
  return Status::NotFound("stage '" + stage + "' of run " + run_id + " has no shard " +
                          std::to_string(shard) + " (shards 0.." + std::to_string(shards - 1) +
                          ")");
}

}  // namespace

Result<std::string> ApiHandler::LogTail(const std::string& body, Effects* fx) {
  constexpr size_t kMaxReply = size_t{256} << 10;
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(body, "log_tail"));
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(oh.get(), "log_tail"));
  std::string run_id, stage;
  int64_t shard = 0;
  uint64_t offset = 0;
  RECOMP_RETURN_IF_ERROR(r.Str("run_id", &run_id, wire::Need::kRequired, 128));
  RECOMP_RETURN_IF_ERROR(ValidateRunId(run_id).WithContext("log_tail.run_id"));
  RECOMP_RETURN_IF_ERROR(ResolveRunId(&run_id).status());
  RECOMP_RETURN_IF_ERROR(r.Str("stage", &stage, wire::Need::kRequired, 128));
  RECOMP_RETURN_IF_ERROR(r.Int("shard", &shard, wire::Need::kOptional, 0, UINT32_MAX));
  RECOMP_RETURN_IF_ERROR(r.Uint("offset", &offset, wire::Need::kOptional));
  RECOMP_ASSIGN_OR_RETURN(auto job, runs_->GetJob(run_id, stage, static_cast<uint32_t>(shard)));
  if (!job) return NoSuchJob(runs_, run_id, stage, shard);
  nlohmann::json out = {{"job_id", job->job_id}, {"attempt", job->attempt}, {"start", offset},
                        {"next", offset},        {"log_ref", ""},           {"outcome", ""}};
  std::string data;
  if (job->state == JobState::kSucceeded || job->state == JobState::kFailed) {
    out["state"] = "done";
    if (job->result) {
      out["log_ref"] = job->result->log_ref;
      out["outcome"] = ToString(job->result->outcome);
    }
  } else if (job->state != JobState::kDispatched) {
    out["state"] = "waiting";
  } else {
    out["state"] = "running";
    proto::JobRef ref{job->job_id, job->attempt};
    if (live_logs_ != nullptr) {
      LiveLogs::Slice s = live_logs_->Read(ref, offset, kMaxReply);
      if (live_logs_->Touch(ref, LiveLogs::Clock::now())) {
        fx->watch_logs.push_back(
            proto::JsonBody({{"job_id", ref.job_id}, {"attempt", ref.attempt}, {"offset", s.end}}));
      }
      out["start"] = s.start;
      out["next"] = s.start + s.data.size();
      data = std::move(s.data);
    }
  }
  // `data` as a MessagePack bin: a log is bytes, not necessarily UTF-8.
  nlohmann::json reply = out;
  reply["data"] = nlohmann::json::binary(std::vector<uint8_t>(data.begin(), data.end()));
  return proto::JsonBody(reply);
}

Result<std::string> ApiHandler::Stats(const std::string& body) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(body, "stats"));
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(oh.get(), "stats"));
  int64_t limit = 100;
  RECOMP_RETURN_IF_ERROR(r.Int("limit", &limit, wire::Need::kOptional, 1, 1000));
  nlohmann::json runs = nlohmann::json::array();
  for (const RunEngine::ActiveSummary& a : engine_->ActiveRuns(static_cast<size_t>(limit))) {
    nlohmann::json j = ToJson(a.status);
    j.erase("artifacts");
    j["jobs"] = a.jobs;
    j["jobs_done"] = a.jobs_done;
    runs.push_back(std::move(j));
  }
  RunEngine::Gauges g = engine_->Sample();
  if (!broker_queued_) {
    auto list = proto::BodyJson(worker_list_, "worker list");
    broker_queued_ = list.ok() ? list->value("queued", uint64_t{0}) : 0;
  }
  return proto::JsonBody({{"runs", std::move(runs)},
                          {"runs_active", engine_->active_runs()},
                          {"queues",
                           {{"ready_low", g.ready[0]},
                            {"ready_standard", g.ready[1]},
                            {"ready_high", g.ready[2]},
                            {"retry_backoff", g.retry_waiting},
                            {"broker", *broker_queued_}}},
                          {"inflight", g.inflight},
                          {"jobs_completed", engine_->jobs_completed()},
                          {"head", runs_->committed_sequence()}});
}

Result<std::string> ApiHandler::Show(const std::string& run_id) {
  RECOMP_ASSIGN_OR_RETURN(auto row, runs_->GetRun(run_id));
  if (!row) return Status::NotFound("no run " + run_id);
  if (auto live = engine_->GetStatus(run_id); live.ok()) row->status = *live;
  RECOMP_ASSIGN_OR_RETURN(auto jobs, runs_->GetJobs(run_id));
  // The pipeline's stage order is in the run's first event (recomp.run.requested).
  std::vector<std::string> order;
  RECOMP_ASSIGN_OR_RETURN(auto first, runs_->ReadEvents(0, 1, run_id));
  if (!first.empty()) {
    nlohmann::json d = first.front().DataJson();
    if (d.contains("stages") && d["stages"].is_array()) {
      for (const auto& s : d["stages"])
        if (s.is_string()) order.push_back(s.get<std::string>());
    }
  }
  return proto::JsonBody(BuildRunView(*row, jobs, order, JobsByWorker(worker_list_)));
}

std::vector<std::string> ApiHandler::ErrorFrames(const Status& s) {
  return net::Frames(proto::kTag, proto::kError, proto::ErrorBody(s));
}

Result<std::vector<std::string>> ApiHandler::Split(const net::Received& m,
                                                   std::vector<std::string>* envelope) {
  auto split = net::SplitEnvelope(proto::kTag, m.frames);
  if (!split.ok()) {
    *envelope = net::FallbackEnvelope(m.frames);
    return Status::InvalidArgument("malformed request: " + split.status().message());
  }
  *envelope = std::move(split->envelope);
  if (m.truncated()) {
    return Status::InvalidArgument("protocol: expected 3 frames [tag, command, body], got " +
                                   std::to_string(m.total_frames - envelope->size()));
  }
  return std::move(split->message);
}

std::optional<Reply> ApiHandler::HandleMessage(const net::Received& m, Effects* fx) {
  if (!m.truncated()) return Handle(m.frames, fx, m.user_id);
  if (m.frames.empty()) return std::nullopt;
  Reply reply;
  Status bad = Split(m, &reply.frames).status();
  for (auto& f : ErrorFrames(bad)) reply.frames.push_back(std::move(f));
  return reply;
}

std::optional<Reply> ApiHandler::HandleReplay(const net::Received& m, size_t max_batch) {
  if (m.frames.empty()) return std::nullopt;
  Reply reply;
  auto message = Split(m, &reply.frames);
  Status permitted =
      access_ == nullptr ? Status::Ok() : access_->Authorize(m.user_id, Permission::kRead);
  if (message.ok() && !permitted.ok()) message = permitted;
  auto body = message.ok() ? Replay(*message, max_batch) : ErrorFrames(message.status());
  for (auto& f : body) reply.frames.push_back(std::move(f));
  return reply;
}

std::vector<std::string> ApiHandler::Replay(const std::vector<std::string>& message,
                                            size_t max_batch) {
  auto fail = [](const Status& s) { return ErrorFrames(s); };
  auto msg = net::Parse(proto::kTag, message);
  if (!msg.ok()) return fail(msg.status());
  if (msg->command != proto::kReplay)
    return fail(Status::InvalidArgument("replay endpoint serves REPLAY only"));
  auto q = proto::DecodeReplayRequest(msg->body);
  if (!q.ok()) return fail(q.status());
  const uint64_t from = q->from, limit = q->limit;
  const std::string& run_id = q->run_id;
  bool more = false;
  auto events = runs_->ReadEvents(from, std::min<uint64_t>(std::max<uint64_t>(limit, 1), max_batch),
                                  run_id, kMaxReplayPageBytes, &more);
  if (!events.ok()) return fail(events.status());
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  // Retention removed events up to pruned_through: a page starting before it has holes.
  const uint64_t pruned = runs_->pruned_through();
  pk.pack_map(from < pruned ? 5 : 4);
  if (from < pruned) {
    pk.pack("pruned_through");
    pk.pack(pruned);
  }
  pk.pack("more");
  pk.pack(more);
  pk.pack("events");
  pk.pack_array(static_cast<uint32_t>(events->size()));
  for (const Event& e : *events) {
    std::string b = EncodeEvent(e);
    buf.write(b.data(), b.size());
  }
  pk.pack("last");
  pk.pack(events->empty() ? from : events->back().sequence);
  pk.pack("head");
  pk.pack(runs_->committed_sequence());  // never a sequence of a batch not committed yet
  return net::Frames(proto::kTag, proto::kOk, wire::ToBytes(buf));
}

}  // namespace recomp::coordinator
