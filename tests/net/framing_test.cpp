// Message framing: Parse's refusals (frame counts, tags, commands, body size), Frames, the
// envelope split of ROUTER messages, and truncated receives.
#include "net/framing.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "base/limits.h"
#include "messages/protocol.h"

using namespace recomp;

namespace {

bool Has(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

}  // namespace

TEST_CASE("Parse accepts [RCP1][COMMAND][body] and returns command and body") {
  auto m = net::Parse(proto::kTag, net::Frames(proto::kTag, proto::kSubmit, "body-bytes"));
  REQUIRE(m.ok());
  CHECK(m->command == "SUBMIT");
  CHECK(m->body == "body-bytes");
  // The body is not decoded by Parse: empty and garbage bodies pass framing.
  CHECK(net::Parse(proto::kTag, {"RCP1", "STATUS", ""}).ok());
  CHECK(net::Parse(proto::kTag, {"RCP1", "WORKER_LIST", "\xc1"}).ok());
  // The longest allowed command.
  CHECK(net::Parse(proto::kTag, {"RCP1", std::string(net::kMaxCommand, 'A'), ""}).ok());
  // Every command name of the protocol is itself well-formed.
  for (std::string_view c :
       {proto::kSubmit,    proto::kStatus,    proto::kList,     proto::kCancelRun,
        proto::kWorkers,   proto::kAudit,     proto::kResultOf, proto::kReplay,
        proto::kOk,        proto::kError,     proto::kDispatch, proto::kRevoke,
        proto::kStarted,   proto::kResult,    proto::kRejected, proto::kWorkerList,
        proto::kReady,     proto::kHeartbeat, proto::kJob,      proto::kCancel,
        proto::kDisconnect}) {
    CHECK_MESSAGE(net::Parse(proto::kTag, net::Frames(proto::kTag, c, proto::EmptyBody())).ok(), c);
  }
}

TEST_CASE("Parse refuses wrong frame counts naming the count") {
  for (size_t n : {0u, 1u, 2u, 4u, 5u}) {
    std::vector<std::string> frames(n, "RCP1");
    auto m = net::Parse(proto::kTag, frames);
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == Status::Code::kInvalidArgument);
    CHECK(Has(m.status(), "expected 3 frames"));
    CHECK(Has(m.status(), "got " + std::to_string(n)));
  }
}

TEST_CASE("Parse refuses a bad tag") {
  for (const char* tag : {"", "RCP0", "RCP2", "rcp1", "RCP1 ", "RCP"}) {
    auto m = net::Parse(proto::kTag, {tag, "STATUS", ""});
    REQUIRE_FALSE(m.ok());
    CHECK(Has(m.status(), "bad tag"));
  }
  // A NUL-extended tag (5 bytes) is not the tag either.
  CHECK_FALSE(net::Parse(proto::kTag, {std::string("RCP1\0", 5), "STATUS", ""}).ok());
}

TEST_CASE("Parse refuses empty, long and non-[A-Z_] commands") {
  auto empty = net::Parse(proto::kTag, {"RCP1", "", ""});
  REQUIRE_FALSE(empty.ok());
  CHECK(Has(empty.status(), "1-32 bytes"));
  auto longer = net::Parse(proto::kTag, {"RCP1", std::string(net::kMaxCommand + 1, 'A'), ""});
  REQUIRE_FALSE(longer.ok());
  CHECK(Has(longer.status(), "1-32 bytes"));
  for (const std::string& cmd : std::vector<std::string>{"status", "STATUS ", "STA-TUS", "STATUS1",
                                                         std::string("ST\0S", 4), "\xc3\x89TAT"}) {
    auto m = net::Parse(proto::kTag, {"RCP1", cmd, ""});
    REQUIRE_FALSE(m.ok());
    CHECK(Has(m.status(), "[A-Z_]+"));
  }
}

TEST_CASE("Parse refuses a body over the frame limit, accepts one at it") {
  std::string at(limits::kMaxBodyBytes, 'x');
  CHECK(net::Parse(proto::kTag, {"RCP1", "SUBMIT", at}).ok());
  auto over = net::Parse(proto::kTag, {"RCP1", "SUBMIT", at + "x"});
  REQUIRE_FALSE(over.ok());
  CHECK(over.status().code() == Status::Code::kResourceExhausted);
  CHECK(Has(over.status(), std::to_string(limits::kMaxBodyBytes + 1) + " bytes"));
}

TEST_CASE("Frames and EmptyBody") {
  auto f = net::Frames(proto::kTag, "OK", "b");
  CHECK(f == std::vector<std::string>{"RCP1", "OK", "b"});
  auto j = proto::BodyJson(proto::EmptyBody(), "empty");
  REQUIRE(j.ok());
  CHECK(*j == nlohmann::json::object());
}

TEST_CASE("Parse of a received message refuses a truncated one with its real frame count") {
  net::Received r;
  r.frames = {"RCP1", "STATUS", ""};
  r.total_frames = 3;
  CHECK(net::Parse(proto::kTag, r).ok());
  r.total_frames = 12;  // 9 more frames were counted and discarded by Receive
  auto m = net::Parse(proto::kTag, r);
  REQUIRE_FALSE(m.ok());
  CHECK(Has(m.status(), "got 12"));
}

TEST_CASE("A tag is a parameter: another protocol's tag is refused by this one's parser") {
  auto frames = net::Frames("XYZ9", "PING", "");
  CHECK(net::Parse("XYZ9", frames).ok());
  auto m = net::Parse(proto::kTag, frames);
  REQUIRE_FALSE(m.ok());
  CHECK(Has(m.status(), "expected \"RCP1\""));
}

TEST_CASE(
    "SplitEnvelope splits at the tag after the identity; FallbackEnvelope keeps REQ's delimiter") {
  auto dealer = net::SplitEnvelope(proto::kTag, {"id", "RCP1", "STATUS", "b"});
  REQUIRE(dealer.ok());
  CHECK(dealer->envelope == std::vector<std::string>{"id"});
  CHECK(dealer->message == std::vector<std::string>{"RCP1", "STATUS", "b"});
  auto req = net::SplitEnvelope(proto::kTag, {"proxy", "id", "", "RCP1", "STATUS", "b"});
  REQUIRE(req.ok());
  CHECK(req->envelope == std::vector<std::string>{"proxy", "id", ""});
  // The identity itself may equal the tag: the search starts after it.
  auto odd = net::SplitEnvelope(proto::kTag, {"RCP1", "RCP1", "OK", ""});
  REQUIRE(odd.ok());
  CHECK(odd->envelope == std::vector<std::string>{"RCP1"});
  auto none = net::SplitEnvelope(proto::kTag, {"id", "XXXX", "STATUS", ""});
  REQUIRE_FALSE(none.ok());
  CHECK(Has(none.status(), "no RCP1 frame"));
  CHECK(net::FallbackEnvelope({"id", "", "junk"}) == std::vector<std::string>{"id", ""});
  CHECK(net::FallbackEnvelope({"id", "junk"}) == std::vector<std::string>{"id"});
}

TEST_CASE("A data frame is accepted only where the protocol has one, and is moved out whole") {
  std::string bytes(300000, 'x');
  auto frames = net::Frames("RBL1", "CHUNK", proto::EmptyBody(), bytes);
  CHECK(frames.size() == 4);
  auto refused = net::Parse("RBL1", frames);
  REQUIRE_FALSE(refused.ok());
  CHECK(Has(refused.status(), "expected 3 frames"));
  auto m = net::Parse("RBL1", std::move(frames), net::DataFrame::kOptional);
  REQUIRE(m.ok());
  CHECK(m->has_data);
  CHECK(m->data == bytes);
  auto plain = net::Parse("RBL1", net::Frames("RBL1", "STAT", proto::EmptyBody()),
                          net::DataFrame::kOptional);
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->has_data);
  auto five = net::Parse("RBL1", std::vector<std::string>{"RBL1", "PUT", "", "a", "b"},
                         net::DataFrame::kOptional);
  REQUIRE_FALSE(five.ok());
  CHECK(Has(five.status(), "3 or 4 frames"));
}
