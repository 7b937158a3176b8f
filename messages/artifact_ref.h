// ArtifactRef: the textual name of an immutable blob, "artifact://" + 64 lowercase hex digits
// of the BLAKE2b-256 digest of its exact bytes (see docs/store.md). Digest itself and its text
// forms are base/digest.h. Pure functions; thread-safe.
#pragma once

#include <string_view>

#include "base/digest.h"
#include "base/status.h"

namespace recomp {

// Parses "artifact://<64 lowercase hex>". Anything else (uppercase, wrong length, other scheme,
// trailing bytes) is InvalidArgument with the offending text (truncated) in the message.
Result<Digest> ParseArtifactRef(std::string_view ref);
inline bool IsArtifactRef(std::string_view ref) {
  return ParseArtifactRef(ref).ok();
}

}  // namespace recomp
