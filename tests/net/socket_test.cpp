// The transport: socket presets, bounded receive, send results, bind/connect errors.
#include "net/socket.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "base/limits.h"

using namespace recomp;
using namespace std::chrono_literals;

namespace {

zmq::socket_t Make(zmq::context_t& ctx, zmq::socket_type t, net::SocketOptions o = {}) {
  auto s = net::MakeSocket(ctx, t, o);
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  return std::move(s).value();
}

// Waits (bounded) for one message on `s`.
bool ReceiveWithin(zmq::socket_t& s, net::Received* out, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{s.handle(), 0, ZMQ_POLLIN, 0};
    REQUIRE(net::Poll(&item, 1, 50ms).ok());
    auto got = net::Receive(s, out);
    REQUIRE(got.ok());
    if (*got) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("MakeSocket applies the presets") {
  zmq::context_t ctx;
  net::SocketOptions o;
  o.sndhwm = 17;
  o.rcvhwm = 23;
  o.max_frame_bytes = 4096;
  zmq::socket_t r = Make(ctx, zmq::socket_type::router, o);
  CHECK(r.get(zmq::sockopt::linger) == 0);
  CHECK(r.get(zmq::sockopt::sndhwm) == 17);
  CHECK(r.get(zmq::sockopt::rcvhwm) == 23);
  CHECK(r.get(zmq::sockopt::maxmsgsize) == 4096);
  zmq::socket_t d = Make(ctx, zmq::socket_type::dealer);
  CHECK(d.get(zmq::sockopt::maxmsgsize) == static_cast<int64_t>(limits::kMaxFrameBytes));
}

TEST_CASE("Receive keeps kMaxFrames frames of a long message and counts the rest") {
  zmq::context_t ctx;
  zmq::socket_t a = Make(ctx, zmq::socket_type::pair);
  zmq::socket_t b = Make(ctx, zmq::socket_type::pair);
  REQUIRE(net::Bind(a, "inproc://socket-test-long", "test").ok());
  REQUIRE(net::Connect(b, "inproc://socket-test-long", "test").ok());
  net::Received m;
  auto none = net::Receive(a, &m);
  REQUIRE(none.ok());
  CHECK_FALSE(*none);
  std::vector<std::string> frames;
  for (int i = 0; i < 100; ++i) frames.push_back("f" + std::to_string(i));
  REQUIRE(net::Send(b, frames) == net::SendResult::kOk);
  REQUIRE(net::Send(b, {"after"}) == net::SendResult::kOk);
  REQUIRE(ReceiveWithin(a, &m, 5s));
  CHECK(m.total_frames == 100);
  CHECK(m.frames.size() == limits::kMaxFrames);
  CHECK(m.frames.back() == "f" + std::to_string(limits::kMaxFrames - 1));
  CHECK(m.truncated());
  // The discarded frames are gone: the next message starts cleanly.
  REQUIRE(ReceiveWithin(a, &m, 5s));
  CHECK(m.frames == std::vector<std::string>{"after"});
  CHECK_FALSE(m.truncated());
}

TEST_CASE("A frame over max_frame_bytes drops the connection inside libzmq; others still work") {
  zmq::context_t ctx;
  net::SocketOptions small;
  small.max_frame_bytes = 1024;
  zmq::socket_t server = Make(ctx, zmq::socket_type::router, small);
  auto ep = net::Bind(server, "tcp://127.0.0.1:0", "test");
  REQUIRE(ep.ok());
  zmq::socket_t big = Make(ctx, zmq::socket_type::dealer);
  REQUIRE(net::Connect(big, *ep, "test").ok());
  REQUIRE(net::Send(big, {std::string(4096, 'x')}) == net::SendResult::kOk);
  zmq::socket_t ok = Make(ctx, zmq::socket_type::dealer);
  REQUIRE(net::Connect(ok, *ep, "test").ok());
  REQUIRE(net::Send(ok, {std::string(1024, 'y')}) == net::SendResult::kOk);
  net::Received m;
  REQUIRE(ReceiveWithin(server, &m, 5s));
  REQUIRE(m.frames.size() == 2);
  CHECK(m.frames[1] == std::string(1024, 'y'));
  CHECK_FALSE(ReceiveWithin(server, &m, 300ms));  // the oversized frame never arrives
}

TEST_CASE("SendTo an unknown peer on a ROUTER is kUnreachable; a full pipe is kAgain") {
  zmq::context_t ctx;
  net::SocketOptions tiny;
  tiny.sndhwm = 1;
  tiny.rcvhwm = 1;
  zmq::socket_t router = Make(ctx, zmq::socket_type::router, tiny);
  REQUIRE(net::Bind(router, "inproc://socket-test-hwm", "test").ok());
  std::string err;
  CHECK(net::SendTo(router, "nobody", {"x"}, &err) == net::SendResult::kUnreachable);
  CHECK_FALSE(err.empty());
  zmq::socket_t dealer = Make(ctx, zmq::socket_type::dealer, tiny);
  dealer.set(zmq::sockopt::routing_id, "peer");
  REQUIRE(net::Connect(dealer, "inproc://socket-test-hwm", "test").ok());
  REQUIRE(net::Send(dealer, {"hello"}) == net::SendResult::kOk);
  net::Received m;
  REQUIRE(ReceiveWithin(router, &m, 5s));
  REQUIRE(m.frames.front() == "peer");
  net::SendResult last = net::SendResult::kOk;
  int sent = 0;
  for (; sent < 10000 && last == net::SendResult::kOk; ++sent) {
    last = net::SendTo(router, "peer", {"payload"});
  }
  CHECK(last == net::SendResult::kAgain);
  CHECK(sent < 10000);
  CHECK(net::ToString(last) == "peer not reading (high-water mark)");
}

TEST_CASE("Bind and Connect errors name the endpoint") {
  zmq::context_t ctx;
  zmq::socket_t a = Make(ctx, zmq::socket_type::router);
  auto ep = net::Bind(a, "tcp://127.0.0.1:0", "api");
  REQUIRE(ep.ok());
  zmq::socket_t b = Make(ctx, zmq::socket_type::router);
  auto again = net::Bind(b, *ep, "api");
  REQUIRE_FALSE(again.ok());
  CHECK(again.status().code() == Status::Code::kUnavailable);
  CHECK(again.status().message().find("cannot bind api endpoint " + *ep) != std::string::npos);
  Status bad = net::Connect(b, "nonsense://x", "replay");
  CHECK(bad.code() == Status::Code::kInvalidArgument);
  CHECK(bad.message().find("replay endpoint 'nonsense://x'") != std::string::npos);
}

TEST_CASE("PeerName is the hex of at most 16 bytes") {
  CHECK(net::PeerName(std::string("\x00\x01\xff", 3)) == "0001ff");
  CHECK(net::PeerName(std::string(40, 'a')).size() == 32);
}

TEST_CASE("a wildcard host in an advertised endpoint becomes the host the worker reached") {
  CHECK(net::ResolveWildcardHost("tcp://0.0.0.0:7424", "tcp://build.lan:7421") ==
        "tcp://build.lan:7424");
  CHECK(net::ResolveWildcardHost("tcp://*:7424", "tcp://198.18.0.1:7421") ==
        "tcp://198.18.0.1:7424");
  CHECK(net::ResolveWildcardHost("tcp://127.0.0.1:7424", "tcp://198.18.0.1:7421") ==
        "tcp://127.0.0.1:7424");
  CHECK(net::ResolveWildcardHost("", "tcp://x:1").empty());
  CHECK(net::ResolveWildcardHost("tcp://0.0.0.0:7424", "ipc:///tmp/x") == "tcp://0.0.0.0:7424");
}

TEST_CASE("endpoint hosts, and which endpoints only this machine reaches") {
  CHECK(net::EndpointHost("tcp://198.18.0.1:7421") == "198.18.0.1");
  CHECK(net::EndpointHost("tcp://[::1]:7421") == "[::1]");
  CHECK(net::EndpointHost("tcp://noport").empty());
  CHECK(net::EndpointHost("ipc:///tmp/sock").empty());
  CHECK(net::IsLoopbackEndpoint("tcp://127.0.0.1:0"));
  CHECK(net::IsLoopbackEndpoint("tcp://localhost:7420"));
  CHECK(net::IsLoopbackEndpoint("tcp://[::1]:7420"));
  CHECK(net::IsLoopbackEndpoint("inproc://recomp-link"));
  CHECK_FALSE(net::IsLoopbackEndpoint("tcp://0.0.0.0:7420"));
  CHECK_FALSE(net::IsLoopbackEndpoint("tcp://198.18.0.1:7420"));
}
