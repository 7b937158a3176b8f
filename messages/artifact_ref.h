// ArtifactRef: the textual name of an immutable blob, "artifact://" + 64 lowercase hex digits
// of the BLAKE2b-256 digest of its exact bytes (see docs/store.md). Value type; thread-compatible.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "messages/status.h"

namespace recomp {

inline constexpr std::string_view kArtifactScheme = "artifact://";
inline constexpr size_t kDigestBytes = 32;

struct Digest {
  std::array<uint8_t, kDigestBytes> bytes{};
  // 64 lowercase hex digits.
  std::string Hex() const;
  // "artifact://<hex>".
  std::string Ref() const;
  bool operator==(const Digest&) const = default;
  auto operator<=>(const Digest&) const = default;
};

// Parses "artifact://<64 lowercase hex>". Anything else (uppercase, wrong length, other scheme,
// trailing bytes) is InvalidArgument with the offending text (truncated) in the message.
Result<Digest> ParseArtifactRef(std::string_view ref);
// Parses 64 lowercase hex digits.
Result<Digest> ParseDigestHex(std::string_view hex);
inline bool IsArtifactRef(std::string_view ref) {
  return ParseArtifactRef(ref).ok();
}

}  // namespace recomp
