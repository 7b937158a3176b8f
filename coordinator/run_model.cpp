// JSON (stored as MessagePack) forms of the run and job rows. Decoding re-validates through the
// strict v1 record decoders, so a damaged row is reported, never trusted.
#include "coordinator/run_model.h"

#include <array>

#include "base/endian.h"
#include "messages/codec.h"

namespace recomp::coordinator {
namespace {
constexpr std::array<std::string_view, 5> kJobStateNames = {"waiting", "ready", "dispatched",
                                                            "succeeded", "failed"};
constexpr int kRowVersion = 1;     // run rows, and job rows in their old JSON form
constexpr int kJobRowVersion = 2;  // job rows packed directly

// Round-trips a JSON value through MessagePack into a strict decoder.
template <typename T>
Result<T> ViaMsgpack(const nlohmann::json& j, Result<T> (*decode)(std::string_view)) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  wire::PackJson(pk, j);
  return decode(wire::ToBytes(buf));
}

Status NeedVersion(const nlohmann::json& j, const char* what) {
  if (!j.is_object() || j.value("v", 0) != kRowVersion) {
    return Status::Corruption(std::string(what) + " row: unknown or missing version");
  }
  return Status::Ok();
}
}  // namespace

std::string_view ToString(JobState s) {
  return kJobStateNames[static_cast<size_t>(s)];
}

std::string JobRow::Key() const {
  std::string k = run_id;
  k.push_back('\0');
  k += stage;
  k.push_back('\0');
  AppendU32(k, shard);
  return k;
}

Result<StageResult> StageResultFromJson(const nlohmann::json& j) {
  return ViaMsgpack<StageResult>(j, &DecodeStageResult);
}

std::string EncodeJobRow(const JobRow& j) {
  msgpack::sbuffer buf(j.result ? 384 : 160);
  wire::Packer pk(buf);
  pk.pack_map(12);
  pk.pack("v");
  pk.pack(kJobRowVersion);
  pk.pack("run_id");
  pk.pack(j.run_id);
  pk.pack("stage");
  pk.pack(j.stage);
  pk.pack("shard");
  pk.pack(j.shard);
  pk.pack("shards");
  pk.pack(j.shards);
  pk.pack("job_id");
  pk.pack(j.job_id);
  pk.pack("state");
  pk.pack(ToString(j.state));
  pk.pack("attempt");
  pk.pack(j.attempt);
  pk.pack("failures");
  pk.pack(j.failures);
  pk.pack("lost");
  pk.pack(j.lost);
  pk.pack("not_before_ms");
  pk.pack(j.not_before_ms);
  pk.pack("result");
  if (j.result) {
    PackStageResult(pk, *j.result);
  } else {
    pk.pack_nil();
  }
  return wire::ToBytes(buf);
}

namespace {
Status ReadJobNumbers(const wire::MapReader& r, JobRow* j) {
  int64_t shard = 0, shards = 0, attempt = 0, failures = 0, lost = 0;
  RECOMP_RETURN_IF_ERROR(r.Int("shards", &shards, wire::Need::kRequired, 1, 1024));
  RECOMP_RETURN_IF_ERROR(r.Int("shard", &shard, wire::Need::kRequired, 0, shards - 1));
  RECOMP_RETURN_IF_ERROR(r.Int("attempt", &attempt, wire::Need::kRequired, 0, UINT32_MAX));
  RECOMP_RETURN_IF_ERROR(r.Int("failures", &failures, wire::Need::kRequired, 0, UINT32_MAX));
  RECOMP_RETURN_IF_ERROR(r.Int("lost", &lost, wire::Need::kRequired, 0, UINT32_MAX));
  RECOMP_RETURN_IF_ERROR(r.Int("not_before_ms", &j->not_before_ms));
  j->shard = static_cast<uint32_t>(shard);
  j->shards = static_cast<uint32_t>(shards);
  j->attempt = static_cast<uint32_t>(attempt);
  j->failures = static_cast<uint32_t>(failures);
  j->lost = static_cast<uint32_t>(lost);
  return Status::Ok();
}

Result<JobRow> ReadJobRow(const wire::MapReader& r) {
  JobRow j;
  RECOMP_RETURN_IF_ERROR(r.Str("run_id", &j.run_id, wire::Need::kRequired, 128));
  RECOMP_RETURN_IF_ERROR(r.Str("stage", &j.stage, wire::Need::kRequired, 128));
  RECOMP_RETURN_IF_ERROR(ReadJobNumbers(r, &j));
  RECOMP_RETURN_IF_ERROR(r.Str("job_id", &j.job_id, wire::Need::kRequired, 64));
  RECOMP_RETURN_IF_ERROR(wire::ParseEnum(r, "state", kJobStateNames, &j.state));
  // nil (or, like every optional field of MapReader, absent) = no result yet.
  if (const msgpack::object* res = r.Find("result"); res != nullptr) {
    RECOMP_ASSIGN_OR_RETURN(j.result, DecodeStageResult(*res));
  }
  return j;
}
}  // namespace

Result<JobRow> DecodeJobRow(std::string_view bytes) {
  auto oh = wire::Unpack(bytes, "job_row");
  if (!oh.ok()) return Status::Corruption(oh.status().message());
  auto reader = wire::MapReader::From(oh->get(), "job_row");
  if (!reader.ok()) return Status::Corruption(reader.status().message());
  int64_t v = 0;
  if (Status s = reader->Int("v", &v); !s.ok()) return Status::Corruption(s.message());
  if (v == kRowVersion) {  // the old JSON form
    auto j = wire::ToJson(oh->get(), "job_row");
    if (!j.ok()) return Status::Corruption(j.status().message());
    return JobRowFromJson(*j);
  }
  if (v != kJobRowVersion)
    return Status::Corruption("job_row: unknown version " + std::to_string(v));
  auto row = ReadJobRow(*reader);
  if (!row.ok()) return Status::Corruption(row.status().message());
  return row;
}

nlohmann::json ToJson(const JobRow& j) {
  return {{"v", kRowVersion},
          {"run_id", j.run_id},
          {"stage", j.stage},
          {"shard", j.shard},
          {"shards", j.shards},
          {"job_id", j.job_id},
          {"state", ToString(j.state)},
          {"attempt", j.attempt},
          {"failures", j.failures},
          {"lost", j.lost},
          {"not_before_ms", j.not_before_ms},
          {"result", j.result ? ToJson(*j.result) : nlohmann::json(nullptr)}};
}

Result<JobRow> JobRowFromJson(const nlohmann::json& j) {
  RECOMP_RETURN_IF_ERROR(NeedVersion(j, "job"));
  try {
    JobRow r;
    r.run_id = j.at("run_id").get<std::string>();
    r.stage = j.at("stage").get<std::string>();
    r.shard = j.at("shard").get<uint32_t>();
    r.shards = j.at("shards").get<uint32_t>();
    r.job_id = j.at("job_id").get<std::string>();
    auto st = wire::ParseEnumName<JobState>(j.at("state").get<std::string>(), kJobStateNames,
                                            "job state");
    if (!st.ok()) return st.status();
    r.state = *st;
    r.attempt = j.at("attempt").get<uint32_t>();
    r.failures = j.at("failures").get<uint32_t>();
    r.lost = j.at("lost").get<uint32_t>();
    r.not_before_ms = j.at("not_before_ms").get<int64_t>();
    if (!j.at("result").is_null()) {
      RECOMP_ASSIGN_OR_RETURN(r.result, StageResultFromJson(j.at("result")));
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(std::string("job row: ") + e.what());
  }
}

nlohmann::json ToJson(const RunRow& r) {
  return {{"v", kRowVersion},           {"submission", ToJson(r.submission)},
          {"status", ToJson(r.status)}, {"content_key", r.content_key_hex},
          {"verdict", r.verdict},       {"cancel_requested", r.cancel_requested},
          {"rerun_of", r.rerun_of},     {"no_cache_stages", r.no_cache_stages}};
}

Result<RunRow> RunRowFromJson(const nlohmann::json& j) {
  RECOMP_RETURN_IF_ERROR(NeedVersion(j, "run"));
  try {
    RunRow r;
    RECOMP_ASSIGN_OR_RETURN(r.submission,
                            ViaMsgpack<RunSubmission>(j.at("submission"), &DecodeRunSubmission));
    RECOMP_ASSIGN_OR_RETURN(r.status, ViaMsgpack<RunStatus>(j.at("status"), &DecodeRunStatus));
    r.content_key_hex = j.at("content_key").get<std::string>();
    r.verdict = j.at("verdict").get<std::string>();
    r.cancel_requested = j.at("cancel_requested").get<bool>();
    // Absent from rows written before reruns existed.
    r.rerun_of = j.value("rerun_of", "");
    r.no_cache_stages = j.value("no_cache_stages", std::vector<std::string>{});
    return r;
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(std::string("run row: ") + e.what());
  }
}

}  // namespace recomp::coordinator
