// `recomp worker`: runs one stateless worker agent that connects to a broker's workers endpoint
// and executes stage jobs until SIGINT/SIGTERM (see docs/protocol.md). Exit codes: 0 stopped by
// a signal, 1 runtime failure (store unavailable, ZeroMQ error), 2 usage.
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "base/metrics.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/security.h"
#include "store/artifact_store.h"
#include "worker/blob_cache.h"
#include "worker/local_store_blobs.h"
#include "worker/remote_blobs.h"
#include "worker/worker_agent.h"

namespace recomp::cli {
namespace {

std::atomic<worker::WorkerAgent*> g_agent{nullptr};

void OnWorkerStopSignal(int) {
  // WorkerAgent::Stop is async-signal-safe (an atomic store and a write to an eventfd).
  if (worker::WorkerAgent* a = g_agent.load()) a->Stop();
}

struct WorkerArgs {
  std::string config;
  std::string connect;
  uint32_t slots = 1;
  std::string store_dir;
  std::string data_dir;
  std::string work_dir;
  uint32_t heartbeat_ms = 1000;
  uint32_t liveness = 3;
  uint32_t reconnect_ms = 1000;
  std::string executor = "process";
  std::string id;
  std::string blobs;
  std::vector<std::string> labels;
  std::string cache_dir;
  uint64_t cache_max_bytes = uint64_t{10} << 30;
  uint64_t cache_max_files = 100000;
  std::string key, server_key;
  std::string confine = "auto";
  std::string job_user = "65534:65534";
  bool no_cgroups = false;
  std::string metrics;  // HOST:PORT of its Prometheus endpoint; "" = none
};

// The confinement this worker gives its jobs ([worker] confine; docs/worker-sandbox.md).
worker::ConfinementOptions Confinement(const WorkerArgs& a, const std::string& home,
                                       const std::string& work_root) {
  worker::ConfinementRequest r;
  r.mode = a.confine == "none"         ? worker::ConfinementRequest::Mode::kNone
           : a.confine == "bubblewrap" ? worker::ConfinementRequest::Mode::kBubblewrap
                                       : worker::ConfinementRequest::Mode::kAuto;
  unsigned uid = 0, gid = 0;
  if (std::sscanf(a.job_user.c_str(), "%u:%u", &uid, &gid) != 2 || uid == 0 || gid == 0) {
    std::fprintf(stderr, "error: --job-user %s: expected UID:GID, not root\n", a.job_user.c_str());
    throw CLI::RuntimeError(2);
  }
  r.uid = uid;
  r.gid = gid;
  r.cgroups = !a.no_cgroups;
  for (const std::string& dir : {home, work_root, a.store_dir, a.cache_dir}) {
    if (!dir.empty()) r.hidden.push_back(std::filesystem::absolute(dir).lexically_normal());
  }
  std::vector<std::string> notes;
  auto c = worker::DecideConfinement(r, &notes);
  if (!c.ok()) {
    std::fprintf(stderr, "error: %s\n", c.status().ToString().c_str());
    throw CLI::RuntimeError(1);
  }
  for (const std::string& n : notes) std::fprintf(stderr, "recomp worker: %s\n", n.c_str());
  return *c;
}

// Where a worker's inputs and outputs go: the store directory (a worker on the coordinator's
// machine), or the coordinator's blob service through a local cache (any other machine).
struct Blobs {
  std::unique_ptr<store::ArtifactStore> store;
  std::unique_ptr<worker::LocalStoreBlobs> local;
  std::unique_ptr<worker::BlobCache> cache;
  std::unique_ptr<worker::RemoteBlobs> remote;
  worker::BlobSource* source() const {
    return local ? static_cast<worker::BlobSource*>(local.get()) : remote.get();
  }
  worker::BlobSink* sink() const {
    return local ? static_cast<worker::BlobSink*>(local.get()) : remote.get();
  }
};

// --store, or a store already under --data: local. Otherwise remote (--blobs, or the endpoint
// the broker names in WELCOME).
Status OpenBlobs(const WorkerArgs& a, const std::string& home, zmq::context_t& ctx,
                 const std::string& worker_id, const net::CurveClient& curve, Blobs* out) {
  std::string store_dir = a.store_dir.empty() ? home + "/store" : a.store_dir;
  struct stat st;
  bool local = !a.store_dir.empty() ||
               (a.blobs.empty() && ::stat((store_dir + "/FORMAT").c_str(), &st) == 0);
  if (local) {
    auto opened = store::ArtifactStore::Open(store_dir);
    RECOMP_RETURN_IF_ERROR(opened.status().WithContext("opening store '" + store_dir + "'"));
    out->store = std::move(opened).value();
    out->local = std::make_unique<worker::LocalStoreBlobs>(*out->store);
    std::fprintf(stderr, "recomp worker: using the store at %s\n", store_dir.c_str());
    return Status::Ok();
  }
  worker::BlobCacheOptions co;
  co.dir = a.cache_dir.empty() ? home + "/cache" : a.cache_dir;
  co.max_bytes = a.cache_max_bytes;
  co.max_files = a.cache_max_files;
  RECOMP_ASSIGN_OR_RETURN(out->cache, worker::BlobCache::Open(co));
  transfer::BlobClientOptions bo;
  bo.endpoint = a.blobs;
  bo.worker = worker_id;
  bo.curve = curve;
  out->remote = std::make_unique<worker::RemoteBlobs>(ctx, bo, *out->cache);
  std::fprintf(stderr, "recomp worker: no local store: blobs through %s, cache %s\n",
               a.blobs.empty() ? "the endpoint the broker names" : a.blobs.c_str(), co.dir.c_str());
  return Status::Ok();
}

// Fills the settings not given as flags from the config file's [worker] section (the flags
// win). Usage errors exit 2 naming the key.
void ApplyConfig(const CLI::App& w, WorkerArgs* a) {
  auto cfg = Config::Load(a->config);
  ExitIfError(cfg.status());
  auto given = [&](const char* flag) { return w.count(flag) != 0; };
  auto num = [&](const char* flag, const char* key, uint32_t* v, int64_t lo, int64_t hi) {
    if (given(flag)) return;
    int64_t x = cfg->Int(key, *v);
    if (x < lo || x > hi) {
      std::fprintf(stderr, "error: config '%s': %s must be in %lld..%lld\n", cfg->path().c_str(),
                   key, static_cast<long long>(lo), static_cast<long long>(hi));
      throw CLI::RuntimeError(2);
    }
    *v = static_cast<uint32_t>(x);
  };
  num("--slots", "worker.slots", &a->slots, 1, 1024);
  num("--heartbeat-ms", "worker.heartbeat_ms", &a->heartbeat_ms, 10, 60000);
  num("--liveness", "worker.liveness", &a->liveness, 2, 100);
  num("--reconnect-ms", "worker.reconnect_min_ms", &a->reconnect_ms, 1, 32000);
  auto str = [&](const char* flag, const char* key, std::string* v) {
    if (!given(flag)) *v = cfg->Str(key, *v);
  };
  str("--connect", "worker.connect", &a->connect);
  str("--work-dir", "worker.work_dir", &a->work_dir);
  str("--executor", "worker.executor", &a->executor);
  str("--confine", "worker.confine", &a->confine);
  str("--job-user", "worker.job_user", &a->job_user);
  str("--metrics", "worker.metrics", &a->metrics);
  if (!given("--no-cgroups")) a->no_cgroups = !cfg->Bool("worker.cgroups", true);
  if (a->connect.empty()) {
    std::fprintf(stderr,
                 "error: recomp worker needs --connect (or [worker] connect): the "
                 "broker's workers endpoint, e.g. tcp://HOST:7421\n");
    throw CLI::RuntimeError(2);
  }
  // The flags' own checks do not see config values: the same sets here (a mistyped confine
  // must not quietly mean `auto`).
  if (a->executor != "process" && a->executor != "noop") {
    std::fprintf(stderr, "error: [worker] executor must be process or noop, not '%s'\n",
                 a->executor.c_str());
    throw CLI::RuntimeError(2);
  }
  if (a->confine != "auto" && a->confine != "bubblewrap" && a->confine != "none") {
    std::fprintf(stderr, "error: [worker] confine must be auto, bubblewrap or none, not '%s'\n",
                 a->confine.c_str());
    throw CLI::RuntimeError(2);
  }
}

void RunWorker(const WorkerArgs& a) {
  const std::string home = a.data_dir.empty() ? DefaultHome() : a.data_dir;
  worker::WorkerAgentOptions o;
  o.connect = a.connect;
  o.worker_id = a.id;
  o.slots = a.slots;
  o.heartbeat_ms = a.heartbeat_ms;
  o.liveness = a.liveness;
  o.reconnect_initial_ms = a.reconnect_ms;
  o.reconnect_max_ms = std::max<uint32_t>(32000, a.reconnect_ms);
  o.executor = a.executor == "noop" ? worker::Executor::kNoop : worker::Executor::kProcess;
  o.work_root = a.work_dir.empty() ? home + "/work" : a.work_dir;
  if (o.executor == worker::Executor::kProcess) {
    o.confinement = Confinement(a, home, o.work_root);
  }
  for (const std::string& kv : a.labels) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "error: --label %s: expected key=value\n", kv.c_str());
      throw CLI::RuntimeError(2);
    }
    o.labels[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  std::string key_name;
  auto curve = ClientCurve(a.server_key, a.key, KeyPath(home, kLocalWorkerKeyName), &key_name);
  if (!curve.ok()) {
    std::fprintf(stderr, "error: %s\n", curve.status().ToString().c_str());
    throw CLI::RuntimeError(2);
  }
  o.curve = *curve;
  // With a key the id must be the key's name or start with "<name>:" (docs/security.md).
  if (o.worker_id.empty()) {
    o.worker_id = (key_name.empty() ? "" : key_name + ":") + worker::DefaultWorkerId();
  }

  zmq::context_t ctx;
  Blobs blobs;
  if (o.executor == worker::Executor::kProcess) {
    ExitIfError(OpenBlobs(a, home, ctx, o.worker_id, o.curve, &blobs));
    if (blobs.remote && a.blobs.empty()) {
      worker::RemoteBlobs* remote = blobs.remote.get();
      o.on_blob_endpoint = [remote](const std::string& ep) { remote->SetEndpoint(ep); };
    }
  }
  auto agent = worker::WorkerAgent::Create(ctx, o, blobs.source(), blobs.sink());
  if (!agent.ok()) {
    std::fprintf(stderr, "error: %s\n", agent.status().ToString().c_str());
    throw CLI::RuntimeError(2);
  }
  std::unique_ptr<metrics::Endpoint> metrics_ep;
  if (!a.metrics.empty()) {
    auto ep = metrics::Endpoint::Start(a.metrics);
    ExitIfError(ep.status());
    metrics_ep = std::move(ep).value();
    std::fprintf(stderr, "recomp worker: metrics at %s\n", metrics_ep->url().c_str());
  }
  const worker::WorkerAgentStats& st = (*agent)->stats();
  auto read = [](const std::atomic<uint64_t>& v) {
    return [&v] { return static_cast<double>(v.load()); };
  };
  metrics::Callback m_started("recomp_worker_jobs_started_total", "Jobs this worker started.",
                              metrics::Kind::kCounter, read(st.jobs_started));
  metrics::Callback m_results("recomp_worker_results_sent_total",
                              "Results this worker reported to the broker.",
                              metrics::Kind::kCounter, read(st.results_sent));
  metrics::Callback m_running("recomp_worker_jobs_running", "Jobs this worker holds now.",
                              metrics::Kind::kGauge, read(st.jobs_running));
  metrics::Callback m_slots("recomp_worker_slots", "This worker's job slots.",
                            metrics::Kind::kGauge, [n = o.slots] { return double(n); });
  metrics::Callback m_lost("recomp_worker_broker_lost_total",
                           "Times this worker lost the broker (silence or DISCONNECT).",
                           metrics::Kind::kCounter, read(st.broker_lost));
  metrics::Callback m_reg("recomp_worker_registrations_total", "READYs this worker sent.",
                          metrics::Kind::kCounter, read(st.registrations));
  g_agent.store(agent->get());
  struct sigaction sa = {};
  sa.sa_handler = OnWorkerStopSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  std::fprintf(stderr, "recomp worker %s: connecting to %s (%u slots, %s executor)\n",
               (*agent)->worker_id().c_str(), o.connect.c_str(), o.slots, a.executor.c_str());
  Status s = (*agent)->Run();
  g_agent.store(nullptr);
  ExitIfError(s);
}

}  // namespace

void AddWorkerCommands(CLI::App& app) {
  auto a = std::make_shared<WorkerArgs>();
  CLI::App* w =
      app.add_subcommand("worker", "run a worker agent that executes stage jobs for a broker");
  w->add_option("--config", a->config,
                "config file: its [worker] section fills what no flag gives (default "
                "$RECOMP_CONFIG, then $XDG_CONFIG_HOME/recomp/recomp.toml, "
                "/etc/recomp/recomp.toml)");
  w->add_option("--connect", a->connect,
                "the broker's workers endpoint, e.g. tcp://127.0.0.1:7421 (default [worker] "
                "connect)");
  w->add_option("--slots", a->slots, "jobs run at once (credits granted to the broker)")
      ->check(CLI::Range(1, 1024));
  auto* store_opt =
      w->add_option("--store", a->store_dir, "artifact store directory (default <data>/store)");
  auto* data_opt =
      w->add_option("--data", a->data_dir,
                    "recomp home: store/ and work/ below it (default $RECOMP_HOME or ./.recomp)");
  store_opt->excludes(data_opt);
  w->add_option("--work-dir", a->work_dir, "where job sandboxes are created (default <data>/work)");
  w->add_option("--heartbeat-ms", a->heartbeat_ms, "heartbeat interval sent in READY")
      ->check(CLI::Range(10, 60000));
  w->add_option("--liveness", a->liveness, "missed heartbeats before the broker is declared dead")
      ->check(CLI::Range(2, 100));
  w->add_option("--reconnect-ms", a->reconnect_ms,
                "first reconnect delay (doubles to 32 s, plus jitter)")
      ->check(CLI::Range(1, 32000));
  w->add_option("--executor", a->executor, "process (run jobs) or noop (report success at once)")
      ->check(CLI::IsMember({"process", "noop"}));
  w->add_option("--id", a->id, "worker id (default <host>:<pid>:<random>)");
  w->add_option("--label", a->labels,
                "key=value a stage may require (repeatable; os, arch and pool=default are set "
                "unless given)");
  auto* blobs_opt = w->add_option(
      "--blobs", a->blobs,
      "the coordinator's blob service (default: the one the broker names); implies no local "
      "store");
  blobs_opt->excludes(store_opt);
  w->add_option("--key", a->key,
                "CURVE key file (NAME.key) to register with (default <data>/keys/"
                "local-worker.key when --server-key is given)");
  w->add_option("--server-key", a->server_key,
                "the pool's CURVE public key (40 Z85 characters or its .pub file): CURVE on");
  w->add_option("--metrics", a->metrics,
                "HOST:PORT to serve this worker's Prometheus metrics at /metrics (port 0 = any; "
                "default: none)");
  w->add_option("--confine", a->confine,
                "auto (bubblewrap where it works), bubblewrap (required) or none; as root, "
                "jobs run as --job-user unless none")
      ->check(CLI::IsMember({"auto", "bubblewrap", "none"}));
  w->add_option("--job-user", a->job_user, "UID:GID jobs run as when the worker is root");
  w->add_flag("--no-cgroups", a->no_cgroups, "do not put each job in its own cgroup (v2)");
  w->add_option("--cache-dir", a->cache_dir,
                "blob cache of a worker without a store (default <data>/cache; emptied at start)");
  w->add_option("--cache-max-bytes", a->cache_max_bytes, "blob cache byte cap (default 10 GiB)");
  w->add_option("--cache-max-files", a->cache_max_files, "blob cache file cap (default 100000)");
  w->callback([a, w] {
    ApplyConfig(*w, a.get());
    RunWorker(*a);
  });
}

}  // namespace recomp::cli
