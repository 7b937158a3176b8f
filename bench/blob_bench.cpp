// blob_bench: the blob service's transfers beside a raw ZeroMQ stream of the same bytes with
// the same chunking and window, measured in the same run (docs/performance.md, "Blob
// transfers"). Prints figures; asserts nothing.
//   recomp_blob_bench local [--mib N]     everything in one process over tcp loopback: raw
//                                         stream, fetch (a chunk x window sweep), upload,
//                                         1,000 small inputs, a cached input
//   recomp_blob_bench serve --dir D --mib N --blobs EP --raw EP
//                                         a store holding one N MiB blob, its blob service
//                                         and a raw stream server; prints the digest; runs
//                                         until killed (bench/blob_bench_netns.py)
//   recomp_blob_bench curve [--mib N]     one N MiB fetch from a plain and from a CURVE blob
//                                         service of the same store, alternating, 3 each
//   recomp_blob_bench fetch --blobs EP --raw EP --digest HEX --mib N [--dir D]
//                                         the client side of the same measurements
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/blake2b.h"
#include "base/posix_file.h"
#include "base/stream_hasher.h"
#include "coordinator/blob_service.h"
#include "messages/access.h"
#include "messages/artifact_ref.h"
#include "net/curve_keys.h"
#include "net/socket.h"
#include "net/zap_handler.h"
#include "store/artifact_store.h"
#include "transfer/blob_client.h"
#include "worker/blob_cache.h"
#include "worker/remote_blobs.h"

namespace {

using namespace recomp;
using Clock = std::chrono::steady_clock;
constexpr double kMiB = 1 << 20;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void Die(const Status& s, const std::string& what) {
  if (s.ok()) return;
  std::fprintf(stderr, "blob_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

std::string TempDir() {
  const char* t = std::getenv("TMPDIR");
  std::string tmpl = std::string(t && *t ? t : "/tmp") + "/recomp-blob-bench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) Die(Status::IOError("mkdtemp"), tmpl);
  return tmpl;
}

void WriteRandomFile(const std::string& path, size_t bytes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string buf(1 << 20, '\0');
  auto fd = CreateExclusive(path, 0644);
  Die(fd.status(), path);
  for (size_t done = 0; done < bytes; done += buf.size()) {
    for (size_t i = 0; i + 8 <= buf.size(); i += 8) {
      uint64_t v = rng();
      std::memcpy(&buf[i], &v, 8);
    }
    Die(WriteAll(fd->get(), buf.data(), std::min(buf.size(), bytes - done), path), path);
  }
}

// ---- the raw baseline: the same chunk-request pattern, bytes pread from the same file ----

// Serves [offset u64][length u32] requests from `path` until `stop`.
void RawServe(zmq::context_t& ctx, const std::string& endpoint, const std::string& path,
              std::atomic<bool>* stop, std::string* bound, std::atomic<bool>* bound_set) {
  auto s = net::MakeSocket(ctx, zmq::socket_type::router);
  Die(s.status(), "raw socket");
  auto ep = net::Bind(*s, endpoint, "raw");
  Die(ep.status(), "raw bind");
  *bound = *ep;
  bound_set->store(true);
  auto fd = OpenForRead(path);
  Die(fd.status(), path);
  while (!stop->load()) {
    zmq::pollitem_t item{s->handle(), 0, ZMQ_POLLIN, 0};
    (void)net::Poll(&item, 1, std::chrono::milliseconds(50));
    for (;;) {
      net::Received r;
      auto got = net::Receive(*s, &r);
      if (!got.ok() || !*got || r.frames.size() != 2 || r.frames[1].size() != 12) break;
      uint64_t offset;
      uint32_t len;
      std::memcpy(&offset, r.frames[1].data(), 8);
      std::memcpy(&len, r.frames[1].data() + 8, 4);
      std::string data(len, '\0');
      ssize_t n = ::pread(fd->get(), data.data(), len, static_cast<off_t>(offset));
      data.resize(n > 0 ? static_cast<size_t>(n) : 0);
      (void)net::Send(*s, {r.frames[0], std::move(data)});
    }
  }
}

// Streams `size` bytes with `window` requests of `chunk` in flight; returns MiB/s. With
// `sink_dir`, also does what a download must: writes the bytes to a file there and hashes them
// (on a second thread), so only the protocol differs from recomp's fetch.
double RawFetch(zmq::context_t& ctx, const std::string& endpoint, uint64_t size, size_t chunk,
                uint32_t window, const std::string& sink_dir = "") {
  std::optional<Fd> out;
  std::optional<StreamHasher> hash;
  std::string out_path = sink_dir + "/raw-" + UniqueToken();
  if (!sink_dir.empty()) {
    auto fd = CreateExclusive(out_path, 0644);
    Die(fd.status(), out_path);
    out.emplace(std::move(fd).value());
    hash.emplace(2 * window);
  }
  auto s = net::MakeSocket(ctx, zmq::socket_type::dealer);
  Die(s.status(), "raw client");
  Die(net::Connect(*s, endpoint, "raw"), "raw connect");
  auto ask = [&](uint64_t offset) {
    std::string req(12, '\0');
    uint32_t len = static_cast<uint32_t>(chunk);
    std::memcpy(req.data(), &offset, 8);
    std::memcpy(req.data() + 8, &len, 4);
    while (net::Send(*s, {req}) == net::SendResult::kAgain) std::this_thread::yield();
  };
  Clock::time_point t0 = Clock::now();
  uint64_t next = 0, got = 0;
  uint32_t inflight = 0;
  while (got < size) {
    while (inflight < window && next < size) {
      ask(next);
      next += chunk;
      ++inflight;
    }
    zmq::pollitem_t item{s->handle(), 0, ZMQ_POLLIN, 0};
    Die(net::Poll(&item, 1, std::chrono::milliseconds(10000)), "raw poll");
    net::Received r;
    auto ok = net::Receive(*s, &r);
    if (!ok.ok() || !*ok) Die(Status::DeadlineExceeded("raw stream stalled"), "raw");
    got += r.frames.back().size();
    --inflight;
    if (out) {
      Die(WriteAll(out->get(), r.frames.back().data(), r.frames.back().size(), out_path), "write");
      hash->Add(std::move(r.frames.back()));
    }
  }
  if (hash) (void)hash->Finish();
  double rate = size / kMiB / Since(t0);
  if (out) (void)Unlink(out_path);
  return rate;
}

// BLAKE2b-256 of `size` bytes from memory: the bound on anything that verifies them.
double RawHash(uint64_t size) {
  std::string buf(1 << 20, 'x');
  Blake2b256 h;
  Clock::time_point t0 = Clock::now();
  for (uint64_t done = 0; done < size; done += buf.size()) h.Update(buf);
  (void)h.Finish();
  return size / kMiB / Since(t0);
}

// ---- recomp's transfers ----

std::unique_ptr<transfer::BlobClient> Client(zmq::context_t& ctx, const std::string& ep,
                                             size_t chunk, uint32_t window,
                                             const net::CurveClient& curve = {}) {
  transfer::BlobClientOptions o;
  o.curve = curve;
  o.endpoint = ep;
  o.chunk_bytes = chunk;
  o.window = window;
  auto c = transfer::BlobClient::Create(ctx, o);
  Die(c.status(), "blob client");
  return std::move(c).value();
}

double Fetch(zmq::context_t& ctx, const std::string& ep, const Digest& d, uint64_t size,
             const std::string& dir, size_t chunk, uint32_t window,
             const net::CurveClient& curve = {}) {
  auto c = Client(ctx, ep, chunk, window, curve);
  std::string path = dir + "/fetched-" + UniqueToken();
  auto fd = CreateExclusive(path, 0644);
  Die(fd.status(), path);
  Clock::time_point t0 = Clock::now();
  Die(c->Download(d, fd->get(), path).status(), "download");
  double rate = size / kMiB / Since(t0);
  (void)Unlink(path);
  return rate;
}

double Upload(zmq::context_t& ctx, const std::string& ep, const std::string& file, uint64_t size) {
  auto c = Client(ctx, ep, blobproto::kDefaultChunk, blobproto::kDefaultWindow);
  Clock::time_point t0 = Clock::now();
  Die(c->Upload({{file, ArtifactClass::kGenerated, "application/octet-stream", "bench"}}).status(),
      "upload");
  return size / kMiB / Since(t0);
}

void ClientSide(zmq::context_t& ctx, const std::string& blobs, const std::string& raw,
                const Digest& d, uint64_t size, const std::string& dir) {
  struct Point {
    size_t chunk;
    uint32_t window;
  };
  std::printf("BLAKE2b-256 from memory, one thread: %.0f MiB/s\n", RawHash(size));
  std::printf("%-22s %9s %11s %9s %7s %7s\n", "fetch (chunk x window)", "raw MiB/s",
              "raw+write+hash", "recomp", "ratio", "ratio2");
  for (Point p : {Point{64 << 10, 8}, Point{256 << 10, 4}, Point{256 << 10, 8},
                  Point{256 << 10, 16}, Point{1 << 20, 8}}) {
    double r = RawFetch(ctx, raw, size, p.chunk, p.window);
    double rv = RawFetch(ctx, raw, size, p.chunk, p.window, dir);
    double f = Fetch(ctx, blobs, d, size, dir, p.chunk, p.window);
    std::printf("%4zu KiB x %-11u %9.0f %14.0f %9.0f %6.0f%% %6.0f%%\n", p.chunk >> 10, p.window, r,
                rv, f, 100 * f / r, 100 * f / rv);
    std::fflush(stdout);
  }
  // Upload: new bytes each time (the service would answer "have it" otherwise).
  std::string file = dir + "/upload-" + UniqueToken();
  WriteRandomFile(file, size, static_cast<uint64_t>(::getpid()) ^ size);
  double raw_rate = RawFetch(ctx, raw, size, blobproto::kDefaultChunk, blobproto::kDefaultWindow);
  double up = Upload(ctx, blobs, file, size);
  std::printf(
      "upload (hash, send, durable commit) %.0f MiB/s = %.0f%% of the raw stream "
      "(%.0f MiB/s)\n",
      up, 100 * up / raw_rate, raw_rate);
  (void)Unlink(file);
}

// A store with one blob of `mib` MiB; returns its digest and the blob file's path.
std::pair<Digest, std::string> PrepareStore(store::ArtifactStore& st, const std::string& dir,
                                            size_t mib) {
  std::string src = dir + "/source";
  WriteRandomFile(src, mib << 20, 42);
  auto rec = st.PutFile(src);
  Die(rec.status(), "put");
  (void)Unlink(src);
  Digest d = ParseArtifactRef(rec->ref).value();
  return {d, st.root() + "/blobs/generated/" + d.Hex().substr(0, 2) + "/" + d.Hex()};
}

struct Service {
  std::unique_ptr<coordinator::BlobService> svc;
  std::thread thread;
  std::atomic<bool> raw_stop{false};
  std::atomic<bool> raw_bound{false};
  std::string raw_ep;  // set before raw_bound
  std::thread raw;
  void Start(zmq::context_t& ctx, store::ArtifactStore* st, const std::string& blobs_ep,
             const std::string& raw_bind, const std::string& blob_file) {
    coordinator::BlobServiceOptions o;
    o.endpoint = blobs_ep;
    auto s = coordinator::BlobService::Create(ctx, o, st);
    Die(s.status(), "blob service");
    svc = std::move(s).value();
    thread = std::thread([this] { Die(svc->Run(), "blob service"); });
    raw = std::thread([&ctx, this, raw_bind, blob_file] {
      RawServe(ctx, raw_bind, blob_file, &raw_stop, &raw_ep, &raw_bound);
    });
    while (!raw_bound.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void Stop() {
    raw_stop = true;
    svc->Stop();
    raw.join();
    thread.join();
  }
};

// 1,000 small inputs through a worker's RemoteBlobs, then one already cached.
void SmallInputs(zmq::context_t& ctx, store::ArtifactStore& st, const std::string& ep,
                 const std::string& dir) {
  std::vector<Digest> ds;
  for (int i = 0; i < 1000; ++i) {
    std::string bytes = "small input " + std::to_string(i) + " " + UniqueToken();
    auto rec = st.PutBytes(bytes);
    Die(rec.status(), "put small");
    ds.push_back(ParseArtifactRef(rec->ref).value());
  }
  auto cache = worker::BlobCache::Open({dir + "/cache", uint64_t{1} << 30, 100000});
  Die(cache.status(), "cache");
  transfer::BlobClientOptions co;
  co.endpoint = ep;
  worker::RemoteBlobs blobs(ctx, co, **cache);
  Die(MakeDirs(dir + "/sandbox", 0700), "sandbox");
  Clock::time_point t0 = Clock::now();
  blobs.Prefetch(ds);
  for (size_t i = 0; i < ds.size(); ++i) {
    Die(blobs.Materialize(ds[i], dir + "/sandbox/" + std::to_string(i), false), "materialize");
  }
  double all_ms = Since(t0) * 1000;
  uint64_t trips = blobs.counters().round_trips;
  std::vector<double> cached;
  for (int i = 0; i < 200; ++i) {
    std::string dest = dir + "/sandbox/again-" + std::to_string(i);
    Clock::time_point t1 = Clock::now();
    Die(blobs.Materialize(ds[static_cast<size_t>(i)], dest, false), "cached");
    cached.push_back(Since(t1) * 1e6);
  }
  std::sort(cached.begin(), cached.end());
  std::printf(
      "1,000 small inputs materialised: %.1f ms, %llu round trips; a cached input: "
      "median %.0f us, p99 %.0f us\n",
      all_ms, static_cast<unsigned long long>(trips), cached[cached.size() / 2],
      cached[cached.size() * 99 / 100]);
}

// The same fetch from a plain and a CURVE blob service of one store (one process, loopback).
void CurveFetch(zmq::context_t& ctx, store::ArtifactStore& st, const Digest& d, uint64_t size,
                const std::string& dir) {
  auto server = net::NewCurveKeyPair(), client = net::NewCurveKeyPair();
  Die(server.status(), "keys");
  auto access = AccessControl::Open("", {{client->public_key, "bench", Role::kWorker, {}}});
  Die(access.status(), "access");
  AccessControl* ac = access->get();
  auto zap = net::ZapHandler::Start(ctx, [ac](const net::ZapRequest& r) {
    Admission a = ac->Admit(r.domain, r.public_key);
    return net::ZapDecision{a.allowed, a.name, a.reason};
  });
  Die(zap.status(), "zap");
  std::unique_ptr<coordinator::BlobService> svc[2];
  std::thread threads[2];
  for (int curve = 0; curve < 2; ++curve) {
    coordinator::BlobServiceOptions o;
    o.endpoint = "tcp://127.0.0.1:0";
    if (curve) {
      o.access = ac;
      o.curve_secret = server->secret_key;
    }
    auto s = coordinator::BlobService::Create(ctx, o, &st);
    Die(s.status(), "blob service");
    svc[curve] = std::move(s).value();
    threads[curve] = std::thread([&svc, curve] { Die(svc[curve]->Run(), "blob service"); });
  }
  net::CurveClient keys{server->public_key, client->public_key, client->secret_key};
  double best[2] = {0, 0};
  for (int round = 0; round < 3; ++round) {
    for (int curve = 0; curve < 2; ++curve) {
      double r = Fetch(ctx, svc[curve]->endpoint(), d, size, dir, blobproto::kDefaultChunk,
                       blobproto::kDefaultWindow, curve ? keys : net::CurveClient{});
      best[curve] = std::max(best[curve], r);
      std::printf("  round %d %-6s %.0f MiB/s\n", round, curve ? "CURVE" : "plain", r);
      std::fflush(stdout);
    }
  }
  std::printf("%llu MiB fetch, best of 3: plain %.0f MiB/s, CURVE %.0f MiB/s (%.0f%% of plain)\n",
              static_cast<unsigned long long>(size >> 20), best[0], best[1],
              100 * best[1] / best[0]);
  for (int i = 0; i < 2; ++i) {
    svc[i]->Stop();
    threads[i].join();
  }
}

std::string Arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == name) return argv[i + 1];
  }
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "local";
  size_t mib = std::stoul(Arg(argc, argv, "--mib", "256"));
  zmq::context_t ctx(2);
  if (mode == "fetch") {
    std::string dir = Arg(argc, argv, "--dir", "");
    if (dir.empty()) dir = TempDir();
    auto d = ParseDigestHex(Arg(argc, argv, "--digest", ""));
    Die(d.status(), "--digest");
    ClientSide(ctx, Arg(argc, argv, "--blobs", ""), Arg(argc, argv, "--raw", ""), *d,
               uint64_t{mib} << 20, dir);
    std::filesystem::remove_all(dir);
    return 0;
  }
  std::string dir = mode == "serve" ? Arg(argc, argv, "--dir", TempDir()) : TempDir();
  auto st = store::ArtifactStore::Open(dir + "/store");
  Die(st.status(), "store");
  auto [digest, blob_file] = PrepareStore(**st, dir, mib);
  if (mode == "curve") {
    CurveFetch(ctx, **st, digest, uint64_t{mib} << 20, dir);
    st->reset();
    std::filesystem::remove_all(dir);
    return 0;
  }
  Service svc;
  if (mode == "serve") {
    svc.Start(ctx, st->get(), Arg(argc, argv, "--blobs", "tcp://127.0.0.1:0"),
              Arg(argc, argv, "--raw", "tcp://127.0.0.1:0"), blob_file);
    std::printf("serving %s blobs=%s raw=%s\n", digest.Hex().c_str(), svc.svc->endpoint().c_str(),
                svc.raw_ep.c_str());
    std::fflush(stdout);
    pause();  // until killed
    return 0;
  }
  svc.Start(ctx, st->get(), "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", blob_file);
  std::printf("blob_bench local: %zu MiB over tcp loopback\n", mib);
  ClientSide(ctx, svc.svc->endpoint(), svc.raw_ep, digest, uint64_t{mib} << 20, dir);
  SmallInputs(ctx, **st, svc.svc->endpoint(), dir);
  svc.Stop();
  st->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
