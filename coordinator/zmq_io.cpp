// cppzmq adapter: every zmq::error_t is caught here.
#include "coordinator/zmq_io.h"

#include "coordinator/log.h"

#include "messages/codec.h"
#include "messages/protocol.h"

namespace recomp::coordinator {

Result<zmq::socket_t> MakeSocket(zmq::context_t& ctx, zmq::socket_type type, int hwm) {
  try {
    zmq::socket_t s(ctx, type);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::sndhwm, hwm);
    s.set(zmq::sockopt::rcvhwm, hwm);
    s.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(wire::kMaxMessageBytes + 1024));
    if (type == zmq::socket_type::router) s.set(zmq::sockopt::router_mandatory, 1);
    return s;
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("zmq socket: ") + e.what());
  }
}

Result<std::string> BindSocket(zmq::socket_t& s, const std::string& endpoint, const char* what) {
  try {
    s.bind(endpoint);
    return s.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::Unavailable(std::string("cannot bind ") + what + " endpoint " + endpoint + ": " +
                               e.what());
  }
}

Status ConnectSocket(zmq::socket_t& s, const std::string& endpoint, const char* what) {
  try {
    s.connect(endpoint);
    return Status::Ok();
  } catch (const zmq::error_t& e) {
    return Status::Unavailable(std::string("cannot connect ") + what + " to " + endpoint + ": " +
                               e.what());
  }
}

Status Poll(zmq::pollitem_t* items, int n, long timeout_ms) {
  try {
    zmq::poll(items, static_cast<size_t>(n), std::chrono::milliseconds(timeout_ms));
    return Status::Ok();
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return Status::Cancelled("interrupted");
    return Status::Internal(std::string("zmq poll: ") + e.what());
  }
}

bool RecvFrames(zmq::socket_t& s, std::vector<std::string>* frames) {
  frames->clear();
  try {
    zmq::message_t msg;
    if (!s.recv(msg, zmq::recv_flags::dontwait)) return false;
    frames->push_back(msg.to_string());
    while (msg.more()) {
      // The rest of a multipart message is already here (ZeroMQ delivers it atomically).
      if (!s.recv(msg, zmq::recv_flags::none)) break;
      frames->push_back(msg.to_string());
    }
    return true;
  } catch (const zmq::error_t& e) {
    Log()->warn("recv failed: {}", e.what());
    return false;
  }
}

bool SendFrames(zmq::socket_t& s, std::vector<std::string> frames, const char* what) {
  try {
    for (size_t i = 0; i < frames.size(); ++i) {
      auto flags = zmq::send_flags::dontwait;
      if (i + 1 < frames.size()) flags = flags | zmq::send_flags::sndmore;
      if (!s.send(zmq::buffer(frames[i]), flags)) {
        Log()->warn("{}: send queue full, message dropped", what);
        return false;
      }
    }
    return true;
  } catch (const zmq::error_t& e) {
    // EHOSTUNREACH with ROUTER_MANDATORY: the peer is gone; its reply has no one to go to.
    Log()->warn("{}: send failed: {}", what, e.what());
    return false;
  }
}

Result<RouterMessage> SplitEnvelope(const std::vector<std::string>& frames) {
  for (size_t i = 1; i < frames.size(); ++i) {
    if (frames[i] == proto::kTag) {
      RouterMessage m;
      m.envelope.assign(frames.begin(), frames.begin() + static_cast<long>(i));
      m.message.assign(frames.begin() + static_cast<long>(i), frames.end());
      return m;
    }
  }
  return Status::InvalidArgument("no RCP1 frame after the routing envelope");
}

std::vector<std::string> FallbackEnvelope(const std::vector<std::string>& frames) {
  std::vector<std::string> env{frames[0]};
  if (frames.size() > 1 && frames[1].empty()) env.push_back("");
  return env;
}

}  // namespace recomp::coordinator
