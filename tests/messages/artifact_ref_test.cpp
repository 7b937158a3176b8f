// Artifact refs and RFC 3339 times.
#include <doctest/doctest.h>

#include <vector>

#include "base/clock.h"
#include "messages/artifact_ref.h"

using namespace recomp;

TEST_CASE("artifact refs: one spelling per digest") {
  std::string hex = "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8";
  auto d = ParseArtifactRef("artifact://" + hex);
  REQUIRE(d.ok());
  CHECK(d->Hex() == hex);
  CHECK(d->Ref() == "artifact://" + hex);
  for (const std::string& bad : std::vector<std::string>{
           "artifact://", "artifact://" + hex.substr(1), "artifact://" + hex + "0",
           "ARTIFACT://" + hex, "sha256://" + hex, "artifact://../../etc/passwd",
           "artifact://0E5751C026E543B2E8AB2EB06099DAA1D1E5DF47778F7787FAAB45CDF12FE3A8",
           std::string("artifact://\0", 12)}) {
    auto r = ParseArtifactRef(bad);
    CHECK_FALSE(r.ok());
    CHECK(r.status().message().find("malformed artifact ref") == 0);
  }
}

TEST_CASE("RFC 3339 format and parse") {
  auto t = ParseRfc3339("2026-11-24T03:37:24.123Z");
  REQUIRE(t.ok());
  CHECK(FormatRfc3339(*t) == "2026-11-24T03:37:24.123Z");
  CHECK(ToUnixMillis(ParseRfc3339("1970-01-01T01:00:00+01:00").value()) == 0);
  CHECK(ParseRfc3339("2026-11-24T03:37:24Z").ok());
  for (const char* bad :
       {"", "2026-11-24", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-11-24T25:00:00Z",
        "2026-11-24T03:37:24", "2026-11-24T03:37:24.Z", "2026-11-24T03:37:24Zjunk"}) {
    CHECK_MESSAGE(!ParseRfc3339(bad).ok(), bad);
  }
  CHECK(NowRfc3339().back() == 'Z');
}
