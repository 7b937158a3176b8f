// Message framing (see framing.h).
#include "net/framing.h"

namespace recomp::net {

std::vector<std::string> Frames(std::string_view tag, std::string_view command, std::string body) {
  return {std::string(tag), std::string(command), std::move(body)};
}

Result<Message> Parse(std::string_view tag, const std::vector<std::string>& frames) {
  if (frames.size() != 3) {
    return Status::InvalidArgument("protocol: expected 3 frames [tag, command, body], got " +
                                   std::to_string(frames.size()));
  }
  if (frames[0] != tag) {
    return Status::InvalidArgument("protocol: bad tag (expected \"" + std::string(tag) + "\")");
  }
  const std::string& cmd = frames[1];
  if (cmd.empty() || cmd.size() > kMaxCommand) {
    return Status::InvalidArgument("protocol: command must be 1-32 bytes");
  }
  for (char c : cmd) {
    if (!((c >= 'A' && c <= 'Z') || c == '_')) {
      return Status::InvalidArgument("protocol: command must be [A-Z_]+");
    }
  }
  if (frames[2].size() > limits::kMaxBodyBytes) {
    return Status::ResourceExhausted("protocol: body of " + std::to_string(frames[2].size()) +
                                     " bytes exceeds the limit");
  }
  return Message{cmd, frames[2]};
}

Result<Message> Parse(std::string_view tag, const Received& received) {
  if (received.truncated()) {
    return Status::InvalidArgument("protocol: expected 3 frames [tag, command, body], got " +
                                   std::to_string(received.total_frames));
  }
  return Parse(tag, received.frames);
}

Result<RouterMessage> SplitEnvelope(std::string_view tag, const std::vector<std::string>& frames) {
  for (size_t i = 1; i < frames.size(); ++i) {
    if (frames[i] == tag) {
      RouterMessage m;
      m.envelope.assign(frames.begin(), frames.begin() + static_cast<long>(i));
      m.message.assign(frames.begin() + static_cast<long>(i), frames.end());
      return m;
    }
  }
  return Status::InvalidArgument("no " + std::string(tag) + " frame after the routing envelope");
}

std::vector<std::string> FallbackEnvelope(const std::vector<std::string>& frames) {
  std::vector<std::string> env{frames[0]};
  if (frames.size() > 1 && frames[1].empty()) env.push_back("");
  return env;
}

}  // namespace recomp::net
