// The cppzmq adapter (see socket.h).
#include "net/socket.h"

#include <cassert>
#include <cerrno>

#include "net/curve_keys.h"

namespace recomp::net {

namespace {

// Makes `s` a CURVE server that fails closed, and checks that libzmq took the enforcement.
Status MakeCurveServer(zmq::socket_t& s, const CurveServer& c) {
  if (c.zap_domain.empty()) {
    // libzmq never asks ZAP when the domain is empty, even with enforcement on.
    return Status::InvalidArgument("a CURVE server needs a ZAP domain");
  }
  RECOMP_RETURN_IF_ERROR(ValidateZ85Key(c.secret_key, "CURVE server secret key"));
  s.set(zmq::sockopt::curve_server, 1);
  s.set(zmq::sockopt::curve_secretkey, c.secret_key);
  s.set(zmq::sockopt::zap_domain, c.zap_domain);
  int on = 1, got = 0;
  size_t len = sizeof(got);
  if (zmq_setsockopt(s.handle(), kZapEnforceDomainOption, &on, sizeof(on)) != 0 ||
      zmq_getsockopt(s.handle(), kZapEnforceDomainOption, &got, &len) != 0 || got != 1) {
    return Status::FailedPrecondition(
        "this libzmq does not enforce ZAP domains (option 93): a CURVE socket would accept "
        "any client key when no ZAP handler answers, so it is not opened");
  }
  return Status::Ok();
}

Status MakeCurveClient(zmq::socket_t& s, const CurveClient& c) {
  RECOMP_RETURN_IF_ERROR(ValidateZ85Key(c.server_key, "CURVE server public key"));
  RECOMP_RETURN_IF_ERROR(ValidateZ85Key(c.public_key, "CURVE public key"));
  RECOMP_RETURN_IF_ERROR(ValidateZ85Key(c.secret_key, "CURVE secret key"));
  s.set(zmq::sockopt::curve_serverkey, c.server_key);
  s.set(zmq::sockopt::curve_publickey, c.public_key);
  s.set(zmq::sockopt::curve_secretkey, c.secret_key);
  return Status::Ok();
}

}  // namespace

Result<zmq::socket_t> MakeSocket(zmq::context_t& ctx, zmq::socket_type type,
                                 const SocketOptions& options) {
  assert(!(options.curve_server.enabled() && options.curve_client.enabled()));
  try {
    zmq::socket_t s(ctx, type);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::sndhwm, options.sndhwm);
    s.set(zmq::sockopt::rcvhwm, options.rcvhwm);
    s.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options.max_frame_bytes));
    if (type == zmq::socket_type::router) s.set(zmq::sockopt::router_mandatory, 1);
    if (options.xpub_manual) s.set(zmq::sockopt::xpub_manual, 1);
    if (options.reconnect_ivl_ms > 0) s.set(zmq::sockopt::reconnect_ivl, options.reconnect_ivl_ms);
    if (options.reconnect_ivl_max_ms > 0) {
      s.set(zmq::sockopt::reconnect_ivl_max, options.reconnect_ivl_max_ms);
    }
    if (options.curve_server.enabled()) {
      RECOMP_RETURN_IF_ERROR(MakeCurveServer(s, options.curve_server));
    }
    if (options.curve_client.enabled()) {
      RECOMP_RETURN_IF_ERROR(MakeCurveClient(s, options.curve_client));
    }
    return s;
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("zmq socket: ") + e.what());
  }
}

Result<std::string> Bind(zmq::socket_t& s, const std::string& endpoint, std::string_view what) {
  try {
    s.set(zmq::sockopt::backlog, kListenBacklog);
    s.bind(endpoint);
    return s.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("cannot bind " + std::string(what) + " endpoint " + endpoint + ": " +
                               e.what());
  }
}

Status Connect(zmq::socket_t& s, const std::string& endpoint, std::string_view what) {
  try {
    s.connect(endpoint);
    return Status::Ok();
  } catch (const zmq::error_t& e) {
    return Status::InvalidArgument(std::string(what) + " endpoint '" + endpoint + "': " + e.what());
  }
}

Status Subscribe(zmq::socket_t& s, std::string_view prefix) {
  try {
    s.set(zmq::sockopt::subscribe, prefix);
    return Status::Ok();
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("zmq subscribe: ") + e.what());
  }
}

Status Unsubscribe(zmq::socket_t& s, std::string_view prefix) {
  try {
    s.set(zmq::sockopt::unsubscribe, prefix);
    return Status::Ok();
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("zmq unsubscribe: ") + e.what());
  }
}

Status Poll(zmq::pollitem_t* items, size_t n, std::chrono::milliseconds timeout) {
  try {
    zmq::poll(items, n, timeout);
    return Status::Ok();
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return Status::Cancelled("interrupted");
    return Status::Internal(std::string("zmq poll: ") + e.what());
  }
}

Result<bool> Receive(zmq::socket_t& s, Received* out) {
  out->frames.clear();
  out->total_frames = 0;
  out->user_id.clear();
  try {
    zmq::message_t msg;
    // The parts of a message arrive together: after the first, the rest never blocks.
    if (!s.recv(msg, zmq::recv_flags::dontwait)) return false;
    for (;;) {
      // A ROUTER's routing-id frame carries no metadata: the user id is on the peer's frames.
      if (out->user_id.empty()) {
        if (const char* user = zmq_msg_gets(msg.handle(), "User-Id")) out->user_id = user;
      }
      ++out->total_frames;
      if (out->frames.size() < limits::kMaxFrames) out->frames.emplace_back(msg.to_string());
      if (!msg.more()) return true;
      if (!s.recv(msg, zmq::recv_flags::none)) return true;
    }
  } catch (const zmq::error_t& e) {
    if (e.num() == ETERM) return Status::Cancelled("zmq context terminated");
    return Status::Internal(std::string("zmq recv: ") + e.what());
  }
}

std::string_view ToString(SendResult r) {
  switch (r) {
    case SendResult::kOk:
      return "sent";
    case SendResult::kAgain:
      return "peer not reading (high-water mark)";
    case SendResult::kUnreachable:
      return "peer unreachable";
    case SendResult::kError:
      return "send failed";
  }
  return "send failed";
}

namespace {

// Sends `head` (if not null) and then `frames` as one message.
SendResult SendParts(zmq::socket_t& s, const std::string* head,
                     const std::vector<std::string>& frames, std::string* error) {
  const size_t n = frames.size() + (head != nullptr ? 1 : 0);
  size_t i = 0;
  auto send_one = [&](const std::string& part) {
    auto flags = zmq::send_flags::dontwait;
    if (i + 1 < n) flags = flags | zmq::send_flags::sndmore;
    ++i;
    return s.send(zmq::buffer(part), flags).has_value();
  };
  try {
    if (head != nullptr && !send_one(*head)) return SendResult::kAgain;
    for (const std::string& f : frames) {
      // The parts after the first are queued with it; EAGAIN can only come on the first.
      if (!send_one(f)) return i == 1 ? SendResult::kAgain : SendResult::kError;
    }
  } catch (const zmq::error_t& e) {
    if (error != nullptr) *error = e.what();
    return e.num() == EHOSTUNREACH ? SendResult::kUnreachable : SendResult::kError;
  }
  return SendResult::kOk;
}

}  // namespace

SendResult Send(zmq::socket_t& s, const std::vector<std::string>& frames, std::string* error) {
  return SendParts(s, nullptr, frames, error);
}

SendResult SendTo(zmq::socket_t& s, const std::string& routing_id,
                  const std::vector<std::string>& frames, std::string* error) {
  return SendParts(s, &routing_id, frames, error);
}

std::string PeerName(std::string_view routing_id) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : routing_id.substr(0, 16)) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string EndpointHost(const std::string& endpoint) {
  constexpr std::string_view kTcp = "tcp://";
  if (endpoint.rfind(kTcp, 0) != 0) return "";
  size_t colon = endpoint.rfind(':');
  if (colon < kTcp.size()) return "";  // no port: only the scheme's colon
  return endpoint.substr(kTcp.size(), colon - kTcp.size());
}

bool IsLoopbackEndpoint(const std::string& endpoint) {
  if (endpoint.rfind("tcp://", 0) != 0) return true;  // ipc:// and inproc:// stay on the machine
  std::string host = EndpointHost(endpoint);
  return host.rfind("127.", 0) == 0 || host == "localhost" || host == "[::1]" || host == "::1";
}

std::string ResolveWildcardHost(const std::string& advertised, const std::string& connected) {
  std::string host = EndpointHost(advertised), theirs = EndpointHost(connected);
  if (host != "*" && host != "0.0.0.0" && host != "::" && host != "[::]") return advertised;
  if (theirs.empty()) return advertised;
  return "tcp://" + theirs + advertised.substr(advertised.rfind(':'));
}

}  // namespace recomp::net
