// Framing of a recomp protocol message: [tag][command][body], and for protocols that move bytes
// (the blob protocol) an optional 4th frame [data] of raw bytes (at most limits::kMaxFrameBytes,
// which the transport enforces). Here the tag names the protocol
// and its version (the caller passes it: "RCP1" for the control protocol of messages/protocol.h),
// the command is 1-32 bytes of [A-Z_], and the body is opaque here (at most
// limits::kMaxBodyBytes). On a ROUTER the routing envelope comes first. docs/protocol.md.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "net/socket.h"

namespace recomp::net {

inline constexpr size_t kMaxCommand = 32;

struct Message {
  std::string command;
  std::string body;
  std::string data;  // the 4th frame, when the protocol has one and it was sent
  bool has_data = false;
};

// Whether a message may carry the 4th [data] frame.
enum class DataFrame { kNever, kOptional };

// The three frames of a message, and the four of one with data.
std::vector<std::string> Frames(std::string_view tag, std::string_view command, std::string body);
std::vector<std::string> Frames(std::string_view tag, std::string_view command, std::string body,
                                std::string data);
// Checks the frame count, the tag and the command; the body is not decoded. InvalidArgument
// naming what is wrong; ResourceExhausted for a body over limits::kMaxBodyBytes. Moves the
// frames out of `frames`.
Result<Message> Parse(std::string_view tag, std::vector<std::string>&& frames,
                      DataFrame data = DataFrame::kNever);
Result<Message> Parse(std::string_view tag, const std::vector<std::string>& frames,
                      DataFrame data = DataFrame::kNever);
// The same for a received message (a truncated one is refused with its frame count).
Result<Message> Parse(std::string_view tag, const Received& received,
                      DataFrame data = DataFrame::kNever);
Result<Message> Parse(std::string_view tag, Received&& received,
                      DataFrame data = DataFrame::kNever);

// A ROUTER message split at the tag: the routing envelope (identity frames, up to and including
// the empty delimiter a REQ peer sends) and the protocol frames from the tag on.
struct RouterMessage {
  std::vector<std::string> envelope;
  std::vector<std::string> message;
};
// Splits at the first frame after the first that equals `tag`. InvalidArgument if none.
Result<RouterMessage> SplitEnvelope(std::string_view tag, const std::vector<std::string>& frames);
// The routing envelope to answer a message that did not split (non-empty `frames`): the
// identity frame, plus the empty delimiter a REQ peer expects.
std::vector<std::string> FallbackEnvelope(const std::vector<std::string>& frames);

}  // namespace recomp::net
