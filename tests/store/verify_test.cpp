// Verify: names every corrupt, missing and unindexed blob; unreadable index records too.
#include "store/verify.h"

#include <doctest/doctest.h>

#include "store/artifact_store.h"
#include "store/catalog.h"
#include "tests/store/store_test_util.h"

using namespace recomp;
using namespace recomp::store;
using testing::TempDir;

namespace {
Digest D(const ArtifactRecord& r) {
  return ParseArtifactRef(r.ref).value();
}
}  // namespace

TEST_CASE("verify finds corrupt, missing and bad index records, and one ref alone") {
  TempDir dir;
  auto s = ArtifactStore::Open(dir / "s").value();
  auto good = s->PutBytes(std::string(5000, 'g')).value();
  auto bad = s->PutBytes(std::string(5000, 'b')).value();
  auto gone = s->PutBytes(std::string(5000, 'm')).value();
  auto inl = s->PutBytes("inline").value();
  testing::FlipByte(testing::BlobFile(s->root(), "generated", D(bad).Hex()), 10);
  REQUIRE(::unlink(testing::BlobFile(s->root(), "generated", D(gone).Hex()).c_str()) == 0);
  {
    auto cat = Catalog::Open(dir / "s/index", {}).value();
    auto txn = cat.Write().value();
    ArtifactRecord r = inl;
    REQUIRE(cat.PutRecord(
                   txn, D(inl),
                   ArtifactRecord{good.ref, 1, ArtifactClass::kGenerated, "x/y", r.created_at, ""})
                .ok());
    REQUIRE(txn.Commit().ok());
  }
  auto rep = s->Verify().value();
  CHECK_FALSE(rep.ok());
  std::map<std::string, ProblemKind> got;
  for (const auto& p : rep.problems) got[p.ref] = p.kind;
  CHECK(got.size() == 3);
  CHECK(got[bad.ref] == ProblemKind::kCorrupt);
  CHECK(got[gone.ref] == ProblemKind::kMissing);
  CHECK(got[inl.ref] == ProblemKind::kCorrupt);  // record names another digest
  CHECK(got.count(good.ref) == 0);
  CHECK(s->Stat(D(inl)).status().code() == Status::Code::kCorruption);

  auto one = s->Verify(D(good)).value();
  CHECK(one.ok());
  CHECK(one.checked == 1);
  CHECK(s->Verify(D(bad)).value().problems.size() == 1);
  CHECK(s->Verify(ParseArtifactRef("artifact://" + std::string(64, '0')).value()).status().code() ==
        Status::Code::kNotFound);
}
