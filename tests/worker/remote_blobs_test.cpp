// RemoteBlobs against a real blob service on loopback: inputs materialised through the cache
// (1,000 small ones in at most 2 round trips; a cached one with none), outputs uploaded in one
// commit and copied into the cache, external inputs never cached.
#include "worker/remote_blobs.h"

#include <sys/stat.h>

#include <doctest/doctest.h>

#include <thread>

#include "base/blake2b.h"
#include "base/posix_file.h"
#include "tests/store/store_test_util.h"
#include "tests/transfer/service_fixture.h"

using namespace recomp;
using namespace recomp::worker;
using recomp::store::testing::ReadFile;
using recomp::store::testing::TempDir;
using recomp::store::testing::WriteFile;

namespace {

struct Fixture : testing::BlobServiceFixture {
  std::unique_ptr<BlobCache> cache;
  std::unique_ptr<RemoteBlobs> blobs;
  bool allow = false;

  Fixture() {
    grant = [this](const std::string& w, const Digest&) { return allow && w == "w-1"; };
    cache = std::move(BlobCache::Open({dir / "cache", 1 << 30, 100000})).value();
    transfer::BlobClientOptions co;
    co.worker = "w-1";
    blobs = std::make_unique<RemoteBlobs>(ctx, co, *cache);
    blobs->SetEndpoint(svc->endpoint());
    REQUIRE(MakeDirs(dir / "sandbox", 0700).ok());
  }
  ~Fixture() { blobs.reset(); }
};

}  // namespace

TEST_CASE("1,000 small inputs are materialised in at most 2 round trips; cached ones in none") {
  Fixture f;
  std::vector<Digest> inputs;
  for (int i = 0; i < 1000; ++i) inputs.push_back(f.Put("input " + std::to_string(i)));
  f.blobs->Prefetch(inputs);
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(f.blobs->Materialize(inputs[i], f.dir / ("sandbox/" + std::to_string(i)), false).ok());
  }
  CHECK(ReadFile(f.dir / "sandbox/999") == "input 999");
  CHECK(f.blobs->counters().round_trips <= 2);
  CHECK(f.cache->stats().files == 1000);

  uint64_t before = f.blobs->counters().round_trips;
  auto start = std::chrono::steady_clock::now();
  REQUIRE(f.blobs->Materialize(inputs[5], f.dir / "sandbox/again", false).ok());
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(f.blobs->counters().round_trips == before);
  MESSAGE("a cached input took " << std::chrono::duration<double, std::micro>(took).count()
                                 << " us");
}

TEST_CASE("a large input is downloaded once into the cache and linked") {
  Fixture f;
  std::string big(3 << 20, 'z');
  Digest d = f.Put(big);
  REQUIRE(f.blobs->Materialize(d, f.dir / "sandbox/a", false).ok());
  REQUIRE(f.blobs->Materialize(d, f.dir / "sandbox/b", true).ok());
  CHECK(ReadFile(f.dir / "sandbox/b") == big);
  CHECK(f.blobs->counters().bytes_down == big.size());
  struct stat b;
  REQUIRE(::stat((f.dir / "sandbox/b").c_str(), &b) == 0);
  CHECK((b.st_mode & 0777) == 0555);
}

TEST_CASE("outputs are uploaded in one commit and enter the cache by copy") {
  Fixture f;
  WriteFile(f.dir / "sandbox/out1", "output one");
  WriteFile(f.dir / "sandbox/out2", std::string(300000, 'q'));
  auto refs = f.blobs->PutFiles({f.dir / "sandbox/out1", f.dir / "sandbox/out2"}, "job j");
  REQUIRE(refs.ok());
  CHECK((*refs)[0] == Blake2b256::Of("output one").Ref());
  CHECK(f.store->Contains(Blake2b256::Of("output one")));
  CHECK(f.store->Stat(Blake2b256::Of("output one"))->producer == "job j");
  CHECK(f.cache->Contains(Blake2b256::Of("output one")));
  CHECK(f.svc->stats().blobs_committed.load() == 2);
}

TEST_CASE("an external input reaches only a granted worker and is never cached") {
  Fixture f;
  Digest rom = f.Put(std::string(200000, 'r'), ArtifactClass::kExternal);
  Status denied = f.blobs->Materialize(rom, f.dir / "sandbox/rom", false);
  CHECK(denied.code() == Status::Code::kFailedPrecondition);
  f.allow = true;
  REQUIRE(f.blobs->Materialize(rom, f.dir / "sandbox/rom", false).ok());
  CHECK(ReadFile(f.dir / "sandbox/rom") == std::string(200000, 'r'));
  CHECK_FALSE(f.cache->Contains(rom));
  CHECK(f.cache->stats().files == 0);
}

TEST_CASE("no endpoint yet is Unavailable with a hint") {
  TempDir dir;
  zmq::context_t ctx;
  auto cache = std::move(BlobCache::Open({dir / "cache", 1 << 20, 10})).value();
  RemoteBlobs blobs(ctx, {}, *cache);
  Status st = blobs.Materialize(Blake2b256::Of("x"), dir / "x", false);
  CHECK(st.code() == Status::Code::kUnavailable);
  CHECK(st.message().find("--blobs") != std::string::npos);
}
