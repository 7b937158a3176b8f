// BlobUploads: what a PUT answers (have / staged / send, resumed for the same peer), chunks in
// order only, digest and size mismatches dropped, the per-peer and staging bounds, expiry of
// idle uploads, and one commit for a set of uploads.
#include "coordinator/blob_uploads.h"

#include <doctest/doctest.h>

#include "base/blake2b.h"
#include "tests/store/store_test_util.h"

using namespace recomp;
using namespace recomp::coordinator;
using blobproto::PutAnswer;
using blobproto::PutItem;
using recomp::store::testing::TempDir;
using Clock = std::chrono::steady_clock;

namespace {

PutItem Item(const std::string& bytes, bool inline_bytes) {
  return PutItem{Blake2b256::Of(bytes), bytes.size(), ArtifactClass::kGenerated, "a/b", "p",
                 inline_bytes};
}

struct Fixture {
  TempDir dir;
  std::unique_ptr<store::ArtifactStore> store =
      std::move(store::ArtifactStore::Open(dir / "store")).value();
};

}  // namespace

TEST_CASE("have, staged and send; chunks in order; one commit lands them all") {
  Fixture f;
  REQUIRE(f.store->PutBytes("known").ok());
  BlobUploads up(*f.store, {});
  auto now = Clock::now();
  std::string big(100000, 'b');
  auto answers = up.Put("peer", {Item("known", true), Item("small", true), Item(big, false)},
                        "knownsmall", now);
  REQUIRE(answers.ok());
  CHECK((*answers)[0].state == PutAnswer::State::kHave);
  CHECK((*answers)[1].state == PutAnswer::State::kStaged);
  CHECK((*answers)[2].state == PutAnswer::State::kSend);
  uint64_t id = (*answers)[2].upload;

  auto wrong_offset = up.Chunk("peer", {id, 10}, "x", now);
  CHECK(wrong_offset.status().code() == Status::Code::kFailedPrecondition);
  auto other_peer = up.Chunk("intruder", {id, 0}, big, now);
  CHECK(other_peer.status().code() == Status::Code::kNotFound);
  auto resumed = up.Put("peer", {Item(big, false)}, "", now);  // same peer, same blob
  REQUIRE(resumed.ok());
  CHECK((*resumed)[0].upload == id);

  REQUIRE(up.Chunk("peer", {id, 0}, big.substr(0, 60000), now).ok());
  auto unfinished = up.Commit("peer", {id});
  CHECK(unfinished.status().code() == Status::Code::kFailedPrecondition);
  // (Commit refused before touching anything: the upload is still open.)
  auto last = up.Chunk("peer", {id, 60000}, big.substr(60000), now);
  REQUIRE(last.ok());
  CHECK(last->received == big.size());
  auto refs = up.Commit("peer", {(*answers)[1].upload, id});
  REQUIRE(refs.ok());
  CHECK(f.store->Contains(Blake2b256::Of(big)));
  CHECK(f.store->Contains(Blake2b256::Of("small")));
  CHECK(up.open_uploads() == 0);
  CHECK(up.reserved_bytes() == 0);
}

TEST_CASE("mismatched digests and oversized chunks drop the upload; inline counts must add up") {
  Fixture f;
  BlobUploads up(*f.store, {});
  auto now = Clock::now();
  PutItem liar = Item("honest", true);
  auto bad = up.Put("p", {liar}, "HONEST", now);
  CHECK(bad.status().code() == Status::Code::kCorruption);
  CHECK(up.open_uploads() == 0);

  auto short_data = up.Put("p", {Item("abc", true)}, "ab", now);
  CHECK(short_data.status().code() == Status::Code::kInvalidArgument);
  auto extra_data = up.Put("p", {Item("abc", true)}, "abcd", now);
  CHECK(extra_data.status().code() == Status::Code::kInvalidArgument);
  CHECK(up.open_uploads() == 0);

  std::string big(5000, 'x');
  auto a = up.Put("p", {Item(big, false)}, "", now);
  REQUIRE(a.ok());
  auto over = up.Chunk("p", {(*a)[0].upload, 0}, big + "y", now);
  CHECK(over.status().code() == Status::Code::kInvalidArgument);
  CHECK(up.open_uploads() == 0);

  auto b = up.Put("p", {Item(big, false)}, "", now);
  REQUIRE(b.ok());
  std::string flipped = big;
  flipped[10] = 'y';
  auto mismatch = up.Chunk("p", {(*b)[0].upload, 0}, flipped, now);
  CHECK(mismatch.status().code() == Status::Code::kCorruption);
  CHECK(up.open_uploads() == 0);
  CHECK_FALSE(f.store->Contains(Blake2b256::Of(big)));
}

TEST_CASE("uploads per peer and staging bytes are bounded; a refused PUT leaves nothing") {
  Fixture f;
  UploadLimits limits;
  limits.max_uploads_per_peer = 2;
  limits.max_staging_bytes = 10000;
  BlobUploads up(*f.store, limits);
  auto now = Clock::now();
  auto three = up.Put("p", {Item("1111", true), Item("2222", true), Item("3333", true)},
                      "111122223333", now);
  CHECK(three.status().code() == Status::Code::kResourceExhausted);
  CHECK(up.open_uploads() == 0);
  auto two = up.Put("p", {Item("1111", true), Item("2222", true)}, "11112222", now);
  REQUIRE(two.ok());
  auto other = up.Put("q", {Item("3333", true)}, "3333", now);  // another peer has its own
  REQUIRE(other.ok());
  auto too_big = up.Put("q", {Item(std::string(20000, 'z'), false)}, "", now);
  CHECK(too_big.status().code() == Status::Code::kResourceExhausted);
  CHECK(up.reserved_bytes() == 12);
}

TEST_CASE("uploads idle past the timeout expire and their staged bytes go") {
  Fixture f;
  UploadLimits limits;
  limits.idle_timeout = std::chrono::milliseconds(1000);
  BlobUploads up(*f.store, limits);
  auto t0 = Clock::now();
  auto a = up.Put("p", {Item(std::string(9000, 'e'), false)}, "", t0);
  REQUIRE(a.ok());
  REQUIRE(up.Chunk("p", {(*a)[0].upload, 0}, std::string(100, 'e'), t0).ok());
  CHECK(up.Expire(t0 + std::chrono::milliseconds(500)) == 0);
  CHECK(up.Expire(t0 + std::chrono::milliseconds(1500)) == 1);
  CHECK(up.open_uploads() == 0);
  CHECK(up.reserved_bytes() == 0);
  auto late = up.Chunk("p", {(*a)[0].upload, 100}, "e", t0);
  CHECK(late.status().code() == Status::Code::kNotFound);
}
