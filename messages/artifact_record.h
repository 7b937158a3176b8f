// ArtifactRecord v1: the index entry of one stored blob (what `recomp artifact stat` shows).
// Plain value; thread-compatible. Wire format: docs/wire.md; JSON Schema: docs/schemas/.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "base/status.h"

namespace recomp {

// `external`: user-supplied inputs (ROMs, game assets): kept apart, never exported, never
// logged. `generated`: produced by stages; collectable by gc after retention.
enum class ArtifactClass : uint8_t { kExternal = 0, kGenerated = 1 };
inline constexpr std::array<std::string_view, 2> kArtifactClassNames = {"external", "generated"};
std::string_view ToString(ArtifactClass c);
Result<ArtifactClass> ParseArtifactClass(std::string_view s);

struct ArtifactRecord {
  static constexpr int64_t kSchemaVersion = 1;
  std::string ref;    // artifact://<hex>
  uint64_t size = 0;  // bytes
  ArtifactClass artifact_class = ArtifactClass::kGenerated;
  std::string media_type;  // e.g. "application/octet-stream"
  std::string created_at;  // RFC 3339 UTC, first put
  std::string producer;    // who first stored it: "cli", "worker:<id>/job:<id>", ...

  bool operator==(const ArtifactRecord&) const = default;
};

std::string EncodeArtifactRecord(const ArtifactRecord& r);
// Strict decode: every field required and validated (ref syntax, enum, RFC 3339 time).
Result<ArtifactRecord> DecodeArtifactRecord(std::string_view bytes);
Result<ArtifactRecord> DecodeArtifactRecord(const msgpack::object& obj);
nlohmann::json ToJson(const ArtifactRecord& r);

}  // namespace recomp
