// RunSubmission v1 encoding and validation.
#include "messages/run_submission.h"

#include "messages/artifact_ref.h"
#include "messages/codec.h"

namespace recomp {
namespace {

Status CheckRef(const wire::MapReader& r, std::string_view key, const std::string& value) {
  auto d = ParseArtifactRef(value);
  return d.ok() ? Status::Ok() : d.status().WithContext(r.FieldName(key));
}

}  // namespace

std::string_view ToString(ExecutionMode m) {
  return kExecutionModeNames[static_cast<size_t>(m)];
}
std::string_view ToString(Priority p) {
  return kPriorityNames[static_cast<size_t>(p)];
}
Result<ExecutionMode> ParseExecutionMode(std::string_view s) {
  return wire::ParseEnumName<ExecutionMode>(s, kExecutionModeNames, "execution mode");
}
Result<Priority> ParsePriority(std::string_view s) {
  return wire::ParseEnumName<Priority>(s, kPriorityNames, "priority");
}

Status ValidateRunId(std::string_view id) {
  if (id.empty() || id.size() > 128) {
    return Status::InvalidArgument("run id must be 1-128 characters, got " +
                                   std::to_string(id.size()));
  }
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(id[0])) return Status::InvalidArgument("run id must start with a letter or digit");
  for (char c : id) {
    if (!alnum(c) && c != '.' && c != '_' && c != ':' && c != '-') {
      return Status::InvalidArgument("run id '" + std::string(id.substr(0, 64)) +
                                     "' may only contain [A-Za-z0-9._:-]");
    }
  }
  return Status::Ok();
}

std::string EncodeRunSubmission(const RunSubmission& s) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(8);
  pk.pack("schema_version");
  pk.pack(RunSubmission::kSchemaVersion);
  pk.pack("run_id");
  pk.pack(s.run_id);
  pk.pack("execution_mode");
  pk.pack(std::string(ToString(s.execution_mode)));
  pk.pack("module_manifest");
  pk.pack(s.module_manifest);
  pk.pack("config_manifest");
  pk.pack(s.config_manifest);
  pk.pack("provenance_manifest");
  pk.pack(s.provenance_manifest);
  pk.pack("requested_by");
  pk.pack(s.requested_by);
  pk.pack("priority");
  pk.pack(std::string(ToString(s.priority)));
  return wire::ToBytes(buf);
}

Result<RunSubmission> DecodeRunSubmission(const msgpack::object& obj) {
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(obj, "run_submission"));
  int64_t version;
  RECOMP_RETURN_IF_ERROR(
      r.SchemaVersion(RunSubmission::kSchemaVersion, &version, wire::Need::kOptional));
  RunSubmission s;
  RECOMP_RETURN_IF_ERROR(r.Str("run_id", &s.run_id, wire::Need::kOptional, 128));
  if (!s.run_id.empty()) {
    if (Status v = ValidateRunId(s.run_id); !v.ok()) return v.WithContext("run_submission.run_id");
  }
  RECOMP_RETURN_IF_ERROR(
      wire::ParseEnum(r, "execution_mode", kExecutionModeNames, &s.execution_mode));
  for (auto [key, field] : {std::pair{"module_manifest", &s.module_manifest},
                            std::pair{"config_manifest", &s.config_manifest},
                            std::pair{"provenance_manifest", &s.provenance_manifest}}) {
    RECOMP_RETURN_IF_ERROR(r.Str(key, field, wire::Need::kRequired, 128));
    RECOMP_RETURN_IF_ERROR(CheckRef(r, key, *field));
  }
  RECOMP_RETURN_IF_ERROR(r.Str("requested_by", &s.requested_by, wire::Need::kRequired, 256));
  if (s.requested_by.empty()) {
    return Status::InvalidArgument("run_submission.requested_by: must not be empty");
  }
  RECOMP_RETURN_IF_ERROR(wire::ParseEnum(r, "priority", kPriorityNames, &s.priority));
  return s;
}

Result<RunSubmission> DecodeRunSubmission(std::string_view bytes) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(bytes, "run_submission"));
  return DecodeRunSubmission(oh.get());
}

nlohmann::json ToJson(const RunSubmission& s) {
  return {{"schema_version", RunSubmission::kSchemaVersion},
          {"run_id", s.run_id},
          {"execution_mode", ToString(s.execution_mode)},
          {"module_manifest", s.module_manifest},
          {"config_manifest", s.config_manifest},
          {"provenance_manifest", s.provenance_manifest},
          {"requested_by", s.requested_by},
          {"priority", ToString(s.priority)}};
}

std::string SubmissionContentKey(const RunSubmission& s) {
  RunSubmission c = s;
  c.run_id.clear();
  return EncodeRunSubmission(c);
}

}  // namespace recomp
