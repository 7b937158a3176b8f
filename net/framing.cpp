// Message framing (see framing.h).
#include "net/framing.h"

namespace recomp::net {

std::vector<std::string> Frames(std::string_view tag, std::string_view command, std::string body) {
  return {std::string(tag), std::string(command), std::move(body)};
}

std::vector<std::string> Frames(std::string_view tag, std::string_view command, std::string body,
                                std::string data) {
  return {std::string(tag), std::string(command), std::move(body), std::move(data)};
}

Result<Message> Parse(std::string_view tag, const std::vector<std::string>& frames,
                      DataFrame data) {
  std::vector<std::string> copy = frames;
  return Parse(tag, std::move(copy), data);
}

Result<Message> Parse(std::string_view tag, std::vector<std::string>&& frames, DataFrame data) {
  bool with_data = data == DataFrame::kOptional && frames.size() == 4;
  if (frames.size() != 3 && !with_data) {
    return Status::InvalidArgument(std::string("protocol: expected ") +
                                   (data == DataFrame::kOptional
                                        ? "3 or 4 frames [tag, command, body, data?]"
                                        : "3 frames [tag, command, body]") +
                                   ", got " + std::to_string(frames.size()));
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
  Message m{std::move(frames[1]), std::move(frames[2]), {}, with_data};
  if (with_data) m.data = std::move(frames[3]);
  return m;
}

Result<Message> Parse(std::string_view tag, const Received& received, DataFrame data) {
  Received copy = received;
  return Parse(tag, std::move(copy), data);
}

Result<Message> Parse(std::string_view tag, Received&& received, DataFrame data) {
  if (received.truncated()) {
    return Status::InvalidArgument("protocol: expected at most 4 frames, got " +
                                   std::to_string(received.total_frames));
  }
  return Parse(tag, std::move(received.frames), data);
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
