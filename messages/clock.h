// RFC 3339 UTC timestamps ("2026-11-24T03:37:24.123Z"), the only time format on the wire.
// Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "messages/status.h"

namespace recomp {

using SysTime = std::chrono::system_clock::time_point;

// Millisecond precision, always UTC with a trailing 'Z'.
std::string FormatRfc3339(SysTime t);
std::string NowRfc3339();
// Accepts "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"; InvalidArgument otherwise.
Result<SysTime> ParseRfc3339(std::string_view s);
// Milliseconds since the Unix epoch.
int64_t ToUnixMillis(SysTime t);
SysTime FromUnixMillis(int64_t ms);

}  // namespace recomp
