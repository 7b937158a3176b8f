// ArtifactRef parsing.
#include "messages/artifact_ref.h"

namespace recomp {

Result<Digest> ParseArtifactRef(std::string_view ref) {
  auto bad = [&] {
    return Status::InvalidArgument("malformed artifact ref '" + Printable(ref) +
                                   "': expected artifact://<64 lowercase hex digits>");
  };
  if (ref.substr(0, kArtifactScheme.size()) != kArtifactScheme) return bad();
  auto d = ParseDigestHex(ref.substr(kArtifactScheme.size()));
  if (!d.ok()) return bad();
  return d;
}

}  // namespace recomp
