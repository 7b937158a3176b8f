// Event -> RunStatus reduction. docs/events.md lists the data fields read here.
#include "coordinator/run_reducer.h"

#include <algorithm>

#include "messages/codec.h"
#include "messages/stage_job.h"

namespace recomp::coordinator {
namespace {

Status Bad(const Event& e, const std::string& why) {
  return Status::Corruption("event " + std::to_string(e.sequence) + " (" +
                            std::string(ToString(e.type)) + ") of run " + e.subject + ": " + why);
}

// Refs of the outputs list, or Corruption. Nothing is changed by the callers until every
// field of an event has been read (a refused event leaves the row unchanged).
Status OutputRefs(const Event& e, const nlohmann::json& outputs, std::vector<std::string>* refs);

// Keeps `artifacts` sorted and unique: one binary search per ref, no re-sort of the whole list
// on every stage event.
void AddArtifacts(std::vector<std::string>& refs, RunStatus* s) {
  for (std::string& r : refs) {
    auto it = std::lower_bound(s->artifacts.begin(), s->artifacts.end(), r);
    if (it == s->artifacts.end() || *it != r) s->artifacts.insert(it, std::move(r));
  }
}

Status OutputRefs(const Event& e, const nlohmann::json& outputs, std::vector<std::string>* refs) {
  if (!outputs.is_array()) return Bad(e, "data.outputs must be a list");
  for (const auto& o : outputs) {
    if (o.is_object() && o.contains("ref") && o["ref"].is_string()) {
      refs->push_back(o["ref"].get<std::string>());
    } else {
      return Bad(e, "data.outputs entries need a string ref");
    }
  }
  return Status::Ok();
}

Status ApplyTransition(const Event& e, RunState to, RunStatus* s) {
  if (Status t = CheckTransition(s->state, to); !t.ok()) return Bad(e, t.message());
  s->state = to;
  return Status::Ok();
}

Status ApplyRequested(const Event& e, RunStatus* s) {
  if (!s->run_id.empty()) return Bad(e, "a second recomp.run.requested");
  if (!e.packed_data.empty()) return Bad(e, "packed data is only produced for stage events");
  // Read (and type-check) every field before changing anything.
  const std::string initial = e.data.value("initial_state", "queued");
  const bool blocked = initial == "blocked";
  const std::string reason = blocked ? e.data.value("reason", "") : "";
  s->run_id = e.subject;
  s->state = RunState::kQueued;
  s->started_at = e.time;
  // A run accepted in a gated mode with no backend is born blocked (docs/lifecycle.md).
  if (blocked) {
    s->state = RunState::kBlocked;
    s->reason = reason;
  }
  return Status::Ok();
}

// What a stage event changes in the row, read from either form of its data.
struct StageFields {
  std::string stage;
  int64_t attempt = 0;
  bool succeeded = false;
  std::vector<std::string> refs;  // outputs of a success
};

Status StageFieldsFromJson(const Event& e, const nlohmann::json& d, StageFields* f) {
  if (!d.is_object() || !d.contains("stage") || !d["stage"].is_string() || !d.contains("attempt") ||
      !d["attempt"].is_number_integer()) {
    return Bad(e, "data needs stage and attempt");
  }
  f->succeeded = d.value("outcome", "") == "succeeded";
  if (f->succeeded) {
    auto it = d.find("outputs");
    if (it != d.end()) RECOMP_RETURN_IF_ERROR(OutputRefs(e, *it, &f->refs));
  }
  f->stage = d["stage"].get<std::string>();
  f->attempt = d["attempt"].get<int64_t>();
  return Status::Ok();
}

// The engine's hot path: packed data read with the strict MessagePack reader, no JSON tree.
Status StageFieldsFromPacked(const Event& e, StageFields* f) {
  auto oh = wire::Unpack(e.packed_data, "event.data");
  if (!oh.ok()) return Bad(e, oh.status().message());
  auto r = wire::MapReader::From(oh->get(), "event.data");
  if (!r.ok()) return Bad(e, r.status().message());
  std::string outcome;
  Status st = r->Str("stage", &f->stage);
  if (st.ok()) st = r->Int("attempt", &f->attempt);
  if (st.ok()) st = r->Str("outcome", &outcome, wire::Need::kOptional);
  if (!st.ok()) return Bad(e, "data needs stage and attempt: " + st.message());
  f->succeeded = outcome == "succeeded";
  if (!f->succeeded) return Status::Ok();
  std::vector<PathRef> outputs;
  if (Status o = ReadPathRefs(*r, "outputs", &outputs, wire::Need::kOptional); !o.ok())
    return Bad(e, "data.outputs entries need a string ref: " + o.message());
  for (PathRef& p : outputs) f->refs.push_back(std::move(p.ref));
  return Status::Ok();
}

// A stage.completed or job.started event (either data form): its stage becomes current.
Status MakeCurrent(const Event& e, const char* what, RunStatus* s, StageFields* f) {
  RECOMP_RETURN_IF_ERROR(e.packed_data.empty() ? StageFieldsFromJson(e, e.data, f)
                                               : StageFieldsFromPacked(e, f));
  if (s->state != RunState::kRunning)
    return Bad(e, std::string(what) + " while " + std::string(ToString(s->state)));
  s->current_stage = std::move(f->stage);
  s->stage_attempt = f->attempt;
  return Status::Ok();
}

Status ApplyStage(const Event& e, RunStatus* s) {
  StageFields f;
  RECOMP_RETURN_IF_ERROR(MakeCurrent(e, "stage event", s, &f));
  AddArtifacts(f.refs, s);
  return Status::Ok();
}

// recomp.job.started: the stage most recently started is current (docs/lifecycle.md).
Status ApplyJobStarted(const Event& e, RunStatus* s) {
  StageFields f;
  return MakeCurrent(e, "job started", s, &f);
}

Status ApplyCompleted(const Event& e, RunStatus* s) {
  if (!e.packed_data.empty()) return Bad(e, "packed data is only produced for stage events");
  auto to = ParseRunState(e.data.value("state", ""));
  if (!to.ok() || !IsTerminal(*to)) return Bad(e, "data.state must be failed or succeeded");
  RECOMP_RETURN_IF_ERROR(ApplyTransition(e, *to, s));
  s->reason = e.data.value("reason", "");
  return Status::Ok();
}

}  // namespace

Status ApplyEventChecked(const Event& e, RunStatus* s);

Status ApplyEvent(const Event& e, RunStatus* s) {
  // Data comes from the log: a field of an unexpected type is corruption, never an exception.
  try {
    return ApplyEventChecked(e, s);
  } catch (const nlohmann::json::exception& ex) {
    return Bad(e, std::string("malformed data: ") + ex.what());
  }
}

Status ApplyEventChecked(const Event& e, RunStatus* s) {
  if (e.type != EventType::kRequested && s->run_id != e.subject) {
    return Bad(e, s->run_id.empty() ? "no recomp.run.requested before it" : "subject mismatch");
  }
  if (IsTerminal(s->state) && !s->run_id.empty()) return Bad(e, "event after the run completed");
  Status st;
  switch (e.type) {
    case EventType::kRequested:
      st = ApplyRequested(e, s);
      break;
    case EventType::kStarted:
      st = ApplyTransition(e, RunState::kRunning, s);
      break;
    case EventType::kStageCompleted:
      st = ApplyStage(e, s);
      break;
    case EventType::kValidationCompleted:
      st = s->state == RunState::kRunning ? Status::Ok() : Bad(e, "validation while not running");
      break;
    case EventType::kCompleted:
      st = ApplyCompleted(e, s);
      break;
    case EventType::kJobStarted:
      st = ApplyJobStarted(e, s);
      break;
    case EventType::kJobRetryScheduled:
      st = s->state == RunState::kRunning ? Status::Ok() : Bad(e, "retry while not running");
      break;
    case EventType::kWorkerJoined:
    case EventType::kWorkerLeft:
      st = Bad(e, "a worker event is not a run's event");
      break;
  }
  if (st.ok()) s->updated_at = e.time;
  return st;
}

Result<RunStatus> ReduceEvents(const std::vector<Event>& events) {
  RunStatus s;
  for (const Event& e : events) RECOMP_RETURN_IF_ERROR(ApplyEvent(e, &s));
  if (s.run_id.empty()) return Status::NotFound("no events for the run");
  return s;
}

}  // namespace recomp::coordinator
