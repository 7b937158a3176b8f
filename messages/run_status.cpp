// RunStatus v1 encoding.
#include "messages/run_status.h"

#include "base/clock.h"
#include "messages/artifact_ref.h"
#include "messages/codec.h"
#include "messages/run_submission.h"

namespace recomp {

std::string EncodeRunStatus(const RunStatus& s) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(s.reason.empty() ? 8 : 9);
  pk.pack("schema_version");
  pk.pack(RunStatus::kSchemaVersion);
  pk.pack("run_id");
  pk.pack(s.run_id);
  pk.pack("state");
  pk.pack(std::string(ToString(s.state)));
  pk.pack("current_stage");
  pk.pack(s.current_stage);
  pk.pack("stage_attempt");
  pk.pack(s.stage_attempt);
  pk.pack("artifacts");
  pk.pack(s.artifacts);
  pk.pack("started_at");
  pk.pack(s.started_at);
  pk.pack("updated_at");
  pk.pack(s.updated_at);
  if (!s.reason.empty()) {
    pk.pack("reason");
    pk.pack(s.reason);
  }
  return wire::ToBytes(buf);
}

Result<RunStatus> DecodeRunStatus(const msgpack::object& obj) {
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(obj, "run_status"));
  int64_t version;
  RECOMP_RETURN_IF_ERROR(
      r.SchemaVersion(RunStatus::kSchemaVersion, &version, wire::Need::kOptional));
  RunStatus s;
  RECOMP_RETURN_IF_ERROR(r.Str("run_id", &s.run_id, wire::Need::kRequired, 128));
  if (Status v = ValidateRunId(s.run_id); !v.ok()) return v.WithContext("run_status.run_id");
  RECOMP_RETURN_IF_ERROR(wire::ParseEnum(r, "state", kRunStateNames, &s.state));
  RECOMP_RETURN_IF_ERROR(r.Str("current_stage", &s.current_stage, wire::Need::kRequired, 128));
  RECOMP_RETURN_IF_ERROR(
      r.Int("stage_attempt", &s.stage_attempt, wire::Need::kRequired, 0, 1000000));
  RECOMP_RETURN_IF_ERROR(
      r.StrList("artifacts", &s.artifacts, wire::Need::kRequired, wire::kMaxList, 128));
  for (size_t i = 0; i < s.artifacts.size(); ++i) {
    if (auto d = ParseArtifactRef(s.artifacts[i]); !d.ok()) {
      return d.status().WithContext("run_status.artifacts[" + std::to_string(i) + "]");
    }
  }
  for (auto [key, field] :
       {std::pair{"started_at", &s.started_at}, std::pair{"updated_at", &s.updated_at}}) {
    RECOMP_RETURN_IF_ERROR(r.Str(key, field, wire::Need::kRequired, 64));
    if (auto t = ParseRfc3339(*field); !t.ok()) return t.status().WithContext(r.FieldName(key));
  }
  RECOMP_RETURN_IF_ERROR(r.Str("reason", &s.reason, wire::Need::kOptional, wire::kMaxText));
  return s;
}

Result<RunStatus> DecodeRunStatus(std::string_view bytes) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(bytes, "run_status"));
  return DecodeRunStatus(oh.get());
}

nlohmann::json ToJson(const RunStatus& s) {
  nlohmann::json j = {{"schema_version", RunStatus::kSchemaVersion},
                      {"run_id", s.run_id},
                      {"state", ToString(s.state)},
                      {"current_stage", s.current_stage},
                      {"stage_attempt", s.stage_attempt},
                      {"artifacts", s.artifacts},
                      {"started_at", s.started_at},
                      {"updated_at", s.updated_at}};
  if (!s.reason.empty()) j["reason"] = s.reason;
  return j;
}

}  // namespace recomp
