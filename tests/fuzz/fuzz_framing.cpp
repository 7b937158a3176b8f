// libFuzzer target: the protocol framing (net/framing.h), with and without a data frame, of up
// to 12 frames cut from the input
// (each frame: a length byte, then that many bytes; the rest is the last frame).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "messages/protocol.h"
#include "net/framing.h"
#include "tests/fuzz/fuzz_records.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> frames;
  size_t at = 0;
  while (at < size && frames.size() < 11) {
    size_t n = data[at++];
    n = std::min(n, size - at);
    frames.emplace_back(reinterpret_cast<const char*>(data + at), n);
    at += n;
  }
  if (at < size) frames.emplace_back(reinterpret_cast<const char*>(data + at), size - at);
  auto m = recomp::net::Parse(recomp::proto::kTag, frames);
  if (m.ok()) {
    auto again = recomp::net::Parse(recomp::proto::kTag,
                                    recomp::net::Frames(recomp::proto::kTag, m->command, m->body));
    FuzzCheck(again.ok() && again->command == m->command && again->body == m->body,
              "a parsed message re-frames to itself");
  }
  auto d = recomp::net::Parse("RBL1", frames, recomp::net::DataFrame::kOptional);
  if (d.ok()) {
    auto again =
        recomp::net::Parse("RBL1",
                           d->has_data ? recomp::net::Frames("RBL1", d->command, d->body, d->data)
                                       : recomp::net::Frames("RBL1", d->command, d->body),
                           recomp::net::DataFrame::kOptional);
    FuzzCheck(again.ok() && again->data == d->data && again->has_data == d->has_data,
              "a parsed message with data re-frames to itself");
  }
  if (!frames.empty()) {
    auto split = recomp::net::SplitEnvelope(recomp::proto::kTag, frames);
    if (!split.ok()) (void)recomp::net::FallbackEnvelope(frames);
  }
  return 0;
}
