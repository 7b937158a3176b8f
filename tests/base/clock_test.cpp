// The clock: RFC 3339 formatting and strict parsing, Unix milliseconds, the monotonic helpers.
#include "base/clock.h"

#include <doctest/doctest.h>

#include <thread>

using namespace recomp;

TEST_CASE("RFC 3339 round-trips at millisecond precision, always UTC") {
  SysTime t = FromUnixMillis(1795840644123);
  std::string s = FormatRfc3339(t);
  CHECK(s == "2026-11-28T04:37:24.123Z");
  auto back = ParseRfc3339(s);
  REQUIRE(back.ok());
  CHECK(ToUnixMillis(*back) == 1795840644123);
  // Offsets are converted to UTC.
  CHECK(ToUnixMillis(ParseRfc3339("2026-11-28T05:37:24.123+01:00").value()) == 1795840644123);
}

TEST_CASE("malformed times are refused naming the text") {
  for (const char* bad :
       {"", "2026-11-28", "2026-11-28T03:17:24", "2026-13-01T00:00:00Z", "2026-11-28T25:00:00Z",
        "2026-11-28T03:17:24.Z", "x026-11-28T03:17:24Z", "2026-11-28T03:17:24+1:00"}) {
    auto r = ParseRfc3339(bad);
    CHECK_MESSAGE(!r.ok(), bad);
    if (!r.ok()) CHECK(r.status().message().find("malformed RFC 3339 time") != std::string::npos);
  }
}

TEST_CASE("NowUnixMillis follows the wall clock; MillisSince the monotonic one") {
  int64_t before = ToUnixMillis(std::chrono::system_clock::now());
  int64_t now = NowUnixMillis();
  CHECK(now >= before);
  CHECK(now - before < 60000);
  auto t0 = SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));  // a duration to measure, not a sync
  CHECK(MillisSince(t0) >= 5);
}

TEST_CASE("times SysTime cannot hold are refused or saturate, never overflow") {
  CHECK(ParseRfc3339("2200-12-31T23:59:59Z").ok());
  auto far = ParseRfc3339("4052-01-01T00:00:00Z");
  REQUIRE_FALSE(far.ok());
  CHECK(far.status().message().find("outside the years 1700-2200") != std::string::npos);
  CHECK_FALSE(ParseRfc3339("1600-01-01T00:00:00Z").ok());
  CHECK(ToUnixMillis(FromUnixMillis(INT64_MAX)) > ToUnixMillis(FromUnixMillis(0)));
  CHECK(ToUnixMillis(FromUnixMillis(INT64_MIN)) < 0);
}
