// The coordinator's persisted model of a run: the run row (submission, status, what the run
// was resolved to) and one job row per (stage, shard). Stored in LMDB by RunStore as versioned
// MessagePack maps (docs/coordinator-storage.md). Plain values; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "messages/run_status.h"
#include "messages/run_submission.h"
#include "messages/stage_result.h"

namespace recomp::coordinator {

// kWaiting: its needs are not complete. kReady: planned, waiting for dispatch (or a retry
// time). kDispatched: sent to the broker under `attempt`. kSucceeded / kFailed: final.
enum class JobState : uint8_t { kWaiting = 0, kReady, kDispatched, kSucceeded, kFailed };
std::string_view ToString(JobState s);

struct JobRow {
  std::string run_id;
  std::string stage;
  uint32_t shard = 0;
  uint32_t shards = 1;
  std::string job_id;  // 64 hex once planned, "" while waiting
  JobState state = JobState::kWaiting;
  uint32_t attempt = 0;       // latest attempt dispatched (0 = never)
  uint32_t failures = 0;      // failed attempts (counts against `retries`)
  uint32_t lost = 0;          // attempts lost with their worker (counts against the lost cap)
  int64_t not_before_ms = 0;  // retry backoff: not dispatched before this Unix time (ms)
  std::optional<StageResult> result;  // final result once succeeded/failed

  std::string Key() const;  // run_id \0 stage \0 shard(4 bytes big-endian)
};

struct RunRow {
  RunSubmission submission;     // run_id filled in
  RunStatus status;             // = ReduceEvents(this run's events)
  std::string content_key_hex;  // BLAKE2b of SubmissionContentKey: idempotent resubmission
  std::string verdict;          // "", "passed" or "failed"
  bool cancel_requested = false;
  std::string rerun_of;                      // the run this one re-runs (`recomp rerun`), or ""
  std::vector<std::string> no_cache_stages;  // sorted: stages never served from the cache
};

// The stored job row (version 2): a MessagePack map packed directly (no JSON on the hot path),
// the final result nested as a StageResult map. DecodeJobRow also reads version 1 rows (the
// JSON form). Corruption names the field of a damaged row.
std::string EncodeJobRow(const JobRow& j);
Result<JobRow> DecodeJobRow(std::string_view bytes);
// The JSON view (API results, audit), and its inverse (version 1 rows).
nlohmann::json ToJson(const JobRow& j);
Result<JobRow> JobRowFromJson(const nlohmann::json& j);
nlohmann::json ToJson(const RunRow& r);
Result<RunRow> RunRowFromJson(const nlohmann::json& j);

// JSON helpers shared with the broker-facing code: StageResult <-> JSON.
Result<StageResult> StageResultFromJson(const nlohmann::json& j);

}  // namespace recomp::coordinator
