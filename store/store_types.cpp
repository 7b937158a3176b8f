// Names of the store's public enums (see store_types.h).
#include "store/store_types.h"

#include <array>

namespace recomp::store {
namespace {
constexpr std::array<std::string_view, 3> kPinStateNames = {"active", "succeeded", "failed"};
constexpr std::array<std::string_view, 3> kProblemNames = {"corrupt", "missing", "unindexed"};
}  // namespace

std::string_view ToString(RunPinState s) {
  return kPinStateNames[static_cast<size_t>(s)];
}

Result<RunPinState> ParseRunPinState(std::string_view s) {
  for (size_t i = 0; i < kPinStateNames.size(); ++i) {
    if (kPinStateNames[i] == s) return static_cast<RunPinState>(i);
  }
  return Status::InvalidArgument("unknown run pin state '" + std::string(s.substr(0, 64)) +
                                 "' (expected active|succeeded|failed)");
}

std::string_view ToString(ProblemKind k) {
  return kProblemNames[static_cast<size_t>(k)];
}

bool VerifyReport::ok() const {
  for (const auto& p : problems) {
    if (p.kind != ProblemKind::kUnindexed) return false;
  }
  return true;
}

}  // namespace recomp::store
