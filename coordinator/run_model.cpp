// JSON (stored as MessagePack) forms of the run and job rows. Decoding re-validates through the
// strict v1 record decoders, so a damaged row is reported, never trusted.
#include "coordinator/run_model.h"

#include <array>

#include "messages/codec.h"

namespace recomp::coordinator {
namespace {
constexpr std::array<std::string_view, 5> kJobStateNames = {"waiting", "ready", "dispatched",
                                                            "succeeded", "failed"};
constexpr int kRowVersion = 1;

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

std::string_view ToString(JobState s) { return kJobStateNames[static_cast<size_t>(s)]; }

std::string JobRow::Key() const {
  std::string k = run_id;
  k.push_back('\0');
  k += stage;
  k.push_back('\0');
  for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>((shard >> (8 * i)) & 0xff));
  return k;
}

Result<StageResult> StageResultFromJson(const nlohmann::json& j) {
  return ViaMsgpack<StageResult>(j, &DecodeStageResult);
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
          {"verdict", r.verdict},       {"cancel_requested", r.cancel_requested}};
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
    return r;
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(std::string("run row: ") + e.what());
  }
}

}  // namespace recomp::coordinator
