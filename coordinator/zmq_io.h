// The coordinator's one adapter from cppzmq (exceptions, errno) to Status: socket creation with
// explicit options, bind/connect, non-blocking multipart receive and send, and ROUTER envelope
// splitting. Functions act on a socket the calling thread owns.
#pragma once

#include <string>
#include <vector>

#include <zmq.hpp>

#include "messages/status.h"

namespace recomp::coordinator {

// A socket with LINGER 0, explicit send/receive high-water marks, and for ROUTER sockets
// ROUTER_MANDATORY (an unroutable reply fails instead of vanishing). Frames are capped at
// 16 MiB + 1 KiB (ZMQ_MAXMSGSIZE) so a hostile peer cannot make us buffer more.
Result<zmq::socket_t> MakeSocket(zmq::context_t& ctx, zmq::socket_type type, int hwm);
// Binds and returns the resolved endpoint (ZMQ_LAST_ENDPOINT: tcp port 0 becomes real).
Result<std::string> BindSocket(zmq::socket_t& s, const std::string& endpoint, const char* what);
Status ConnectSocket(zmq::socket_t& s, const std::string& endpoint, const char* what);
// zmq_poll; Cancelled on EINTR.
Status Poll(zmq::pollitem_t* items, int n, long timeout_ms);
// Receives one whole multipart message without blocking; false when none is waiting.
bool RecvFrames(zmq::socket_t& s, std::vector<std::string>* frames);
// Sends without blocking; a full queue or unroutable peer drops the message with a warning
// (callers never block on a slow peer). Returns false when dropped.
bool SendFrames(zmq::socket_t& s, std::vector<std::string> frames, const char* what);

// A ROUTER message: the routing envelope (identity frames up to and including an empty
// delimiter if the peer is REQ) and the protocol frames after it.
struct RouterMessage {
  std::vector<std::string> envelope;
  std::vector<std::string> message;
};
// Splits at the first frame equal to "RCP1" (the protocol tag). InvalidArgument if none.
Result<RouterMessage> SplitEnvelope(const std::vector<std::string>& frames);
// The routing envelope to answer a message that did not parse (non-empty `frames`): the
// identity frame, plus the empty delimiter a REQ peer expects.
std::vector<std::string> FallbackEnvelope(const std::vector<std::string>& frames);

}  // namespace recomp::coordinator
