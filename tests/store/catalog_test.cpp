// Catalog: pin encoding round trip, strict decoding, records keyed by digest.
#include "store/catalog.h"

#include <doctest/doctest.h>

#include "base/blake2b.h"
#include "tests/store/store_test_util.h"

using namespace recomp;
using namespace recomp::store;

TEST_CASE("pin records round trip") {
  RunPin p;
  p.run_id = "run-1";
  p.state = RunPinState::kFailed;
  p.refs = {Blake2b256::Of("a"), Blake2b256::Of("b")};
  p.finished_at = FromUnixMillis(1700000000123);
  p.updated_at = FromUnixMillis(1700000000456);
  auto back = DecodePin("run-1", EncodePin(p)).value();
  CHECK(back.state == p.state);
  CHECK(back.refs == p.refs);
  CHECK(back.finished_at == p.finished_at);
  CHECK(back.updated_at == p.updated_at);
  p.finished_at.reset();
  CHECK_FALSE(DecodePin("run-1", EncodePin(p)).value().finished_at.has_value());
  CHECK_FALSE(DecodePin("run-1", "garbage").ok());
}

TEST_CASE("records, inline bytes and touch times") {
  testing::TempDir dir;
  auto cat = Catalog::Open(dir.path(), {}).value();
  Digest d = Blake2b256::Of("x");
  ArtifactRecord r{d.Ref(), 1, ArtifactClass::kGenerated, "text/plain", "2026-01-01T00:00:00.000Z",
                   "t"};
  auto w = cat.Write().value();
  REQUIRE(cat.PutRecord(w, d, r).ok());
  REQUIRE(cat.PutInline(w, d, "x").ok());
  REQUIRE(cat.Touch(w, d, FromUnixMillis(42)).ok());
  REQUIRE(w.Commit().ok());
  auto rd = cat.Read().value();
  CHECK(cat.GetRecord(rd, d).value().value() == r);
  CHECK(cat.GetInline(rd, d).value().value() == "x");
  CHECK(cat.GetTouch(rd, d).value().value() == FromUnixMillis(42));
  rd.Abort();
  auto w2 = cat.Write().value();
  REQUIRE(cat.Remove(w2, d).ok());
  CHECK_FALSE(cat.GetRecord(w2, d).value().has_value());
  CHECK_FALSE(cat.GetInline(w2, d).value().has_value());
}

TEST_CASE("entries: round trip, strict decoding, append-only numbering") {
  Digest d = Blake2b256::Of("y");
  ArtifactRecord r{d.Ref(), 1, ArtifactClass::kExternal, "text/plain", "2026-01-01T00:00:00.000Z",
                   "p"};
  // The decoded entry's inline bytes are a view into `encoded`: keep it alive.
  const std::string encoded = EncodeEntry(r, std::string_view("y")).value();
  auto e = DecodeEntry(encoded).value();
  CHECK(e.record == r);
  CHECK(e.inline_bytes.value() == "y");
  std::string plain = EncodeEntry(r, std::nullopt).value();
  CHECK_FALSE(DecodeEntry(plain).value().inline_bytes.has_value());
  CHECK_FALSE(DecodeEntry(plain + "x").ok());          // trailing bytes
  CHECK_FALSE(DecodeEntry(plain.substr(0, 20)).ok());  // truncated
  CHECK_FALSE(
      DecodeEntry(EncodeEntry(r, std::string_view("too long")).value()).ok());  // size mismatch

  testing::TempDir dir;
  auto cat = Catalog::Open(dir.path(), {}).value();
  auto w = cat.Write().value();
  REQUIRE(cat.AddRecord(w, d, r, std::nullopt).ok());
  CHECK(cat.AddRecord(w, d, r, std::nullopt).code() == Status::Code::kAlreadyExists);
  Digest d2 = Blake2b256::Of("z");
  ArtifactRecord r2 = r;
  r2.ref = d2.Ref();
  REQUIRE(cat.AddRecord(w, d2, r2, std::string_view("z")).ok());
  REQUIRE(cat.Remove(w, d2).ok());  // the last entry goes; the next one reuses its number
  REQUIRE(cat.AddRecord(w, d2, r2, std::string_view("z")).ok());
  CHECK(cat.GetInline(w, d2).value().value() == "z");
  CHECK(cat.GetRecord(w, d).value().value() == r);
  REQUIRE(w.Commit().ok());
}
