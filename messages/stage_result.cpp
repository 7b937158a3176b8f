// StageResult v1 encoding.
#include "messages/stage_result.h"

#include "messages/artifact_ref.h"
#include "messages/codec.h"
#include "messages/run_submission.h"

namespace recomp {

std::string_view ToString(JobOutcome o) {
  return kJobOutcomeNames[static_cast<size_t>(o)];
}

void SetAttempt(StageResult* r, const JobAttempt& a) {
  r->job_id = a.job_id;
  r->run_id = a.run_id;
  r->stage = a.stage;
  r->shard = a.shard;
  r->attempt = a.attempt;
}

StageResult ResultFor(const JobAttempt& a) {
  StageResult r;
  SetAttempt(&r, a);
  return r;
}

std::string EncodeStageResult(const StageResult& r) {
  msgpack::sbuffer buf(256);
  wire::Packer pk(buf);
  PackStageResult(pk, r);
  return wire::ToBytes(buf);
}

void PackStageResult(wire::Packer& pk, const StageResult& r) {
  pk.pack_map(15);
  pk.pack("schema_version");
  pk.pack(StageResult::kSchemaVersion);
  pk.pack("job_id");
  pk.pack(r.job_id);
  pk.pack("run_id");
  pk.pack(r.run_id);
  pk.pack("stage");
  pk.pack(r.stage);
  pk.pack("shard");
  pk.pack(r.shard);
  pk.pack("attempt");
  pk.pack(r.attempt);
  pk.pack("worker");
  pk.pack(r.worker);
  pk.pack("outcome");
  pk.pack(std::string(ToString(r.outcome)));
  pk.pack("exit_code");
  pk.pack(r.exit_code);
  pk.pack("signal");
  pk.pack(r.signal);
  pk.pack("duration_ms");
  pk.pack(r.duration_ms);
  pk.pack("outputs");
  PackPathRefs(pk, r.outputs);
  pk.pack("log_ref");
  pk.pack(r.log_ref);
  pk.pack("message");
  pk.pack(r.message);
  pk.pack("cached");
  pk.pack(r.cached);
}

namespace {
Status ReadNumbers(const wire::MapReader& r, StageResult* s) {
  int64_t shard = 0, attempt = 0, exit_code = 0, sig = 0;
  RECOMP_RETURN_IF_ERROR(r.Int("shard", &shard, wire::Need::kRequired, 0, 1023));
  RECOMP_RETURN_IF_ERROR(r.Int("attempt", &attempt, wire::Need::kRequired, 1, 1000000));
  RECOMP_RETURN_IF_ERROR(r.Int("exit_code", &exit_code, wire::Need::kRequired, -1, 255));
  RECOMP_RETURN_IF_ERROR(r.Int("signal", &sig, wire::Need::kRequired, 0, 128));
  RECOMP_RETURN_IF_ERROR(r.Uint("duration_ms", &s->duration_ms));
  s->shard = static_cast<uint32_t>(shard);
  s->attempt = static_cast<uint32_t>(attempt);
  s->exit_code = static_cast<int32_t>(exit_code);
  s->signal = static_cast<int32_t>(sig);
  return Status::Ok();
}
}  // namespace

Result<StageResult> DecodeStageResult(const msgpack::object& obj) {
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(obj, "stage_result"));
  int64_t version;
  RECOMP_RETURN_IF_ERROR(r.SchemaVersion(StageResult::kSchemaVersion, &version));
  StageResult s;
  RECOMP_RETURN_IF_ERROR(r.Str("job_id", &s.job_id, wire::Need::kRequired, 64));
  if (auto d = ParseDigestHex(s.job_id); !d.ok())
    return d.status().WithContext("stage_result.job_id");
  RECOMP_RETURN_IF_ERROR(r.Str("run_id", &s.run_id, wire::Need::kRequired, 128));
  if (Status v = ValidateRunId(s.run_id); !v.ok()) return v.WithContext("stage_result.run_id");
  RECOMP_RETURN_IF_ERROR(r.Str("stage", &s.stage, wire::Need::kRequired, 128));
  RECOMP_RETURN_IF_ERROR(ReadNumbers(r, &s));
  RECOMP_RETURN_IF_ERROR(r.Str("worker", &s.worker, wire::Need::kRequired, 256));
  RECOMP_RETURN_IF_ERROR(wire::ParseEnum(r, "outcome", kJobOutcomeNames, &s.outcome));
  RECOMP_RETURN_IF_ERROR(ReadPathRefs(r, "outputs", &s.outputs));
  RECOMP_RETURN_IF_ERROR(r.Str("log_ref", &s.log_ref, wire::Need::kRequired, 128));
  if (!s.log_ref.empty()) {
    if (auto d = ParseArtifactRef(s.log_ref); !d.ok())
      return d.status().WithContext("stage_result.log_ref");
  }
  RECOMP_RETURN_IF_ERROR(r.Str("message", &s.message, wire::Need::kRequired, wire::kMaxText));
  RECOMP_RETURN_IF_ERROR(r.Bool("cached", &s.cached));
  return s;
}

Result<StageResult> DecodeStageResult(std::string_view bytes) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(bytes, "stage_result"));
  return DecodeStageResult(oh.get());
}

nlohmann::json ToJson(const StageResult& r) {
  return {{"schema_version", StageResult::kSchemaVersion},
          {"job_id", r.job_id},
          {"run_id", r.run_id},
          {"stage", r.stage},
          {"shard", r.shard},
          {"attempt", r.attempt},
          {"worker", r.worker},
          {"outcome", ToString(r.outcome)},
          {"exit_code", r.exit_code},
          {"signal", r.signal},
          {"duration_ms", r.duration_ms},
          {"outputs", ToJson(r.outputs)},
          {"log_ref", r.log_ref},
          {"message", r.message},
          {"cached", r.cached}};
}

}  // namespace recomp
