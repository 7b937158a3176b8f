// pool_bench: the worker pool end to end (issue 3, "Performance"), beside its raw baselines,
// all measured in ONE run on this machine. Prints figures; asserts nothing.
//
//   raw    ZeroMQ DEALER/ROUTER echo over tcp loopback, in process (round trips/s, p50);
//          posix_spawn + waitpid of /bin/true in a loop (spawns/s; 1 and 2 loops at once).
//   pool   the real processes: `recomp coordinator` (broker on a thread) + 2 x `recomp worker`
//          on loopback, runs submitted through the real API (SUBMIT on a DEALER), completion
//          followed on the events PUB socket (recomp.run.completed):
//            control plane (--executor noop): jobs/s with many shards per run and several runs
//            in flight; latency of 1-job runs submitted one at a time; coordinator memory
//            sampled at 10%, 50%, 100% of a 200,000-job soak;
//            real processes (--executor process, /bin/true): jobs/s vs the raw spawn rate.
//
// Usage: recomp_pool_bench [RECOMP_BIN] [--quick] [--keep] [--soak-jobs N] [--slots K]
//                          [--trials N] [--lat-runs N] [--proc-jobs N] [--window RUNS]
//                          [--proc-only] [--curve-compare]
//   --confine-compare: only the /bin/true job path, with jobs unconfined and confined (bubblewrap,
//   the job user when root, a cgroup each) in alternating pools of the same run.
//   --curve-compare: only the control plane (throughput and 1-job latency), with CURVE on and
//   off in alternating pools of the same run (docs/security.md).
//   RECOMP_BIN defaults to $RECOMP_BIN, else ../cli/recomp next to this program.
//   --quick: small counts (a smoke test of the bench itself).
// Every pool phase uses a fresh data directory under $TMPDIR (removed unless --keep), so the
// action cache never serves a job; job IDs differ between runs through the module file bytes.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "coordinator/pipeline.h"
#include "messages/event.h"
#include "messages/module_manifest.h"
#include "messages/protocol.h"
#include "messages/run_status.h"
#include "messages/run_submission.h"
#include "net/curve_keys.h"
#include "net/framing.h"
#include "store/artifact_store.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using recomp::Status;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// Processes this bench started and has not reaped: stopped on a failure too.
std::vector<pid_t> g_children;

void KillChildren() {
  for (pid_t pid : g_children) ::kill(pid, SIGTERM);
  auto t0 = Clock::now();
  for (pid_t pid : g_children) {
    int st;
    while (waitpid(pid, &st, WNOHANG) == 0) {
      if (Since(t0) > 5) {
        ::kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  g_children.clear();
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "pool_bench: %s\n", what.c_str());
  std::fflush(stderr);
  KillChildren();
  std::exit(1);
}
void Die(const Status& s, const std::string& what) {
  if (!s.ok()) Fail(what + ": " + s.ToString());
}

struct Options {
  std::string recomp;
  bool quick = false, keep = false;
  bool proc_only = false;  // raw spawn baselines and the /bin/true phase only
  bool curve_compare = false;
  bool confine_compare = false;
  bool job_events_compare = false;
  size_t soak_jobs = 200000;
  uint32_t shards = 1024;  // jobs per run in the throughput phases
  uint32_t window = 12;    // runs in flight (12 x 1024 > max_inflight 10000: the window stays full)
  int trials = 3;          // control-plane throughput trials (each trial_runs runs)
  uint32_t trial_runs = 16;
  int lat_runs = 400;       // 1-job runs, one at a time
  size_t proc_jobs = 3000;  // /bin/true jobs through the pool
  uint32_t proc_shards = 250;
  uint32_t slots = 4;        // per worker, process phase (jobs of ~1 ms: 2 per core is too few)
  uint32_t noop_slots = 64;  // per worker, control plane (credits: jobs a worker may hold)
  double soak_cap_s = 100;   // stop the soak here if the rate is too low (reported)
};

struct Stats {
  std::vector<double> v;
  void Add(double x) { v.push_back(x); }
  double Pct(double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5));
    return v[i];
  }
};

// Best and spread of repeated measurements (best = the highest rate, or the lowest time).
std::string BestSpread(std::vector<double> r, const char* fmt = "%.0f",
                       bool lower_is_better = false) {
  if (r.empty()) return "-";
  std::sort(r.begin(), r.end());
  if (lower_is_better) std::reverse(r.begin(), r.end());
  char a[64], b[64], c[64];
  std::snprintf(a, sizeof a, fmt, r.back());
  std::snprintf(b, sizeof b, fmt, r.front());
  std::snprintf(c, sizeof c, fmt, r[r.size() / 2]);
  return std::string(a) + " (median " + c + ", worst " + b + ", n=" + std::to_string(r.size()) +
         ")";
}

// ---------------------------------------------------------------------------------------------
// Raw baselines

struct EchoResult {
  double rtt_p50_us = 0, rtt_p99_us = 0, serial_per_s = 0, pipelined_per_s = 0;
};

// A ROUTER that echoes every message, and a DEALER that sends 3-frame messages shaped like the
// pool's ([RCP1, COMMAND, ~240-byte body]) over tcp loopback.
EchoResult RawEcho(int serial_n, int pipelined_n) {
  zmq::context_t ctx(1);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::sndhwm, 100000);
  router.set(zmq::sockopt::rcvhwm, 100000);
  router.bind("tcp://127.0.0.1:*");
  std::string ep = router.get(zmq::sockopt::last_endpoint);
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    zmq::pollitem_t it{router.handle(), 0, ZMQ_POLLIN, 0};
    while (!stop.load()) {
      if (zmq::poll(&it, 1, std::chrono::milliseconds(50)) == 0) continue;
      for (;;) {
        std::vector<zmq::message_t> parts;
        zmq::message_t m;
        if (!router.recv(m, zmq::recv_flags::dontwait)) break;
        parts.push_back(std::move(m));
        while (parts.back().more()) {
          zmq::message_t n;
          (void)router.recv(n);
          parts.push_back(std::move(n));
        }
        for (size_t i = 0; i < parts.size(); ++i)
          router.send(parts[i],
                      i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
    }
  });
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::sndhwm, 100000);
  dealer.set(zmq::sockopt::rcvhwm, 100000);
  dealer.connect(ep);
  std::string body(240, 'x');
  auto send = [&] {
    dealer.send(zmq::buffer(std::string_view("RCP1")), zmq::send_flags::sndmore);
    dealer.send(zmq::buffer(std::string_view("RESULT")), zmq::send_flags::sndmore);
    dealer.send(zmq::buffer(body), zmq::send_flags::none);
  };
  auto recv = [&] {
    zmq::message_t m;
    do (void)dealer.recv(m);
    while (m.more());
  };
  for (int i = 0; i < 1000; ++i) {
    send();
    recv();
  }  // warm up (connection, caches)
  Stats rtt;
  auto t0 = Clock::now();
  for (int i = 0; i < serial_n; ++i) {
    auto a = Clock::now();
    send();
    recv();
    rtt.Add(std::chrono::duration<double, std::micro>(Clock::now() - a).count());
  }
  EchoResult r;
  r.serial_per_s = serial_n / Since(t0);
  r.rtt_p50_us = rtt.Pct(50);
  r.rtt_p99_us = rtt.Pct(99);
  const int kWindow = 1000;
  t0 = Clock::now();
  int sent = 0, got = 0;
  while (got < pipelined_n) {
    while (sent < pipelined_n && sent - got < kWindow) {
      send();
      ++sent;
    }
    recv();
    ++got;
  }
  r.pipelined_per_s = pipelined_n / Since(t0);
  stop.store(true);
  echo.join();
  return r;
}

// posix_spawn + waitpid of /bin/true, `loops` loops at once for `seconds`; spawns/s.
double RawSpawn(int loops, double seconds) {
  std::atomic<long> total{0};
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int l = 0; l < loops; ++l) {
    ts.emplace_back([&] {
      char arg0[] = "/bin/true";
      char* argv[] = {arg0, nullptr};
      char* envp[] = {nullptr};
      long n = 0;
      while (Since(t0) < seconds) {
        pid_t pid;
        if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, envp) != 0)
          Fail("posix_spawn /bin/true");
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        ++n;
      }
      total += n;
    });
  }
  for (auto& t : ts) t.join();
  return total.load() / Since(t0);
}

// ---------------------------------------------------------------------------------------------
// Processes

pid_t Spawn(const std::vector<std::string>& args, const std::string& log_path) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0].c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) Fail("cannot start " + args[0] + ": " + std::strerror(rc));
  g_children.push_back(pid);
  return pid;
}

// SIGTERM, then SIGKILL after `grace`. Returns true when it exited by itself.
bool StopProcess(pid_t pid, std::chrono::milliseconds grace = std::chrono::milliseconds(5000)) {
  if (pid <= 0) return true;
  g_children.erase(std::remove(g_children.begin(), g_children.end(), pid), g_children.end());
  ::kill(pid, SIGTERM);
  auto t0 = Clock::now();
  int st;
  while (Clock::now() - t0 < grace) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid || r < 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  return false;
}

bool Alive(pid_t pid) {
  int st;
  return waitpid(pid, &st, WNOHANG) == 0;
}

// Memory of a process from /proc: kB.
struct Mem {
  long rss = 0, rss_anon = 0, rss_file = 0, hwm = 0, private_dirty = 0, anon = 0;
};

long ProcField(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0)
      return std::strtol(line.c_str() + key.size() + 1, nullptr, 10);
  }
  return -1;
}

Mem SampleMem(pid_t pid) {
  std::string base = "/proc/" + std::to_string(pid);
  Mem m;
  m.rss = ProcField(base + "/status", "VmRSS");
  m.rss_anon = ProcField(base + "/status", "RssAnon");
  m.rss_file = ProcField(base + "/status", "RssFile");
  m.hwm = ProcField(base + "/status", "VmHWM");
  m.private_dirty = ProcField(base + "/smaps_rollup", "Private_Dirty");
  m.anon = ProcField(base + "/smaps_rollup", "Anonymous");
  return m;
}

// ---------------------------------------------------------------------------------------------
// The pool

struct Pool {
  std::string dir, coord_log;
  pid_t coord = -1;
  std::vector<pid_t> workers;
  std::string api, events, replay, workers_ep;
  std::string server_key;  // with CURVE
};

std::string TempDir(const std::string& tag) {
  const char* t = std::getenv("TMPDIR");
  std::string tmpl = std::string(t && *t ? t : "/tmp") + "/recomp-pool-bench-" + tag + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) Fail("mkdtemp " + tmpl);
  return buf.data();
}

// `durable` false writes `[coordinator] durable = false` (MDB_NOSYNC run store).
Pool StartPool(const Options& o, const std::string& tag, const std::string& executor,
               uint32_t slots, bool durable = true, bool curve = false,
               const std::string& confine = "none", const std::string& coordinator_extra = "") {
  Pool p;
  p.dir = TempDir(tag);
  std::string cfg = p.dir + "/bench.toml";
  {
    std::ofstream out(cfg);
    out << "[coordinator]\napi = \"tcp://127.0.0.1:0\"\nevents = \"tcp://127.0.0.1:0\"\n"
           "replay = \"tcp://127.0.0.1:0\"\nblobs = \"tcp://127.0.0.1:0\"\n"
           "metrics = \"127.0.0.1:0\"\n"
        << coordinator_extra << (durable ? "" : "durable = false\n")
        << "\n[broker]\nworkers = \"tcp://127.0.0.1:0\"\n"
        << (curve ? "\n[security]\ncurve = true\n" : "");
  }
  p.coord_log = p.dir + "/coordinator.log";
  p.coord = Spawn({o.recomp, "coordinator", "--data", p.dir, "--config", cfg}, p.coord_log);
  std::string ep_path = p.dir + "/endpoints.json";
  auto t0 = Clock::now();
  for (;;) {
    if (fs::exists(ep_path)) {
      std::ifstream in(ep_path);
      nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
      if (j.is_object() && j.contains("workers")) {
        p.api = j["api"];
        p.events = j["events"];
        p.replay = j["replay"];
        p.workers_ep = j["workers"];
        if (j.contains("server_key")) p.server_key = j["server_key"];
        break;
      }
    }
    if (!Alive(p.coord)) Fail("the coordinator exited at start; see " + p.coord_log);
    if (Since(t0) > 15) Fail("no " + ep_path + " within 15 s; see " + p.coord_log);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (int i = 0; i < 2; ++i) {
    std::vector<std::string> argv = {
        o.recomp,     "worker", "--connect", p.workers_ep,          "--data",    p.dir,
        "--executor", executor, "--slots",   std::to_string(slots), "--confine", confine};
    if (curve) {
      argv.insert(argv.end(),
                  {"--server-key", p.server_key, "--key", p.dir + "/keys/local-worker.key", "--id",
                   "local-worker:bench-w" + std::to_string(i)});
    } else {
      argv.insert(argv.end(), {"--id", "bench-w" + std::to_string(i)});
    }
    p.workers.push_back(Spawn(argv, p.dir + "/worker" + std::to_string(i) + ".log"));
  }
  return p;
}

void StopPool(const Options& o, Pool& p) {
  for (pid_t w : p.workers) StopProcess(w);
  if (!StopProcess(p.coord, std::chrono::milliseconds(10000)))
    std::fprintf(stderr, "pool_bench: the coordinator needed SIGKILL\n");
  p.workers.clear();
  p.coord = -1;
  if (!o.keep) {
    std::error_code ec;
    fs::remove_all(p.dir, ec);
    // Deleting a phase's data (the soak's run store is ~400 MB) makes the file system free
    // and discard its blocks in the background; the next phase's fsyncs would queue behind
    // that. Wait for it here, outside any timing.
    ::sync();
  } else {
    std::printf("  (kept %s)\n", p.dir.c_str());
  }
}

// The bench's client: a DEALER on the api endpoint (requests may be pipelined; replies come
// back in order) and a SUB on the events endpoint.
class Client {
 public:
  Client(const Pool& p, const std::string& topic)
      : ctx_(1), api_(ctx_, zmq::socket_type::dealer), sub_(ctx_, zmq::socket_type::sub) {
    api_.set(zmq::sockopt::linger, 0);
    api_.set(zmq::sockopt::sndhwm, 100000);
    api_.set(zmq::sockopt::rcvhwm, 100000);
    if (!p.server_key.empty()) {  // CURVE: the pool's own submitter key
      auto keys = recomp::net::ReadSecretKeyFile(p.dir + "/keys/local.key");
      Die(keys.status(), "the pool's local key");
      for (zmq::socket_t* s : {&api_, &sub_}) {
        s->set(zmq::sockopt::curve_serverkey, p.server_key);
        s->set(zmq::sockopt::curve_publickey, keys->public_key);
        s->set(zmq::sockopt::curve_secretkey, keys->secret_key);
      }
    }
    api_.connect(p.api);
    sub_.set(zmq::sockopt::linger, 0);
    sub_.set(zmq::sockopt::rcvhwm, 1000000);
    sub_.set(zmq::sockopt::subscribe, topic);
    sub_.connect(p.events);
  }

  void Send(std::string_view command, const std::string& body) {
    api_.send(zmq::buffer(recomp::proto::kTag), zmq::send_flags::sndmore);
    api_.send(zmq::buffer(command), zmq::send_flags::sndmore);
    api_.send(zmq::buffer(body), zmq::send_flags::none);
  }

  // One reply (blocking up to `timeout`): the OK body, or dies on ERROR / timeout.
  std::optional<std::string> RecvReply(std::chrono::milliseconds timeout, bool must = true) {
    zmq::pollitem_t it{api_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&it, 1, timeout) == 0) {
      if (must) Fail("no API reply within " + std::to_string(timeout.count()) + " ms");
      return std::nullopt;
    }
    return TakeReply();
  }
  std::optional<std::string> TryReply() {
    zmq::message_t m;
    if (!api_.recv(m, zmq::recv_flags::dontwait)) return std::nullopt;
    return TakeReply(std::move(m));
  }

  std::string Call(std::string_view command, const std::string& body) {
    Send(command, body);
    return *RecvReply(std::chrono::milliseconds(30000));
  }

  // Next event (non-blocking): {type, envelope}.
  std::optional<recomp::Event> TryEvent() {
    zmq::message_t topic;
    if (!sub_.recv(topic, zmq::recv_flags::dontwait)) return std::nullopt;
    zmq::message_t env;
    if (!topic.more()) Fail("event without an envelope");
    (void)sub_.recv(env);
    auto e =
        recomp::DecodeEvent(std::string_view(static_cast<const char*>(env.data()), env.size()));
    Die(e.status(), "decoding an event");
    return std::move(e).value();
  }

  zmq::socket_t& api() { return api_; }
  zmq::socket_t& sub() { return sub_; }

 private:
  std::string TakeReply(std::optional<zmq::message_t> first = std::nullopt) {
    std::vector<std::string> frames;
    zmq::message_t m;
    if (first) {
      m = std::move(*first);
    } else {
      (void)api_.recv(m);
    }
    frames.push_back(m.to_string());
    while (m.more()) {
      (void)api_.recv(m);
      frames.push_back(m.to_string());
    }
    auto msg = recomp::net::Parse(recomp::proto::kTag, frames);
    Die(msg.status(), "API reply");
    if (msg->command == recomp::proto::kError)
      Die(recomp::proto::DecodeError(msg->body), "API error");
    return msg->body;
  }
  zmq::context_t ctx_;
  zmq::socket_t api_, sub_;
};

// Waits until both workers registered (WORKERS lists them).
void WaitWorkers(Pool& p, Client& c) {
  auto t0 = Clock::now();
  for (;;) {
    std::string body = c.Call(recomp::proto::kWorkers, recomp::proto::EmptyBody());
    auto j = recomp::proto::BodyJson(body, "workers");
    Die(j.status(), "WORKERS reply");
    if ((*j)["workers"].size() >= 2) return;
    for (pid_t w : p.workers)
      if (!Alive(w)) Fail("a worker exited at start; see " + p.dir + "/worker*.log");
    if (Since(t0) > 15) Fail("workers did not register within 15 s; see " + p.dir);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Runs prepared in the pool's store before any timing: shared config + provenance, one module
// file per run (distinct bytes => distinct job IDs).
std::vector<recomp::RunSubmission> PrepareRuns(const Pool& p, const std::string& phase, size_t n,
                                               uint32_t shards) {
  auto st = recomp::store::ArtifactStore::Open(p.dir + "/store");
  Die(st.status(), "opening the pool's store");
  auto& store = **st;
  std::string pipeline =
      "# pool_bench: one stage that only runs /bin/true (no outputs)\n"
      "[[stages]]\nname = \"bench\"\ncommand = [\"/bin/true\"]\noutputs = []\nretries = 0\n"
      "timeout_s = 60\nshards = " +
      std::to_string(shards) + "\n";
  auto resolved = recomp::coordinator::ResolveToolRefs(pipeline, {});
  Die(resolved.status(), "ResolveToolRefs");
  recomp::store::PutOptions gen;
  gen.media_type = "application/toml";
  gen.producer = "bench:pool";
  recomp::store::PutOptions ext;
  ext.artifact_class = recomp::ArtifactClass::kExternal;
  ext.media_type = "application/octet-stream";
  ext.producer = "bench:pool";
  auto batch = store.NewBatch();
  auto cfg = batch.AddBytes(*resolved, gen);
  Die(cfg.status(), "config manifest");
  auto prov = batch.AddBytes("{\"_type\": \"pool_bench provenance\"}\n", gen);
  Die(prov.status(), "provenance");
  std::vector<recomp::RunSubmission> subs;
  uint64_t nonce = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  for (size_t i = 0; i < n; ++i) {
    std::string run_id = "bench-" + phase + "-" + std::to_string(i);
    auto mod =
        batch.AddBytes("pool_bench module " + run_id + " " + std::to_string(nonce) + "\n", ext);
    Die(mod.status(), "module file");
    recomp::ModuleManifest mm;
    mm.files.push_back({"module.bin", recomp::ParseArtifactRef(mod->ref).value()});
    auto mref = batch.AddBytes(recomp::EncodeModuleManifest(mm), gen);
    Die(mref.status(), "module manifest");
    recomp::RunSubmission s;
    s.run_id = run_id;
    s.module_manifest = mref->ref;
    s.config_manifest = cfg->ref;
    s.provenance_manifest = prov->ref;
    s.requested_by = "local:pool_bench";
    subs.push_back(std::move(s));
    if (batch.size() > 2000) Die(batch.Commit(), "store commit");
  }
  Die(batch.Commit(), "store commit");
  return subs;
}

struct Throughput {
  size_t runs = 0, jobs = 0, failed_runs = 0;
  double seconds = 0;
  bool capped = false;
  std::vector<std::pair<int, Mem>> mem;  // (percent of jobs done, sample)
  double rate() const { return seconds > 0 ? jobs / seconds : 0; }
};

// Submits `subs` keeping `window` runs in flight; waits for each recomp.run.completed.
// `mem_pcts` (ascending): sample the coordinator's memory when that share of jobs is done.
Throughput DriveRuns(Pool& p, Client& c, const std::vector<recomp::RunSubmission>& subs,
                     uint32_t shards, uint32_t window, double cap_s,
                     std::vector<int> mem_pcts = {}) {
  Throughput t;
  size_t next = 0, inflight = 0, replies = 0, total_jobs = subs.size() * shards;
  size_t mem_i = 0;
  auto t0 = Clock::now();
  auto last_progress = Clock::now();
  while (t.runs < next || next < subs.size()) {
    while (next < subs.size() && inflight < window) {
      c.Send(recomp::proto::kSubmit, recomp::EncodeRunSubmission(subs[next]));
      ++next;
      ++inflight;
    }
    zmq::pollitem_t items[] = {{c.api().handle(), 0, ZMQ_POLLIN, 0},
                               {c.sub().handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 2, std::chrono::milliseconds(200));
    while (c.TryReply()) ++replies;
    while (auto e = c.TryEvent()) {
      if (e->type != recomp::EventType::kCompleted) continue;
      ++t.runs;
      --inflight;
      t.jobs += shards;
      if (e->data.value("state", "") != "succeeded") ++t.failed_runs;
      last_progress = Clock::now();
      while (mem_i < mem_pcts.size() &&
             t.jobs * 100 >= total_jobs * static_cast<size_t>(mem_pcts[mem_i])) {
        t.mem.push_back({mem_pcts[mem_i], SampleMem(p.coord)});
        ++mem_i;
      }
    }
    if (!Alive(p.coord)) Fail("the coordinator died; see " + p.coord_log);
    if (Since(last_progress) > 30) Fail("no run completed for 30 s; see " + p.dir);
    if (Since(t0) > cap_s) {
      t.capped = true;
      break;
    }
  }
  t.seconds = Since(t0);
  return t;
}

struct Latency {
  Stats ack, rest, total;
  double seconds = 0;
  int n = 0;
};

// 1-job runs, one at a time: submit -> OK reply (the accept is durable; the DISPATCH went out
// before its commit, so the job runs meanwhile) -> the run's recomp.run.completed (the rest of
// the job, then the completion commit).
Latency OneAtATime(Client& c, const std::vector<recomp::RunSubmission>& subs) {
  Latency l;
  auto t0 = Clock::now();
  for (const auto& s : subs) {
    auto a = Clock::now();
    c.Send(recomp::proto::kSubmit, recomp::EncodeRunSubmission(s));
    c.RecvReply(std::chrono::milliseconds(30000));
    auto b = Clock::now();
    bool done = false;
    while (!done) {
      zmq::pollitem_t it{c.sub().handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&it, 1, std::chrono::milliseconds(30000)) == 0)
        Fail("run " + s.run_id + " did not complete within 30 s");
      while (auto e = c.TryEvent()) {
        if (e->type == recomp::EventType::kCompleted && e->subject == s.run_id) done = true;
      }
    }
    auto d = Clock::now();
    l.ack.Add(Ms(b - a));
    l.rest.Add(Ms(d - b));
    l.total.Add(Ms(d - a));
    ++l.n;
  }
  l.seconds = Since(t0);
  return l;
}

// Warm-up: one 1-job run to completion (also proves the SUB receives: the slow joiner).
void WarmUp(Pool& p, Client& c, const std::string& tag) {
  auto subs = PrepareRuns(p, tag + "-warmup", 1, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  OneAtATime(c, subs);
}

// Two kinds of pool, A and B, measured alternately (trial by trial) in one run: 1-job latency
// and the throughput of `runs` runs of `shards` jobs each. Prints the table; returns the best
// rates and the 1-job p50s of A and B.
struct Comparison {
  double best_rate[2] = {0, 0};
  double p50_ms[2] = {0, 0};
};
Comparison ComparePools(const Options& o, const char* const names[2],
                        const std::function<Pool(int)>& start, int lat_runs, size_t runs,
                        uint32_t shards, uint32_t window, double cap_s) {
  std::vector<double> rates[2];
  Latency lats[2];
  for (int tr = 0; tr < o.trials; ++tr) {
    for (int b = 0; b < 2; ++b) {
      const std::string tag = names[b];
      Pool p = start(b);
      Client c(p, "recomp.run.completed");
      WaitWorkers(p, c);
      WarmUp(p, c, tag);
      Latency l = OneAtATime(c, PrepareRuns(p, tag + "lat", lat_runs, 1));
      for (double v : l.total.v) lats[b].total.Add(v);
      Throughput t = DriveRuns(p, c, PrepareRuns(p, tag + std::to_string(tr), runs, shards), shards,
                               window, cap_s);
      rates[b].push_back(t.rate());
      std::printf("  trial %d %s: %.0f jobs/s, 1-job p50 %.2f ms\n", tr, tag.c_str(), t.rate(),
                  l.total.Pct(50));
      std::fflush(stdout);
      StopPool(o, p);
    }
  }
  Comparison out;
  for (int b = 0; b < 2; ++b) {
    out.best_rate[b] = *std::max_element(rates[b].begin(), rates[b].end());
    out.p50_ms[b] = lats[b].total.Pct(50);
    std::printf("%-10s %s jobs/s   1-job run p50 %.2f ms p90 %.2f ms\n", names[b],
                BestSpread(rates[b]).c_str(), out.p50_ms[b], lats[b].total.Pct(90));
  }
  return out;
}

// The control plane with CURVE off and on.
int CurveCompare(const Options& o) {
  static const char* const kNames[2] = {"plain", "CURVE"};
  std::printf("== CURVE off and on (2 noop workers x %u slots, tcp loopback) ==\n", o.noop_slots);
  Comparison c = ComparePools(
      o, kNames,
      [&](int curve) { return StartPool(o, kNames[curve], "noop", o.noop_slots, true, curve); },
      o.lat_runs, o.trial_runs, o.shards, o.window, 120);
  std::printf("CURVE costs %.1f%% of the control plane's throughput [target <= 20%%]\n",
              100.0 * (1.0 - c.best_rate[1] / c.best_rate[0]));
  return 0;
}

// The control plane with and without recomp.job.started (one more durable event per job).
int JobEventsCompare(const Options& o) {
  static const char* const kNames[2] = {"no-starts", "starts"};
  std::printf("== recomp.job.started off and on (2 noop workers x %u slots) ==\n", o.noop_slots);
  Comparison c = ComparePools(
      o, kNames,
      [&](int on) {
        return StartPool(o, kNames[on], "noop", o.noop_slots, true, false, "none",
                         on ? "" : "job_started_events = false\n");
      },
      o.lat_runs, o.trial_runs, o.shards, o.window, 120);
  std::printf(
      "recomp.job.started costs %.1f%% of the control plane's throughput and %.2f ms "
      "of a 1-job run's p50\n",
      100.0 * (1.0 - c.best_rate[1] / c.best_rate[0]), c.p50_ms[1] - c.p50_ms[0]);
  return 0;
}

// The /bin/true job path unconfined and confined (bubblewrap, the job user, a cgroup).
int ConfineCompare(const Options& o) {
  static const char* const kNames[2] = {"plain", "confined"};
  std::printf("== /bin/true jobs unconfined and confined (2 workers x %u slots) ==\n", o.slots);
  Comparison c = ComparePools(
      o, kNames,
      [&](int confined) {
        return StartPool(o, kNames[confined], "process", o.slots, true, false,
                         confined ? "auto" : "none");
      },
      o.quick ? 20 : 100, (o.proc_jobs + o.proc_shards - 1) / o.proc_shards, o.proc_shards, 4, 90);
  std::printf("confinement costs %.1f ms per job (1-job p50) and %.0f%% of the job rate\n",
              c.p50_ms[1] - c.p50_ms[0], 100.0 * (1.0 - c.best_rate[1] / c.best_rate[0]));
  return 0;
}

std::string FindRecomp(int argc, char** argv, Options* o) {
  std::string bin;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto num = [&](auto* field) {
      if (i + 1 >= argc) Fail("missing value for " + a);
      *field = static_cast<std::remove_pointer_t<decltype(field)>>(std::strtod(argv[++i], nullptr));
    };
    if (a == "--quick")
      o->quick = true;
    else if (a == "--keep")
      o->keep = true;
    else if (a == "--proc-only")
      o->proc_only = true;
    else if (a == "--curve-compare")
      o->curve_compare = true;
    else if (a == "--confine-compare")
      o->confine_compare = true;
    else if (a == "--job-events-compare")
      o->job_events_compare = true;
    else if (a == "--soak-jobs")
      num(&o->soak_jobs);
    else if (a == "--slots")
      num(&o->slots);
    else if (a == "--noop-slots")
      num(&o->noop_slots);
    else if (a == "--trials")
      num(&o->trials);
    else if (a == "--lat-runs")
      num(&o->lat_runs);
    else if (a == "--proc-jobs")
      num(&o->proc_jobs);
    else if (a == "--window")
      num(&o->window);
    else if (a == "--soak-cap")
      num(&o->soak_cap_s);
    else if (a.rfind("--", 0) == 0)
      Fail("unknown flag " + a);
    else
      bin = a;
  }
  if (bin.empty()) {
    if (const char* e = std::getenv("RECOMP_BIN"); e && *e) bin = e;
  }
  if (bin.empty()) {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    for (fs::path cand :
         {self.parent_path().parent_path() / "cli" / "recomp", self.parent_path() / "recomp"}) {
      if (fs::exists(cand)) {
        bin = cand.string();
        break;
      }
    }
  }
  if (bin.empty() || ::access(bin.c_str(), X_OK) != 0)
    Fail("cannot find the recomp binary: pass it as argv[1] or set RECOMP_BIN");
  return bin;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.recomp = FindRecomp(argc, argv, &o);
  if (o.quick) {
    o.soak_jobs = 20480;
    o.trials = 1;
    o.trial_runs = 4;
    o.lat_runs = 50;
    o.proc_jobs = 500;
  }
  ::signal(SIGPIPE, SIG_IGN);
  auto bench_t0 = Clock::now();
  double load[3] = {0, 0, 0};
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
    std::fclose(f);
  }
  std::printf("pool_bench: recomp=%s cores=%u loadavg=%.2f %.2f %.2f\n", o.recomp.c_str(),
              std::thread::hardware_concurrency(), load[0], load[1], load[2]);
  std::fflush(stdout);

  if (o.curve_compare) return CurveCompare(o);
  if (o.confine_compare) return ConfineCompare(o);
  if (o.job_events_compare) return JobEventsCompare(o);

  // --- raw baselines ------------------------------------------------------------------------
  std::vector<double> echo_serial, echo_pipe, echo_p50, spawn1, spawn2;
  for (int r = 0; r < (o.quick ? 1 : 3); ++r) {
    EchoResult e = RawEcho(o.quick ? 2000 : 10000, o.quick ? 20000 : 200000);
    echo_serial.push_back(e.serial_per_s);
    echo_pipe.push_back(e.pipelined_per_s);
    echo_p50.push_back(e.rtt_p50_us);
    spawn1.push_back(RawSpawn(1, o.quick ? 0.5 : 1.5));
    spawn2.push_back(RawSpawn(2, o.quick ? 0.5 : 1.5));
  }
  std::printf("raw baselines done (%.1f s)\n", Since(bench_t0));
  std::fflush(stdout);

  // --- control plane: noop executor ---------------------------------------------------------
  std::vector<double> cp_rates;
  Latency lat;
  Throughput soak;
  Mem mem_before, mem_after;
  size_t cp_failed = 0;
  if (!o.proc_only) {
    Pool p = StartPool(o, "noop", "noop", o.noop_slots);
    Client c(p, "recomp.run.completed");
    WaitWorkers(p, c);
    WarmUp(p, c, "noop");
    // Latency first, on an idle pool.
    auto lsubs = PrepareRuns(p, "lat", o.lat_runs, 1);
    lat = OneAtATime(c, lsubs);
    std::printf("control-plane latency done (%.1f s)\n", Since(bench_t0));
    std::fflush(stdout);
    for (int tr = 0; tr < o.trials; ++tr) {
      auto subs = PrepareRuns(p, "cp" + std::to_string(tr), o.trial_runs, o.shards);
      Throughput t = DriveRuns(p, c, subs, o.shards, o.window, 120);
      cp_rates.push_back(t.rate());
      cp_failed += t.failed_runs;
      std::printf("  control-plane trial %d: %zu jobs in %.2f s = %.0f jobs/s\n", tr, t.jobs,
                  t.seconds, t.rate());
      std::fflush(stdout);
    }
    // Soak: memory of the coordinator while soak_jobs pass through.
    size_t soak_runs = (o.soak_jobs + o.shards - 1) / o.shards;
    auto subs = PrepareRuns(p, "soak", soak_runs, o.shards);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    mem_before = SampleMem(p.coord);
    soak = DriveRuns(p, c, subs, o.shards, o.window, o.soak_cap_s, {10, 50, 100});
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    mem_after = SampleMem(p.coord);
    cp_failed += soak.failed_runs;
    std::printf("control-plane soak done: %zu jobs in %.1f s (%.1f s)\n", soak.jobs, soak.seconds,
                Since(bench_t0));
    std::fflush(stdout);
    StopPool(o, p);
  }

  // --- the same 1-job latency with a non-durable run store (no fsync on the path) ----------
  Latency lat_nosync;
  if (!o.proc_only) {
    Pool p = StartPool(o, "nosync", "noop", o.noop_slots, /*durable=*/false);
    Client c(p, "recomp.run.completed");
    WaitWorkers(p, c);
    WarmUp(p, c, "nosync");
    lat_nosync = OneAtATime(c, PrepareRuns(p, "nlat", o.lat_runs, 1));
    std::printf("non-durable latency done (%.1f s)\n", Since(bench_t0));
    std::fflush(stdout);
    StopPool(o, p);
  }

  // --- real processes: /bin/true ------------------------------------------------------------
  Throughput proc;  // the best trial
  std::vector<double> proc_rates;
  Latency proc_lat;
  {
    Pool p = StartPool(o, "proc", "process", o.slots);
    Client c(p, "recomp.run.completed");
    WaitWorkers(p, c);
    WarmUp(p, c, "proc");
    auto lsubs = PrepareRuns(p, "plat", o.quick ? 20 : 100, 1);
    proc_lat = OneAtATime(c, lsubs);
    size_t runs = (o.proc_jobs + o.proc_shards - 1) / o.proc_shards;
    for (int tr = 0; tr < o.trials; ++tr) {
      auto subs = PrepareRuns(p, "proc" + std::to_string(tr), runs, o.proc_shards);
      Throughput t = DriveRuns(p, c, subs, o.proc_shards, 4, 90);
      proc_rates.push_back(t.rate());
      if (tr == 0 || t.rate() > proc.rate()) proc = t;
    }
    std::printf("process phase done (%.1f s)\n", Since(bench_t0));
    std::fflush(stdout);
    StopPool(o, p);
  }

  // --- report -------------------------------------------------------------------------------
  auto best = [](const std::vector<double>& v) {
    return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end());
  };
  std::printf(
      "\n== pool_bench (2 workers, tcp loopback; best of repeats, spread in brackets) ==\n");
  std::printf("%-52s %s\n", "raw ZeroMQ DEALER/ROUTER echo, 1 in flight",
              (BestSpread(echo_serial) + " round trips/s").c_str());
  std::printf("%-52s %s\n", "raw ZeroMQ echo round trip p50",
              (BestSpread(echo_p50, "%.1f", true) + " us").c_str());
  std::printf("%-52s %s\n", "raw ZeroMQ echo, 1000 in flight",
              (BestSpread(echo_pipe) + " msgs/s").c_str());
  std::printf("%-52s %s\n", "raw posix_spawn+waitpid /bin/true, 1 loop",
              (BestSpread(spawn1) + " spawns/s").c_str());
  std::printf("%-52s %s\n", "raw posix_spawn+waitpid /bin/true, 2 loops",
              (BestSpread(spawn2) + " spawns/s").c_str());
  std::printf("%-52s %s  [target >= 20000]\n", "control plane (noop), 1024-shard runs",
              (BestSpread(cp_rates) + " jobs/s").c_str());
  std::printf("%-52s %.0f jobs/s over %zu jobs in %.1f s%s\n", "control plane soak", soak.rate(),
              soak.jobs, soak.seconds, soak.capped ? " (CAPPED before the end)" : "");
  std::printf("%-52s p50 %.2f ms  p90 %.2f  p99 %.2f  max %.2f  (n=%d)  [target p50 <= 1 ms]\n",
              "1-job run latency: submit -> run.completed", lat.total.Pct(50), lat.total.Pct(90),
              lat.total.Pct(99), lat.total.Pct(100), lat.n);
  std::printf("%-52s p50 %.2f ms  p90 %.2f  p99 %.2f\n", "  of which submit -> OK (accept durable)",
              lat.ack.Pct(50), lat.ack.Pct(90), lat.ack.Pct(99));
  std::printf("%-52s p50 %.2f ms  p90 %.2f  p99 %.2f\n",
              "  of which OK -> run.completed (completion durable)", lat.rest.Pct(50),
              lat.rest.Pct(90), lat.rest.Pct(99));
  std::printf("%-52s p50 %.2f ms  p90 %.2f  p99 %.2f  max %.2f  (n=%d)  [target p50 <= 1 ms]\n",
              "  the same with [coordinator] durable = false", lat_nosync.total.Pct(50),
              lat_nosync.total.Pct(90), lat_nosync.total.Pct(99), lat_nosync.total.Pct(100),
              lat_nosync.n);
  std::printf("%-52s p50 %.2f ms  p90 %.2f  p99 %.2f\n", "    of which submit -> OK",
              lat_nosync.ack.Pct(50), lat_nosync.ack.Pct(90), lat_nosync.ack.Pct(99));
  std::printf("%-52s p50 %.2f ms  p90 %.2f  p99 %.2f\n", "    of which OK -> run.completed",
              lat_nosync.rest.Pct(50), lat_nosync.rest.Pct(90), lat_nosync.rest.Pct(99));
  auto median = [](std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf(
      "%-52s %s (slots %u x 2, %zu jobs per trial)  best = %.0f%% of the best raw 2 loops (equal "
      "parallelism: 2 workers), median = %.0f%% of their median [target >= 70%%]; %.0f%% of the "
      "best raw 1 loop\n",
      "real processes (/bin/true)", (BestSpread(proc_rates) + " jobs/s").c_str(), o.slots,
      proc.jobs, 100 * best(proc_rates) / std::max(1.0, best(spawn2)),
      100 * median(proc_rates) / std::max(1.0, median(spawn2)),
      100 * best(proc_rates) / std::max(1.0, best(spawn1)));
  std::printf("%-52s p50 %.2f ms  p90 %.2f  p99 %.2f\n",
              "1-job /bin/true run latency: submit -> completed", proc_lat.total.Pct(50),
              proc_lat.total.Pct(90), proc_lat.total.Pct(99));
  std::printf("coordinator memory during the soak (kB from /proc/PID/status and smaps_rollup):\n");
  std::printf("  %-14s %10s %10s %10s %10s %14s\n", "point", "VmRSS", "RssAnon", "RssFile", "VmHWM",
              "Private_Dirty");
  auto row = [](const std::string& what, const Mem& m) {
    std::printf("  %-14s %10ld %10ld %10ld %10ld %14ld\n", what.c_str(), m.rss, m.rss_anon,
                m.rss_file, m.hwm, m.private_dirty);
  };
  row("before", mem_before);
  for (const auto& [pct, m] : soak.mem) row(std::to_string(pct) + "% jobs", m);
  row("idle after", mem_after);
  if (cp_failed || proc.failed_runs)
    std::printf("WARNING: %zu control-plane and %zu process runs did not succeed\n", cp_failed,
                proc.failed_runs);
  std::printf("total bench time %.1f s\n", Since(bench_t0));
  return 0;
}
