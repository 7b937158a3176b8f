// The small protocol bodies (the framing is net/framing.h).
#include "messages/protocol.h"

#include "base/clock.h"
#include "messages/run_lifecycle.h"

#include <optional>

#include "messages/artifact_ref.h"
#include "messages/codec.h"

namespace recomp::proto {

std::string EmptyBody() {
  return std::string("\x80", 1);
}

std::string JsonBody(const nlohmann::json& j) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  wire::PackJson(pk, j);
  return wire::ToBytes(buf);
}

Result<nlohmann::json> BodyJson(std::string_view body, std::string_view what) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(body, what));
  if (oh.get().type != msgpack::type::MAP) {
    return Status::InvalidArgument(std::string(what) + ": body must be a map");
  }
  return wire::ToJson(oh.get(), what);
}

std::string ErrorBody(const Status& s) {
  return JsonBody({{"code", Status::CodeName(s.code())}, {"message", s.message()}});
}

Status DecodeError(std::string_view body) {
  auto oh = wire::Unpack(body, "error");
  if (!oh.ok()) return oh.status();
  auto r = wire::MapReader::From(oh->get(), "error");
  if (!r.ok()) return r.status();
  std::string code, message;
  RECOMP_RETURN_IF_ERROR(r->Str("code", &code, wire::Need::kRequired, 64));
  RECOMP_RETURN_IF_ERROR(r->Str("message", &message, wire::Need::kRequired, wire::kMaxText));
  Status::Code c = Status::CodeFromName(code);
  if (c == Status::Code::kOk) c = Status::Code::kInternal;
  return Status(c, message);
}

std::string EncodeWorkerHello(const WorkerHello& h) {
  msgpack::sbuffer buf;
  wire::Packer pk(buf);
  pk.pack_map(8);
  pk.pack("schema_version");
  pk.pack(WorkerHello::kSchemaVersion);
  pk.pack("labels");
  pk.pack(h.labels);
  pk.pack("worker_id");
  pk.pack(h.worker_id);
  pk.pack("slots");
  pk.pack(h.slots);
  pk.pack("heartbeat_ms");
  pk.pack(h.heartbeat_ms);
  pk.pack("liveness");
  pk.pack(h.liveness);
  pk.pack("host");
  pk.pack(h.host);
  pk.pack("pid");
  pk.pack(h.pid);
  return wire::ToBytes(buf);
}

Result<WorkerHello> DecodeWorkerHello(std::string_view body) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(body, "worker_hello"));
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(oh.get(), "worker_hello"));
  int64_t version, slots, hb, liveness;
  RECOMP_RETURN_IF_ERROR(r.SchemaVersion(WorkerHello::kSchemaVersion, &version));
  WorkerHello h;
  RECOMP_RETURN_IF_ERROR(r.Str("worker_id", &h.worker_id, wire::Need::kRequired, 128));
  if (h.worker_id.empty()) return Status::InvalidArgument("worker_hello.worker_id: empty");
  RECOMP_RETURN_IF_ERROR(r.Int("slots", &slots, wire::Need::kRequired, 1, 1024));
  RECOMP_RETURN_IF_ERROR(r.Int("heartbeat_ms", &hb, wire::Need::kRequired, 10, 60000));
  RECOMP_RETURN_IF_ERROR(r.Int("liveness", &liveness, wire::Need::kRequired, 2, 100));
  RECOMP_RETURN_IF_ERROR(r.Str("host", &h.host, wire::Need::kRequired, 256));
  RECOMP_RETURN_IF_ERROR(r.Int("pid", &h.pid, wire::Need::kRequired, 0, INT32_MAX));
  RECOMP_RETURN_IF_ERROR(r.StrMap("labels", &h.labels, wire::Need::kOptional, kMaxLabels));
  RECOMP_RETURN_IF_ERROR(ValidateLabels(h.labels, "worker_hello.labels"));
  if (static_cast<uint64_t>(hb) * static_cast<uint64_t>(liveness) > kMaxLivenessWindowMs) {
    return Status::InvalidArgument(
        "worker_hello: heartbeat_ms x liveness = " + std::to_string(hb * liveness) +
        " ms exceeds " + std::to_string(kMaxLivenessWindowMs) + " ms");
  }
  h.slots = static_cast<uint32_t>(slots);
  h.heartbeat_ms = static_cast<uint32_t>(hb);
  h.liveness = static_cast<uint32_t>(liveness);
  return h;
}

std::string EncodeJobRef(const JobRef& r) {
  return JsonBody({{"job_id", r.job_id}, {"attempt", r.attempt}});
}

Result<JobRef> DecodeJobRef(std::string_view body) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(body, "job_ref"));
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(oh.get(), "job_ref"));
  JobRef j;
  int64_t attempt;
  RECOMP_RETURN_IF_ERROR(r.Str("job_id", &j.job_id, wire::Need::kRequired, 64));
  if (auto d = ParseDigestHex(j.job_id); !d.ok()) return d.status().WithContext("job_ref.job_id");
  RECOMP_RETURN_IF_ERROR(r.Int("attempt", &attempt, wire::Need::kRequired, 1, 1000000));
  j.attempt = static_cast<uint32_t>(attempt);
  return j;
}

std::string EncodeJobRefs(std::string_view key, const std::vector<JobRef>& refs) {
  msgpack::sbuffer buf(32 + refs.size() * 96);
  wire::Packer pk(buf);
  pk.pack_map(1);
  pk.pack(key);
  pk.pack_array(static_cast<uint32_t>(refs.size()));
  for (const JobRef& r : refs) {
    pk.pack_map(2);
    pk.pack("job_id");
    pk.pack(r.job_id);
    pk.pack("attempt");
    pk.pack(r.attempt);
  }
  return wire::ToBytes(buf);
}

namespace {

Status ReadJobRef(const wire::MapReader& item, JobRef* j) {
  int64_t attempt;
  RECOMP_RETURN_IF_ERROR(item.Str("job_id", &j->job_id, wire::Need::kRequired, 64));
  if (auto d = ParseDigestHex(j->job_id); !d.ok()) return d.status().WithContext(item.record());
  RECOMP_RETURN_IF_ERROR(item.Int("attempt", &attempt, wire::Need::kRequired, 1, 1000000));
  j->attempt = static_cast<uint32_t>(attempt);
  return Status::Ok();
}

// The entries of the list `key` of a one-map body.
Status ListItems(std::string_view key, std::string_view body, std::optional<wire::Unpacked>* oh,
                 std::vector<wire::MapReader>* items) {
  RECOMP_ASSIGN_OR_RETURN(auto unpacked, wire::Unpack(body, key));
  oh->emplace(std::move(unpacked));
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From((*oh)->get(), std::string(key)));
  return r.MapList(key, items);
}

}  // namespace

Result<std::vector<JobRef>> DecodeJobRefs(std::string_view key, std::string_view body) {
  std::optional<wire::Unpacked> oh;
  std::vector<wire::MapReader> items;
  RECOMP_RETURN_IF_ERROR(ListItems(key, body, &oh, &items));
  std::vector<JobRef> out(items.size());
  for (size_t i = 0; i < items.size(); ++i) RECOMP_RETURN_IF_ERROR(ReadJobRef(items[i], &out[i]));
  return out;
}

std::string EncodeLogPiece(const LogPiece& p) {
  msgpack::sbuffer buf(96 + p.data.size());
  wire::Packer pk(buf);
  pk.pack_map(4);
  pk.pack("job_id");
  pk.pack(p.ref.job_id);
  pk.pack("attempt");
  pk.pack(p.ref.attempt);
  pk.pack("offset");
  pk.pack(p.offset);
  pk.pack("data");
  pk.pack_bin(static_cast<uint32_t>(p.data.size()));
  pk.pack_bin_body(p.data.data(), static_cast<uint32_t>(p.data.size()));
  return wire::ToBytes(buf);
}

Result<LogPiece> DecodeLogPiece(std::string_view body) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(body, "log_piece"));
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(oh.get(), "log_piece"));
  LogPiece p;
  RECOMP_RETURN_IF_ERROR(ReadJobRef(r, &p.ref));
  RECOMP_RETURN_IF_ERROR(r.Uint("offset", &p.offset));
  RECOMP_RETURN_IF_ERROR(r.Bin("data", &p.data, wire::Need::kRequired, LogPiece::kMaxData));
  return p;
}

std::string EncodeStartedJobs(const std::vector<StartedJob>& jobs) {
  msgpack::sbuffer buf(32 + jobs.size() * 160);
  wire::Packer pk(buf);
  pk.pack_map(1);
  pk.pack("jobs");
  pk.pack_array(static_cast<uint32_t>(jobs.size()));
  for (const StartedJob& s : jobs) {
    pk.pack_map(3);
    pk.pack("job_id");
    pk.pack(s.ref.job_id);
    pk.pack("attempt");
    pk.pack(s.ref.attempt);
    pk.pack("worker");
    pk.pack(s.worker);
  }
  return wire::ToBytes(buf);
}

Result<std::vector<StartedJob>> DecodeStartedJobs(std::string_view body) {
  std::optional<wire::Unpacked> oh;
  std::vector<wire::MapReader> items;
  RECOMP_RETURN_IF_ERROR(ListItems("jobs", body, &oh, &items));
  std::vector<StartedJob> out(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    RECOMP_RETURN_IF_ERROR(ReadJobRef(items[i], &out[i].ref));
    RECOMP_RETURN_IF_ERROR(items[i].Str("worker", &out[i].worker, wire::Need::kRequired, 256));
  }
  return out;
}

Result<ReplayRequest> DecodeReplayRequest(std::string_view body) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(body, "replay"));
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(oh.get(), "replay"));
  ReplayRequest q;
  RECOMP_RETURN_IF_ERROR(r.Uint("from", &q.from, wire::Need::kOptional));
  RECOMP_RETURN_IF_ERROR(r.Uint("limit", &q.limit, wire::Need::kOptional));
  RECOMP_RETURN_IF_ERROR(r.Str("run_id", &q.run_id, wire::Need::kOptional, 128));
  return q;
}

Result<ListRequest> DecodeListRequest(std::string_view body) {
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(body, "list"));
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(oh.get(), "list"));
  ListRequest q;
  RECOMP_RETURN_IF_ERROR(r.Int("limit", &q.limit, wire::Need::kOptional, 1, 1000));
  RECOMP_RETURN_IF_ERROR(r.Str("after", &q.after, wire::Need::kOptional, 128));
  RECOMP_RETURN_IF_ERROR(r.Str("state", &q.state, wire::Need::kOptional, 32));
  RECOMP_RETURN_IF_ERROR(r.Str("since", &q.since, wire::Need::kOptional, 64));
  if (!q.state.empty())
    RECOMP_RETURN_IF_ERROR(ParseRunState(q.state).status().WithContext("list.state"));
  if (!q.since.empty())
    RECOMP_RETURN_IF_ERROR(ParseRfc3339(q.since).status().WithContext("list.since"));
  return q;
}

}  // namespace recomp::proto
