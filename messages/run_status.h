// RunStatus v1 (SPEC-250): the materialised state of one run, as `recomp status` shows it.
// Plain value type, thread-compatible. JSON Schema: docs/schemas/run-status.schema.json.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "base/status.h"
#include "messages/run_lifecycle.h"

namespace recomp {

struct RunStatus {
  static constexpr int64_t kSchemaVersion = 1;
  std::string run_id;
  RunState state = RunState::kQueued;
  std::string current_stage;           // "" before the first stage
  int64_t stage_attempt = 0;           // attempt of the current stage's latest job; 0 = none yet
  std::vector<std::string> artifacts;  // artifact://<hash> produced so far (sorted, unique)
  std::string started_at;              // RFC 3339: when the run was accepted
  std::string updated_at;              // RFC 3339: last change
  std::string reason;                  // optional: why blocked / failed; "" otherwise

  bool operator==(const RunStatus&) const = default;
};

std::string EncodeRunStatus(const RunStatus& s);
Result<RunStatus> DecodeRunStatus(std::string_view bytes);
Result<RunStatus> DecodeRunStatus(const msgpack::object& obj);
nlohmann::json ToJson(const RunStatus& s);

}  // namespace recomp
