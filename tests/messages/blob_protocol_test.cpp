// The blob protocol's bodies: every one round-trips, and hostile bodies (too many digests, bad
// hex, an oversized inline item, a chunk length out of range, wrong types) are refused with
// the field named.
#include "messages/blob_protocol.h"

#include <doctest/doctest.h>

#include "base/blake2b.h"
#include "messages/codec.h"
#include "messages/protocol.h"

using namespace recomp;
using namespace recomp::blobproto;

namespace {

Digest D(int i) {
  return Blake2b256::Of(std::to_string(i));
}

bool Has(const Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

}  // namespace

TEST_CASE("digest lists, missing lists and blob infos round-trip") {
  DigestList l{{D(1), D(2)}, "w1"};
  auto back = DecodeDigestList(EncodeDigestList(l));
  REQUIRE(back.ok());
  CHECK(back->digests == l.digests);
  CHECK(back->worker == "w1");

  auto missing = DecodeMissing(EncodeMissing({D(3)}));
  REQUIRE(missing.ok());
  CHECK(*missing == std::vector<Digest>{D(3)});

  std::vector<BlobInfo> infos(3);
  infos[0] = {D(1), BlobInfo::State::kPresent, 12, ArtifactClass::kExternal, "text/plain"};
  infos[1] = {D(2), BlobInfo::State::kDenied, 0, ArtifactClass::kGenerated, ""};
  infos[2] = {D(3), BlobInfo::State::kTooLarge, 1 << 20, ArtifactClass::kGenerated, "x/y"};
  auto ib = DecodeBlobInfos(EncodeBlobInfos(infos));
  REQUIRE(ib.ok());
  REQUIRE(ib->size() == 3);
  CHECK((*ib)[0].size == 12);
  CHECK((*ib)[0].artifact_class == ArtifactClass::kExternal);
  CHECK((*ib)[0].media_type == "text/plain");
  CHECK((*ib)[1].state == BlobInfo::State::kDenied);
  CHECK((*ib)[2].state == BlobInfo::State::kTooLarge);
  CHECK((*ib)[2].size == 1 << 20);
}

TEST_CASE("reads, data headers, puts, answers, chunks and upload ids round-trip") {
  auto r = DecodeReadRequest(EncodeReadRequest({D(1), 1 << 30, 4096, "w"}));
  REQUIRE(r.ok());
  CHECK(r->offset == 1 << 30);
  CHECK(r->length == 4096);
  auto h = DecodeDataHeader(EncodeDataHeader({D(1), 7, 9, ArtifactClass::kExternal}));
  REQUIRE(h.ok());
  CHECK(h->size == 9);
  CHECK(h->artifact_class == ArtifactClass::kExternal);
  PutItem item{D(4), 100, ArtifactClass::kGenerated, "text/plain", "job x", true};
  auto items = DecodePutItems(EncodePutItems({item}));
  REQUIRE(items.ok());
  CHECK((*items)[0].inline_bytes);
  CHECK((*items)[0].producer == "job x");
  auto answers = DecodePutAnswers(EncodePutAnswers({{D(4), PutAnswer::State::kSend, 17, 512}}));
  REQUIRE(answers.ok());
  CHECK((*answers)[0].state == PutAnswer::State::kSend);
  CHECK((*answers)[0].upload == 17);
  CHECK((*answers)[0].offset == 512);
  auto c = DecodeChunkHeader(EncodeChunkHeader({17, 262144}));
  REQUIRE(c.ok());
  CHECK(c->offset == 262144);
  auto a = DecodeChunkAck(EncodeChunkAck({17, 524288}));
  REQUIRE(a.ok());
  CHECK(a->received == 524288);
  auto ids = DecodeUploadIds(EncodeUploadIds({1, 2, 3}));
  REQUIRE(ids.ok());
  CHECK(*ids == std::vector<uint64_t>{1, 2, 3});
}

TEST_CASE("hostile blob protocol bodies are refused, naming the field") {
  DigestList many;
  for (int i = 0; i <= static_cast<int>(kMaxDigests); ++i) many.digests.push_back(D(i));
  CHECK_FALSE(DecodeDigestList(EncodeDigestList(many)).ok());

  auto bad_hex = DecodeDigestList(proto::JsonBody({{"digests", {"zz"}}}));
  REQUIRE_FALSE(bad_hex.ok());
  CHECK(Has(bad_hex.status(), "digests"));

  PutItem big{D(1), kMaxSmallBlob + 1, ArtifactClass::kGenerated, "a/b", "", true};
  auto inline_big = DecodePutItems(EncodePutItems({big}));
  REQUIRE_FALSE(inline_big.ok());
  CHECK(Has(inline_big.status(), "sent by CHUNK"));

  auto zero =
      DecodeReadRequest(proto::JsonBody({{"digest", D(1).Hex()}, {"offset", 0}, {"length", 0}}));
  REQUIRE_FALSE(zero.ok());
  CHECK(Has(zero.status(), "length"));
  auto huge = DecodeReadRequest(
      proto::JsonBody({{"digest", D(1).Hex()}, {"offset", 0}, {"length", kMaxChunk + 1}}));
  CHECK_FALSE(huge.ok());

  CHECK_FALSE(DecodeUploadIds(proto::JsonBody({{"uploads", {"x"}}})).ok());
  CHECK_FALSE(DecodeUploadIds(proto::JsonBody({{"uploads", 5}})).ok());
  CHECK_FALSE(DecodeChunkHeader("\xc1").ok());
  CHECK_FALSE(DecodeBlobInfos(proto::JsonBody({{"blobs", {{{"digest", D(1).Hex()}}}}})).ok());
}

TEST_CASE("LIST request and page round trip; a limit out of range or a bad class is refused") {
  ListRequest q;
  q.after = D(7);
  q.limit = 10;
  q.artifact_class = ArtifactClass::kExternal;
  auto back = DecodeListRequest(EncodeListRequest(q));
  REQUIRE(back.ok());
  CHECK(back->after == q.after);
  CHECK(back->limit == 10);
  CHECK(back->artifact_class == ArtifactClass::kExternal);
  auto first = DecodeListRequest(EncodeListRequest(ListRequest{}));
  REQUIRE(first.ok());
  CHECK_FALSE(first->after.has_value());
  CHECK_FALSE(first->artifact_class.has_value());

  ListPage p;
  p.records.push_back(
      {D(1).Ref(), 5, ArtifactClass::kGenerated, "text/plain", "2026-12-05T00:00:00Z", "cli"});
  p.records.push_back({D(2).Ref(), 6, ArtifactClass::kExternal, "application/octet-stream",
                       "2026-12-05T00:00:01Z", "worker:w/job:j"});
  p.next = D(2);
  auto page = DecodeListPage(EncodeListPage(p));
  REQUIRE(page.ok());
  CHECK(page->records == p.records);
  CHECK(page->next == p.next);

  auto zero = DecodeListRequest(proto::JsonBody({{"limit", 0}}));
  REQUIRE_FALSE(zero.ok());
  CHECK(Has(zero.status(), "limit"));
  CHECK_FALSE(DecodeListRequest(proto::JsonBody({{"limit", kMaxListPage + 1}})).ok());
  auto cls = DecodeListRequest(proto::JsonBody({{"class", "secret"}}));
  REQUIRE_FALSE(cls.ok());
  CHECK(Has(cls.status(), "class"));
  CHECK_FALSE(DecodeListRequest(proto::JsonBody({{"after", "zz"}})).ok());
}
