// StageJob v1 encoding and the relative-path rule every job path obeys.
#include "messages/stage_job.h"

#include "messages/artifact_ref.h"

namespace recomp {

Status ValidateRelativePath(std::string_view path) {
  return ValidateRelativePath(path, "path '" + std::string(path.substr(0, 128)) + "'", true);
}

Status ValidateRelativePath(std::string_view path, std::string_view what, bool allow_dir_slash) {
  const std::string w(what);
  if (path.empty()) return Status::InvalidArgument(w + " is empty");
  if (path.size() > kMaxPath)
    return Status::InvalidArgument(w + " is longer than " + std::to_string(kMaxPath) + " bytes");
  if (path.find('\0') != std::string_view::npos)
    return Status::InvalidArgument(w + " contains a NUL character");
  if (path.front() == '/')
    return Status::InvalidArgument(w +
                                   " is absolute; it must be relative to the working directory");
  std::string_view rest = path;
  if (allow_dir_slash && rest.back() == '/') rest.remove_suffix(1);
  while (true) {
    size_t slash = rest.find('/');
    std::string_view comp = rest.substr(0, slash);
    if (comp.empty())
      return Status::InvalidArgument(w + " has an empty path component ('//' or a trailing '/')");
    if (comp == "." || comp == "..") {
      return Status::InvalidArgument(w + " has a '" + std::string(comp) +
                                     "' component; it must stay inside the working directory");
    }
    if (comp.size() > kMaxPathComponent) {
      return Status::InvalidArgument(w + " has a component longer than " +
                                     std::to_string(kMaxPathComponent) + " bytes");
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return Status::Ok();
}

void PackPathRefs(wire::Packer& pk, const std::vector<PathRef>& refs) {
  pk.pack_array(static_cast<uint32_t>(refs.size()));
  for (const PathRef& p : refs) {
    pk.pack_map(2);
    pk.pack("path");
    pk.pack(p.path);
    pk.pack("ref");
    pk.pack(p.ref);
  }
}

Status ReadPathRefs(const wire::MapReader& r, std::string_view key, std::vector<PathRef>* out,
                    wire::Need need) {
  std::vector<wire::MapReader> items;
  RECOMP_RETURN_IF_ERROR(r.MapList(key, &items, need));
  std::vector<PathRef> refs;
  refs.reserve(items.size());
  for (const wire::MapReader& item : items) {
    PathRef p;
    RECOMP_RETURN_IF_ERROR(item.Str("path", &p.path, wire::Need::kRequired, 1024));
    if (Status v = ValidateRelativePath(p.path); !v.ok())
      return v.WithContext(item.FieldName("path"));
    RECOMP_RETURN_IF_ERROR(item.Str("ref", &p.ref, wire::Need::kRequired, 128));
    if (auto d = ParseArtifactRef(p.ref); !d.ok())
      return d.status().WithContext(item.FieldName("ref"));
    refs.push_back(std::move(p));
  }
  *out = std::move(refs);
  return Status::Ok();
}

nlohmann::json ToJson(const std::vector<PathRef>& refs) {
  nlohmann::json a = nlohmann::json::array();
  for (const PathRef& p : refs) a.push_back({{"path", p.path}, {"ref", p.ref}});
  return a;
}

JobAttempt AttemptOf(const StageJob& j) {
  return {j.job_id, j.run_id, j.stage, j.shard, j.attempt};
}

std::string EncodeStageJob(const StageJob& j) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(15);
  pk.pack("schema_version");
  pk.pack(StageJob::kSchemaVersion);
  pk.pack("job_id");
  pk.pack(j.job_id);
  pk.pack("run_id");
  pk.pack(j.run_id);
  pk.pack("stage");
  pk.pack(j.stage);
  pk.pack("shard");
  pk.pack(j.shard);
  pk.pack("shards");
  pk.pack(j.shards);
  pk.pack("attempt");
  pk.pack(j.attempt);
  pk.pack("argv");
  pk.pack(j.argv);
  pk.pack("env");
  pk.pack(j.env);
  pk.pack("inputs");
  PackPathRefs(pk, j.inputs);
  pk.pack("outputs");
  pk.pack(j.outputs);
  pk.pack("timeout_s");
  pk.pack(j.timeout_s);
  pk.pack("priority");
  pk.pack(std::string(ToString(j.priority)));
  pk.pack("requires");
  pk.pack(j.requirements);
  pk.pack("network");
  pk.pack(j.network);
  return wire::ToBytes(buf);
}

namespace {
Status ReadCounts(const wire::MapReader& r, StageJob* j) {
  int64_t shard = 0, shards = 0, attempt = 0, timeout = 0;
  RECOMP_RETURN_IF_ERROR(r.Int("shards", &shards, wire::Need::kRequired, 1, 1024));
  RECOMP_RETURN_IF_ERROR(r.Int("shard", &shard, wire::Need::kRequired, 0, shards - 1));
  RECOMP_RETURN_IF_ERROR(r.Int("attempt", &attempt, wire::Need::kRequired, 1, 1000000));
  RECOMP_RETURN_IF_ERROR(r.Int("timeout_s", &timeout, wire::Need::kRequired, 1, 7 * 86400));
  j->shard = static_cast<uint32_t>(shard);
  j->shards = static_cast<uint32_t>(shards);
  j->attempt = static_cast<uint32_t>(attempt);
  j->timeout_s = static_cast<uint32_t>(timeout);
  return Status::Ok();
}
}  // namespace

Status ValidateLabels(const Labels& labels, std::string_view what) {
  if (labels.size() > kMaxLabels) {
    return Status::InvalidArgument(std::string(what) + ": more than " + std::to_string(kMaxLabels) +
                                   " labels");
  }
  auto bad = [](std::string_view s, bool key) {
    for (char c : s) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                c == '-' || (!key && c >= 'A' && c <= 'Z');
      if (!ok) return true;
    }
    return false;
  };
  for (const auto& [k, v] : labels) {
    if (k.empty() || k.size() > 63 || bad(k, true)) {
      return Status::InvalidArgument(std::string(what) + ": label key '" + k.substr(0, 64) +
                                     "' must be 1-63 bytes of [a-z0-9_.-]");
    }
    if (v.size() > 63 || bad(v, false)) {
      return Status::InvalidArgument(std::string(what) + ": label " + k +
                                     "'s value must be 0-63 "
                                     "bytes of [A-Za-z0-9_.-]");
    }
  }
  return Status::Ok();
}

bool Satisfies(const Labels& labels, const Labels& required) {
  for (const auto& [k, v] : required) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

std::string LabelsText(const Labels& labels) {
  if (labels.empty()) return "(none)";
  std::string out;
  for (const auto& [k, v] : labels) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out;
}

Result<StageJob> DecodeStageJob(const msgpack::object& obj) {
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(obj, "stage_job"));
  int64_t version;
  RECOMP_RETURN_IF_ERROR(r.SchemaVersion(StageJob::kSchemaVersion, &version));
  StageJob j;
  RECOMP_RETURN_IF_ERROR(r.Str("job_id", &j.job_id, wire::Need::kRequired, 64));
  if (auto d = ParseDigestHex(j.job_id); !d.ok()) return d.status().WithContext("stage_job.job_id");
  RECOMP_RETURN_IF_ERROR(r.Str("run_id", &j.run_id, wire::Need::kRequired, 128));
  if (Status v = ValidateRunId(j.run_id); !v.ok()) return v.WithContext("stage_job.run_id");
  RECOMP_RETURN_IF_ERROR(r.Str("stage", &j.stage, wire::Need::kRequired, 128));
  RECOMP_RETURN_IF_ERROR(ReadCounts(r, &j));
  RECOMP_RETURN_IF_ERROR(r.StrList("argv", &j.argv, wire::Need::kRequired, 4096));
  if (j.argv.empty() || j.argv[0].empty()) {
    return Status::InvalidArgument("stage_job.argv: must name a program");
  }
  RECOMP_RETURN_IF_ERROR(r.StrMap("env", &j.env));
  RECOMP_RETURN_IF_ERROR(ReadPathRefs(r, "inputs", &j.inputs));
  RECOMP_RETURN_IF_ERROR(r.StrList("outputs", &j.outputs, wire::Need::kRequired, 1024, 1024));
  for (const std::string& o : j.outputs) {
    if (Status v = ValidateRelativePath(o); !v.ok()) return v.WithContext("stage_job.outputs");
  }
  RECOMP_RETURN_IF_ERROR(wire::ParseEnum(r, "priority", kPriorityNames, &j.priority));
  RECOMP_RETURN_IF_ERROR(r.StrMap("requires", &j.requirements, wire::Need::kOptional, kMaxLabels));
  RECOMP_RETURN_IF_ERROR(ValidateLabels(j.requirements, "stage_job.requires"));
  RECOMP_RETURN_IF_ERROR(r.Bool("network", &j.network, wire::Need::kOptional));
  return j;
}

Result<StageJob> DecodeStageJob(std::string_view bytes) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(bytes, "stage_job"));
  return DecodeStageJob(oh.get());
}

nlohmann::json ToJson(const StageJob& j) {
  return {{"schema_version", StageJob::kSchemaVersion},
          {"job_id", j.job_id},
          {"run_id", j.run_id},
          {"stage", j.stage},
          {"shard", j.shard},
          {"shards", j.shards},
          {"attempt", j.attempt},
          {"argv", j.argv},
          {"env", j.env},
          {"inputs", ToJson(j.inputs)},
          {"outputs", j.outputs},
          {"timeout_s", j.timeout_s},
          {"priority", ToString(j.priority)},
          {"requires", j.requirements},
          {"network", j.network}};
}

}  // namespace recomp
