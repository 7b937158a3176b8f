// Bounded multipart receive and non-blocking multipart send (see zmq_frames.h).
#include "broker/zmq_frames.h"

#include <cerrno>

namespace recomp::broker {

bool RecvBounded(zmq::socket_t& s, Received* out) {
  out->frames.clear();
  out->total_frames = 0;
  zmq::message_t msg;
  for (;;) {
    auto got =
        s.recv(msg, out->total_frames == 0 ? zmq::recv_flags::dontwait : zmq::recv_flags::none);
    if (!got) return false;  // EAGAIN before the first part (parts arrive atomically)
    ++out->total_frames;
    if (out->frames.size() < kMaxKeptFrames) out->frames.emplace_back(msg.to_string());
    if (!msg.more()) return true;
  }
}

SendStatus SendFrames(zmq::socket_t& s, const std::string& routing_id,
                      const std::vector<std::string>& frames, std::string* error) {
  const size_t n = frames.size() + (routing_id.empty() ? 0 : 1);
  size_t i = 0;
  try {
    if (!routing_id.empty()) {
      auto flags =
          zmq::send_flags::dontwait | (n > 1 ? zmq::send_flags::sndmore : zmq::send_flags::none);
      if (!s.send(zmq::buffer(routing_id), flags)) return SendStatus::kAgain;
      ++i;
    }
    for (size_t f = 0; f < frames.size(); ++f, ++i) {
      auto flags = zmq::send_flags::dontwait |
                   (i + 1 < n ? zmq::send_flags::sndmore : zmq::send_flags::none);
      if (!s.send(zmq::buffer(frames[f]), flags)) {
        // Later parts of a message already accepted are queued atomically with the first;
        // EAGAIN can only come on the first part.
        return i == 0 ? SendStatus::kAgain : SendStatus::kError;
      }
    }
  } catch (const zmq::error_t& e) {
    if (error != nullptr) *error = e.what();
    if (e.num() == EHOSTUNREACH) return SendStatus::kUnreachable;
    return SendStatus::kError;
  }
  return SendStatus::kOk;
}

std::string PeerName(const std::string& routing_id) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : routing_id.substr(0, 16)) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

}  // namespace recomp::broker
