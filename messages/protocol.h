// The control protocol (docs/protocol.md): its tag, the command names of its three
// conversations (client<->coordinator API, the coordinator link between coordinator and
// broker, worker<->broker), and the small bodies that are not full records. Pure values;
// thread-safe.
//
// A message is [tag "RCP1"][command][body] (net/framing.h): body is one MessagePack map
// (possibly empty). On a ROUTER the peer identity frame(s) come first.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "base/status.h"
#include "messages/stage_job.h"

namespace recomp::proto {

inline constexpr std::string_view kTag = "RCP1";

// ---- client <-> coordinator API (REQ/DEALER client -> ROUTER "api") ----
// Request bodies / reply bodies (reply command is kOk or kError):
inline constexpr std::string_view kSubmit = "SUBMIT";     // RunSubmission -> RunStatus
inline constexpr std::string_view kStatus = "STATUS";     // {run_id} -> RunStatus
inline constexpr std::string_view kList = "LIST";         // {} -> {runs: [RunStatus]}
inline constexpr std::string_view kCancelRun = "CANCEL";  // {run_id} -> RunStatus
inline constexpr std::string_view kWorkers = "WORKERS";   // {} -> {workers: [WorkerInfo]}
inline constexpr std::string_view kAudit = "AUDIT";  // {run_id} -> {ok, stored, replayed, diff}
inline constexpr std::string_view kResultOf = "RESULTS";  // {run_id} -> {results: [StageResult]}
// {run_id} -> the run at a glance: per stage shards by state, attempts, durations, workers,
// outputs, failures (docs/protocol.md, "SHOW").
inline constexpr std::string_view kShow = "SHOW";
// {run_id, from_stage?, requested_by?} -> RunStatus of a new run of the same manifests; from
// from_stage on nothing is served from the action cache (docs/protocol.md, "RERUN").
inline constexpr std::string_view kRerun = "RERUN";
// {limit?} -> the pool at a glance (docs/protocol.md, "STATS"): runs in flight with their
// progress, queue depths, jobs in flight and completed, the event head.
inline constexpr std::string_view kStats = "STATS";
// {} -> {api, events, replay, workers, blobs}: the endpoints as bound (a wildcard host means
// the host the client reached the API at), so a client given only --api finds the rest.
inline constexpr std::string_view kEndpoints = "ENDPOINTS";
// Replay ("replay" ROUTER): {from: seq, limit: n, run_id?} -> {events: [Event], last: seq,
// head: seq}. Events with sequence > from, at most `limit`; `head` is the newest sequence.
inline constexpr std::string_view kReplay = "REPLAY";
inline constexpr std::string_view kOk = "OK";
inline constexpr std::string_view kError = "ERROR";  // {code, message}

// ---- the coordinator link (coordinator DEALER -> broker ROUTER) ----
inline constexpr std::string_view kDispatch = "DISPATCH";  // c->b StageJob: queue it
inline constexpr std::string_view kRevoke = "REVOKE";      // c->b {job_id, attempt}: drop/cancel
// b->c {jobs: [{job_id, attempt, worker}]}: attempts just leased to workers, batched per
// broker turn (best effort: they are informational and never buffered past a lost coordinator).
inline constexpr std::string_view kStarted = "STARTED";
inline constexpr std::string_view kResult = "RESULT";           // b->c and w->b: StageResult
inline constexpr std::string_view kRejected = "REJECTED";       // b->c {job_id, attempt, reason}
inline constexpr std::string_view kWorkerList = "WORKER_LIST";  // b->c {workers: [WorkerInfo]}
// b->c {worker_id, host, pid, slots, labels}: a worker registered; and {worker_id, host, pid,
// slots, labels, reason, jobs} when it was dropped (reason says why; jobs = leases it held).
inline constexpr std::string_view kWorkerJoined = "WORKER_JOINED";
inline constexpr std::string_view kWorkerLeft = "WORKER_LEFT";
// c->b {jobs: [JobRef]}: the attempts the coordinator has in flight. The broker answers
// RECONCILED {unknown: [JobRef]}: those it neither queues, leases nor holds a RESULT of.
inline constexpr std::string_view kReconcile = "RECONCILE";
inline constexpr std::string_view kReconciled = "RECONCILED";

// Live logs (docs/protocol.md, "Live logs"): c->b and b->w {job_id, attempt}: send this
// attempt's log as it grows, for the next kLogWatchMs (renewed by repeating it); w->b and b->c
// LogPiece: bytes of it from `offset`.
inline constexpr std::string_view kWatchLog = "WATCH_LOG";
inline constexpr std::string_view kLogPiece = "LOG";
inline constexpr int64_t kLogWatchMs = 10000;
// API: {run_id, stage, shard?, offset?} -> {state, job_id, attempt, start, data, next, log_ref}.
inline constexpr std::string_view kLogTail = "LOG_TAIL";

// ---- worker <-> broker (worker DEALER -> broker ROUTER "workers") ----
inline constexpr std::string_view kReady = "READY";  // w->b WorkerHello
// b->w {blobs: endpoint}: READY's acknowledgement, naming the blob service (docs/blob-protocol.md;
// a wildcard host means "the host you reached me at").
inline constexpr std::string_view kWelcome = "WELCOME";
inline constexpr std::string_view kHeartbeat = "HEARTBEAT";    // both ways, {}
inline constexpr std::string_view kJob = "JOB";                // b->w StageJob
inline constexpr std::string_view kCancel = "CANCEL_JOB";      // b->w {job_id, attempt}
inline constexpr std::string_view kDisconnect = "DISCONNECT";  // both ways {reason}

// An empty map body.
std::string EmptyBody();
// {code: "<STATUS_CODE_NAME>", message: "..."}
std::string ErrorBody(const Status& s);
Status DecodeError(std::string_view body);
// Encodes a JSON object as a MessagePack map body, and decodes a body to JSON (bounded).
std::string JsonBody(const nlohmann::json& j);
Result<nlohmann::json> BodyJson(std::string_view body, std::string_view what);

// The longest a peer may stay silent before it is declared dead (heartbeat_ms x liveness): a
// worker cannot hold its jobs through a longer silence.
inline constexpr uint64_t kMaxLivenessWindowMs = 60000;

struct WorkerHello {
  static constexpr int64_t kSchemaVersion = 1;
  std::string worker_id;         // unique per worker process ("host:pid:random")
  uint32_t slots = 1;            // credits: jobs it may hold at once
  uint32_t heartbeat_ms = 1000;  // the interval it will heartbeat at (both sides use it)
  uint32_t liveness = 3;         // missed intervals before the peer is declared dead
  std::string host;
  int64_t pid = 0;
  Labels labels;  // what stages may require of it (messages/stage_job.h); optional on the wire
};
std::string EncodeWorkerHello(const WorkerHello& h);
Result<WorkerHello> DecodeWorkerHello(std::string_view body);

// REPLAY's body: events with sequence > from, at most `limit` (0 counts as 1), of `run_id` only
// when not empty.
struct ReplayRequest {
  uint64_t from = 0;
  uint64_t limit = 1000;
  std::string run_id;
};
Result<ReplayRequest> DecodeReplayRequest(std::string_view body);

// LIST's body: at most `limit` runs (1..1000) with ids after `after`; only those in `state`
// (a run state name, "" = any) accepted at or after `since` (RFC 3339, "" = any).
struct ListRequest {
  int64_t limit = 100;
  std::string after;
  std::string state;
  std::string since;
};
Result<ListRequest> DecodeListRequest(std::string_view body);

// One attempt of one job: the fencing key of every lease and result, and the body of REVOKE
// and CANCEL_JOB.
struct JobRef {
  std::string job_id;
  uint32_t attempt = 1;
  auto operator<=>(const JobRef&) const = default;
  bool operator==(const JobRef&) const = default;
};
// Job IDs are hashes already: hashing the string again is cheap and well spread.
struct JobRefHash {
  size_t operator()(const JobRef& k) const noexcept {
    return std::hash<std::string>{}(k.job_id) * 31 + k.attempt;
  }
};
std::string EncodeJobRef(const JobRef& r);
Result<JobRef> DecodeJobRef(std::string_view body);
// {<key>: [JobRef...]}, the body of RECONCILE ("jobs") and RECONCILED ("unknown"); at most
// wire::kMaxList refs.
std::string EncodeJobRefs(std::string_view key, const std::vector<JobRef>& refs);
Result<std::vector<JobRef>> DecodeJobRefs(std::string_view key, std::string_view body);

// LOG's body: `data` = bytes [offset, offset + size) of attempt `ref`'s log (stdout+stderr).
struct LogPiece {
  static constexpr size_t kMaxData = size_t{64} << 10;
  JobRef ref;
  uint64_t offset = 0;
  std::string data;  // at most kMaxData bytes, sent as a MessagePack bin
  bool operator==(const LogPiece&) const = default;
};
std::string EncodeLogPiece(const LogPiece& p);
Result<LogPiece> DecodeLogPiece(std::string_view body);

// One entry of STARTED: an attempt and the worker it was leased to.
struct StartedJob {
  JobRef ref;
  std::string worker;
  bool operator==(const StartedJob&) const = default;
};
// STARTED's body {jobs: [{job_id, attempt, worker}]}; at most wire::kMaxList entries.
std::string EncodeStartedJobs(const std::vector<StartedJob>& jobs);
Result<std::vector<StartedJob>> DecodeStartedJobs(std::string_view body);

}  // namespace recomp::proto
