// ZapHandler: the ZAP (ZeroMQ RFC 27) responder of a context. Its thread owns a REP socket
// bound to inproc://zeromq.zap.01 and answers every CURVE handshake of the context's server
// sockets with 200 (the user id is the key's name) or 400 only: a 300 would make the client wait
// for ever, and any other answer is a refusal libzmq reports as a protocol error.
// Start it before any CURVE server socket binds; once it stops, a CURVE server socket with
// ZMQ_ZAP_ENFORCE_DOMAIN (net/socket.h) refuses every client (fail closed).
// Thread-safety: Start/Stop/destroy on one thread; `decide` runs on the handler's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <zmq.hpp>

#include "base/status.h"

namespace recomp::net {

inline constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

// What a CURVE server asks about a client.
struct ZapRequest {
  std::string domain;      // the server socket's ZAP domain
  std::string address;     // the client's IP address as libzmq gives it
  std::string public_key;  // the client's long-term public key, Z85
};
struct ZapDecision {
  bool allow = false;
  std::string user_id;  // when allowed: the identity Received::user_id carries
  std::string reason;   // when refused: logged by the caller of `decide`, sent as status text
};
struct ZapStats {
  std::atomic<uint64_t> allowed{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<uint64_t> malformed{0};  // requests not in RFC 27's form (answered 400)
};

class ZapHandler {
 public:
  using Decide = std::function<ZapDecision(const ZapRequest&)>;
  // Binds the ZAP endpoint in `ctx` and starts answering. Unavailable when another handler is
  // bound there already. `ctx` must outlive the handler.
  static Result<std::unique_ptr<ZapHandler>> Start(zmq::context_t& ctx, Decide decide);
  ~ZapHandler();  // Stop()
  // Stops answering and closes the socket; later handshakes are refused (fail closed).
  void Stop();
  const ZapStats& stats() const { return stats_; }

 private:
  ZapHandler(zmq::socket_t socket, Decide decide);
  void Serve();
  // Answers one request message (RFC 27 frames); false when it was not a request.
  bool Answer(const std::vector<std::string>& frames);
  zmq::socket_t socket_;  // owned by thread_ once it runs
  Decide decide_;
  std::atomic<bool> stop_{false};
  ZapStats stats_;
  std::thread thread_;
};

}  // namespace recomp::net
