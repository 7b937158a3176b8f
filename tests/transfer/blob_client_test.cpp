// The blob service and its client end to end over loopback tcp: find-missing, stat, batch gets
// (with deferral past 4 MiB), pipelined downloads of large blobs at several chunk sizes and
// windows, uploads that skip what the store has and land in one commit, external blobs served
// only to a granted worker, and corruption in transit caught by digests (nothing stored).
#include "transfer/blob_client.h"

#include <fcntl.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <set>
#include <thread>

#include "base/blake2b.h"
#include "base/posix_file.h"
#include "tests/store/store_test_util.h"
#include "tests/transfer/service_fixture.h"

using namespace recomp;
using blobproto::BlobInfo;
using recomp::store::testing::ReadFile;
using recomp::store::testing::TempDir;
using recomp::store::testing::WriteFile;

namespace {

std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed + i / 4099) & 0xff);
  return s;
}

// The fixture plus clients, and grants by "worker/hex" pairs.
struct Service : testing::BlobServiceFixture {
  std::set<std::string> granted;

  explicit Service(uint32_t flip_every = 0, coordinator::UploadLimits limits = {})
      : BlobServiceFixture(flip_every, limits) {
    grant = [this](const std::string& w, const Digest& d) {
      return granted.count(w + "/" + d.Hex()) > 0;
    };
  }
  std::unique_ptr<transfer::BlobClient> Client(std::string worker = "", size_t chunk = 256 << 10,
                                               uint32_t window = 8) {
    transfer::BlobClientOptions o;
    o.endpoint = svc->endpoint();
    o.worker = std::move(worker);
    o.chunk_bytes = chunk;
    o.window = window;
    o.timeout = std::chrono::milliseconds(5000);
    auto c = transfer::BlobClient::Create(ctx, o);
    REQUIRE(c.ok());
    return std::move(c).value();
  }
};

Result<std::string> DownloadToString(transfer::BlobClient& c, const Digest& d, const TempDir& dir) {
  std::string path = dir / ("dl-" + d.Hex());
  ::unlink(path.c_str());
  auto fd = CreateExclusive(path, 0600);
  REQUIRE(fd.ok());
  auto info = c.Download(d, fd->get(), path);
  if (!info.ok()) return info.status();
  return ReadFile(path);
}

}  // namespace

TEST_CASE("find-missing and stat answer for a batch of digests") {
  Service s;
  Digest a = s.Put("alpha"), b = s.Put(Pattern(100000, 1));
  Digest absent = Blake2b256::Of("absent");
  auto c = s.Client();
  auto missing = c->FindMissing({a, absent, b});
  REQUIRE(missing.ok());
  CHECK(*missing == std::vector<Digest>{absent});
  auto infos = c->Stat({b, absent});
  REQUIRE(infos.ok());
  CHECK((*infos)[0].state == BlobInfo::State::kPresent);
  CHECK((*infos)[0].size == 100000);
  CHECK((*infos)[1].state == BlobInfo::State::kMissing);
}

TEST_CASE("LIST pages through the store's records in digest order, of one class or all") {
  Service s;
  std::set<std::string> generated, external;
  for (int i = 0; i < 25; ++i) generated.insert(s.Put("g" + std::to_string(i)).Ref());
  for (int i = 0; i < 5; ++i) {
    external.insert(s.Put("e" + std::to_string(i), ArtifactClass::kExternal).Ref());
  }
  auto c = s.Client();
  auto walk = [&](std::optional<ArtifactClass> cls, uint32_t limit, int* pages) {
    std::vector<std::string> refs;
    blobproto::ListRequest q;
    q.limit = limit;
    q.artifact_class = cls;
    for (*pages = 0; *pages < 100; ++*pages) {
      auto page = c->List(q);
      REQUIRE(page.ok());
      CHECK(page->records.size() <= limit);
      for (const ArtifactRecord& r : page->records) refs.push_back(r.ref);
      if (!page->next) break;
      q.after = page->next;
    }
    return refs;
  };
  int pages = 0;
  auto all = walk(std::nullopt, 7, &pages);
  CHECK(pages == 4);  // 30 records, 7 a page: 5 requests, the last one not full
  CHECK(std::is_sorted(all.begin(), all.end()));
  CHECK(std::set<std::string>(all.begin(), all.end()).size() == 30);
  auto ext = walk(ArtifactClass::kExternal, 2, &pages);
  CHECK(std::set<std::string>(ext.begin(), ext.end()) == external);
  auto gen = walk(ArtifactClass::kGenerated, 1000, &pages);
  CHECK(pages == 0);
  CHECK(std::set<std::string>(gen.begin(), gen.end()) == generated);
}

TEST_CASE("a batch get fetches 1000 small blobs in one round trip, and defers past 4 MiB") {
  Service s;
  std::vector<Digest> small;
  for (int i = 0; i < 1000; ++i) small.push_back(s.Put("small blob " + std::to_string(i)));
  auto c = s.Client();
  std::map<Digest, std::string> got;
  auto on_blob = [&](const BlobInfo& info, std::string_view bytes) {
    got[info.digest] = std::string(bytes);
    return Status::Ok();
  };
  auto infos = c->GetSmall(small, on_blob);
  REQUIRE(infos.ok());
  CHECK(got.size() == 1000);
  CHECK(got[small[7]] == "small blob 7");
  CHECK(c->counters().round_trips == 1);

  std::vector<Digest> big;  // 80 x 60 KiB = 4.7 MiB: two replies
  for (int i = 0; i < 80; ++i) big.push_back(s.Put(Pattern(60 << 10, i)));
  Digest large = s.Put(Pattern(200 << 10, 99));
  big.push_back(large);
  got.clear();
  auto second = c->GetSmall(big, on_blob);
  REQUIRE(second.ok());
  CHECK(got.size() == 80);
  CHECK(second->back().state == BlobInfo::State::kTooLarge);
  CHECK(c->counters().round_trips == 3);
}

TEST_CASE("large blobs download whole through pipelined ranged reads") {
  Service s;
  std::string bytes = Pattern((3 << 20) + 12345, 5);
  Digest d = s.Put(bytes);
  for (auto [chunk, window] : {std::pair{size_t{256} << 10, 8u}, std::pair{size_t{4096}, 1u},
                               std::pair{size_t{1} << 20, 3u}}) {
    auto c = s.Client("", chunk, window);
    auto back = DownloadToString(*c, d, s.dir);
    REQUIRE(back.ok());
    CHECK(*back == bytes);
    CHECK(c->counters().bytes_down == bytes.size());
  }
  auto c = s.Client();
  Digest empty = s.Put("");
  auto e = DownloadToString(*c, empty, s.dir);
  REQUIRE(e.ok());
  CHECK(e->empty());
  CHECK(DownloadToString(*c, Blake2b256::Of("nope"), s.dir).status().code() ==
        Status::Code::kNotFound);
}

TEST_CASE("uploads send only what the store lacks and land in one commit") {
  Service s;
  TempDir files;
  std::vector<transfer::UploadFile> up;
  std::vector<std::string> contents = {"tiny", Pattern(70000, 1), Pattern(2 << 20, 2), "", "tiny"};
  for (size_t i = 0; i < contents.size(); ++i) {
    std::string p = files / ("f" + std::to_string(i));
    WriteFile(p, contents[i]);
    up.push_back({p, ArtifactClass::kGenerated, "text/plain", "test job"});
  }
  Digest known = s.Put(Pattern(70000, 1));
  (void)known;
  auto c = s.Client();
  auto refs = c->Upload(up);
  REQUIRE(refs.ok());
  REQUIRE(refs->size() == contents.size());
  for (size_t i = 0; i < contents.size(); ++i) {
    CHECK((*refs)[i] == Blake2b256::Of(contents[i]).Ref());
    auto back = s.store->GetBytes(Blake2b256::Of(contents[i]), 4 << 20);
    REQUIRE(back.ok());
    CHECK(*back == contents[i]);
  }
  CHECK(s.store->Stat(Blake2b256::Of("tiny"))->producer == "test job");
  // tiny + "" inline (4 bytes) and the 2 MiB one by chunks; the 70000-byte blob was there.
  CHECK(c->counters().bytes_up == 4 + (2u << 20));
  uint64_t before = s.svc->stats().bytes_received.load();
  auto again = c->Upload(up);
  REQUIRE(again.ok());
  CHECK(s.svc->stats().bytes_received.load() == before);  // everything was there: 0 bytes
}

TEST_CASE("an external blob is served only to a worker that holds a job naming it") {
  Service s;
  std::string rom = Pattern(300000, 7);
  Digest d = s.Put(rom, ArtifactClass::kExternal);
  Digest small = s.Put("small rom", ArtifactClass::kExternal);
  auto stranger = s.Client("w-other");
  auto denied = DownloadToString(*stranger, d, s.dir);
  CHECK(denied.status().code() == Status::Code::kFailedPrecondition);
  auto client = s.Client("");
  CHECK(DownloadToString(*client, d, s.dir).status().code() == Status::Code::kFailedPrecondition);
  auto got = stranger->GetSmall({small}, [](const BlobInfo&, std::string_view) {
    FAIL("an external blob was delivered");
    return Status::Ok();
  });
  REQUIRE(got.ok());
  CHECK((*got)[0].state == BlobInfo::State::kDenied);

  s.granted.insert("w-1/" + d.Hex());
  auto worker = s.Client("w-1");
  auto ok = DownloadToString(*worker, d, s.dir);
  REQUIRE(ok.ok());
  CHECK(*ok == rom);
}

TEST_CASE("a byte flipped in transit is caught by the digest; nothing corrupt is stored") {
  Service s(/*flip_every=*/1);
  Digest d = s.Put(Pattern(600000, 3));
  auto c = s.Client();
  CHECK(DownloadToString(*c, d, s.dir).status().code() == Status::Code::kCorruption);
  Digest small = s.Put("flip me");
  auto got = c->GetSmall({small}, [](const BlobInfo&, std::string_view) { return Status::Ok(); });
  CHECK(got.status().code() == Status::Code::kCorruption);

  TempDir files;
  std::string p = files / "big";
  WriteFile(p, Pattern(400000, 4));
  auto up = c->Upload({{p, ArtifactClass::kGenerated, "a/b", "x"}});
  CHECK(up.status().code() == Status::Code::kCorruption);
  CHECK_FALSE(s.store->Contains(Blake2b256::Of(Pattern(400000, 4))));
  CHECK(s.svc->stats().blobs_committed.load() == 0);
}

TEST_CASE("staging space is bounded: an upload that does not fit is refused, nothing is left") {
  coordinator::UploadLimits limits;
  limits.max_staging_bytes = 1 << 20;
  Service s(0, limits);
  TempDir files;
  std::string p = files / "big";
  WriteFile(p, Pattern(2 << 20, 9));
  auto c = s.Client();
  auto up = c->Upload({{p, ArtifactClass::kGenerated, "a/b", "x"}});
  REQUIRE_FALSE(up.ok());
  CHECK(up.status().code() == Status::Code::kResourceExhausted);
  CHECK(up.status().message().find("staging space") != std::string::npos);
}

TEST_CASE("a client of a service that is not there fails with Unavailable, in bounded time") {
  zmq::context_t ctx;
  transfer::BlobClientOptions o;
  o.endpoint = "tcp://127.0.0.1:1";  // nothing listens on port 1
  o.timeout = std::chrono::milliseconds(200);
  o.retries = 1;
  auto c = transfer::BlobClient::Create(ctx, o);
  REQUIRE(c.ok());
  auto start = std::chrono::steady_clock::now();
  auto r = (*c)->FindMissing({Blake2b256::Of("x")});
  CHECK(r.status().code() == Status::Code::kUnavailable);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}
