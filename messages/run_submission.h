// RunSubmission v1 (SPEC-250): what a client sends to start a run. Plain value type,
// thread-compatible. Wire format: a MessagePack map (docs/wire.md); JSON view and JSON Schema
// in docs/schemas/run-submission.schema.json.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "base/status.h"

namespace recomp {

enum class ExecutionMode : uint8_t { kLocal = 0, kCloud, kHybrid };
inline constexpr std::array<std::string_view, 3> kExecutionModeNames = {"local", "cloud", "hybrid"};

enum class Priority : uint8_t { kLow = 0, kStandard, kHigh };
inline constexpr std::array<std::string_view, 3> kPriorityNames = {"low", "standard", "high"};

std::string_view ToString(ExecutionMode m);
std::string_view ToString(Priority p);
Result<ExecutionMode> ParseExecutionMode(std::string_view s);
Result<Priority> ParsePriority(std::string_view s);

// A run id: 1-128 characters of [A-Za-z0-9._:-], starting with a letter or digit. It is used in
// keys and file names, so nothing else is accepted.
Status ValidateRunId(std::string_view run_id);

// The largest manifest (module, config or provenance) a submission may name, and the largest
// pipeline file `recomp submit` reads.
inline constexpr size_t kMaxManifestBytes = size_t{4} << 20;

struct RunSubmission {
  static constexpr int64_t kSchemaVersion = 1;
  std::string run_id;  // empty: the coordinator assigns a new unique id
  ExecutionMode execution_mode = ExecutionMode::kLocal;
  std::string module_manifest;      // artifact://<hash>
  std::string config_manifest;      // artifact://<hash>
  std::string provenance_manifest;  // artifact://<hash>
  std::string requested_by;         // principal id, 1-256 bytes
  Priority priority = Priority::kStandard;

  bool operator==(const RunSubmission&) const = default;
};

std::string EncodeRunSubmission(const RunSubmission& s);
// Strict: every field validated (ref syntax, enums, run id syntax); errors name the field.
Result<RunSubmission> DecodeRunSubmission(std::string_view bytes);
Result<RunSubmission> DecodeRunSubmission(const msgpack::object& obj);
nlohmann::json ToJson(const RunSubmission& s);
// Canonical bytes of the content that makes two submissions "the same" (all fields but
// run_id): used for idempotent resubmission.
std::string SubmissionContentKey(const RunSubmission& s);

}  // namespace recomp
