// EditDistance: the textbook cases.
#include "base/edit_distance.h"

#include <doctest/doctest.h>

namespace recomp {
namespace {

TEST_CASE("EditDistance counts insertions, deletions and substitutions") {
  CHECK(EditDistance("", "") == 0);
  CHECK(EditDistance("abc", "") == 3);
  CHECK(EditDistance("", "abc") == 3);
  CHECK(EditDistance("status", "status") == 0);
  CHECK(EditDistance("stauts", "status") == 2);  // a transposition is two edits
  CHECK(EditDistance("kitten", "sitting") == 3);
  CHECK(EditDistance("shwo", "show") == 2);
}

}  // namespace
}  // namespace recomp
