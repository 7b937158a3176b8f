// ZapHandler with real CURVE sockets over tcp loopback: an allowed key gets through with its
// user id on every message, an unlisted key and a plaintext client are refused, and once the
// handler is gone every client is refused (fail closed: ZMQ_ZAP_ENFORCE_DOMAIN).
#include "net/zap_handler.h"

#include <doctest/doctest.h>

#include <chrono>

#include "net/curve_keys.h"
#include "net/monitor.h"
#include "net/socket.h"
#include "tests/net/monitor_wait.h"

using namespace recomp;
using namespace std::chrono_literals;
using Kind = net::SocketEvent::Kind;
using net::testing::WaitEvent;

namespace {

struct Client {
  zmq::socket_t socket;
  std::optional<net::SocketMonitor> monitor;
};

// A DEALER to `ep`, CURVE with `keys` unless it is null (plain), monitored from the start.
Client Connect(zmq::context_t& ctx, const std::string& ep, const std::string& server_public,
               const net::CurveKeyPair* keys) {
  net::SocketOptions o;
  if (keys != nullptr) o.curve_client = {server_public, keys->public_key, keys->secret_key};
  auto s = net::MakeSocket(ctx, zmq::socket_type::dealer, o);
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  Client c{std::move(s).value(), std::nullopt};
  auto m = net::SocketMonitor::Start(ctx, c.socket);
  REQUIRE(m.ok());
  c.monitor.emplace(std::move(m).value());
  REQUIRE(net::Connect(c.socket, ep, "test").ok());
  REQUIRE(net::Send(c.socket, {"hello"}) == net::SendResult::kOk);
  return c;
}

// Receives one message on `server` within `limit` (false when none came).
bool ReceiveOne(zmq::socket_t& server, net::Received* m, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{server.handle(), 0, ZMQ_POLLIN, 0};
    REQUIRE(net::Poll(&item, 1, 50ms).ok());
    auto got = net::Receive(server, m);
    REQUIRE(got.ok());
    if (*got) return true;
  }
  return false;
}

struct Fixture {
  zmq::context_t ctx;
  net::CurveKeyPair server = *net::NewCurveKeyPair();
  net::CurveKeyPair alice = *net::NewCurveKeyPair();
  net::CurveKeyPair mallory = *net::NewCurveKeyPair();
  std::unique_ptr<net::ZapHandler> zap;
  zmq::socket_t router;
  std::string ep;
  std::string domain_seen;

  Fixture() {
    auto z = net::ZapHandler::Start(ctx, [this](const net::ZapRequest& r) {
      domain_seen = r.domain;
      if (r.public_key == alice.public_key) return net::ZapDecision{true, "alice", ""};
      return net::ZapDecision{false, "", "not listed"};
    });
    REQUIRE_MESSAGE(z.ok(), z.status().ToString());
    zap = std::move(z).value();
    net::SocketOptions o;
    o.curve_server = {server.secret_key, "test-domain"};
    auto s = net::MakeSocket(ctx, zmq::socket_type::router, o);
    REQUIRE_MESSAGE(s.ok(), s.status().ToString());
    router = std::move(s).value();
    ep = *net::Bind(router, "tcp://127.0.0.1:0", "test");
  }
};

}  // namespace

TEST_CASE("zap: an allowed key gets through and every message carries its user id") {
  Fixture f;
  Client a = Connect(f.ctx, f.ep, f.server.public_key, &f.alice);
  net::Received m;
  REQUIRE(ReceiveOne(f.router, &m, 5s));
  CHECK(m.user_id == "alice");
  CHECK(m.frames.back() == "hello");
  CHECK(f.domain_seen == "test-domain");
  REQUIRE(net::Send(a.socket, {"again"}) == net::SendResult::kOk);
  REQUIRE(ReceiveOne(f.router, &m, 5s));
  CHECK(m.user_id == "alice");
  CHECK(f.zap->stats().allowed.load() == 1);  // ZAP runs once, at the handshake
}

TEST_CASE("zap: an unlisted key is refused with status 400 and nothing reaches the server") {
  Fixture f;
  Client m = Connect(f.ctx, f.ep, f.server.public_key, &f.mallory);
  CHECK(WaitEvent(
      *m.monitor, [](const net::SocketEvent& e) { return net::IsKeyRefused(e); }, 5s));
  net::Received got;
  CHECK_FALSE(ReceiveOne(f.router, &got, 300ms));
  CHECK(f.zap->stats().refused.load() >= 1);
  // The positive control on the same server: a listed key still gets through.
  Client a = Connect(f.ctx, f.ep, f.server.public_key, &f.alice);
  REQUIRE(ReceiveOne(f.router, &got, 5s));
  CHECK(got.user_id == "alice");
}

TEST_CASE("zap: a plaintext client to a CURVE endpoint is refused") {
  Fixture f;
  Client plain = Connect(f.ctx, f.ep, "", nullptr);
  CHECK(WaitEvent(
      *plain.monitor, [](const net::SocketEvent& e) { return e.kind == Kind::kHandshakeFailed; },
      5s));
  net::Received got;
  CHECK_FALSE(ReceiveOne(f.router, &got, 300ms));
}

TEST_CASE("zap: a client that pins another server key never gets through") {
  Fixture f;
  net::CurveKeyPair other = *net::NewCurveKeyPair();
  Client a = Connect(f.ctx, f.ep, other.public_key, &f.alice);
  CHECK(WaitEvent(
      *a.monitor,
      [](const net::SocketEvent& e) {
        return e.kind == Kind::kHandshakeFailed || e.kind == Kind::kDisconnected;
      },
      5s));
  net::Received got;
  CHECK_FALSE(ReceiveOne(f.router, &got, 300ms));
}

TEST_CASE("zap: fail closed: with the handler gone every client is refused, listed or not") {
  Fixture f;
  {  // before: the listed key gets through
    Client a = Connect(f.ctx, f.ep, f.server.public_key, &f.alice);
    net::Received got;
    REQUIRE(ReceiveOne(f.router, &got, 5s));
  }
  f.zap->Stop();
  for (const net::CurveKeyPair* keys : {&f.mallory, &f.alice}) {
    Client c = Connect(f.ctx, f.ep, f.server.public_key, keys);
    // The handshake fails, or (while libzmq still unregisters the handler's endpoint) waits
    // for a ZAP reply that never comes: either way nothing gets through.
    bool failed = WaitEvent(
        *c.monitor,
        [](const net::SocketEvent& e) {
          return e.kind == Kind::kHandshakeFailed || e.kind == Kind::kDisconnected;
        },
        1s);
    MESSAGE("handshake " << (failed ? "failed" : "still pending"));
    net::Received got;
    CHECK_FALSE(ReceiveOne(f.router, &got, 1s));
  }
}

TEST_CASE("zap: a CURVE server needs a ZAP domain and a Z85 key; enforcement reads back on") {
  zmq::context_t ctx;
  net::CurveKeyPair k = *net::NewCurveKeyPair();
  net::SocketOptions o;
  o.curve_server = {k.secret_key, ""};
  auto no_domain = net::MakeSocket(ctx, zmq::socket_type::router, o);
  REQUIRE_FALSE(no_domain.ok());
  CHECK(no_domain.status().message().find("ZAP domain") != std::string::npos);
  o.curve_server = {"not-a-key", "d"};
  auto bad = net::MakeSocket(ctx, zmq::socket_type::router, o);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("not-a-key") == std::string::npos);  // secrets not echoed
  o.curve_server = {k.secret_key, "d"};
  auto s = net::MakeSocket(ctx, zmq::socket_type::router, o);
  REQUIRE(s.ok());
  int on = 0;
  size_t len = sizeof(on);
  REQUIRE(zmq_getsockopt(s->handle(), net::kZapEnforceDomainOption, &on, &len) == 0);
  CHECK(on == 1);
}

TEST_CASE("zap: a second handler in the same context is refused") {
  zmq::context_t ctx;
  auto deny = [](const net::ZapRequest&) { return net::ZapDecision{}; };
  auto first = net::ZapHandler::Start(ctx, deny);
  REQUIRE(first.ok());
  auto second = net::ZapHandler::Start(ctx, deny);
  CHECK_FALSE(second.ok());
}
