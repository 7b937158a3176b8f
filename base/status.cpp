// Status formatting and code names.
#include "base/status.h"

#include <array>

namespace recomp {
namespace {
constexpr std::array<std::string_view, 13> kNames = {"OK",
                                                     "INVALID_ARGUMENT",
                                                     "NOT_FOUND",
                                                     "ALREADY_EXISTS",
                                                     "CORRUPTION",
                                                     "IO_ERROR",
                                                     "FAILED_PRECONDITION",
                                                     "UNAVAILABLE",
                                                     "DEADLINE_EXCEEDED",
                                                     "RESOURCE_EXHAUSTED",
                                                     "CANCELLED",
                                                     "INTERNAL",
                                                     "PERMISSION_DENIED"};
}  // namespace

std::string_view Status::CodeName(Code code) {
  auto i = static_cast<size_t>(code);
  return i < kNames.size() ? kNames[i] : "UNKNOWN";
}

Status::Code Status::CodeFromName(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<Code>(i);
  }
  return Code::kInternal;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s(CodeName(code_));
  s += ": ";
  s += message_;
  return s;
}

Status Status::WithContext(std::string_view prefix) const {
  if (ok()) return *this;
  std::string m(prefix);
  m += ": ";
  m += message_;
  return Status(code_, std::move(m));
}

}  // namespace recomp
