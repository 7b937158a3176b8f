// Layout: FORMAT file, fan-out paths, class directories apart.
#include "store/layout.h"

#include <doctest/doctest.h>

#include "base/blake2b.h"
#include "tests/store/store_test_util.h"

using namespace recomp;
using namespace recomp::store;

TEST_CASE("a new layout has FORMAT and separate class directories") {
  testing::TempDir dir;
  auto l = Layout::Open(dir / "s/", true).value();
  CHECK(l.root() == dir / "s");
  CHECK(testing::ReadFile(dir / "s/FORMAT") == "recomp-store 2\n");
  Digest d = Blake2b256::Of("x");
  CHECK(l.BlobPath(ArtifactClass::kExternal, d) ==
        dir / "s/blobs/external/" + d.Hex().substr(0, 2) + "/" + d.Hex());
  CHECK(l.ClassDir(ArtifactClass::kGenerated) != l.ClassDir(ArtifactClass::kExternal));
  REQUIRE(l.EnsureFanoutDir(ArtifactClass::kGenerated, d).ok());
  testing::WriteFile(l.BlobPath(ArtifactClass::kGenerated, d), "x");
  testing::WriteFile(l.FanoutDir(ArtifactClass::kGenerated, d) + "/not-a-digest", "?");
  int n = 0;
  REQUIRE(l.ForEachBlobFile(ArtifactClass::kGenerated, [&](const Digest& got, const std::string&) {
             CHECK(got == d);
             ++n;
             return Status::Ok();
           }).ok());
  CHECK(n == 1);
  CHECK(Layout::Open(dir / "s", false).ok());
  CHECK(Layout::Open(dir / "t", false).status().code() == Status::Code::kNotFound);
}
