// store_bench: throughput of the artifact store beside raw BLAKE2b hashing of the same bytes,
// measured in the same run. Prints figures; asserts nothing. Usage: recomp_store_bench [DIR]
// (default: a fresh directory under $TMPDIR or /tmp, removed afterwards).
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "store/artifact_store.h"
#include "store/blake2b.h"

namespace {

using recomp::Digest;
using recomp::store::ArtifactStore;
using recomp::store::Blake2b256;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void Die(const recomp::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "bench: %s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  return s;
}

void Row(const char* what, double seconds, double bytes, double items, const char* durability) {
  std::printf("%-44s %8.3f s %9.1f MiB/s %10.0f ops/s  %s\n", what, seconds, bytes / seconds / (1 << 20),
              items / seconds, durability);
}

std::unique_ptr<ArtifactStore> OpenStore(const std::string& dir, size_t inline_max, bool durable = true) {
  recomp::store::StoreOptions o;
  o.inline_max_bytes = inline_max;
  o.durable = durable;
  auto s = ArtifactStore::Open(dir, o);
  Die(s.status(), "open");
  return std::move(s).value();
}

void BenchLarge(const std::string& base, size_t size) {
  std::string chunk = RandomBytes(1 << 20, 1);
  std::string src = base + "/large.src";
  int fd = ::open(src.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  for (size_t i = 0; i < size / chunk.size(); ++i) {
    chunk[0] = static_cast<char>(i);
    if (::write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) Die(recomp::Status::IOError("write"), "src");
  }
  ::fsync(fd);
  ::close(fd);
  auto t0 = Clock::now();
  Blake2b256 h;
  for (size_t i = 0; i < size / chunk.size(); ++i) {
    chunk[0] = static_cast<char>(i);
    h.Update(chunk);
  }
  h.Finish();
  Row("raw BLAKE2b-256, 256 MiB in memory", Since(t0), size, 1, "-");
  {
    auto scratch = OpenStore(base + "/large-nosync", 4096, /*durable=*/false);
    t0 = Clock::now();
    Die(scratch->PutFile(src, {}).status(), "put large (not durable)");
    Row("put 256 MiB file (new, durable=false)", Since(t0), size, 1, "none (page cache; MDB_NOSYNC)");
  }
  auto store = OpenStore(base + "/large-store", 4096);
  t0 = Clock::now();
  auto rec = store->PutFile(src, {});
  Die(rec.status(), "put large");
  Row("put 256 MiB file (new)", Since(t0), size, 1, "fdatasync blob + fsync dir + LMDB commit");
  t0 = Clock::now();
  Die(store->PutFile(src, {}).status(), "put large again");
  Row("put 256 MiB file (dedup: same bytes again)", Since(t0), size, 1, "LMDB commit (touch)");
  auto d = recomp::ParseArtifactRef(rec->ref).value();
  t0 = Clock::now();
  Die(store->GetToFile(d, base + "/large.out"), "get large");
  Row("get 256 MiB to file (verified)", Since(t0), size, 1, "atomic rename, no fsync");
  t0 = Clock::now();
  auto how = store->LinkOrCopyTo(d, base + "/large.link");
  Die(how.status(), "link large");
  Row(("LinkOrCopyTo 256 MiB (" + *how + ", verified)").c_str(), Since(t0), size, 1, "-");
  ::unlink(src.c_str());
}

void BenchSmall(const std::string& base, size_t n, size_t batch, size_t inline_max, const char* label) {
  std::vector<std::string> items;
  items.reserve(n);
  std::string seed = RandomBytes(1024, 2);
  for (size_t i = 0; i < n; ++i) {
    std::string s = seed;
    std::memcpy(&s[0], &i, sizeof i);
    items.push_back(std::move(s));
  }
  auto t0 = Clock::now();
  for (const auto& s : items) Blake2b256::Of(s);
  Row((std::string("raw BLAKE2b-256, ") + std::to_string(n) + " x 1 KiB").c_str(), Since(t0), n * 1024.0, n, "-");
  auto store = OpenStore(base + "/small-" + label + "-" + std::to_string(batch), inline_max);
  std::vector<Digest> refs;
  t0 = Clock::now();
  for (size_t i = 0; i < n; i += batch) {
    auto b = store->NewBatch();
    for (size_t j = i; j < std::min(n, i + batch); ++j) {
      auto r = b.AddBytes(items[j], {});
      Die(r.status(), "add");
      refs.push_back(recomp::ParseArtifactRef(r->ref).value());
    }
    Die(b.Commit(), "commit");
  }
  std::string what = std::string("put 1 KiB x ") + std::to_string(n) + ", " + std::to_string(batch) +
                     "/commit, " + label;
  Row(what.c_str(), Since(t0), n * 1024.0, n,
      batch == 1 ? "each durable (see docs)" : "one durable commit per batch");
  if (batch == 1) return;
  t0 = Clock::now();
  for (const Digest& d : refs) Die(store->GetBytes(d, 1 << 20).status(), "get small");
  Row((std::string("GetBytes 1 KiB x ") + std::to_string(n) + ", " + label).c_str(), Since(t0), n * 1024.0, n,
      "verified");
  size_t m = std::min<size_t>(n, 2000);
  t0 = Clock::now();
  for (size_t i = 0; i < m; ++i) Die(store->GetToFile(refs[i], base + "/small.out"), "get to file");
  Row((std::string("GetToFile 1 KiB x ") + std::to_string(m) + ", " + label).c_str(), Since(t0), m * 1024.0, m,
      "verified, atomic rename");
}

}  // namespace

int main(int argc, char** argv) {
  std::string base;
  bool cleanup = argc < 2;
  if (argc >= 2) {
    base = argv[1];
  } else {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/recomp-store-bench-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return 1;
    base = tmpl;
  }
  std::printf("store bench in %s\n", base.c_str());
  BenchLarge(base, size_t{256} << 20);
  BenchSmall(base, 100000, 1000, 4096, "inline");
  BenchSmall(base, 3000, 1000, 0, "files");
  BenchSmall(base, 2000, 1, 4096, "inline");
  BenchSmall(base, 1000, 1, 0, "files");
  if (cleanup) std::filesystem::remove_all(base);
  return 0;
}
