// The clock: wall time as RFC 3339 UTC timestamps ("2026-11-24T03:37:24.123Z", the only time
// format on the wire) and Unix milliseconds, and the monotonic clock for intervals and
// deadlines. Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace recomp {

using SysTime = std::chrono::system_clock::time_point;
// Intervals, timeouts and deadlines use the monotonic clock, never wall time.
using SteadyClock = std::chrono::steady_clock;

// Millisecond precision, always UTC with a trailing 'Z'.
std::string FormatRfc3339(SysTime t);
std::string NowRfc3339();
// Accepts "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" with a year in
// [kMinYear, kMaxYear] (what SysTime holds); InvalidArgument otherwise.
Result<SysTime> ParseRfc3339(std::string_view s);
inline constexpr int kMinYear = 1700;
inline constexpr int kMaxYear = 2200;
// Milliseconds since the Unix epoch.
int64_t ToUnixMillis(SysTime t);
// Saturates at the range SysTime holds (about 1678-2261) rather than overflowing.
SysTime FromUnixMillis(int64_t ms);
// ToUnixMillis(now).
int64_t NowUnixMillis();
// Whole milliseconds from `since` to now on the monotonic clock.
int64_t MillisSince(SteadyClock::time_point since);

}  // namespace recomp
