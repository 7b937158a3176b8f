// StageJob v1: one unit of work the broker hands a worker (one shard of one stage of one run),
// and PathRef, a (relative path, artifact ref) pair used for job inputs and outputs.
// Plain value types, thread-compatible. See docs/wire.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "base/status.h"
#include "messages/codec.h"
#include "messages/run_submission.h"

namespace recomp {

struct PathRef {
  std::string path;  // relative to the job's working dir ("in/module/game.rom", "out/a.c")
  std::string ref;   // artifact://<hash>
  bool operator==(const PathRef&) const = default;
  auto operator<=>(const PathRef&) const = default;
};

inline constexpr size_t kMaxPath = 1024;          // a path in a job's working dir
inline constexpr size_t kMaxPathComponent = 255;  // one component of it (= filesystem limit)

// The one rule for paths in a job's working directory (declared outputs, inputs, reported
// output files): non-empty, not absolute, no empty, "." or ".." component, no NUL, at most
// kMaxPath bytes and kMaxPathComponent per component; one trailing '/' (a directory output)
// only if `allow_dir_slash`. `what` names the path in the error ("stage 'lift': output 'o/'").
Status ValidateRelativePath(std::string_view path, std::string_view what, bool allow_dir_slash);
// The same with what = "path '<path>'" and a trailing '/' allowed (wire records).
Status ValidateRelativePath(std::string_view path);

// Labels a worker declares (`--label key=value`; os, arch and pool are set for it) and the
// labels a stage requires of the worker that runs it (all must match). Keys: 1-63 bytes of
// [a-z0-9_.-]; values: 0-63 bytes of [A-Za-z0-9_.-]; at most kMaxLabels entries.
using Labels = std::map<std::string, std::string>;
inline constexpr size_t kMaxLabels = 32;
Status ValidateLabels(const Labels& labels, std::string_view what);
// Whether a worker with `labels` has every label of `required`.
bool Satisfies(const Labels& labels, const Labels& required);
// "key=value,key=value" (sorted), or "(none)".
std::string LabelsText(const Labels& labels);

struct StageJob {
  static constexpr int64_t kSchemaVersion = 1;
  std::string job_id;  // 64 hex: BLAKE2b-256 of what the job does and reads
  std::string run_id;
  std::string stage;
  uint32_t shard = 0;
  uint32_t shards = 1;
  uint32_t attempt = 1;                    // fencing token: results of other attempts are stale
  std::vector<std::string> argv;           // no shell
  std::map<std::string, std::string> env;  // the job's whole environment
  std::vector<PathRef> inputs;             // materialised read-only under the working dir
  std::vector<std::string> outputs;        // declared outputs; trailing '/' = directory
  uint32_t timeout_s = 600;
  Priority priority = Priority::kStandard;
  Labels requirements;   // "requires": what the worker's labels must match (optional on the wire)
  bool network = false;  // the job may use the network (optional on the wire; default false)

  bool operator==(const StageJob&) const = default;
};

// Which attempt of which job of which run: what a lease holds and what a result names.
struct JobAttempt {
  std::string job_id;
  std::string run_id;
  std::string stage;
  uint32_t shard = 0;
  uint32_t attempt = 1;
};
JobAttempt AttemptOf(const StageJob& j);

std::string EncodeStageJob(const StageJob& j);
Result<StageJob> DecodeStageJob(std::string_view bytes);
Result<StageJob> DecodeStageJob(const msgpack::object& obj);
nlohmann::json ToJson(const StageJob& j);

// Shared by StageJob and StageResult.
void PackPathRefs(wire::Packer& pk, const std::vector<PathRef>& refs);
Status ReadPathRefs(const wire::MapReader& r, std::string_view key, std::vector<PathRef>* out,
                    wire::Need need = wire::Need::kRequired);
nlohmann::json ToJson(const std::vector<PathRef>& refs);

}  // namespace recomp
