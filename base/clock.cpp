// RFC 3339 formatting and parsing with the C++20 calendar (no locale, no TZ database).
#include "base/clock.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace recomp {
namespace {
using namespace std::chrono;

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}
}  // namespace

int64_t ToUnixMillis(SysTime t) {
  return duration_cast<milliseconds>(t.time_since_epoch()).count();
}

SysTime FromUnixMillis(int64_t ms) {
  // SysTime counts nanoseconds in 64 bits (years 1678-2261): saturate instead of overflowing.
  constexpr int64_t kMax = INT64_MAX / 1000000 - 1;
  ms = std::clamp<int64_t>(ms, -kMax, kMax);
  return SysTime(duration_cast<SysTime::duration>(milliseconds(ms)));
}

std::string FormatRfc3339(SysTime t) {
  auto ms = time_point_cast<milliseconds>(t);
  auto day = floor<days>(ms);
  year_month_day ymd{day};
  hh_mm_ss<milliseconds> tod{ms - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(tod.hours().count()),
                static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()),
                static_cast<int>(tod.subseconds().count()));
  return buf;
}

int64_t NowUnixMillis() {
  return ToUnixMillis(system_clock::now());
}

int64_t MillisSince(SteadyClock::time_point since) {
  return duration_cast<milliseconds>(SteadyClock::now() - since).count();
}

std::string NowRfc3339() {
  return FormatRfc3339(system_clock::now());
}

Result<SysTime> ParseRfc3339(std::string_view s) {
  auto bad = [&] {
    return Status::InvalidArgument("malformed RFC 3339 time '" + std::string(s.substr(0, 64)) +
                                   "'");
  };
  int Y, M, D, h, m, sec;
  if (!Digits(s, 0, 4, &Y) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, &M) || s[7] != '-' ||
      !Digits(s, 8, 2, &D) || (s[10] != 'T' && s[10] != 't') || !Digits(s, 11, 2, &h) ||
      s[13] != ':' || !Digits(s, 14, 2, &m) || s[16] != ':' || !Digits(s, 17, 2, &sec)) {
    return bad();
  }
  size_t pos = 19;
  int64_t frac_ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    size_t start = ++pos;
    int scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (scale > 0) frac_ms += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return bad();
  }
  int offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return bad();
    }
    offset_min = (s[pos] == '+' ? 1 : -1) * (oh * 60 + om);
    pos += 6;
  } else {
    return bad();
  }
  year_month_day ymd{year{Y}, month{static_cast<unsigned>(M)}, day{static_cast<unsigned>(D)}};
  if (pos != s.size() || !ymd.ok() || h > 23 || m > 59 || sec > 60) return bad();
  if (Y < kMinYear || Y > kMaxYear) {  // beyond them SysTime's 64-bit nanoseconds overflow
    return Status::InvalidArgument("RFC 3339 time '" + std::string(s.substr(0, 64)) +
                                   "' is outside the years " + std::to_string(kMinYear) + "-" +
                                   std::to_string(kMaxYear));
  }
  auto t = sys_days{ymd} + hours{h} + minutes{m} + seconds{sec} + milliseconds{frac_ms} -
           minutes{offset_min};
  return SysTime(duration_cast<SysTime::duration>(t.time_since_epoch()));
}

}  // namespace recomp
