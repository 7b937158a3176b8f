// The small protocol bodies: error bodies for every status code, JSON bodies, WorkerHello and
// JobRef round trips and every refusal (the framing's tests are tests/net/framing_test.cpp).
#include "messages/protocol.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "messages/codec.h"
#include "tests/messages/test_util.h"

using namespace recomp;
using recomp::testing::Mutate;

namespace {

bool Has(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

proto::WorkerHello Hello() {
  proto::WorkerHello h;
  h.worker_id = "box:4242:9f2c";
  h.slots = 4;
  h.heartbeat_ms = 250;
  h.liveness = 5;
  h.host = "box";
  h.pid = 4242;
  return h;
}

bool SameHello(const proto::WorkerHello& a, const proto::WorkerHello& b) {
  return a.worker_id == b.worker_id && a.slots == b.slots && a.heartbeat_ms == b.heartbeat_ms &&
         a.liveness == b.liveness && a.host == b.host && a.pid == b.pid;
}

const std::string kJobId = std::string(64, 'a');

}  // namespace

TEST_CASE("ErrorBody and DecodeError round-trip every status code") {
  using C = Status::Code;
  for (C c : {C::kInvalidArgument, C::kNotFound, C::kAlreadyExists, C::kCorruption, C::kIOError,
              C::kFailedPrecondition, C::kUnavailable, C::kDeadlineExceeded, C::kResourceExhausted,
              C::kCancelled, C::kInternal, C::kPermissionDenied}) {
    Status s(c, "something named 'x' went wrong");
    Status back = proto::DecodeError(proto::ErrorBody(s));
    CHECK(back.code() == c);
    CHECK(back.message() == s.message());
  }
  // The body is a plain {code, message} map with the stable code name.
  auto j = proto::BodyJson(proto::ErrorBody(Status::NotFound("no run r")), "error");
  REQUIRE(j.ok());
  CHECK(*j == nlohmann::json{{"code", "NOT_FOUND"}, {"message", "no run r"}});
}

TEST_CASE("DecodeError maps unknown and OK codes to INTERNAL, refuses malformed bodies") {
  Status unknown = proto::DecodeError(proto::JsonBody({{"code", "NOPE"}, {"message", "m"}}));
  CHECK(unknown.code() == Status::Code::kInternal);
  CHECK(unknown.message() == "m");
  // An ERROR reply must never decode as success.
  Status ok_code = proto::DecodeError(proto::JsonBody({{"code", "OK"}, {"message", "m"}}));
  CHECK_FALSE(ok_code.ok());
  CHECK(ok_code.code() == Status::Code::kInternal);

  Status missing = proto::DecodeError(proto::JsonBody({{"code", "NOT_FOUND"}}));
  CHECK_FALSE(missing.ok());
  CHECK(Has(missing, "error.message: missing required field"));
  Status typed = proto::DecodeError(proto::JsonBody({{"code", 2}, {"message", "m"}}));
  CHECK(Has(typed, "error.code: expected string"));
  Status garbage = proto::DecodeError("\xc1");
  CHECK_FALSE(garbage.ok());
  CHECK(garbage.code() == Status::Code::kInvalidArgument);
  CHECK_FALSE(proto::DecodeError("").ok());
  CHECK(Has(proto::DecodeError(proto::JsonBody(nlohmann::json::array({1}))), "expected a map"));
}

TEST_CASE("JsonBody and BodyJson round-trip a map; BodyJson refuses non-maps and garbage") {
  nlohmann::json j = {{"from", 5}, {"run_id", "r"}, {"nested", {{"a", {1, 2, 3}}, {"b", true}}},
                      {"neg", -3}, {"f", 1.5},      {"nil", nullptr}};
  auto back = proto::BodyJson(proto::JsonBody(j), "req");
  REQUIRE(back.ok());
  CHECK(*back == j);

  auto arr = proto::BodyJson(proto::JsonBody(nlohmann::json::array()), "req");
  REQUIRE_FALSE(arr.ok());
  CHECK(Has(arr.status(), "req: body must be a map"));
  CHECK_FALSE(proto::BodyJson(proto::JsonBody(5), "req").ok());
  auto bad = proto::BodyJson("\xc1", "req");
  REQUIRE_FALSE(bad.ok());
  CHECK(Has(bad.status(), "req"));
  CHECK_FALSE(proto::BodyJson("", "req").ok());
  // Non-string keys: a map {1: 2}.
  CHECK_FALSE(proto::BodyJson(std::string("\x81\x01\x02", 3), "req").ok());
}

TEST_CASE("WorkerHello round-trips and carries schema_version 1") {
  auto back = proto::DecodeWorkerHello(proto::EncodeWorkerHello(Hello()));
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(SameHello(*back, Hello()));
  auto j = proto::BodyJson(proto::EncodeWorkerHello(Hello()), "hello");
  REQUIRE(j.ok());
  CHECK((*j)["schema_version"] == 1);
  // Bounds are inclusive.
  proto::WorkerHello edge = Hello();
  edge.slots = 1024;
  edge.heartbeat_ms = 10;
  edge.liveness = 2;
  edge.pid = 0;
  CHECK(proto::DecodeWorkerHello(proto::EncodeWorkerHello(edge)).ok());
  edge.slots = 1;
  edge.heartbeat_ms = 600;  // x 100 = the 60 s liveness window, the bound of their product
  edge.liveness = 100;
  edge.pid = INT32_MAX;
  CHECK(proto::DecodeWorkerHello(proto::EncodeWorkerHello(edge)).ok());
  // Unknown keys are ignored within a schema version.
  CHECK(proto::DecodeWorkerHello(Mutate(proto::EncodeWorkerHello(Hello()), [](nlohmann::json& m) {
          m["future"] = "x";
        })).ok());
}

TEST_CASE("WorkerHello refusals name the field") {
  const std::string good = proto::EncodeWorkerHello(Hello());
  struct Case {
    const char* what;
    void (*edit)(nlohmann::json&);
    const char* expect;
  };
  const Case cases[] = {
      {"no version", [](nlohmann::json& m) { m.erase("schema_version"); },
       "worker_hello.schema_version: missing"},
      {"version 2", [](nlohmann::json& m) { m["schema_version"] = 2; }, "unsupported version 2"},
      {"version 0", [](nlohmann::json& m) { m["schema_version"] = 0; }, "unsupported version 0"},
      {"no id", [](nlohmann::json& m) { m.erase("worker_id"); }, "worker_hello.worker_id: missing"},
      {"empty id", [](nlohmann::json& m) { m["worker_id"] = ""; }, "worker_hello.worker_id: empty"},
      {"long id", [](nlohmann::json& m) { m["worker_id"] = std::string(129, 'w'); },
       "worker_hello.worker_id: string of 129 bytes"},
      {"id type", [](nlohmann::json& m) { m["worker_id"] = 7; },
       "worker_hello.worker_id: expected string"},
      {"slots 0", [](nlohmann::json& m) { m["slots"] = 0; },
       "worker_hello.slots: 0 is out of range"},
      {"slots 1025", [](nlohmann::json& m) { m["slots"] = 1025; },
       "worker_hello.slots: 1025 is out of range"},
      {"slots neg", [](nlohmann::json& m) { m["slots"] = -1; },
       "worker_hello.slots: -1 is out of range"},
      {"slots str", [](nlohmann::json& m) { m["slots"] = "4"; },
       "worker_hello.slots: expected integer"},
      {"hb 9", [](nlohmann::json& m) { m["heartbeat_ms"] = 9; },
       "worker_hello.heartbeat_ms: 9 is out of range"},
      {"hb big", [](nlohmann::json& m) { m["heartbeat_ms"] = 60001; },
       "worker_hello.heartbeat_ms: 60001"},
      {"liveness 1", [](nlohmann::json& m) { m["liveness"] = 1; },
       "worker_hello.liveness: 1 is out of range"},
      {"liveness 101", [](nlohmann::json& m) { m["liveness"] = 101; },
       "worker_hello.liveness: 101"},
      {"no host", [](nlohmann::json& m) { m.erase("host"); }, "worker_hello.host: missing"},
      {"long host", [](nlohmann::json& m) { m["host"] = std::string(257, 'h'); },
       "worker_hello.host: string of 257"},
      {"pid neg", [](nlohmann::json& m) { m["pid"] = -1; }, "worker_hello.pid: -1 is out of range"},
      {"pid big", [](nlohmann::json& m) { m["pid"] = int64_t{INT32_MAX} + 1; },
       "worker_hello.pid:"},
      {"no pid", [](nlohmann::json& m) { m.erase("pid"); }, "worker_hello.pid: missing"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    auto r = proto::DecodeWorkerHello(Mutate(good, c.edit));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kInvalidArgument);
    CHECK_MESSAGE(Has(r.status(), c.expect), r.status().message());
  }
  CHECK_FALSE(proto::DecodeWorkerHello("").ok());
  CHECK_FALSE(proto::DecodeWorkerHello("\xc1").ok());
  CHECK_FALSE(proto::DecodeWorkerHello(good.substr(0, good.size() - 1)).ok());
  CHECK_FALSE(proto::DecodeWorkerHello(proto::JsonBody(nlohmann::json::array())).ok());
}

TEST_CASE("JobRef round-trips; refuses bad job ids and attempts") {
  auto back = proto::DecodeJobRef(proto::EncodeJobRef({kJobId, 7}));
  REQUIRE(back.ok());
  CHECK(back->job_id == kJobId);
  CHECK(back->attempt == 7);
  CHECK(proto::DecodeJobRef(proto::EncodeJobRef({kJobId, 1000000})).ok());

  struct Case {
    nlohmann::json body;
    const char* expect;
  };
  const Case cases[] = {
      {{{"attempt", 1}}, "job_ref.job_id: missing"},
      {{{"job_id", kJobId}}, "job_ref.attempt: missing"},
      {{{"job_id", std::string(64, 'A')}, {"attempt", 1}}, "job_ref.job_id: malformed digest"},
      {{{"job_id", std::string(63, 'a')}, {"attempt", 1}}, "job_ref.job_id: malformed digest"},
      {{{"job_id", std::string(65, 'a')}, {"attempt", 1}}, "job_ref.job_id: string of 65 bytes"},
      {{{"job_id", "artifact://" + kJobId}, {"attempt", 1}}, "job_ref.job_id"},
      {{{"job_id", kJobId}, {"attempt", 0}}, "job_ref.attempt: 0 is out of range"},
      {{{"job_id", kJobId}, {"attempt", -1}}, "job_ref.attempt: -1 is out of range"},
      {{{"job_id", kJobId}, {"attempt", 1000001}}, "job_ref.attempt: 1000001 is out of range"},
      {{{"job_id", kJobId}, {"attempt", "1"}}, "job_ref.attempt: expected integer"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.body.dump());
    auto r = proto::DecodeJobRef(proto::JsonBody(c.body));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kInvalidArgument);
    CHECK_MESSAGE(Has(r.status(), c.expect), r.status().message());
  }
  CHECK_FALSE(proto::DecodeJobRef("\xc1").ok());
  CHECK_FALSE(proto::DecodeJobRef(proto::EmptyBody()).ok());
}

TEST_CASE("WorkerHello refuses a liveness window over kMaxLivenessWindowMs") {
  proto::WorkerHello h = Hello();
  h.heartbeat_ms = 30000;
  h.liveness = 2;  // exactly 60 s: accepted
  CHECK(proto::DecodeWorkerHello(proto::EncodeWorkerHello(h)).ok());
  h.liveness = 3;
  auto r = proto::DecodeWorkerHello(proto::EncodeWorkerHello(h));
  REQUIRE_FALSE(r.ok());
  CHECK(Has(r.status(), "heartbeat_ms x liveness = 90000 ms exceeds 60000 ms"));
}

TEST_CASE("STARTED's job list round-trips; refuses bad job ids and a missing worker") {
  std::vector<proto::StartedJob> jobs = {{{std::string(64, 'a'), 1}, "w1"},
                                         {{std::string(64, 'b'), 7}, "host:12:abc"}};
  auto back = proto::DecodeStartedJobs(proto::EncodeStartedJobs(jobs));
  REQUIRE(back.ok());
  CHECK(*back == jobs);
  CHECK(proto::DecodeStartedJobs(proto::EncodeStartedJobs({}))->empty());
  CHECK(!proto::DecodeStartedJobs(proto::EncodeStartedJobs({{{"xyz", 1}, "w"}})).ok());
  CHECK(!proto::DecodeStartedJobs(proto::EncodeJobRefs("jobs", {{std::string(64, 'a'), 1}})).ok());
  CHECK(!proto::DecodeStartedJobs("garbage").ok());
}

TEST_CASE("LOG pieces round-trip any bytes as bin; refuse oversized data and bad refs") {
  proto::LogPiece p{{std::string(64, 'a'), 3}, 12345, std::string("\x00\xff line\n", 8)};
  auto back = proto::DecodeLogPiece(proto::EncodeLogPiece(p));
  REQUIRE(back.ok());
  CHECK(*back == p);
  proto::LogPiece big = p;
  big.data.assign(proto::LogPiece::kMaxData + 1, 'x');
  CHECK(!proto::DecodeLogPiece(proto::EncodeLogPiece(big)).ok());
  proto::LogPiece bad = p;
  bad.ref.job_id = "nope";
  CHECK(!proto::DecodeLogPiece(proto::EncodeLogPiece(bad)).ok());
  CHECK(!proto::DecodeLogPiece("garbage").ok());
}
