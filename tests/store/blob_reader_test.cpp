// Streaming a blob in and out in pieces, as the blob service does: ranged reads of inline and
// file blobs (clipped at the end, missing blobs named), and uploads appended piece by piece,
// hashed as they grow and added to a batch without a second copy.
#include "store/blob_reader.h"

#include <doctest/doctest.h>

#include "base/blake2b.h"
#include "store/artifact_store.h"
#include "tests/store/store_test_util.h"

using namespace recomp;
using namespace recomp::store;
using testing::TempDir;

namespace {

std::unique_ptr<ArtifactStore> Open(const TempDir& dir) {
  auto s = ArtifactStore::Open(dir / "store");
  REQUIRE(s.ok());
  return std::move(s).value();
}

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 7) & 0xff);
  return s;
}

std::string ReadRange(const BlobReader& r, uint64_t offset, size_t n) {
  std::string out;
  REQUIRE(r.ReadAt(offset, n, &out).ok());
  return out;
}

}  // namespace

TEST_CASE("ranged reads of a file blob and an inline blob, clipped at the end") {
  TempDir dir;
  auto store = Open(dir);
  for (size_t size : {size_t{100}, size_t{300000}}) {  // inline, then a file
    std::string bytes = Pattern(size);
    auto rec = store->PutBytes(bytes);
    REQUIRE(rec.ok());
    auto reader = store->OpenReader(Blake2b256::Of(bytes));
    REQUIRE(reader.ok());
    CHECK(reader->size() == size);
    CHECK(reader->record().ref == rec->ref);
    CHECK(ReadRange(*reader, 0, size) == bytes);
    CHECK(ReadRange(*reader, 10, 50) == bytes.substr(10, 50));
    CHECK(ReadRange(*reader, size - 5, 4096) == bytes.substr(size - 5));
    CHECK(ReadRange(*reader, size, 10).empty());
    CHECK(ReadRange(*reader, size + 1000, 10).empty());
  }
}

TEST_CASE("a reader of a blob that is not there is NotFound; a truncated file is Corruption") {
  TempDir dir;
  auto store = Open(dir);
  auto missing = store->OpenReader(Blake2b256::Of("nope"));
  CHECK(missing.status().code() == Status::Code::kNotFound);

  std::string bytes = Pattern(50000);
  REQUIRE(store->PutBytes(bytes).ok());
  Digest d = Blake2b256::Of(bytes);
  auto reader = store->OpenReader(d);
  REQUIRE(reader.ok());
  std::string path = dir / ("store/blobs/generated/" + d.Hex().substr(0, 2) + "/" + d.Hex());
  REQUIRE(::truncate(path.c_str(), 1000) == 0);
  std::string out = "keep";
  Status st = reader->ReadAt(0, 50000, &out);
  CHECK(st.code() == Status::Code::kCorruption);
  CHECK(out == "keep");  // nothing partial appended
}

TEST_CASE("an upload appended in pieces is hashed as it grows and stored by AddStaged") {
  TempDir dir;
  auto store = Open(dir);
  for (size_t size : {size_t{0}, size_t{1000}, size_t{3u << 20}}) {
    std::string bytes = Pattern(size);
    auto up = store->BeginUpload();
    REQUIRE(up.ok());
    for (size_t at = 0; at < size; at += 262144) {
      REQUIRE(up->Append(std::string_view(bytes).substr(at, 262144)).ok());
    }
    up->FinishAppend();
    CHECK(up->digest() == Blake2b256::Of(bytes));
    CHECK(up->size() == size);
    PutBatch batch = store->NewBatch();
    PutOptions o;
    o.producer = "upload test";
    auto rec = batch.AddStaged(std::move(*up), o);
    REQUIRE(rec.ok());
    REQUIRE(batch.Commit().ok());
    auto back = store->GetBytes(Blake2b256::Of(bytes), 4u << 20);
    REQUIRE(back.ok());
    CHECK(*back == bytes);
    CHECK(store->Stat(Blake2b256::Of(bytes))->producer == "upload test");
  }
}

TEST_CASE("an upload dropped before it is added leaves no temp file") {
  TempDir dir;
  auto store = Open(dir);
  std::string path;
  {
    auto up = store->BeginUpload();
    REQUIRE(up.ok());
    REQUIRE(up->Append("partial").ok());
    path = up->path();
    CHECK(std::filesystem::exists(path));
  }
  CHECK_FALSE(std::filesystem::exists(path));
}
