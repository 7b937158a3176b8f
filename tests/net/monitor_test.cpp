// SocketMonitor: connection events over tcp loopback, and a handshake failure against a peer
// that does not speak ZMTP.
#include "net/monitor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <thread>

#include "net/socket.h"
#include "tests/net/monitor_wait.h"

using namespace recomp;
using namespace std::chrono_literals;
using Kind = net::SocketEvent::Kind;

namespace {

// Drains `mon` until an event of `kind` arrives (true) or `limit` passes (false).
bool WaitFor(net::SocketMonitor& mon, Kind kind, std::chrono::milliseconds limit,
             std::set<Kind>* seen = nullptr) {
  return net::testing::WaitEvent(
      mon, [kind](const net::SocketEvent& e) { return e.kind == kind; }, limit,
      [seen](const net::SocketEvent& e) {
        if (seen != nullptr) seen->insert(e.kind);
      });
}

}  // namespace

TEST_CASE("the monitor reports a connect and the disconnect when the peer goes") {
  zmq::context_t ctx;
  auto server = net::MakeSocket(ctx, zmq::socket_type::router);
  REQUIRE(server.ok());
  auto ep = net::Bind(*server, "tcp://127.0.0.1:0", "test");
  REQUIRE(ep.ok());
  auto client = net::MakeSocket(ctx, zmq::socket_type::dealer);
  REQUIRE(client.ok());
  auto mon = net::SocketMonitor::Start(ctx, *client);
  REQUIRE_MESSAGE(mon.ok(), mon.status().ToString());
  REQUIRE(net::Connect(*client, *ep, "test").ok());
  CHECK(WaitFor(*mon, Kind::kConnected, 5s));
  server->close();
  CHECK(WaitFor(*mon, Kind::kDisconnected, 5s));
}

TEST_CASE("the monitor reports a failed handshake with a peer that is not ZeroMQ") {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(listener >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listener, 4) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  std::thread peer([listener] {
    int c = ::accept(listener, nullptr, nullptr);
    if (c < 0) return;
    // Not a ZMTP greeting: the signature must start with 0xFF and end with 0x7F.
    const char junk[] = "HTTP/1.0 400 Bad Request\r\n\r\n garbage garbage garbage garbage";
    (void)!::write(c, junk, sizeof junk);
    char buf[256];
    (void)!::read(c, buf, sizeof buf);
    ::close(c);
  });
  {
    zmq::context_t ctx;
    auto client = net::MakeSocket(ctx, zmq::socket_type::dealer);
    REQUIRE(client.ok());
    client->set(zmq::sockopt::reconnect_ivl, 60000);     // one attempt is enough here
    auto mon = net::SocketMonitor::Start(ctx, *client);  // destroyed before the socket
    REQUIRE(mon.ok());
    std::string ep = "tcp://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    REQUIRE(net::Connect(*client, ep, "test").ok());
    std::set<Kind> seen;
    CHECK(WaitFor(*mon, Kind::kHandshakeFailed, 5s, &seen));
    CHECK(seen.count(Kind::kHandshakeSucceeded) == 0);
  }
  ::shutdown(listener, SHUT_RDWR);
  peer.join();
  ::close(listener);
}
