// Framing of a recomp protocol message: [tag][command][body], where the tag names the protocol
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
};

// The three frames of a message.
std::vector<std::string> Frames(std::string_view tag, std::string_view command, std::string body);
// Checks the frame count, the tag and the command; the body is not decoded. InvalidArgument
// naming what is wrong; ResourceExhausted for a body over limits::kMaxBodyBytes.
Result<Message> Parse(std::string_view tag, const std::vector<std::string>& frames);
// The same for a received message (a truncated one is refused with its frame count).
Result<Message> Parse(std::string_view tag, const Received& received);

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
