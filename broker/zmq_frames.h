// Bounded multipart receive and non-blocking multipart send for the broker's ROUTER sockets.
// Stateless helpers; the caller owns the socket (one thread per socket).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <zmq.hpp>

namespace recomp::broker {

// At most this many frames of one message are kept; the rest are counted and discarded so a
// peer cannot make us buffer an arbitrary number of parts (ZMQ_MAXMSGSIZE bounds each part).
inline constexpr size_t kMaxKeptFrames = 8;

struct Received {
  std::vector<std::string> frames;  // the first kMaxKeptFrames frames
  size_t total_frames = 0;          // every frame of the message, kept or not
};

// Receives one whole message without blocking. False when none is waiting (EAGAIN).
// Throws zmq::error_t only for errors other than EAGAIN (e.g. ETERM).
bool RecvBounded(zmq::socket_t& s, Received* out);

enum class SendStatus {
  kOk,
  kAgain,        // the peer's pipe is at its high-water mark: nothing was sent
  kUnreachable,  // ROUTER_MANDATORY: no such peer (EHOSTUNREACH): nothing was sent
  kError,        // anything else (logged by the caller): nothing or part was sent
};

// Sends [routing_id][frames...] on a ROUTER (routing_id may be empty for a DEALER: then only
// `frames` are sent) without blocking.
SendStatus SendFrames(zmq::socket_t& s, const std::string& routing_id,
                      const std::vector<std::string>& frames, std::string* error = nullptr);

// Printable form of a routing id (hex) for logs.
std::string PeerName(const std::string& routing_id);

}  // namespace recomp::broker
