// CoordinatorService: the coordinator's one service thread. It owns the client API ROUTER,
// the events PUB, the replay ROUTER and the DEALER of the coordinator link to the broker, and
// drives the RunEngine. Each loop turn drains a bounded number of messages, sends the jobs the
// batch dispatched, persists the batch's effects in one LMDB transaction (group commit), and
// only then publishes events, revokes jobs and answers clients. A commit that fails pauses
// the service (it refuses changes and retries the batch every second) instead of stopping it
// (docs/coordinator-storage.md). Wire protocol: docs/protocol.md; events: docs/events.md.
// Thread-safety: Run() on one thread; RequestStop() from any thread or a signal handler.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "base/status.h"
#include "coordinator/retention.h"
#include "coordinator/run_engine.h"
#include "coordinator/run_store.h"
#include "messages/access.h"
#include "store/artifact_store.h"

namespace recomp::coordinator {

struct ServiceOptions {
  std::string api_endpoint = "tcp://127.0.0.1:7420";
  std::string events_endpoint = "tcp://127.0.0.1:7422";
  std::string replay_endpoint = "tcp://127.0.0.1:7423";
  std::string link_endpoint = "inproc://recomp-link";  // the broker's coordinator-link ROUTER
  // Told to clients by ENDPOINTS beside the service's own (as bound elsewhere; may be "").
  std::string workers_endpoint;
  std::string blobs_endpoint;
  std::string state_dir;    // LMDB directory of the run store
  int events_hwm = 100000;  // PUB high-water mark; a slower subscriber recovers by replay
  size_t max_replay_batch = 1000;
  // How often the jobs in flight are checked against the broker (RECONCILE), so a DISPATCH or
  // a RESULT lost on the way is offered again instead of waiting for a restart.
  int64_t reconcile_interval_ms = 10000;
  // false: run-store commits are not fsynced (MDB_NOSYNC). Survives a killed coordinator (the
  // OS keeps the pages), not an OS crash or power loss. For benches and throwaway CI pools.
  bool durable = true;
  // CURVE (docs/security.md): with `access` set (it must outlive the service), the api, events
  // and replay endpoints are CURVE servers with secret key `curve_secret`; every request is
  // checked against the key it came with; the service re-reads the allowlist every second and
  // re-opens the events endpoint when keys were removed, so their subscribers are dropped.
  std::string curve_secret;
  AccessControl* access = nullptr;
  bool cancel_own_runs_only = false;  // [security] cancel = "own"
  EngineOptions engine;
  RetentionOptions retention;  // of the run store's state (docs/coordinator-storage.md)
};

class CoordinatorService {
 public:
  // Opens the run store and binds the sockets (resolving tcp port 0). Fails naming the
  // endpoint that could not be bound.
  static Result<std::unique_ptr<CoordinatorService>> Create(zmq::context_t& ctx,
                                                            ServiceOptions opts,
                                                            store::ArtifactStore* store);
  ~CoordinatorService();
  // Resumes non-terminal runs, then serves until RequestStop().
  Status Run();
  void RequestStop() { stop_.store(true); }

  // Endpoints as bound (tcp port 0 resolved).
  const std::string& api_endpoint() const { return api_ep_; }
  const std::string& events_endpoint() const { return events_ep_; }
  const std::string& replay_endpoint() const { return replay_ep_; }

 private:
  CoordinatorService() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> stop_{false};
  std::string api_ep_, events_ep_, replay_ep_;
};

}  // namespace recomp::coordinator
