// SocketMonitor: what happened to a socket's connections (connected, disconnected, handshake
// succeeded or failed, retries), read from libzmq's socket monitor over an inproc PAIR. Used to
// log connection changes and, with CURVE, to tell a refused key from a silent peer.
// Thread-safety: create, drain and destroy it on the thread that owns the monitored socket;
// destroy it before that socket is closed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "base/status.h"

namespace recomp::net {

struct SocketEvent {
  enum class Kind {
    kConnected,           // a connection (tcp/ipc) was established
    kConnectRetried,      // a connect attempt failed; libzmq will retry
    kAccepted,            // a bound socket accepted a connection
    kDisconnected,        // a connection closed
    kHandshakeSucceeded,  // the ZMTP (and, with CURVE, the security) handshake completed
    kHandshakeFailed,     // protocol, authentication or system failure in the handshake
    kOther,
  };
  Kind kind = Kind::kOther;
  uint16_t zmq_event = 0;  // the ZMQ_EVENT_* value
  uint32_t value = 0;      // errno, ZAP status code or protocol error, per libzmq
  std::string endpoint;
};
std::string Describe(const SocketEvent& e);
// Whether `e` is a CURVE server's ZAP handler refusing this socket's key (status 400).
bool IsKeyRefused(const SocketEvent& e);
// What a client reports for a failed handshake with a CURVE server: its key `public_key` not
// allowed (IsKeyRefused), or the handshake failing otherwise (most often a wrong server key).
std::string HandshakeFailure(const SocketEvent& e, const std::string& public_key);

class SocketMonitor {
 public:
  // Starts monitoring `socket`'s connection events. Internal when libzmq refuses.
  static Result<SocketMonitor> Start(zmq::context_t& ctx, zmq::socket_t& socket);
  SocketMonitor(SocketMonitor&& o) noexcept;
  SocketMonitor& operator=(SocketMonitor&& o) noexcept;
  ~SocketMonitor() { Stop(); }

  // Every event waiting now, oldest first; never blocks.
  std::vector<SocketEvent> Drain();
  // For zmq_poll: readable when events are waiting.
  void* handle() { return pair_.handle(); }

 private:
  SocketMonitor(zmq::socket_t pair, void* monitored)
      : pair_(std::move(pair)), monitored_(monitored) {}
  void Stop();
  zmq::socket_t pair_;
  void* monitored_ = nullptr;
};

}  // namespace recomp::net
