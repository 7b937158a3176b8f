#include "base/names.h"

#include <doctest/doctest.h>

#include <string>

namespace recomp {
namespace {

TEST_CASE("safe names: 1-max of [A-Za-z0-9._-], never a path, hidden, '.' or '..'") {
  CHECK(ValidateSafeName("builder-1", 64, "key name").ok());
  CHECK(ValidateSafeName("a.b_c-D9", 8, "x").ok());
  CHECK(ValidateSafeName(std::string(64, 'a'), 64, "x").ok());
  for (std::string bad : {"", ".", "..", ".hidden", "a/b", "../x", "a b", "a\nb", "é"}) {
    CHECK_FALSE(ValidateSafeName(bad, 64, "x").ok());
  }
  auto long_name = ValidateSafeName(std::string(65, 'a'), 64, "key name");
  REQUIRE_FALSE(long_name.ok());
  CHECK(long_name.message().find("key name") == 0);
  CHECK(long_name.message().find("1-64 of [A-Za-z0-9._-]") != std::string::npos);
}

}  // namespace
}  // namespace recomp
