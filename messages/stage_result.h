// StageResult v1: what a worker reports for one attempt of one job (and what the coordinator
// records for a cache hit). Plain value type, thread-compatible. See docs/wire.md.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "base/status.h"
#include "messages/stage_job.h"

namespace recomp {

// kSucceeded: exit 0 and every declared output stored. kFailed: non-zero exit, a signal, or a
// missing/escaping output. kTimedOut: killed at timeout_s. kCancelled: killed on request.
// kWorkerLost: the worker died or went silent (recorded by the broker, never by a worker).
// kError: the worker could not run the job (inputs unavailable, store failure).
enum class JobOutcome : uint8_t {
  kSucceeded = 0,
  kFailed,
  kTimedOut,
  kCancelled,
  kWorkerLost,
  kError
};
inline constexpr std::array<std::string_view, 6> kJobOutcomeNames = {
    "succeeded", "failed", "timed_out", "cancelled", "worker_lost", "error"};
std::string_view ToString(JobOutcome o);

// The largest encoded StageResult a worker reports. A job whose result would be larger (too
// many declared file outputs; a directory output is one tree whatever it holds) fails naming
// this cap, so a result always fits a frame and the events that carry it.
inline constexpr size_t kMaxResultBytes = size_t{1} << 20;

struct StageResult {
  static constexpr int64_t kSchemaVersion = 1;
  std::string job_id;
  std::string run_id;
  std::string stage;
  uint32_t shard = 0;
  uint32_t attempt = 1;
  std::string worker;  // worker id ("" for cache hits)
  JobOutcome outcome = JobOutcome::kSucceeded;
  int32_t exit_code = -1;  // -1 when the process did not exit normally
  int32_t signal = 0;      // terminating signal, 0 if none
  uint64_t duration_ms = 0;
  std::vector<PathRef> outputs;  // sorted by path
  std::string log_ref;           // artifact:// of stdout+stderr, "" if none
  std::string message;           // human explanation for non-success
  bool cached = false;           // served from the action cache

  bool operator==(const StageResult&) const = default;
};

// Sets the fields that name the attempt (job_id, run_id, stage, shard, attempt) from `a`.
void SetAttempt(StageResult* r, const JobAttempt& a);
// A result for attempt `a` with every other field at its default.
StageResult ResultFor(const JobAttempt& a);

std::string EncodeStageResult(const StageResult& r);
// The same map, packed into an enclosing record (e.g. a stored job row).
void PackStageResult(wire::Packer& pk, const StageResult& r);
Result<StageResult> DecodeStageResult(std::string_view bytes);
Result<StageResult> DecodeStageResult(const msgpack::object& obj);
nlohmann::json ToJson(const StageResult& r);

}  // namespace recomp
