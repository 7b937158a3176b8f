// The one ZeroMQ transport (cppzmq adapter): sockets created with explicit presets, bind and
// connect, poll, a bounded receive and non-blocking sends whose result the caller must handle.
// Every zmq::error_t is converted here (or in framing/monitor/zap_handler) and nowhere else,
// and CURVE is switched on here. Functions act on a socket the calling thread owns (one thread per
// socket; other threads talk to it over inproc://).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "base/limits.h"
#include "base/status.h"

namespace recomp::net {

// What every recomp socket is created with. LINGER 0 (shutdown never hangs on unsent data),
// explicit high-water marks (ZeroMQ's default 1000 is no flow control), ZMQ_MAXMSGSIZE from
// base/limits.h (a larger frame drops the connection inside libzmq), and for ROUTER sockets
// ROUTER_MANDATORY (an unroutable send fails instead of vanishing).
// A CURVE server socket (RFC 26): its secret key, and the ZAP domain (required, non-empty) its
// handshakes are authenticated in. With it, libzmq asks the context's ZAP handler about every
// client and refuses the client when no handler answers (ZMQ_ZAP_ENFORCE_DOMAIN: fail closed).
struct CurveServer {
  std::string secret_key;  // Z85; "" = no CURVE (plain ZMTP)
  std::string zap_domain;
  bool enabled() const { return !secret_key.empty(); }
};
// A CURVE client socket: the server's public key it pins and its own keypair (all Z85).
struct CurveClient {
  std::string server_key;  // "" = no CURVE (plain ZMTP)
  std::string public_key, secret_key;
  bool enabled() const { return !server_key.empty(); }
};
// libzmq's option number of ZMQ_ZAP_ENFORCE_DOMAIN: Debian's zmq.h declares it only under the
// DRAFT API guard, but libzmq 4.3 implements it.
inline constexpr int kZapEnforceDomainOption = 93;

struct SocketOptions {
  int sndhwm = 1000;
  int rcvhwm = 1000;
  size_t max_frame_bytes = limits::kMaxFrameBytes;
  // XPUB only: subscriptions are delivered to the owner, which accepts each with Subscribe
  // (ZMQ_XPUB_MANUAL); nothing a subscriber sends enters the socket's topic trie by itself.
  bool xpub_manual = false;
  // libzmq's own reconnect delay of a connecting socket, doubling to the max (0: libzmq's
  // default, 100 ms flat): a peer that is down is not knocked on ten times a second.
  int reconnect_ivl_ms = 0;
  int reconnect_ivl_max_ms = 0;
  CurveServer curve_server;  // at most one of these two is enabled
  CurveClient curve_client;
};

// A socket of `type` in `ctx` with the presets above. Internal on a libzmq failure;
// InvalidArgument for a CURVE key that is not Z85 or a CURVE server without a ZAP domain.
Result<zmq::socket_t> MakeSocket(zmq::context_t& ctx, zmq::socket_type type,
                                 const SocketOptions& options = {});
// The listen backlog of every bound tcp endpoint (libzmq's default is 100; the kernel caps it
// at net.core.somaxconn). Thousands of workers connect at once when a pool starts: with a
// short backlog the kernel drops their SYNs and each retries after 1, 2, 4, ... seconds.
constexpr int kListenBacklog = 4096;
// Binds and returns the resolved endpoint (tcp port 0 or * becomes the real port).
// Unavailable naming `what` and the endpoint when it cannot be bound.
Result<std::string> Bind(zmq::socket_t& s, const std::string& endpoint, std::string_view what);
// Connects (asynchronously: no peer need be there yet). InvalidArgument for a malformed
// endpoint, naming `what`.
Status Connect(zmq::socket_t& s, const std::string& endpoint, std::string_view what);
// Subscribes a SUB socket to topics starting with `prefix`; on a manual XPUB, accepts the
// subscription just received (its subscriber gets messages starting with `prefix`).
Status Subscribe(zmq::socket_t& s, std::string_view prefix);
// On a manual XPUB, accepts the unsubscription just received.
Status Unsubscribe(zmq::socket_t& s, std::string_view prefix);
// zmq_poll over `n` items for at most `timeout`; Cancelled on EINTR, Internal otherwise.
Status Poll(zmq::pollitem_t* items, size_t n, std::chrono::milliseconds timeout);

// One received message: at most limits::kMaxFrames frames are kept; longer messages are
// counted and the rest discarded, so no peer makes us hold more than kMaxFrames frames of
// kMaxFrameBytes each.
struct Received {
  std::vector<std::string> frames;  // the first kMaxFrames frames
  size_t total_frames = 0;          // every frame of the message, kept or not
  // The ZAP handler's user id for the connection the message came on ("" without CURVE/ZAP):
  // a CURVE server checks it on every request, since ZAP runs only at the handshake.
  std::string user_id;
  bool truncated() const { return total_frames != frames.size(); }
};
// Receives one whole message without blocking: true when one was read, false when none is
// waiting. Cancelled when the context is terminated, Internal on other libzmq errors.
Result<bool> Receive(zmq::socket_t& s, Received* out);

// The result of a non-blocking send. Callers decide what each case means for them.
enum class [[nodiscard]] SendResult {
  kOk,
  kAgain,        // the peer's pipe is at its high-water mark: nothing was sent
  kUnreachable,  // ROUTER_MANDATORY: no such peer (EHOSTUNREACH): nothing was sent
  kError,        // anything else (the error text is returned): nothing or part was sent
};
std::string_view ToString(SendResult r);

// Sends `frames` as one message without blocking. `*error` (if given) gets libzmq's text for
// kError and kUnreachable.
SendResult Send(zmq::socket_t& s, const std::vector<std::string>& frames,
                std::string* error = nullptr);
// Sends [routing_id][frames...] on a ROUTER without blocking.
SendResult SendTo(zmq::socket_t& s, const std::string& routing_id,
                  const std::vector<std::string>& frames, std::string* error = nullptr);

// The host of a tcp:// endpoint ("tcp://host:port" -> "host"; an IPv6 host keeps its
// brackets); "" for another transport or an endpoint without a port.
std::string EndpointHost(const std::string& endpoint);
// Whether only this machine can reach `endpoint`: a loopback tcp host, ipc:// or inproc://.
bool IsLoopbackEndpoint(const std::string& endpoint);

// `advertised` (an endpoint a service bound, e.g. tcp://0.0.0.0:7424) as reachable by a peer
// that reached the same machine at `connected`: a wildcard host (*, 0.0.0.0, ::) becomes
// connected's host; anything else is returned as is.
std::string ResolveWildcardHost(const std::string& advertised, const std::string& connected);

// Printable form of a routing id (hex of its first 16 bytes) for logs.
std::string PeerName(std::string_view routing_id);

}  // namespace recomp::net
