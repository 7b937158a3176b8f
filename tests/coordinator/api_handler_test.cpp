// ApiHandler without sockets: garbage frames get an ERROR reply naming the problem with the
// routing envelope preserved and change nothing; every command's happy path; replay.
#include "coordinator/api_handler.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "coordinator/pipeline.h"
#include "messages/codec.h"
#include "messages/module_manifest.h"
#include "messages/protocol.h"
#include "net/framing.h"
#include "tests/store/store_test_util.h"

using namespace recomp;
using namespace recomp::coordinator;
using recomp::store::testing::TempDir;

namespace {

constexpr std::string_view kToml = R"(tools = ["t.sh"]
[[stages]]
name = "only"
command = ["/bin/sh", "in/tools/t.sh"]
outputs = ["out.txt"]
retries = 0
)";

struct Api {
  TempDir dir;
  std::unique_ptr<store::ArtifactStore> store;
  std::unique_ptr<RunStore> runs;
  std::unique_ptr<RunEngine> engine;
  std::unique_ptr<ApiHandler> api;
  RunSubmission sub;

  Api() {
    store::StoreOptions so;
    so.durable = false;
    store = std::move(store::ArtifactStore::Open(dir / "store", so)).value();
    runs = std::move(RunStore::Open(dir / "state")).value();
    engine = std::make_unique<RunEngine>(EngineOptions{}, runs.get(), store.get(), 0);
    api = std::make_unique<ApiHandler>(engine.get(), runs.get());
    Digest tool = Put("echo hi > out.txt\n");
    Digest rom = Put("rom");
    ModuleManifest m;
    m.files.push_back({"rom.bin", rom});
    sub.run_id = "run-1";
    sub.module_manifest = Put(EncodeModuleManifest(m)).Ref();
    sub.config_manifest = Put(ResolveToolRefs(kToml, {{"t.sh", tool}}).value()).Ref();
    sub.provenance_manifest = Put("{}").Ref();
    sub.requested_by = "alice";
  }
  Digest Put(std::string_view bytes) {
    return ParseArtifactRef(store->PutBytes(bytes).value().ref).value();
  }
  void Persist(Effects& fx) {
    Status s = engine->Commit(&fx);  // as CoordinatorService::Impl::Flush
    REQUIRE_MESSAGE(s.ok(), s.ToString());
  }
  // Sends `frames`, persists the effects, returns the reply frames.
  std::vector<std::string> Send(const std::vector<std::string>& frames, Effects* out = nullptr) {
    Effects fx;
    auto reply = api->Handle(frames, &fx);
    REQUIRE(reply.has_value());
    Persist(fx);
    if (out) *out = fx;
    return reply->frames;
  }
  // A DEALER client's request: [identity][RCP1][command][body].
  std::vector<std::string> Request(std::string_view command, std::string body,
                                   Effects* out = nullptr) {
    std::vector<std::string> frames = {"client-1"};
    for (auto& f : net::Frames(proto::kTag, command, std::move(body)))
      frames.push_back(std::move(f));
    return Send(frames, out);
  }
};

std::string RunIdBody(const std::string& id) {
  return proto::JsonBody({{"run_id", id}});
}

// Checks reply = envelope + [RCP1, ERROR, {code, message}] and returns the decoded error.
Status ErrorReply(const std::vector<std::string>& reply, const std::vector<std::string>& envelope) {
  REQUIRE(reply.size() == envelope.size() + 3);
  for (size_t i = 0; i < envelope.size(); ++i) CHECK(reply[i] == envelope[i]);
  CHECK(reply[envelope.size()] == "RCP1");
  CHECK(reply[envelope.size() + 1] == "ERROR");
  Status s = proto::DecodeError(reply.back());
  CHECK_FALSE(s.ok());
  return s;
}

std::string OkBody(const std::vector<std::string>& reply,
                   const std::vector<std::string>& envelope) {
  REQUIRE(reply.size() == envelope.size() + 3);
  for (size_t i = 0; i < envelope.size(); ++i) CHECK(reply[i] == envelope[i]);
  CHECK(reply[envelope.size()] == "RCP1");
  REQUIRE_MESSAGE(reply[envelope.size() + 1] == "OK", proto::DecodeError(reply.back()).ToString());
  return reply.back();
}

bool Has(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

}  // namespace

TEST_CASE("api: no frames, no answer") {
  Api a;
  Effects fx;
  CHECK_FALSE(a.api->Handle({}, &fx).has_value());
  CHECK(fx.empty());
}

TEST_CASE("api: garbage framing gets an ERROR naming the problem, envelope preserved") {
  Api a;
  struct Case {
    const char* what;
    std::vector<std::string> frames;
    std::vector<std::string> envelope;
    Status::Code code;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"identity only", {"id"}, {"id"}, Status::Code::kInvalidArgument, "no RCP1 frame"},
      {"no tag (DEALER)",
       {"id", "STATUS", "x"},
       {"id"},
       Status::Code::kInvalidArgument,
       "malformed request: no RCP1 frame"},
      {"no tag (REQ)",
       {"id", "", "SUBMIT", "x"},
       {"id", ""},
       Status::Code::kInvalidArgument,
       "no RCP1 frame"},
      {"wrong tag",
       {"id", "", "RCP2", "STATUS", RunIdBody("r")},
       {"id", ""},
       Status::Code::kInvalidArgument,
       "no RCP1 frame"},
      {"tag only", {"id", "RCP1"}, {"id"}, Status::Code::kInvalidArgument, "expected 3 frames"},
      {"no body", {"id", "RCP1", "STATUS"}, {"id"}, Status::Code::kInvalidArgument, "got 2"},
      {"extra frame",
       {"id", "", "RCP1", "STATUS", RunIdBody("r"), "x"},
       {"id", ""},
       Status::Code::kInvalidArgument,
       "got 4"},
      {"unknown command",
       {"id", "RCP1", "FROB", proto::EmptyBody()},
       {"id"},
       Status::Code::kInvalidArgument,
       "unknown command FROB"},
      {"worker command on the API",
       {"id", "RCP1", "READY", proto::EmptyBody()},
       {"id"},
       Status::Code::kInvalidArgument,
       "unknown command READY"},
      {"lowercase command",
       {"id", "RCP1", "status", RunIdBody("r")},
       {"id"},
       Status::Code::kInvalidArgument,
       "[A-Z_]+"},
      {"long command",
       {"id", "RCP1", std::string(33, 'A'), proto::EmptyBody()},
       {"id"},
       Status::Code::kInvalidArgument,
       "1-32 bytes"},
      {"oversized body",
       {"id", "RCP1", "SUBMIT", std::string(wire::kMaxMessageBytes + 1, '\x80')},
       {"id"},
       Status::Code::kResourceExhausted,
       "exceeds the limit"},
      {"two identities",
       {"proxy", "id", "", "RCP1", "FROB", ""},
       {"proxy", "id", ""},
       Status::Code::kInvalidArgument,
       "unknown command"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Effects fx;
    auto reply = a.Send(c.frames, &fx);
    Status s = ErrorReply(reply, c.envelope);
    CHECK(s.code() == c.code);
    CHECK_MESSAGE(Has(s, c.expect), s.ToString());
    CHECK(fx.empty());
  }
  CHECK(a.runs->LastSequence().value() == 0);
}

TEST_CASE("api: malformed bodies get an ERROR naming the field") {
  Api a;
  struct Case {
    const char* what;
    std::string_view command;
    std::string body;
    std::string expect;
  };
  RunSubmission no_ref = a.sub;
  no_ref.config_manifest = "artifact://nope";
  const std::vector<Case> cases = {
      {"empty body", proto::kStatus, "", "request: empty message"},
      {"garbage", proto::kStatus, "\xc1", "request: "},
      {"truncated", proto::kStatus, RunIdBody("run-1").substr(0, 5), "request: truncated"},
      {"trailing", proto::kStatus, RunIdBody("run-1") + "x", "trailing bytes"},
      {"array", proto::kStatus, proto::JsonBody(nlohmann::json::array({"run-1"})),
       "request: expected a map"},
      {"no run_id", proto::kStatus, proto::EmptyBody(), "request.run_id: missing required field"},
      {"run_id type", proto::kCancelRun, proto::JsonBody({{"run_id", 1}}),
       "request.run_id: expected string"},
      {"run_id syntax", proto::kAudit, RunIdBody("../etc"), "request.run_id: run id must start"},
      {"run_id chars", proto::kResultOf, RunIdBody("a b"),
       "request.run_id: run id 'a b' may only contain"},
      {"run_id long", proto::kStatus, RunIdBody(std::string(129, 'r')),
       "request.run_id: string of 129"},
      {"submission garbage", proto::kSubmit, "\xc1", "run_submission: "},
      {"submission empty map", proto::kSubmit, proto::EmptyBody(),  // no version: v1
       "run_submission.execution_mode: missing"},
      {"submission bad ref", proto::kSubmit, EncodeRunSubmission(no_ref),
       "run_submission.config_manifest"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    Effects fx;
    Status s = ErrorReply(a.Request(c.command, c.body, &fx), {"client-1"});
    CHECK(s.code() == Status::Code::kInvalidArgument);
    CHECK_MESSAGE(Has(s, c.expect), s.ToString());
    CHECK(fx.empty());
  }
}

TEST_CASE("api: STATUS, CANCEL, AUDIT and RESULTS of an unknown run are NOT_FOUND") {
  Api a;
  for (std::string_view cmd :
       {proto::kStatus, proto::kCancelRun, proto::kAudit, proto::kResultOf}) {
    CAPTURE(cmd);
    Effects fx;
    Status s = ErrorReply(a.Request(cmd, RunIdBody("run-404"), &fx), {"client-1"});
    CHECK(s.code() == Status::Code::kNotFound);
    CHECK(Has(s, "run-404"));
    CHECK(fx.empty());
  }
}

TEST_CASE("api: refusals from the engine come back with their code") {
  Api a;
  RunSubmission cloud = a.sub;
  cloud.execution_mode = ExecutionMode::kCloud;
  Status gated = ErrorReply(a.Request(proto::kSubmit, EncodeRunSubmission(cloud)), {"client-1"});
  CHECK(gated.code() == Status::Code::kFailedPrecondition);
  RunSubmission missing = a.sub;
  missing.provenance_manifest = "artifact://" + std::string(64, '0');
  Status nf = ErrorReply(a.Request(proto::kSubmit, EncodeRunSubmission(missing)), {"client-1"});
  CHECK(nf.code() == Status::Code::kNotFound);
  CHECK(Has(nf, "provenance_manifest"));
}

TEST_CASE("api: SUBMIT, STATUS, LIST, WORKERS, RESULTS, AUDIT, CANCEL") {
  Api a;
  Effects fx;
  // A REQ client: identity + empty delimiter.
  std::vector<std::string> frames = {"req-7", ""};
  for (auto& f : net::Frames(proto::kTag, proto::kSubmit, EncodeRunSubmission(a.sub)))
    frames.push_back(f);
  auto submitted = DecodeRunStatus(OkBody(a.Send(frames, &fx), {"req-7", ""}));
  REQUIRE(submitted.ok());
  CHECK(submitted->run_id == "run-1");
  CHECK(submitted->state == RunState::kQueued);
  CHECK(fx.events.size() == 1);

  auto status =
      DecodeRunStatus(OkBody(a.Request(proto::kStatus, RunIdBody("run-1")), {"client-1"}));
  REQUIRE(status.ok());
  CHECK(*status == *submitted);

  // Idempotent resubmission through the API.
  Effects again;
  auto resubmitted = DecodeRunStatus(
      OkBody(a.Request(proto::kSubmit, EncodeRunSubmission(a.sub), &again), {"client-1"}));
  REQUIRE(resubmitted.ok());
  CHECK(*resubmitted == *submitted);
  CHECK(again.empty());

  auto list =
      proto::BodyJson(OkBody(a.Request(proto::kList, proto::EmptyBody()), {"client-1"}), "list");
  REQUIRE(list.ok());
  REQUIRE((*list)["runs"].size() == 1);
  CHECK((*list)["runs"][0]["run_id"] == "run-1");
  CHECK((*list)["runs"][0]["state"] == "queued");

  auto none =
      proto::BodyJson(OkBody(a.Request(proto::kWorkers, proto::EmptyBody()), {"client-1"}), "w");
  REQUIRE(none.ok());
  CHECK((*none)["workers"] == nlohmann::json::array());
  a.api->SetWorkerList(proto::JsonBody(
      {{"workers", nlohmann::json::array({{{"worker_id", "box:1:x"}, {"slots", 2}}})},
       {"queued", 0}}));
  auto workers =
      proto::BodyJson(OkBody(a.Request(proto::kWorkers, proto::EmptyBody()), {"client-1"}), "w");
  REQUIRE(workers.ok());
  CHECK((*workers)["workers"][0]["worker_id"] == "box:1:x");

  auto results =
      proto::BodyJson(OkBody(a.Request(proto::kResultOf, RunIdBody("run-1")), {"client-1"}), "r");
  REQUIRE(results.ok());
  CHECK((*results)["run_id"] == "run-1");
  REQUIRE((*results)["jobs"].size() == 1);
  CHECK((*results)["jobs"][0]["stage"] == "only");
  CHECK((*results)["jobs"][0]["state"] == "ready");

  Effects cancel_fx;
  auto cancel_reply = DecodeRunStatus(
      OkBody(a.Request(proto::kCancelRun, RunIdBody("run-1"), &cancel_fx), {"client-1"}));
  REQUIRE(cancel_reply.ok());  // its content: see "the CANCEL reply shows the cancelled run"
  CHECK(cancel_fx.events.size() == 1);
  auto cancelled =
      DecodeRunStatus(OkBody(a.Request(proto::kStatus, RunIdBody("run-1")), {"client-1"}));
  REQUIRE(cancelled.ok());
  CHECK(cancelled->state == RunState::kFailed);
  CHECK(cancelled->reason == "cancelled");

  auto audit =
      proto::BodyJson(OkBody(a.Request(proto::kAudit, RunIdBody("run-1")), {"client-1"}), "audit");
  REQUIRE(audit.ok());
  CHECK((*audit)["ok"] == true);
  CHECK((*audit)["events"] == 2);
  CHECK((*audit)["diff"] == nlohmann::json::array());
  CHECK((*audit)["stored"]["state"] == "failed");
}

TEST_CASE("api: replay serves the log in pages and refuses malformed requests") {
  Api a;
  a.Request(proto::kSubmit, EncodeRunSubmission(a.sub));
  RunSubmission second = a.sub;
  second.run_id = "run-2";
  a.Request(proto::kSubmit, EncodeRunSubmission(second));
  a.Request(proto::kCancelRun, RunIdBody("run-1"));
  // Log: 1 run-1 requested, 2 run-2 requested, 3 run-1 completed.
  auto replay = [&](nlohmann::json req, size_t max_batch = 1000) {
    auto reply =
        a.api->Replay(net::Frames(proto::kTag, proto::kReplay, proto::JsonBody(req)), max_batch);
    REQUIRE(reply.size() == 3);
    REQUIRE_MESSAGE(reply[1] == "OK", proto::DecodeError(reply[2]).ToString());
    auto j = proto::BodyJson(reply[2], "replay");
    REQUIRE(j.ok());
    return *j;
  };
  auto seqs = [](const nlohmann::json& j) {
    std::vector<uint64_t> out;
    for (const auto& e : j["events"]) out.push_back(e["sequence"]);
    return out;
  };
  nlohmann::json all = replay(nlohmann::json::object());
  CHECK(seqs(all) == std::vector<uint64_t>{1, 2, 3});
  CHECK(all["last"] == 3);
  CHECK(all["head"] == 3);
  CHECK(all["more"] == false);
  CHECK(replay({{"from", 0}, {"limit", 2}})["more"] == true);
  CHECK(replay({{"from", 1}, {"limit", 2}})["more"] == false);  // 2 and 3: nothing left
  CHECK(replay({{"run_id", "run-2"}, {"limit", 1}})["more"] == false);
  CHECK(all["events"][0]["type"] == "recomp.run.requested");
  CHECK(seqs(replay({{"from", 1}, {"limit", 1}})) == std::vector<uint64_t>{2});
  CHECK(seqs(replay({{"from", 0}, {"limit", 0}})) == std::vector<uint64_t>{1});  // 0 counts as 1
  CHECK(seqs(replay({{"from", 0}, {"limit", 100}}, 2)) == std::vector<uint64_t>{1, 2});  // capped
  nlohmann::json r1 = replay({{"run_id", "run-1"}});
  CHECK(seqs(r1) == std::vector<uint64_t>{1, 3});
  nlohmann::json empty = replay({{"from", 3}});
  CHECK(empty["events"] == nlohmann::json::array());
  CHECK(empty["last"] == 3);
  CHECK(empty["head"] == 3);

  auto error = [&](std::vector<std::string> frames, const std::string& expect) {
    auto reply = a.api->Replay(frames, 1000);
    REQUIRE(reply.size() == 3);
    CHECK(reply[0] == "RCP1");
    CHECK(reply[1] == "ERROR");
    Status s = proto::DecodeError(reply[2]);
    CHECK(s.code() == Status::Code::kInvalidArgument);
    CHECK_MESSAGE(Has(s, expect), s.ToString());
  };
  error({"RCP1", "STATUS", proto::EmptyBody()}, "REPLAY only");
  error({"RCP9", "REPLAY", proto::EmptyBody()}, "bad tag");
  error({"RCP1", "REPLAY"}, "expected 3 frames");
  error({"RCP1", "REPLAY", "\xc1"}, "replay: malformed");
  error(net::Frames(proto::kTag, proto::kReplay, proto::JsonBody(nlohmann::json::array())),
        "expected a map");
  error(net::Frames(proto::kTag, proto::kReplay, proto::JsonBody({{"from", -1}})), "replay.from");
  error(net::Frames(proto::kTag, proto::kReplay, proto::JsonBody({{"limit", "10"}})),
        "replay.limit");
  error(net::Frames(proto::kTag, proto::kReplay, proto::JsonBody({{"run_id", 5}})),
        "replay.run_id");
}

// Regression (fixed in 7c04324): the CANCEL reply carried the status from before the cancel,
// read back from the store before the service had committed the cancellation.
TEST_CASE("api: the CANCEL reply shows the cancelled run") {
  Api a;
  a.Request(proto::kSubmit, EncodeRunSubmission(a.sub));
  auto reply =
      DecodeRunStatus(OkBody(a.Request(proto::kCancelRun, RunIdBody("run-1")), {"client-1"}));
  REQUIRE(reply.ok());
  CHECK(reply->state == RunState::kFailed);
  CHECK(reply->reason == "cancelled");
}

// Regression (fixed in 7c04324): LIST and WORKERS did not decode their body and answered OK
// to a malformed one; every body must be exactly one MessagePack map (docs/protocol.md).
TEST_CASE("api: LIST and WORKERS refuse a malformed body") {
  Api a;
  for (std::string_view cmd : {proto::kList, proto::kWorkers}) {
    for (const std::string& body : {std::string("\xc1"), proto::JsonBody(nlohmann::json::array()),
                                    proto::EmptyBody() + "x"}) {
      CAPTURE(cmd);
      Status s = ErrorReply(a.Request(cmd, body), {"client-1"});
      CHECK(s.code() == Status::Code::kInvalidArgument);
    }
  }
}

TEST_CASE("api: LIST pages by run id with a cursor, without artifact lists") {
  Api a;
  for (int i = 0; i < 5; ++i) {
    RunSubmission s = a.sub;
    s.run_id = "run-" + std::to_string(i);
    OkBody(a.Request(proto::kSubmit, EncodeRunSubmission(s)), {"client-1"});
  }
  auto list = [&](nlohmann::json req) {
    auto j = proto::BodyJson(OkBody(a.Request(proto::kList, proto::JsonBody(req)), {"client-1"}),
                             "list");
    REQUIRE(j.ok());
    return *j;
  };
  std::vector<std::string> seen;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    nlohmann::json p = list({{"limit", 2}, {"after", after}});
    CHECK(p["runs"].size() <= 2);
    for (const auto& r : p["runs"]) {
      seen.push_back(r["run_id"]);
      CHECK(r["artifacts"] == nlohmann::json::array());
      CHECK(r.contains("artifact_count"));
    }
    after = p["next"];
    if (after.empty()) break;
  }
  CHECK(seen == std::vector<std::string>{"run-0", "run-1", "run-2", "run-3", "run-4"});
  CHECK(list(nlohmann::json::object())["runs"].size() == 5);  // default limit 100
  CHECK(list({{"limit", 5}})["next"] == "");                  // exactly one full page: no more
  for (const nlohmann::json& bad : {nlohmann::json{{"limit", 0}}, nlohmann::json{{"limit", 1001}},
                                    nlohmann::json{{"limit", "2"}}, nlohmann::json{{"after", 7}}}) {
    CAPTURE(bad.dump());
    Status s = ErrorReply(a.Request(proto::kList, proto::JsonBody(bad)), {"client-1"});
    CHECK(s.code() == Status::Code::kInvalidArgument);
  }
}
