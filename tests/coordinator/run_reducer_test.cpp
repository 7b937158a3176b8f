// The pure reducer (events -> RunStatus): the happy sequence, runs born blocked, and every
// refusal (each is Corruption naming the event's sequence, type and run).
#include "coordinator/run_reducer.h"

#include <doctest/doctest.h>

#include "messages/codec.h"

#include <string>
#include <vector>

using namespace recomp;
using namespace recomp::coordinator;

namespace {

std::string Ref(char c) {
  return "artifact://" + std::string(64, c);
}

std::string Time(int s) {
  return "2026-01-02T03:04:" + std::string(s < 10 ? "0" : "") + std::to_string(s) + ".000Z";
}

Event Ev(uint64_t seq, EventType type, nlohmann::json data = nlohmann::json::object(),
         std::string subject = "run-1") {
  Event e;
  e.sequence = seq;
  e.id = subject + "/" + std::to_string(seq);
  e.source = "recomp/coordinator";
  e.type = type;
  e.subject = std::move(subject);
  e.time = Time(static_cast<int>(seq));
  e.data = std::move(data);
  return e;
}

nlohmann::json StageData(const std::string& stage, int attempt, const std::string& outcome,
                         nlohmann::json outputs = nlohmann::json::array()) {
  return {{"stage", stage},
          {"shard", 0},
          {"attempt", attempt},
          {"outcome", outcome},
          {"outputs", std::move(outputs)}};
}

std::vector<Event> Happy() {
  return {
      Ev(1, EventType::kRequested, {{"execution_mode", "local"}}),
      Ev(2, EventType::kStarted),
      Ev(3, EventType::kStageCompleted,
         StageData(
             "lift", 1, "succeeded",
             {{{"path", "out/b.c"}, {"ref", Ref('b')}}, {{"path", "out/a.c"}, {"ref", Ref('a')}}})),
      Ev(4, EventType::kStageCompleted,
         StageData(
             "check", 2, "succeeded",
             {{{"path", "report.json"}, {"ref", Ref('c')}}, {{"path", "dup"}, {"ref", Ref('a')}}})),
      Ev(5, EventType::kValidationCompleted, {{"stage", "check"}, {"verdict", "passed"}}),
      Ev(6, EventType::kCompleted, {{"state", "succeeded"}, {"reason", ""}, {"verdict", "passed"}}),
  };
}

// Applies `events` to a fresh row and returns the status of the LAST one (the earlier ones
// must succeed).
Status ApplyAll(const std::vector<Event>& events, RunStatus* s) {
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    Status st = ApplyEvent(events[i], s);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
  }
  return ApplyEvent(events.back(), s);
}

void CheckRefused(const std::vector<Event>& events, const std::string& why) {
  RunStatus s;
  Status st = ApplyAll(events, &s);
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == Status::Code::kCorruption);
  const Event& last = events.back();
  CHECK_MESSAGE(st.message().find("event " + std::to_string(last.sequence) + " (" +
                                  std::string(ToString(last.type)) + ")") != std::string::npos,
                st.message());
  CHECK_MESSAGE(st.message().find(why) != std::string::npos, st.message());
  // ReduceEvents refuses the same log.
  CHECK_FALSE(ReduceEvents(events).ok());
}

}  // namespace

TEST_CASE("reducer: the happy sequence folds to a succeeded run") {
  std::vector<Event> events = Happy();
  RunStatus s;
  REQUIRE(ApplyEvent(events[0], &s).ok());
  CHECK(s.run_id == "run-1");
  CHECK(s.state == RunState::kQueued);
  CHECK(s.started_at == Time(1));
  CHECK(s.updated_at == Time(1));
  CHECK(s.current_stage.empty());
  CHECK(s.stage_attempt == 0);
  REQUIRE(ApplyEvent(events[1], &s).ok());
  CHECK(s.state == RunState::kRunning);
  CHECK(s.updated_at == Time(2));
  REQUIRE(ApplyEvent(events[2], &s).ok());
  CHECK(s.current_stage == "lift");
  CHECK(s.stage_attempt == 1);
  CHECK(s.artifacts == std::vector<std::string>{Ref('a'), Ref('b')});  // sorted
  REQUIRE(ApplyEvent(events[3], &s).ok());
  CHECK(s.current_stage == "check");
  CHECK(s.stage_attempt == 2);
  CHECK(s.artifacts == std::vector<std::string>{Ref('a'), Ref('b'), Ref('c')});  // unique
  REQUIRE(ApplyEvent(events[4], &s).ok());
  CHECK(s.state == RunState::kRunning);
  REQUIRE(ApplyEvent(events[5], &s).ok());
  CHECK(s.state == RunState::kSucceeded);
  CHECK(s.reason.empty());
  CHECK(s.started_at == Time(1));
  CHECK(s.updated_at == Time(6));

  auto folded = ReduceEvents(events);
  REQUIRE(folded.ok());
  CHECK(*folded == s);
}

TEST_CASE(
    "reducer: a failed stage records attempt but not its outputs; failed completion keeps the "
    "reason") {
  std::vector<Event> events = {
      Ev(1, EventType::kRequested),
      Ev(2, EventType::kStarted),
      Ev(3, EventType::kStageCompleted,
         StageData("lift", 3, "failed", {{{"path", "out/partial.c"}, {"ref", Ref('e')}}})),
      Ev(4, EventType::kCompleted,
         {{"state", "failed"}, {"reason", "stage 'lift' shard 0 failed"}}),
  };
  auto s = ReduceEvents(events);
  REQUIRE(s.ok());
  CHECK(s->state == RunState::kFailed);
  CHECK(s->reason == "stage 'lift' shard 0 failed");
  CHECK(s->current_stage == "lift");
  CHECK(s->stage_attempt == 3);
  CHECK(s->artifacts.empty());
}

TEST_CASE("reducer: a run cancelled before it started goes queued -> failed") {
  auto s =
      ReduceEvents({Ev(1, EventType::kRequested),
                    Ev(2, EventType::kCompleted, {{"state", "failed"}, {"reason", "cancelled"}})});
  REQUIRE(s.ok());
  CHECK(s->state == RunState::kFailed);
  CHECK(s->reason == "cancelled");
}

TEST_CASE("reducer: a run born blocked keeps its reason, and may later run or fail") {
  nlohmann::json blocked = {{"execution_mode", "cloud"},
                            {"initial_state", "blocked"},
                            {"reason", "no cloud backend is configured"}};
  auto s = ReduceEvents({Ev(1, EventType::kRequested, blocked)});
  REQUIRE(s.ok());
  CHECK(s->state == RunState::kBlocked);
  CHECK(s->reason == "no cloud backend is configured");

  // blocked -> failed (cancelled): the completion's reason replaces the block's.
  auto cancelled =
      ReduceEvents({Ev(1, EventType::kRequested, blocked),
                    Ev(2, EventType::kCompleted, {{"state", "failed"}, {"reason", "cancelled"}})});
  REQUIRE(cancelled.ok());
  CHECK(cancelled->state == RunState::kFailed);
  CHECK(cancelled->reason == "cancelled");

  // blocked -> running (the condition cleared) is an allowed edge.
  auto running = ReduceEvents({Ev(1, EventType::kRequested, blocked), Ev(2, EventType::kStarted)});
  REQUIRE(running.ok());
  CHECK(running->state == RunState::kRunning);

  // An explicit initial_state "queued" (or none) is an ordinary birth.
  auto queued = ReduceEvents({Ev(1, EventType::kRequested, {{"initial_state", "queued"}})});
  REQUIRE(queued.ok());
  CHECK(queued->state == RunState::kQueued);
  CHECK(queued->reason.empty());
}

TEST_CASE("reducer: a blocked run refuses stage, validation and success events") {
  Event born = Ev(1, EventType::kRequested, {{"initial_state", "blocked"}, {"reason", "r"}});
  CheckRefused({born, Ev(2, EventType::kStageCompleted, StageData("a", 1, "succeeded"))},
               "stage event while blocked");
  CheckRefused({born, Ev(2, EventType::kValidationCompleted, {{"verdict", "passed"}})},
               "validation while not running");
  CheckRefused({born, Ev(2, EventType::kCompleted, {{"state", "succeeded"}})},
               "illegal run transition");
}

TEST_CASE("reducer refuses a second requested") {
  CheckRefused({Ev(1, EventType::kRequested), Ev(2, EventType::kRequested)},
               "a second recomp.run.requested");
  CheckRefused(
      {Ev(1, EventType::kRequested), Ev(2, EventType::kStarted), Ev(3, EventType::kRequested)},
      "a second recomp.run.requested");
}

TEST_CASE("reducer refuses any event before requested") {
  for (EventType t : {EventType::kStarted, EventType::kStageCompleted,
                      EventType::kValidationCompleted, EventType::kCompleted}) {
    CAPTURE(ToString(t));
    nlohmann::json data = t == EventType::kStageCompleted ? StageData("a", 1, "succeeded")
                          : t == EventType::kCompleted    ? nlohmann::json{{"state", "failed"}}
                                                          : nlohmann::json::object();
    CheckRefused({Ev(1, t, data)}, "no recomp.run.requested before it");
  }
}

TEST_CASE("reducer refuses any event after completed") {
  std::vector<Event> done = Happy();
  for (const Event& extra : {Ev(7, EventType::kRequested), Ev(7, EventType::kStarted),
                             Ev(7, EventType::kStageCompleted, StageData("lift", 1, "succeeded")),
                             Ev(7, EventType::kValidationCompleted),
                             Ev(7, EventType::kCompleted, {{"state", "failed"}})}) {
    CAPTURE(ToString(extra.type));
    std::vector<Event> events = done;
    events.push_back(extra);
    CheckRefused(events, "event after the run completed");
  }
  // Also after a failed completion.
  CheckRefused({Ev(1, EventType::kRequested), Ev(2, EventType::kCompleted, {{"state", "failed"}}),
                Ev(3, EventType::kStarted)},
               "event after the run completed");
}

TEST_CASE("reducer refuses stage and validation events while queued, and a second started") {
  CheckRefused({Ev(1, EventType::kRequested),
                Ev(2, EventType::kStageCompleted, StageData("a", 1, "succeeded"))},
               "stage event while queued");
  CheckRefused({Ev(1, EventType::kRequested), Ev(2, EventType::kValidationCompleted)},
               "validation while not running");
  CheckRefused(
      {Ev(1, EventType::kRequested), Ev(2, EventType::kStarted), Ev(3, EventType::kStarted)},
      "illegal run transition");
}

TEST_CASE("reducer refuses a completed event without a terminal state") {
  for (const nlohmann::json& data :
       {nlohmann::json::object(), nlohmann::json{{"state", "running"}},
        nlohmann::json{{"state", "queued"}}, nlohmann::json{{"state", "blocked"}},
        nlohmann::json{{"state", "done"}}, nlohmann::json{{"state", ""}}}) {
    CAPTURE(data.dump());
    CheckRefused({Ev(1, EventType::kRequested), Ev(2, EventType::kStarted),
                  Ev(3, EventType::kCompleted, data)},
                 "data.state must be failed or succeeded");
  }
  // queued -> succeeded is not an edge of the lifecycle.
  CheckRefused(
      {Ev(1, EventType::kRequested), Ev(2, EventType::kCompleted, {{"state", "succeeded"}})},
      "illegal run transition");
}

TEST_CASE("reducer refuses an event of another run") {
  for (EventType t : {EventType::kStarted, EventType::kStageCompleted,
                      EventType::kValidationCompleted, EventType::kCompleted}) {
    CAPTURE(ToString(t));
    nlohmann::json data = t == EventType::kStageCompleted ? StageData("a", 1, "succeeded")
                          : t == EventType::kCompleted    ? nlohmann::json{{"state", "failed"}}
                                                          : nlohmann::json::object();
    CheckRefused({Ev(1, EventType::kRequested), Ev(2, EventType::kStarted, {}, "run-1"),
                  Ev(3, t, data, "run-2")},
                 "subject mismatch");
  }
  // A requested for another run after this run's birth is a second birth of this row.
  CheckRefused({Ev(1, EventType::kRequested), Ev(2, EventType::kRequested, {}, "run-2")},
               "a second recomp.run.requested");
}

TEST_CASE("reducer refuses a stage event without stage and integer attempt") {
  Event req = Ev(1, EventType::kRequested), started = Ev(2, EventType::kStarted);
  for (const nlohmann::json& data :
       {nlohmann::json::object(), nlohmann::json{{"stage", "a"}}, nlohmann::json{{"attempt", 1}},
        nlohmann::json{{"stage", 1}, {"attempt", 1}},
        nlohmann::json{{"stage", "a"}, {"attempt", "1"}},
        nlohmann::json{{"stage", "a"}, {"attempt", 1.5}}}) {
    CAPTURE(data.dump());
    CheckRefused({req, started, Ev(3, EventType::kStageCompleted, data)},
                 "data needs stage and attempt");
  }
}

TEST_CASE("a refused event leaves the row unchanged") {
  RunStatus s;
  REQUIRE(ApplyEvent(Ev(1, EventType::kRequested), &s).ok());
  REQUIRE(ApplyEvent(Ev(2, EventType::kStarted), &s).ok());
  RunStatus before = s;
  CHECK_FALSE(ApplyEvent(Ev(3, EventType::kCompleted, {{"state", "running"}}), &s).ok());
  CHECK_FALSE(ApplyEvent(Ev(3, EventType::kStageCompleted, {{"stage", "a"}}), &s).ok());
  CHECK_FALSE(ApplyEvent(Ev(3, EventType::kStarted), &s).ok());
  CHECK_FALSE(ApplyEvent(Ev(3, EventType::kStarted, {}, "run-2"), &s).ok());
  CHECK(s == before);
}

TEST_CASE("ReduceEvents of no events is NotFound") {
  auto s = ReduceEvents({});
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == Status::Code::kNotFound);
}

// Regression (fixed in 7c04324): data fields of an unexpected type made the reducer throw
// json::type_error instead of returning Corruption; events come from the log, and `recomp
// audit` folds them on the service thread.
TEST_CASE("reducer refuses mistyped data fields with Corruption, never throws") {
  auto refuse = [](std::vector<Event> events) {
    RunStatus s;
    Status st;
    CHECK_NOTHROW(st = ApplyAll(events, &s));
    CHECK_FALSE(st.ok());
    CHECK(st.code() == Status::Code::kCorruption);
  };
  Event req = Ev(1, EventType::kRequested), started = Ev(2, EventType::kStarted);
  refuse({Ev(1, EventType::kRequested, {{"initial_state", 1}})});
  refuse({Ev(1, EventType::kRequested, {{"initial_state", "blocked"}, {"reason", 7}})});
  refuse({req, started,
          Ev(3, EventType::kStageCompleted, {{"stage", "a"}, {"attempt", 1}, {"outcome", 0}})});
  refuse({req, started, Ev(3, EventType::kCompleted, {{"state", 4}})});
  refuse({req, started, Ev(3, EventType::kCompleted, {{"state", "failed"}, {"reason", false}})});
}

// Regression: a mistyped data field used to be reported only after the row was partly changed
// (requested with {"initial_state": 1}; a stage event with {"outcome": 0}). The reducer now
// reads every field before it changes anything.
TEST_CASE("a mistyped event leaves the row unchanged") {
  RunStatus fresh;
  CHECK_FALSE(ApplyEvent(Ev(1, EventType::kRequested, {{"initial_state", 1}}), &fresh).ok());
  CHECK(fresh == RunStatus{});
  RunStatus s;
  REQUIRE(ApplyEvent(Ev(1, EventType::kRequested), &s).ok());
  REQUIRE(ApplyEvent(Ev(2, EventType::kStarted), &s).ok());
  RunStatus before = s;
  CHECK_FALSE(
      ApplyEvent(
          Ev(3, EventType::kStageCompleted, {{"stage", "a"}, {"attempt", 4}, {"outcome", 0}}), &s)
          .ok());
  CHECK(s == before);
  CHECK_FALSE(ApplyEvent(Ev(3, EventType::kStageCompleted,
                            {{"stage", "a"},
                             {"attempt", 4},
                             {"outcome", "succeeded"},
                             {"outputs", nlohmann::json::array({nlohmann::json{{"ref", 7}}})}}),
                         &s)
                  .ok());
  CHECK(s == before);
  CHECK_FALSE(
      ApplyEvent(Ev(3, EventType::kStageCompleted,
                    {{"stage", "a"}, {"attempt", 4}, {"outcome", "succeeded"}, {"outputs", "x"}}),
                 &s)
          .ok());
  CHECK(s == before);
}

// The engine packs stage data (Event::packed_data); the reducer reads it with the strict
// MessagePack reader and must fold exactly as it does the JSON form audit reads back.
Event Packed(Event e) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  wire::PackJson(pk, e.data);
  e.data = nullptr;
  e.packed_data = wire::ToBytes(buf);
  return e;
}

TEST_CASE("reducer: packed stage data folds exactly like its JSON form") {
  std::vector<Event> json_events = Happy();
  std::vector<Event> mixed;
  for (const Event& e : json_events)
    mixed.push_back(e.type == EventType::kStageCompleted ? Packed(e) : e);
  auto a = ReduceEvents(json_events);
  auto b = ReduceEvents(mixed);
  REQUIRE(a.ok());
  REQUIRE_MESSAGE(b.ok(), b.status().ToString());
  CHECK(*a == *b);
}

TEST_CASE("reducer: damaged packed stage data is refused and changes nothing") {
  RunStatus s;
  REQUIRE(ApplyEvent(Ev(1, EventType::kRequested), &s).ok());
  REQUIRE(ApplyEvent(Ev(2, EventType::kStarted), &s).ok());
  RunStatus before = s;
  Event garbage = Ev(3, EventType::kStageCompleted);
  garbage.data = nullptr;
  garbage.packed_data = "\x93\x01";  // a truncated array
  CHECK(ApplyEvent(garbage, &s).code() == Status::Code::kCorruption);
  CHECK(s == before);
  Event no_attempt = Packed(Ev(3, EventType::kStageCompleted, {{"stage", "a"}}));
  CHECK(ApplyEvent(no_attempt, &s).code() == Status::Code::kCorruption);
  Event bad_ref = Packed(
      Ev(3, EventType::kStageCompleted,
         StageData("a", 1, "succeeded",
                   nlohmann::json::array({nlohmann::json{{"path", "out/x"}, {"ref", "nope"}}}))));
  CHECK(ApplyEvent(bad_ref, &s).code() == Status::Code::kCorruption);
  CHECK(s == before);
  Event requested_packed = Packed(Ev(4, EventType::kCompleted, {{"state", "failed"}}));
  CHECK(ApplyEvent(requested_packed, &s).code() == Status::Code::kCorruption);
  CHECK(s == before);
}

TEST_CASE("reducer: job.started makes its stage current; retries change nothing but the time") {
  RunStatus s;
  REQUIRE(ApplyEvent(Ev(1, EventType::kRequested, {{"execution_mode", "local"}}), &s).ok());
  // Not before the run started.
  CHECK(
      ApplyEvent(Ev(2, EventType::kJobStarted, {{"stage", "split"}, {"attempt", 1}}), &s).code() ==
      Status::Code::kCorruption);
  REQUIRE(ApplyEvent(Ev(2, EventType::kStarted), &s).ok());
  REQUIRE(ApplyEvent(Ev(3, EventType::kJobStarted, {{"stage", "split"}, {"attempt", 1}}), &s).ok());
  CHECK(s.current_stage == "split");
  REQUIRE(
      ApplyEvent(Ev(4, EventType::kStageCompleted, StageData("split", 1, "succeeded")), &s).ok());
  REQUIRE(
      ApplyEvent(Ev(5, EventType::kJobStarted, {{"stage", "compile"}, {"attempt", 2}}), &s).ok());
  CHECK(s.current_stage == "compile");  // while compile jobs run, not the last completed stage
  CHECK(s.stage_attempt == 2);
  RunStatus before = s;
  REQUIRE(ApplyEvent(Ev(6, EventType::kJobRetryScheduled, {{"stage", "compile"}}), &s).ok());
  CHECK(s.updated_at == Time(6));
  s.updated_at = before.updated_at;
  CHECK(s == before);
  // A job.started without its fields, and a worker's event, are refused.
  CHECK(ApplyEvent(Ev(7, EventType::kJobStarted, {{"attempt", 1}}), &s).code() ==
        Status::Code::kCorruption);
  CHECK(ApplyEvent(Ev(7, EventType::kWorkerJoined, {{"worker_id", "w"}}), &s).code() ==
        Status::Code::kCorruption);
}
