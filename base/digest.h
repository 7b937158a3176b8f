// Digest: the 32-byte BLAKE2b-256 content address of a blob (base/blake2b.h computes it), its
// one text form (64 lowercase hex digits) and its artifact ref ("artifact://<hex>", the v1 name
// of an immutable blob; messages/artifact_ref.h parses refs). Value type; thread-compatible.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

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

// Parses 64 lowercase hex digits (one spelling per digest: uppercase is refused).
// InvalidArgument naming the offending text (truncated, unprintable bytes shown as '?').
Result<Digest> ParseDigestHex(std::string_view hex);

// `s` cut to 100 bytes with unprintable bytes replaced by '?', for error messages about
// untrusted text.
std::string Printable(std::string_view s);

}  // namespace recomp
