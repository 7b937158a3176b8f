// Prints one JSON line per sample v1 record, {"kind": ..., "record": ...}, built with the
// same ToJson the CLI uses, so tests/python/test_schemas.py can validate what the code emits.
#include <cstdio>

#include "base/clock.h"
#include "messages/artifact_record.h"
#include "messages/event.h"
#include "messages/run_status.h"
#include "messages/run_submission.h"

using namespace recomp;

namespace {
std::string Ref(char c) {
  return "artifact://" + std::string(64, c);
}

void Emit(const char* kind, const nlohmann::json& record) {
  nlohmann::json line = {{"kind", kind}, {"record", record}};
  std::printf("%s\n", line.dump().c_str());
}

Event MakeEvent(EventType type, uint64_t seq, nlohmann::json data) {
  Event e;
  e.id = "run-1/" + std::string(ToString(type)) + "/" + std::to_string(seq);
  e.source = "recomp/coordinator";
  e.type = type;
  e.subject = "run-1";
  e.time = NowRfc3339();
  e.sequence = seq;
  e.data = std::move(data);
  return e;
}
}  // namespace

int main() {
  for (ExecutionMode m : {ExecutionMode::kLocal, ExecutionMode::kCloud, ExecutionMode::kHybrid}) {
    for (Priority p : {Priority::kLow, Priority::kStandard, Priority::kHigh}) {
      Emit("submission",
           ToJson(RunSubmission{"run-1", m, Ref('a'), Ref('b'), Ref('c'), "alice", p}));
    }
  }
  Emit("submission", ToJson(RunSubmission{"", ExecutionMode::kLocal, Ref('a'), Ref('b'), Ref('c'),
                                          "bob", Priority::kStandard}));
  std::string now = NowRfc3339();
  for (RunState s : kAllRunStates) {
    RunStatus st{"run-1", s, "lift", 1, {Ref('d'), Ref('e')}, now, now, ""};
    if (s == RunState::kBlocked) st.reason = "cloud backend not configured";
    Emit("status", ToJson(st));
  }
  Emit("status", ToJson(RunStatus{"r", RunState::kQueued, "", 0, {}, now, now, ""}));
  Emit("event", ToJson(MakeEvent(EventType::kRequested, 1, {{"execution_mode", "local"}})));
  Emit("event", ToJson(MakeEvent(EventType::kStarted, 2, nlohmann::json::object())));
  Emit("event", ToJson(MakeEvent(EventType::kStageCompleted, 3,
                                 {{"stage", "lift"},
                                  {"shard", 0},
                                  {"job_id", std::string(64, 'f')},
                                  {"attempt", 1},
                                  {"worker", "w1"},
                                  {"exit_status", "exited:0"},
                                  {"duration_ms", 12},
                                  {"outputs", {{{"path", "out/a.c"}, {"ref", Ref('1')}}}},
                                  {"log_ref", Ref('2')},
                                  {"cached", false}})));
  Emit("event", ToJson(MakeEvent(EventType::kValidationCompleted, 4,
                                 {{"verdict", "passed"}, {"report", Ref('3')}})));
  Emit("event", ToJson(MakeEvent(EventType::kCompleted, 5, {{"state", "succeeded"}})));
  for (ArtifactClass c : {ArtifactClass::kExternal, ArtifactClass::kGenerated}) {
    Emit("artifact",
         ToJson(ArtifactRecord{Ref('9'), 1024, c, "application/octet-stream", now, "cli"}));
  }
  return 0;
}
