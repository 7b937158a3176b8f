// POSIX adapter: errno named in messages, no-replace renames, directory refusal, temp locks.
#include "base/posix_file.h"

#include <sys/resource.h>

#include <doctest/doctest.h>

#include "tests/store/store_test_util.h"

using namespace recomp;
using namespace recomp::store;

TEST_CASE("errno statuses name the operation, path and errno") {
  Status st = ErrnoStatus("write", "/s/tmp/x", ENOSPC);
  CHECK(st.code() == Status::Code::kIOError);
  CHECK(st.message().find("ENOSPC") != std::string::npos);
  CHECK(st.message().find("/s/tmp/x") != std::string::npos);
  CHECK(ErrnoStatus("open", "p", ENOENT).code() == Status::Code::kNotFound);
}

TEST_CASE("OpenForRead refuses directories and reports missing files") {
  testing::TempDir dir;
  auto d = OpenForRead(dir.path());
  CHECK(d.status().code() == Status::Code::kInvalidArgument);
  CHECK(d.status().message().find("is a directory") != std::string::npos);
  CHECK(OpenForRead(dir / "nope").status().code() == Status::Code::kNotFound);
}

TEST_CASE("RenameNoReplace never overwrites") {
  testing::TempDir dir;
  testing::WriteFile(dir / "a", "A");
  testing::WriteFile(dir / "b", "B");
  CHECK(RenameNoReplace(dir / "a", dir / "b").code() == Status::Code::kAlreadyExists);
  CHECK(testing::ReadFile(dir / "b") == "B");
  CHECK(RenameNoReplace(dir / "a", dir / "c").ok());
  CHECK(testing::ReadFile(dir / "c") == "A");
}

TEST_CASE("an exclusive lock is visible to another open file description") {
  testing::TempDir dir;
  auto w = CreateExclusive(dir / "t", 0600).value();
  REQUIRE(LockExclusive(w.get(), true, "t").value());
  auto r = OpenForRead(dir / "t").value();
  CHECK_FALSE(LockExclusive(r.get(), false, "t").value());
  REQUIRE(w.Close("t").ok());
  CHECK(LockExclusive(r.get(), false, "t").value());
}

TEST_CASE("MakeDirs, DirName, BaseName") {
  testing::TempDir dir;
  CHECK(MakeDirs(dir / "x/y/z", 0755).ok());
  CHECK(StatPath(dir / "x/y/z").ok());
  CHECK(DirName("/a/b/c") == "/a/b");
  CHECK(DirName("c") == ".");
  CHECK(BaseName("/a/b/c") == "c");
  CHECK(UniqueToken() != UniqueToken());
}

TEST_CASE("the open-file limit is raised to the hard limit") {
  auto n = RaiseOpenFileLimit();
  REQUIRE(n.ok());
  struct rlimit lim {};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
  CHECK(lim.rlim_cur == lim.rlim_max);
  CHECK(*n == lim.rlim_cur);
}
