// `recomp coordinator`: the coordinator process: the broker on a thread, the coordinator
// service on the main thread, the artifact store and run store under the data directory.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "base/dir_lock.h"
#include "base/memory.h"
#include "base/metrics.h"
#include "base/posix_file.h"
#include "broker/broker.h"
#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/security.h"
#include "coordinator/blob_service.h"
#include "coordinator/coordinator_service.h"
#include "net/socket.h"
#include "store/artifact_store.h"

namespace recomp::cli {
namespace {

std::atomic<coordinator::CoordinatorService*> g_service{nullptr};

extern "C" void OnCoordinatorStopSignal(int) {
  if (auto* s = g_service.load()) s->RequestStop();  // an atomic store: async-signal-safe
}

struct CoordinatorArgs {
  std::string data, config, api, events, replay, workers, blobs, store;
  std::optional<std::string> metrics;
  bool insecure = false;
  bool curve = false;
};

// Without CURVE anyone who reaches an endpoint may use it: only loopback, unless --insecure.
Status CheckExposure(const std::vector<std::pair<std::string, std::string>>& endpoints, bool curve,
                     bool insecure) {
  for (const auto& [what, ep] : endpoints) {
    if (curve || net::IsLoopbackEndpoint(ep)) continue;
    if (insecure) {
      spdlog::warn(
          "{} endpoint {} is reachable from other machines WITHOUT authentication "
          "(--insecure)",
          what, ep);
      continue;
    }
    return Status::FailedPrecondition(
        what + " endpoint " + ep +
        " is not loopback: without CURVE anyone who can reach it could submit runs, run jobs "
        "as a worker and read or write every generated artifact, unauthenticated and "
        "unencrypted. Pass --curve (keys and an allowlist: docs/security.md), or --insecure to "
        "accept that (only on a network you trust)");
  }
  return Status::Ok();
}

coordinator::ServiceOptions ServiceOptionsFrom(const Config& c, const CoordinatorArgs& a,
                                               const std::string& data) {
  coordinator::ServiceOptions o;
  o.api_endpoint = a.api.empty() ? c.Str("coordinator.api", o.api_endpoint) : a.api;
  o.events_endpoint = a.events.empty() ? c.Str("coordinator.events", o.events_endpoint) : a.events;
  o.replay_endpoint = a.replay.empty() ? c.Str("coordinator.replay", o.replay_endpoint) : a.replay;
  o.state_dir = data + "/coordinator";
  o.events_hwm = static_cast<int>(c.Int("coordinator.events_hwm", o.events_hwm));
  o.durable = c.Bool("coordinator.durable", true);
  auto& e = o.engine;
  e.max_inflight = static_cast<uint32_t>(c.Int("coordinator.max_inflight", e.max_inflight));
  e.lost_cap = static_cast<uint32_t>(c.Int("coordinator.lost_cap", e.lost_cap));
  e.retry_initial_ms = c.Int("coordinator.retry_initial_ms", e.retry_initial_ms);
  e.retry_coefficient = c.Double("coordinator.retry_coefficient", e.retry_coefficient);
  e.retry_max_ms = c.Int("coordinator.retry_max_ms", e.retry_max_ms);
  e.cloud_gate_open = c.Bool("coordinator.cloud_gate", false);
  e.job_started_events = c.Bool("coordinator.job_started_events", true);
  auto& r = o.retention;  // the windows: RunCoordinator (checked); the pass's pace here
  r.interval_ms = c.Int("coordinator.retention_interval_ms", r.interval_ms);
  r.grace = std::chrono::milliseconds(c.Int("coordinator.retention_grace_ms", r.grace.count()));
  return o;
}

coordinator::BlobServiceOptions BlobOptionsFrom(const Config& c, const CoordinatorArgs& a) {
  coordinator::BlobServiceOptions o;
  o.endpoint = a.blobs.empty() ? c.Str("coordinator.blobs", o.endpoint) : a.blobs;
  o.uploads.max_staging_bytes = static_cast<uint64_t>(
      c.Int("blobs.staging_bytes", static_cast<int64_t>(o.uploads.max_staging_bytes)));
  o.uploads.idle_timeout = std::chrono::seconds(c.Int("blobs.upload_idle_s", 60));
  // Test hook (tests/python): corrupt every n-th blob payload in transit.
  if (const char* flip = std::getenv("RECOMP_TEST_FLIP_BLOB_BYTE")) {
    o.flip_byte_every = static_cast<uint32_t>(std::strtoul(flip, nullptr, 10));
  }
  return o;
}

broker::BrokerOptions BrokerOptionsFrom(const Config& c, const CoordinatorArgs& a) {
  broker::BrokerOptions o;
  o.workers_endpoint = a.workers.empty() ? c.Str("broker.workers", o.workers_endpoint) : a.workers;
  o.link_endpoint = c.Str("broker.link", o.link_endpoint);
  o.report_starts = c.Bool("coordinator.job_started_events", true);
  o.heartbeat_ms = static_cast<uint32_t>(c.Int("broker.heartbeat_ms", o.heartbeat_ms));
  o.max_queue = static_cast<size_t>(c.Int("broker.max_queue", static_cast<int64_t>(o.max_queue)));
  o.max_heartbeats_per_s = static_cast<uint32_t>(
      std::max<int64_t>(1, c.Int("broker.max_heartbeats_per_s", o.max_heartbeats_per_s)));
  o.no_worker_timeout_s =
      static_cast<uint32_t>(c.Int("broker.no_worker_timeout_s", o.no_worker_timeout_s));
  return o;
}

Status RunCoordinator(const CoordinatorArgs& a) {
  // Peers may make libzmq buffer large frames (docs/protocol.md, "Bounds"): give them back.
  ReturnLargeAllocationsPromptly();
  // One descriptor per worker and client connection: take what the hard limit allows.
  if (auto fds = RaiseOpenFileLimit(); !fds.ok()) {
    spdlog::warn("cannot raise the open-file limit: {}", fds.status().ToString());
  }
  RECOMP_ASSIGN_OR_RETURN(Config cfg, Config::Load(a.config));
  std::string data = DataDir(a.data);
  RECOMP_RETURN_IF_ERROR(PrepareDataDir(data));
  // One coordinator per data directory, for its whole life: it alone writes the run store,
  // the store and endpoints.json (so it alone removes endpoints.json).
  RECOMP_ASSIGN_OR_RETURN(DirLock lock, DirLock::Acquire(data));
  std::error_code ec;
  RECOMP_ASSIGN_OR_RETURN(auto store,
                          store::ArtifactStore::Open(a.store.empty() ? data + "/store" : a.store));
  coordinator::ServiceOptions so = ServiceOptionsFrom(cfg, a, data);
  // The store gc's windows, applied to the coordinator's own state (checked: a negative one
  // would remove every run at once).
  RECOMP_ASSIGN_OR_RETURN(RetentionDays days, RetentionFrom(cfg));
  so.retention.failed = days.failed;
  so.retention.succeeded = days.succeeded;
  RECOMP_ASSIGN_OR_RETURN(coordinator::ProvenanceSigner signer, LoadProvenanceSigner(data));
  so.engine.provenance = &signer;
  broker::BrokerOptions bo = BrokerOptionsFrom(cfg, a);
  coordinator::BlobServiceOptions blob_opt = BlobOptionsFrom(cfg, a);
  zmq::context_t ctx(2);
  // Before any CURVE socket binds: the ZAP handler must be there for the first handshake.
  RECOMP_ASSIGN_OR_RETURN(CoordinatorSecurity sec,
                          StartCoordinatorSecurity(ctx, data, cfg, a.curve));
  RECOMP_RETURN_IF_ERROR(CheckExposure({{"api", so.api_endpoint},
                                        {"events", so.events_endpoint},
                                        {"replay", so.replay_endpoint},
                                        {"workers", bo.workers_endpoint},
                                        {"blobs", blob_opt.endpoint}},
                                       sec.curve(), a.insecure));
  if (sec.curve()) {
    so.curve_secret = bo.curve_secret = blob_opt.curve_secret = sec.server.secret_key;
    so.access = sec.access.get();
    bo.access = blob_opt.access = sec.access.get();
    so.cancel_own_runs_only = sec.cancel == CancelPolicy::kOwnRuns;
  }
  RECOMP_ASSIGN_OR_RETURN(auto brk, broker::Broker::Create(ctx, bo));
  const broker::InputGrants& grants = brk->grants();
  blob_opt.may_read_external = [&grants](const std::string& worker, const Digest& d) {
    return grants.Holds(worker, d);
  };
  RECOMP_ASSIGN_OR_RETURN(auto blobs, coordinator::BlobService::Create(ctx, blob_opt, store.get()));
  brk->SetBlobsEndpoint(blobs->endpoint());
  RECOMP_RETURN_IF_ERROR(brk->Bind());
  so.link_endpoint = brk->link_endpoint();
  so.workers_endpoint = brk->workers_endpoint();
  so.blobs_endpoint = blobs->endpoint();
  RECOMP_ASSIGN_OR_RETURN(auto svc, coordinator::CoordinatorService::Create(ctx, so, store.get()));
  std::unique_ptr<metrics::Endpoint> metrics_ep;
  const std::string maddr =
      a.metrics ? *a.metrics : cfg.Str("coordinator.metrics", "127.0.0.1:7425");
  if (!maddr.empty()) {
    RECOMP_ASSIGN_OR_RETURN(metrics_ep, metrics::Endpoint::Start(maddr));
  }
  const coordinator::BlobServiceStats& bstats = blobs->stats();
  metrics::Callback bytes_in(
      "recomp_blob_bytes_received_total",
      "Blob bytes uploaded to the blob service (PUT and CHUNK).", metrics::Kind::kCounter,
      [&bstats] { return static_cast<double>(bstats.bytes_received.load()); });
  metrics::Callback bytes_out(
      "recomp_blob_bytes_sent_total", "Blob bytes served by the blob service (GET and DATA).",
      metrics::Kind::kCounter, [&bstats] { return static_cast<double>(bstats.bytes_sent.load()); });
  Status broker_status, blob_status;
  std::thread broker_thread([&] { broker_status = brk->Run(); });
  std::thread blob_thread([&] { blob_status = blobs->Run(); });
  Endpoints ep{svc->api_endpoint(),
               svc->events_endpoint(),
               svc->replay_endpoint(),
               brk->workers_endpoint(),
               blobs->endpoint(),
               sec.server.public_key,
               metrics_ep ? metrics_ep->url() : ""};
  Status st = WriteEndpoints(data, ep);
  if (st.ok()) {
    std::printf("coordinator api=%s events=%s replay=%s workers=%s blobs=%s\n", ep.api.c_str(),
                ep.events.c_str(), ep.replay.c_str(), ep.workers.c_str(), ep.blobs.c_str());
    std::fflush(stdout);
    g_service.store(svc.get());
    std::signal(SIGINT, OnCoordinatorStopSignal);
    std::signal(SIGTERM, OnCoordinatorStopSignal);
    st = svc->Run();
    g_service.store(nullptr);
    std::filesystem::remove(data + "/endpoints.json", ec);
  }
  brk->Stop();
  blobs->Stop();
  broker_thread.join();
  blob_thread.join();
  if (!broker_status.ok()) spdlog::error("broker stopped: {}", broker_status.ToString());
  if (!blob_status.ok()) spdlog::error("blob service stopped: {}", blob_status.ToString());
  return st;
}

}  // namespace

void AddCoordinatorCommands(CLI::App& app) {
  auto a = std::make_shared<CoordinatorArgs>();
  CLI::App* c =
      app.add_subcommand("coordinator", "run the coordinator (with the broker as a thread)");
  c->add_option("--data", a->data, "data directory (default $RECOMP_HOME, else ./.recomp)");
  c->add_option("--config", a->config,
                "config file (default $RECOMP_CONFIG, then $XDG_CONFIG_HOME/recomp/recomp.toml, "
                "/etc/recomp/recomp.toml; keys: config/recomp.toml)");
  c->add_option("--api", a->api, "client API endpoint to bind");
  c->add_option("--events", a->events, "events PUB endpoint to bind");
  c->add_option("--replay", a->replay, "replay endpoint to bind");
  c->add_option("--workers-endpoint", a->workers, "endpoint workers connect to");
  c->add_option("--blobs", a->blobs,
                "blob service endpoint to bind (workers and clients on "
                "other machines fetch and upload blobs there)");
  c->add_option("--store", a->store, "artifact store directory (default <data>/store)");
  c->add_option("--metrics", a->metrics,
                "HOST:PORT to serve Prometheus metrics at /metrics (\"\" = off; default "
                "[coordinator] metrics, 127.0.0.1:7425)");
  c->add_flag("--insecure", a->insecure,
              "allow binding endpoints to non-loopback addresses without authentication");
  c->add_flag("--curve", a->curve,
              "CURVE on every endpoint: keys in <data>/keys, clients and workers admitted by "
              "[security] allowlist (default [security] curve = false)");
  c->callback([a] { ExitIfError(RunCoordinator(*a)); });
}

}  // namespace recomp::cli
