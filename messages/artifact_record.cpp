// ArtifactRecord v1 encoding.
#include "messages/artifact_record.h"

#include "base/clock.h"
#include "messages/artifact_ref.h"
#include "messages/codec.h"

namespace recomp {

std::string_view ToString(ArtifactClass c) {
  return kArtifactClassNames[static_cast<size_t>(c)];
}

Result<ArtifactClass> ParseArtifactClass(std::string_view s) {
  return wire::ParseEnumName<ArtifactClass>(s, kArtifactClassNames, "artifact class");
}

std::string EncodeArtifactRecord(const ArtifactRecord& r) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(7);
  pk.pack("schema_version");
  pk.pack(ArtifactRecord::kSchemaVersion);
  pk.pack("ref");
  pk.pack(r.ref);
  pk.pack("size");
  pk.pack(r.size);
  pk.pack("class");
  pk.pack(std::string(ToString(r.artifact_class)));
  pk.pack("media_type");
  pk.pack(r.media_type);
  pk.pack("created_at");
  pk.pack(r.created_at);
  pk.pack("producer");
  pk.pack(r.producer);
  return wire::ToBytes(buf);
}

Result<ArtifactRecord> DecodeArtifactRecord(const msgpack::object& obj) {
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(obj, "artifact_record"));
  int64_t version;
  RECOMP_RETURN_IF_ERROR(r.SchemaVersion(ArtifactRecord::kSchemaVersion, &version));
  ArtifactRecord a;
  RECOMP_RETURN_IF_ERROR(r.Str("ref", &a.ref));
  if (auto d = ParseArtifactRef(a.ref); !d.ok())
    return d.status().WithContext("artifact_record.ref");
  RECOMP_RETURN_IF_ERROR(r.Uint("size", &a.size));
  RECOMP_RETURN_IF_ERROR(wire::ParseEnum(r, "class", kArtifactClassNames, &a.artifact_class));
  RECOMP_RETURN_IF_ERROR(r.Str("media_type", &a.media_type, wire::Need::kRequired, 255));
  RECOMP_RETURN_IF_ERROR(r.Str("created_at", &a.created_at, wire::Need::kRequired, 64));
  if (auto t = ParseRfc3339(a.created_at); !t.ok()) {
    return t.status().WithContext("artifact_record.created_at");
  }
  RECOMP_RETURN_IF_ERROR(r.Str("producer", &a.producer));
  return a;
}

Result<ArtifactRecord> DecodeArtifactRecord(std::string_view bytes) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(bytes, "artifact_record"));
  return DecodeArtifactRecord(oh.get());
}

nlohmann::json ToJson(const ArtifactRecord& r) {
  return {{"schema_version", ArtifactRecord::kSchemaVersion},
          {"ref", r.ref},
          {"size", r.size},
          {"class", ToString(r.artifact_class)},
          {"media_type", r.media_type},
          {"created_at", r.created_at},
          {"producer", r.producer}};
}

}  // namespace recomp
