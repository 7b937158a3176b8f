// Status and Result: codes and names round-trip, context prefixes, Result's value semantics.
#include "base/status.h"

#include <doctest/doctest.h>

#include <memory>
#include <string>

using namespace recomp;
using Code = Status::Code;

TEST_CASE("every code has a stable name that parses back") {
  for (int i = 0; i <= static_cast<int>(Code::kPermissionDenied); ++i) {
    Code c = static_cast<Code>(i);
    CHECK(Status::CodeFromName(Status::CodeName(c)) == c);
  }
  CHECK(Status::CodeName(Code::kNotFound) == "NOT_FOUND");
  CHECK(Status::CodeFromName("NO_SUCH_CODE") == Code::kInternal);
}

TEST_CASE("ToString and WithContext") {
  CHECK(Status::Ok().ToString() == "OK");
  Status s = Status::NotFound("no run r");
  CHECK(s.ToString() == "NOT_FOUND: no run r");
  Status c = s.WithContext("status");
  CHECK(c.code() == Code::kNotFound);
  CHECK(c.message() == "status: no run r");
  CHECK(Status::Ok().WithContext("x").ok());
}

Result<int> Half(int n) {
  if (n % 2 != 0) return Status::InvalidArgument(std::to_string(n) + " is odd");
  return n / 2;
}

Status Quarter(int n, int* out) {
  RECOMP_ASSIGN_OR_RETURN(int half, Half(n));
  RECOMP_ASSIGN_OR_RETURN(*out, Half(half));
  return Status::Ok();
}

TEST_CASE("Result holds a value or an error; the macros propagate errors") {
  CHECK(Half(4).value() == 2);
  CHECK(Half(3).status().code() == Code::kInvalidArgument);
  CHECK(Half(4).status().ok());
  int q = 0;
  CHECK(Quarter(8, &q).ok());
  CHECK(q == 2);
  Status odd = Quarter(6, &q);
  CHECK(odd.message() == "3 is odd");
  // A move-only value moves out of an rvalue Result.
  Result<std::unique_ptr<int>> p = std::make_unique<int>(7);
  std::unique_ptr<int> taken = std::move(p).value();
  CHECK(*taken == 7);
}
