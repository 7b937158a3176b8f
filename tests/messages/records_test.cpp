// Round trips and strict decoding of every v1 record.
#include <doctest/doctest.h>

#include "messages/artifact_record.h"
#include "messages/codec.h"
#include "messages/event.h"
#include "messages/run_status.h"
#include "messages/run_submission.h"
#include "messages/stage_job.h"
#include "messages/stage_result.h"
#include "tests/messages/test_util.h"

using namespace recomp;
using recomp::testing::Mutate;
using recomp::testing::Ref;

namespace {
RunSubmission Submission() {
  return {"run-1", ExecutionMode::kLocal, Ref('a'), Ref('b'), Ref('c'), "alice", Priority::kHigh};
}
RunStatus Status1() {
  return {"run-1",
          RunState::kRunning,
          "lift",
          2,
          {Ref('d')},
          "2026-11-24T03:00:00.000Z",
          "2026-11-24T03:00:01.500Z",
          ""};
}
StageJob Job() {
  StageJob j;
  j.job_id = std::string(64, 'e');
  j.run_id = "run-1";
  j.stage = "lift";
  j.shard = 3;
  j.shards = 8;
  j.attempt = 2;
  j.argv = {"python3", "in/tools/lift.py"};
  j.env = {{"LANG", "C"}};
  j.inputs = {{"in/module/game.rom", Ref('f')}};
  j.outputs = {"out/"};
  return j;
}
StageResult Result1() {
  StageResult r;
  r.job_id = std::string(64, 'e');
  r.run_id = "run-1";
  r.stage = "lift";
  r.shard = 3;
  r.attempt = 2;
  r.worker = "w1";
  r.outcome = JobOutcome::kFailed;
  r.exit_code = 3;
  r.outputs = {{"out/a.c", Ref('1')}};
  r.log_ref = Ref('2');
  r.message = "exit 3";
  return r;
}
Event Event1() {
  Event e;
  e.id = "ev-1";
  e.source = "recomp/coordinator";
  e.type = EventType::kStageCompleted;
  e.subject = "run-1";
  e.time = "2026-11-24T03:00:00.000Z";
  e.sequence = 42;
  e.data = {{"stage", "lift"}, {"shard", 3}, {"cached", false}};
  return e;
}
}  // namespace

TEST_CASE("every record round-trips") {
  CHECK(DecodeRunSubmission(EncodeRunSubmission(Submission())).value() == Submission());
  CHECK(DecodeRunStatus(EncodeRunStatus(Status1())).value() == Status1());
  RunStatus blocked = Status1();
  blocked.state = RunState::kBlocked;
  blocked.reason = "no cloud backend configured";
  CHECK(DecodeRunStatus(EncodeRunStatus(blocked)).value() == blocked);
  CHECK(DecodeStageJob(EncodeStageJob(Job())).value() == Job());
  CHECK(DecodeStageResult(EncodeStageResult(Result1())).value() == Result1());
  CHECK(DecodeEvent(EncodeEvent(Event1())).value() == Event1());
  ArtifactRecord a{Ref('3'),
                   10,
                   ArtifactClass::kExternal,
                   "application/octet-stream",
                   "2026-11-24T03:00:00.000Z",
                   "cli"};
  CHECK(DecodeArtifactRecord(EncodeArtifactRecord(a)).value() == a);
}

TEST_CASE("run submission: each field is checked and named") {
  std::string good = EncodeRunSubmission(Submission());
  auto err = [](const std::string& b) { return DecodeRunSubmission(b).status().message(); };
  CHECK(err(Mutate(good, [](nlohmann::json& j) { j.erase("module_manifest"); })) ==
        "run_submission.module_manifest: missing required field");
  CHECK(err(Mutate(good, [](nlohmann::json& j) { j["priority"] = "urgent"; })) ==
        "run_submission.priority: unknown value 'urgent' (expected low|standard|high)");
  CHECK(err(Mutate(good, [](nlohmann::json& j) { j["execution_mode"] = 3; })) ==
        "run_submission.execution_mode: expected string, got integer");
  CHECK(err(Mutate(good, [](nlohmann::json& j) {
          j["config_manifest"] = "artifact://ABC";
        })).find("run_submission.config_manifest: malformed artifact ref") == 0);
  CHECK(err(Mutate(good, [](nlohmann::json& j) {
          j["requested_by"] = std::string(300, 'x');
        })).find("run_submission.requested_by: string of 300 bytes exceeds") == 0);
  CHECK(err(Mutate(good, [](nlohmann::json& j) {
          j["run_id"] = "../etc";
        })).find("run_submission.run_id") == 0);
  CHECK(err(Mutate(good, [](nlohmann::json& j) {
          j["schema_version"] = 2;
        })).find("unsupported version 2") != std::string::npos);
  CHECK(err(Mutate(good, [](nlohmann::json& j) { j["schema_version"] = "1"; })) ==
        "run_submission.schema_version: expected integer, got string");
  // SPEC-250's example carries no schema_version: it is v1.
  auto unversioned =
      DecodeRunSubmission(Mutate(good, [](nlohmann::json& j) { j.erase("schema_version"); }));
  REQUIRE(unversioned.ok());
  CHECK(*unversioned == Submission());
  // No run id: accepted, the coordinator assigns one.
  CHECK(DecodeRunSubmission(Mutate(good, [](nlohmann::json& j) { j.erase("run_id"); })).ok());
  // cloud and hybrid pass the schema (they are gated by the coordinator, not the decoder).
  CHECK(DecodeRunSubmission(Mutate(good, [](nlohmann::json& j) {
          j["execution_mode"] = "cloud";
        })).ok());
}

TEST_CASE("run submission content key ignores the run id only") {
  RunSubmission a = Submission(), b = Submission();
  b.run_id = "other";
  CHECK(SubmissionContentKey(a) == SubmissionContentKey(b));
  b.priority = Priority::kLow;
  CHECK(SubmissionContentKey(a) != SubmissionContentKey(b));
}

TEST_CASE("run status: state, artifacts and times are checked") {
  std::string good = EncodeRunStatus(Status1());
  auto err = [](const std::string& b) { return DecodeRunStatus(b).status().message(); };
  CHECK(err(Mutate(good, [](nlohmann::json& j) {
          j["state"] = "paused";
        })).find("run_status.state: unknown value 'paused'") == 0);
  CHECK(err(Mutate(good, [](nlohmann::json& j) {
          j["artifacts"] = {"nope"};
        })).find("run_status.artifacts[0]") == 0);
  CHECK(err(Mutate(good, [](nlohmann::json& j) {
          j["updated_at"] = "yesterday";
        })).find("run_status.updated_at") == 0);
  CHECK(err(Mutate(good, [](nlohmann::json& j) {
          j["stage_attempt"] = -1;
        })).find("run_status.stage_attempt") == 0);
  CHECK(err(Mutate(good, [](nlohmann::json& j) {
          j["artifacts"] = nlohmann::json::array();
          for (size_t i = 0; i <= wire::kMaxList; ++i) j["artifacts"].push_back("x");
        })).find("run_status.artifacts") != std::string::npos);
  auto unversioned =
      DecodeRunStatus(Mutate(good, [](nlohmann::json& j) { j.erase("schema_version"); }));
  REQUIRE(unversioned.ok());
  CHECK(*unversioned == Status1());
}

TEST_CASE("stage job: hostile paths, counts and argv are refused") {
  std::string good = EncodeStageJob(Job());
  auto err = [](const std::string& b) { return DecodeStageJob(b).status().message(); };
  CHECK(err(Mutate(good, [](nlohmann::json& j) {
          j["inputs"][0]["path"] = "../../etc/passwd";
        })).find("stage_job.inputs[0].path") == 0);
  CHECK(err(Mutate(good, [](nlohmann::json& j) {
          j["inputs"][0]["path"] = "/etc/passwd";
        })).find("absolute") != std::string::npos);
  CHECK(err(Mutate(good, [](nlohmann::json& j) {
          j["outputs"] = {"out/../../x"};
        })).find("stage_job.outputs") == 0);
  CHECK(err(Mutate(good, [](nlohmann::json& j) { j["shard"] = 8; })).find("stage_job.shard") == 0);
  CHECK(err(Mutate(good, [](nlohmann::json& j) { j["argv"] = nlohmann::json::array(); })) ==
        "stage_job.argv: must name a program");
  CHECK(err(Mutate(good, [](nlohmann::json& j) {
          j["job_id"] = "xyz";
        })).find("stage_job.job_id") == 0);
  CHECK(err(Mutate(good, [](nlohmann::json& j) {
          j["env"] = {{"A", 1}};
        })).find("stage_job.env.A") == 0);
}

TEST_CASE("stage result and event are strict") {
  auto rerr = [](const std::string& b) { return DecodeStageResult(b).status().message(); };
  std::string r = EncodeStageResult(Result1());
  CHECK(rerr(Mutate(r, [](nlohmann::json& j) {
          j["outcome"] = "exploded";
        })).find("stage_result.outcome") == 0);
  CHECK(rerr(Mutate(r, [](nlohmann::json& j) { j["cached"] = "yes"; })) ==
        "stage_result.cached: expected boolean, got string");
  auto eerr = [](const std::string& b) { return DecodeEvent(b).status().message(); };
  std::string e = EncodeEvent(Event1());
  CHECK(eerr(Mutate(e, [](nlohmann::json& j) {
          j["specversion"] = "0.3";
        })).find("event.specversion") == 0);
  CHECK(eerr(Mutate(e, [](nlohmann::json& j) {
          j["type"] = "recomp.run.exploded";
        })).find("event.type") == 0);
  CHECK(eerr(Mutate(e, [](nlohmann::json& j) { j["sequence"] = 0; })) ==
        "event.sequence: must be >= 1");
  CHECK(eerr(Mutate(e, [](nlohmann::json& j) { j["data"] = "text"; })) ==
        "event.data: expected a map");
}

TEST_CASE("an event with packed data encodes exactly like its JSON twin") {
  Event json_form = Event1();
  Event packed = Event1();
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  wire::PackJson(pk, json_form.data);
  packed.data = nullptr;
  packed.packed_data = wire::ToBytes(buf);
  CHECK(EncodeEvent(packed) == EncodeEvent(json_form));
  CHECK(packed.DataJson() == json_form.data);
  CHECK(packed == json_form);
  Event back = DecodeEvent(EncodeEvent(packed)).value();
  CHECK(back.packed_data.empty());  // decoded events carry JSON
  CHECK(back == packed);
  CHECK(ToJson(packed) == ToJson(json_form));
  Event other = packed;
  other.packed_data[other.packed_data.size() - 1] ^= 1;  // a different last value
  CHECK_FALSE(other == json_form);
  Event broken = packed;
  broken.packed_data = "\xc1";  // never a valid MessagePack byte
  CHECK(broken.DataJson().is_null());
}

TEST_CASE("relative paths") {
  CHECK(ValidateRelativePath("out/").ok());
  CHECK(ValidateRelativePath("in/module/game.rom").ok());
  for (const char* bad : {"", "/x", "a//b", "a/./b", "..", "a/..", "./a", "a/../b", "//"}) {
    CHECK_MESSAGE(!ValidateRelativePath(bad).ok(), bad);
  }
}
