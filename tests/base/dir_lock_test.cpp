#include "base/dir_lock.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/store/store_test_util.h"

namespace recomp {
namespace {

using store::testing::TempDir;

TEST_CASE("dir lock: one holder at a time; the refusal names the holder's pid") {
  TempDir d;
  auto first = DirLock::Acquire(d.path());
  REQUIRE(first.ok());
  CHECK(first->held());
  CHECK(DirLock::RecordedPid(d.path()) == ::getpid());
  struct stat st;
  REQUIRE(::stat((d.path() + "/LOCK").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto second = DirLock::Acquire(d.path());  // another open file description: refused
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == Status::Code::kFailedPrecondition);
  CHECK(second.status().message().find("in use by pid " + std::to_string(::getpid())) !=
        std::string::npos);

  first->Release();
  CHECK_FALSE(first->held());
  auto third = DirLock::Acquire(d.path());
  CHECK(third.ok());
}

TEST_CASE("dir lock: a holder that dies without releasing leaves no stale lock") {
  TempDir d;
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto held = DirLock::Acquire(d.path());
    ::_exit(held.ok() ? 0 : 1);  // exits holding it
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(DirLock::RecordedPid(d.path()) == child);
  CHECK(DirLock::Acquire(d.path()).ok());
}

TEST_CASE("dir lock: a missing directory is an error, not a lock") {
  auto none = DirLock::Acquire("/nonexistent-recomp-dir/x");
  CHECK_FALSE(none.ok());
  CHECK(DirLock::RecordedPid("/nonexistent-recomp-dir/x") == 0);
}

}  // namespace
}  // namespace recomp
