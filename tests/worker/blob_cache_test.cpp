// BlobCache: emptied at open, one fetch per digest however many jobs ask at once, hard links
// into a sandbox (copies for executables), LRU eviction under the byte and file caps that never
// removes a pinned entry, external blobs handed over and never kept, failed fetches leave
// nothing, outputs enter by copy.
#include "worker/blob_cache.h"

#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "base/blake2b.h"
#include "base/posix_file.h"
#include "tests/store/store_test_util.h"

using namespace recomp;
using namespace recomp::worker;
using recomp::store::testing::ReadFile;
using recomp::store::testing::TempDir;
using recomp::store::testing::WriteFile;

namespace {

std::unique_ptr<BlobCache> Open(const TempDir& dir, uint64_t max_bytes = 1 << 30,
                                uint64_t max_files = 1000) {
  auto c = BlobCache::Open({dir / "cache", max_bytes, max_files});
  REQUIRE(c.ok());
  return std::move(c).value();
}

BlobCache::Fetch Writes(const std::string& bytes, std::atomic<int>* calls = nullptr,
                        bool keep = true) {
  return [=](const std::string& tmp) -> Result<bool> {
    if (calls) ++*calls;
    WriteFile(tmp, bytes);
    return keep;
  };
}

bool Exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("the cache is emptied when opened") {
  TempDir dir;
  REQUIRE(MakeDirs(dir / "cache", 0700).ok());
  WriteFile(dir / "cache/leftover", "x");
  auto c = Open(dir);
  CHECK_FALSE(Exists(dir / "cache/leftover"));
  CHECK(c->stats().files == 0);
}

TEST_CASE("one fetch per digest: concurrent jobs wait for it and share the file") {
  TempDir dir;
  auto c = Open(dir);
  Digest d = Blake2b256::Of("shared");
  std::atomic<int> calls{0};
  auto slow = [&](const std::string& tmp) -> Result<bool> {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // widen the race window
    WriteFile(tmp, "shared");
    return true;
  };
  std::vector<std::thread> jobs;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    jobs.emplace_back([&] {
      auto claim = c->Acquire(d, slow);
      if (claim.ok() && ReadFile(claim->path()) == "shared") ++ok;
    });
  }
  for (auto& t : jobs) t.join();
  CHECK(calls == 1);
  CHECK(ok == 8);
  CHECK(c->stats().misses == 1);
  CHECK(c->stats().hits + c->stats().misses == 8);
}

TEST_CASE("placing links read-only, copies executables, and keeps the entry 0444") {
  TempDir dir;
  auto c = Open(dir);
  REQUIRE(MakeDirs(dir / "sandbox", 0700).ok());
  Digest d = Blake2b256::Of("tool");
  auto claim = c->Acquire(d, Writes("tool"));
  REQUIRE(claim.ok());
  REQUIRE(BlobCache::Place(*claim, dir / "sandbox/a", false).ok());
  REQUIRE(BlobCache::Place(*claim, dir / "sandbox/x", true).ok());
  struct stat a, x, entry;
  REQUIRE(::stat((dir / "sandbox/a").c_str(), &a) == 0);
  REQUIRE(::stat((dir / "sandbox/x").c_str(), &x) == 0);
  REQUIRE(::stat(claim->path().c_str(), &entry) == 0);
  CHECK(a.st_ino == entry.st_ino);  // a hard link
  CHECK((a.st_mode & 0777) == 0444);
  CHECK(x.st_ino != entry.st_ino);  // a copy
  CHECK((x.st_mode & 0777) == 0555);
  CHECK((entry.st_mode & 0777) == 0444);
  CHECK(ReadFile(dir / "sandbox/x") == "tool");
}

TEST_CASE("eviction is least recently used under both caps and skips pinned entries") {
  TempDir dir;
  auto c = Open(dir, /*max_bytes=*/30, /*max_files=*/3);
  Digest a = Blake2b256::Of("a"), b = Blake2b256::Of("b"), d3 = Blake2b256::Of("c"),
         e = Blake2b256::Of("e");
  { auto pin = c->Acquire(a, Writes(std::string(10, 'a'))); }
  auto pinned_b = c->Acquire(b, Writes(std::string(10, 'b')));
  REQUIRE(pinned_b.ok());
  { auto pin = c->Acquire(d3, Writes(std::string(10, 'c'))); }
  { auto touch = c->Lookup(a); }                               // a is now more recent than c
  { auto pin = c->Acquire(e, Writes(std::string(10, 'e'))); }  // 4 files: evict the LRU
  CHECK(c->Contains(a));
  CHECK(c->Contains(b));  // pinned: kept although least recently used
  CHECK_FALSE(c->Contains(d3));
  CHECK(c->Contains(e));
  CHECK(c->stats().files == 3);
  CHECK(c->stats().bytes == 30);
  CHECK(c->stats().evictions == 1);
  CHECK(Exists(pinned_b->path()));
}

TEST_CASE("a blob the fetch says not to keep is handed over and never cached") {
  TempDir dir;
  auto c = Open(dir);
  REQUIRE(MakeDirs(dir / "sandbox", 0700).ok());
  Digest d = Blake2b256::Of("rom");
  std::string tmp;
  {
    auto claim = c->Acquire(d, Writes("rom", nullptr, /*keep=*/false));
    REQUIRE(claim.ok());
    CHECK_FALSE(claim->cached());
    REQUIRE(BlobCache::Place(*claim, dir / "sandbox/rom", false).ok());
  }
  CHECK(ReadFile(dir / "sandbox/rom") == "rom");
  CHECK_FALSE(c->Contains(d));
  CHECK(c->stats().files == 0);
  {
    auto dropped = c->Acquire(d, Writes("rom", nullptr, false));
    REQUIRE(dropped.ok());
    tmp = dropped->path();
    CHECK(Exists(tmp));
  }
  CHECK_FALSE(Exists(tmp));  // not taken: removed with the claim
}

TEST_CASE("a failed fetch leaves nothing, and the next asker fetches again") {
  TempDir dir;
  auto c = Open(dir);
  Digest d = Blake2b256::Of("flaky");
  auto failed = c->Acquire(d, [](const std::string& tmp) -> Result<bool> {
    WriteFile(tmp, "partial");
    return Status::Corruption("digest mismatch");
  });
  CHECK(failed.status().code() == Status::Code::kCorruption);
  CHECK_FALSE(c->Contains(d));
  size_t entries = 0;
  (void)ListDir(dir / "cache", [&](const std::string&) {
    ++entries;
    return Status::Ok();
  });
  CHECK(entries == 0);
  auto ok = c->Acquire(d, Writes("flaky"));
  REQUIRE(ok.ok());
  CHECK(ReadFile(ok->path()) == "flaky");
}

TEST_CASE("outputs enter by copy: changing the original later does not change the cache") {
  TempDir dir;
  auto c = Open(dir);
  WriteFile(dir / "out.c", "int x;");
  Digest d = Blake2b256::Of("int x;");
  REQUIRE(c->AddCopy(d, dir / "out.c").ok());
  WriteFile(dir / "out.c", "changed");
  auto claim = c->Lookup(d);
  REQUIRE(claim.has_value());
  CHECK(ReadFile(claim->path()) == "int x;");
  struct stat orig, entry;
  REQUIRE(::stat((dir / "out.c").c_str(), &orig) == 0);
  REQUIRE(::stat(claim->path().c_str(), &entry) == 0);
  CHECK(orig.st_ino != entry.st_ino);
}
