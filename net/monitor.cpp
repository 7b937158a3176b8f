// Socket monitor (see monitor.h). libzmq's monitor messages (v1): frame 1 is a 16-bit event
// number and a 32-bit value in host byte order, frame 2 the endpoint.
#include "net/monitor.h"

#include <atomic>
#include <cstring>

namespace recomp::net {
namespace {

constexpr int kEvents = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_ACCEPTED |
                        ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                        ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                        ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;

SocketEvent::Kind KindOf(uint16_t ev) {
  switch (ev) {
    case ZMQ_EVENT_CONNECTED:
      return SocketEvent::Kind::kConnected;
    case ZMQ_EVENT_CONNECT_RETRIED:
      return SocketEvent::Kind::kConnectRetried;
    case ZMQ_EVENT_ACCEPTED:
      return SocketEvent::Kind::kAccepted;
    case ZMQ_EVENT_DISCONNECTED:
      return SocketEvent::Kind::kDisconnected;
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
      return SocketEvent::Kind::kHandshakeSucceeded;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
      return SocketEvent::Kind::kHandshakeFailed;
    default:
      return SocketEvent::Kind::kOther;
  }
}

}  // namespace

std::string Describe(const SocketEvent& e) {
  switch (e.kind) {
    case SocketEvent::Kind::kConnected:
      return "connected to " + e.endpoint;
    case SocketEvent::Kind::kConnectRetried:
      return "connecting to " + e.endpoint + ": retrying";
    case SocketEvent::Kind::kAccepted:
      return "accepted a connection on " + e.endpoint;
    case SocketEvent::Kind::kDisconnected:
      return "disconnected from " + e.endpoint;
    case SocketEvent::Kind::kHandshakeSucceeded:
      return "handshake with " + e.endpoint + " succeeded";
    case SocketEvent::Kind::kHandshakeFailed:
      if (e.zmq_event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        return "handshake with " + e.endpoint + " refused (authentication, ZAP status " +
               std::to_string(e.value) + ")";
      }
      if (e.zmq_event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        return "handshake with " + e.endpoint + " failed (protocol error " +
               std::to_string(e.value) + ")";
      }
      return "handshake with " + e.endpoint + " failed (" +
             std::strerror(static_cast<int>(e.value)) + ")";
    case SocketEvent::Kind::kOther:
      break;
  }
  return "socket event " + std::to_string(e.zmq_event) + " on " + e.endpoint;
}

bool IsKeyRefused(const SocketEvent& e) {
  return e.zmq_event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && e.value == 400;
}

std::string HandshakeFailure(const SocketEvent& e, const std::string& public_key) {
  if (IsKeyRefused(e)) {
    return "the pool at " + e.endpoint + " refused key " + public_key +
           ": it is not in the pool's allowlist, or its role may not use this endpoint";
  }
  return Describe(e) + " (is the server key the one the pool uses?)";
}

Result<SocketMonitor> SocketMonitor::Start(zmq::context_t& ctx, zmq::socket_t& socket) {
  static std::atomic<uint64_t> counter{0};
  std::string addr = "inproc://recomp-monitor-" + std::to_string(counter.fetch_add(1));
  if (zmq_socket_monitor(socket.handle(), addr.c_str(), kEvents) != 0) {
    return Status::Internal("zmq_socket_monitor: " + std::string(zmq_strerror(zmq_errno())));
  }
  try {
    zmq::socket_t pair(ctx, zmq::socket_type::pair);
    pair.set(zmq::sockopt::linger, 0);
    pair.connect(addr);
    return SocketMonitor(std::move(pair), socket.handle());
  } catch (const zmq::error_t& e) {
    zmq_socket_monitor(socket.handle(), nullptr, 0);
    return Status::Internal(std::string("socket monitor: ") + e.what());
  }
}

SocketMonitor::SocketMonitor(SocketMonitor&& o) noexcept
    : pair_(std::move(o.pair_)), monitored_(o.monitored_) {
  o.monitored_ = nullptr;
}

SocketMonitor& SocketMonitor::operator=(SocketMonitor&& o) noexcept {
  if (this != &o) {
    Stop();
    pair_ = std::move(o.pair_);
    monitored_ = o.monitored_;
    o.monitored_ = nullptr;
  }
  return *this;
}

void SocketMonitor::Stop() {
  if (monitored_ != nullptr) zmq_socket_monitor(monitored_, nullptr, 0);
  monitored_ = nullptr;
  pair_.close();
}

std::vector<SocketEvent> SocketMonitor::Drain() {
  std::vector<SocketEvent> out;
  try {
    for (int i = 0; i < 1000; ++i) {
      zmq::message_t head, addr;
      if (!pair_.recv(head, zmq::recv_flags::dontwait)) break;
      if (!head.more() || !pair_.recv(addr, zmq::recv_flags::none)) continue;
      if (head.size() < 6) continue;
      SocketEvent e;
      std::memcpy(&e.zmq_event, head.data(), 2);
      std::memcpy(&e.value, static_cast<const char*>(head.data()) + 2, 4);
      e.kind = KindOf(e.zmq_event);
      e.endpoint = addr.to_string();
      out.push_back(std::move(e));
    }
  } catch (const zmq::error_t&) {
    // The context is terminating: there is nothing more to report.
  }
  return out;
}

}  // namespace recomp::net
