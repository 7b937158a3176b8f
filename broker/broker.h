// Broker: the job broker that runs as a thread inside the coordinator process. It owns two
// ROUTER sockets, served by one zmq_poll loop on the thread that calls Run():
//   workers:          worker agents' DEALERs connect (READY / HEARTBEAT / RESULT / DISCONNECT
//                     in, JOB / CANCEL_JOB / HEARTBEAT / DISCONNECT out);
//   coordinator link: the coordinator's DEALER connects (DISPATCH / REVOKE / HEARTBEAT in,
//                     RESULT / REJECTED / WORKER_LIST / ERROR out).
// Credit-based assignment (a worker holds at most `slots` jobs), priority queue, heartbeats and
// liveness both ways (MDP / Paranoid Pirate), leases fenced by (job_id, attempt), and
// worker-lost results. The wire contract is docs/protocol.md.
//
// Threading: Create and Bind on any thread, then call Run() on exactly one thread; from then
// on the sockets belong to that thread. Stop() is thread-safe and may be called from any
// thread at any time, even before Run(). The endpoint accessors are safe to call from any
// thread after Bind() returned.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "base/limits.h"
#include "base/status.h"
#include "broker/input_grants.h"
#include "broker/job_queue.h"
#include "broker/worker_registry.h"
#include "messages/access.h"
#include "messages/stage_result.h"
#include "net/socket.h"

namespace recomp::broker {

struct BrokerOptions {
  std::string workers_endpoint = "tcp://127.0.0.1:7421";
  std::string link_endpoint = "inproc://recomp-link";  // the coordinator link
  // The broker's own tick towards the coordinator: a WORKER_LIST is sent at least this often
  // (1 ms per worker when that is longer). Workers are heartbeated at their own interval (sent
  // in READY), stretched with many workers (max_heartbeats_per_s).
  uint32_t heartbeat_ms = 1000;
  uint32_t liveness = 3;        // reserved for the coordinator link; workers use their own
  size_t max_queue = 100000;    // queued jobs; DISPATCH beyond it is REJECTED
  size_t max_workers = 100000;  // READY beyond it gets DISCONNECT
  // Messages for the coordinator held while it is not connected (or its pipe is full); when
  // full the oldest is dropped (logged as an error). WORKER_LIST is never buffered.
  size_t max_outbox = 100000;
  uint32_t worker_list_min_interval_ms = 100;  // rate limit of change-triggered WORKER_LIST
  // A lease ends this long after its job's timeout_s: a worker that still holds it (it kills a
  // job at timeout_s and reports it) is dropped and its jobs are reported worker_lost.
  uint32_t lease_grace_ms = 60000;
  // Heartbeats from all workers together, per second, at most (Nomad's max_heartbeats_per_second):
  // with more workers than this the broker stretches every worker's interval to
  // workers / max_heartbeats_per_s seconds and tells them so in WELCOME and HEARTBEAT. A dead
  // worker is then found later (liveness x the stretched interval), an idle pool stays cheap.
  uint32_t max_heartbeats_per_s = 2000;
  // A queued job whose `requires` no registered worker meets fails (not retried) after this.
  uint32_t no_worker_timeout_s = 900;
  // Tell the coordinator which attempts started (STARTED); off when it does not publish
  // recomp.job.started ([coordinator] job_started_events = false).
  bool report_starts = true;
  // The blob service endpoint told to workers in WELCOME ("" = none).
  std::string blobs_endpoint;
  // CURVE (docs/security.md): with `access` set (it must outlive the broker), the workers
  // endpoint is a CURVE server with secret key `curve_secret`; every message's key must still
  // be a worker key, and a READY's id and labels must be its key's (CheckWorkerIdentity).
  // A key removed from the allowlist drops its workers.
  std::string curve_secret;
  const AccessControl* access = nullptr;
  int sndhwm = 100000;  // explicit HWMs on both ROUTERs (ZeroMQ's default 1000 is no control)
  int rcvhwm = 100000;
};

// Counters for tests and diagnostics (read from the broker thread, or after Run returned).
struct BrokerStats {
  uint64_t dispatched = 0;       // JOB sent to a worker
  uint64_t results = 0;          // RESULT forwarded from a worker
  uint64_t stale_results = 0;    // RESULT ignored by fencing
  uint64_t workers_lost = 0;     // workers dropped (silence, unreachable, protocol error, ...)
  uint64_t refused_keys = 0;     // with CURVE: messages or READYs refused for their key
  uint64_t rejected = 0;         // REJECTED sent
  uint64_t malformed = 0;        // messages that failed framing or decoding
  uint64_t outbox_dropped = 0;   // coordinator messages dropped because the outbox was full
  uint64_t started_dropped = 0;  // STARTED entries not sent (no coordinator, or outbox busy)
};

class Broker {
 public:
  // Validates the options and creates (but does not bind) the sockets in `ctx`, which must
  // outlive the broker.
  static Result<std::unique_ptr<Broker>> Create(zmq::context_t& ctx, BrokerOptions options);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Binds both sockets. Unavailable when an endpoint cannot be bound (address in use, ...).
  Status Bind();
  // The blob service endpoint WELCOME names (before Run).
  void SetBlobsEndpoint(std::string endpoint) { opt_.blobs_endpoint = std::move(endpoint); }
  // Serves until Stop(). Never throws; returns the Status that ended it (OK after Stop).
  Status Run();
  // Makes Run() return soon (within one poll wake-up). Thread-safe, idempotent.
  void Stop();

  // The resolved endpoints after Bind (e.g. the port chosen for tcp://127.0.0.1:0).
  std::string workers_endpoint() const { return workers_resolved_; }
  std::string link_endpoint() const { return link_resolved_; }
  // Only meaningful from the broker thread or after Run() returned.
  const BrokerStats& stats() const { return stats_; }
  // Which worker holds a job naming which input: thread-safe, for the blob service.
  const InputGrants& grants() const { return grants_; }

 private:
  Broker(zmq::context_t& ctx, BrokerOptions options);
  using Handler = void (Broker::*)(const std::string& identity, const net::Received& message);
  static constexpr int kDrainLimit = 1000;  // messages per socket per wake-up

  // The loop (broker.cpp).
  Status Serve();
  // Receives up to kDrainLimit messages from a ROUTER and hands each (identity, the frames
  // after it) to `handler`. Fails only when the socket does.
  Status DrainRouter(zmq::socket_t& s, Handler handler);
  void OnLinkMessage(const std::string& identity, const net::Received& message);
  void OnDispatch(const std::string& body);
  void OnRevoke(const std::string& body);
  // WATCH_LOG from the coordinator: passed to the worker holding that attempt (if any).
  void OnWatchLog(const std::string& body);
  // LOG from a worker: forwarded to the coordinator when `w` holds that attempt's lease.
  void OnWorkerLog(WorkerEntry& w, const std::string& body);
  // Gives queued jobs to free worker slots (best first) until one or the other runs out, then
  // tells the coordinator which attempts started (SendStarted).
  void AssignJobs();
  void AssignQueuedJobs();
  // STARTED for the attempts leased since the last call; dropped (counted) while the
  // coordinator is away or results wait in the outbox: it is informational.
  void SendStarted();
  // WORKER_JOINED / WORKER_LEFT (docs/protocol.md), ordered with the results.
  void SendWorkerEvent(std::string_view command, const WorkerEntry& w, const std::string& reason);
  void Housekeeping(Clock::time_point now);
  // Sets the broker's gauges (workers, slots, busy slots, queue depth: docs/metrics.md).
  void PublishGauges();
  // Fails the queued jobs that no registered worker could take for no_worker_timeout_s.
  void FailUnservable(Clock::time_point now);
  std::chrono::milliseconds Tick() const;
  // The heartbeat interval for `w` now: its own, stretched so that all workers together send
  // at most max_heartbeats_per_s (bounded by the longest liveness window).
  uint32_t HeartbeatMsFor(const WorkerEntry& w) const;
  std::string HeartbeatBody(uint32_t ms) const;
  void SendToCoordinator(std::string_view command, std::string body,
                         std::optional<JobRef> result = std::nullopt);
  void SendResultToCoordinator(const StageResult& r, std::string body);
  void PopOutbox();
  void OnReconcile(const std::string& body);
  void FlushOutbox();
  void SendWorkerList(Clock::time_point now);
  void MarkListDirty() { list_dirty_ = true; }
  // How often a changed worker list may be sent: worker_list_min_interval_ms, longer with many
  // workers (1 ms per 10 workers), never longer than the link's heartbeat interval.
  std::chrono::milliseconds ListInterval() const;
  // How often an unchanged list is resent (to refresh last_seen): heartbeat_ms, or 1 ms per
  // worker when longer.
  std::chrono::milliseconds ListRefreshInterval() const;

  // The workers socket (broker_workers.cpp).
  void OnWorkerMessage(const std::string& identity, const net::Received& message);
  void OnWorkerReady(const std::string& identity, const std::string& body, const AllowedKey& key);
  void OnWorkerResult(WorkerEntry& w, const std::string& body);
  // Drops a worker: each lease becomes a kWorkerLost RESULT to the coordinator with `why`.
  void DropWorker(std::string identity, std::string why, bool send_disconnect);
  // With CURVE: whether `message` came from a key still allowed to work; otherwise the peer
  // is dropped (or told DISCONNECT) naming why. *key gets its allowlist entry.
  bool KeyAllowed(const std::string& identity, const net::Received& message, AllowedKey* key);
  // With CURVE, after an allowlist reload: drops the workers whose key was removed.
  void RecheckKeys();
  uint64_t access_generation_ = 0;
  void SendDisconnect(const std::string& identity, const std::string& reason);
  // Sends to a worker; kUnreachable drops it (its leases become worker-lost).
  net::SendResult SendToWorker(WorkerEntry& w, std::string_view command, std::string body);
  StageResult LostResult(const WorkerEntry& w, const Lease& lease, const std::string& why) const;

  zmq::context_t& ctx_;
  BrokerOptions opt_;
  zmq::socket_t workers_;
  zmq::socket_t link_;
  int wake_fd_ = -1;  // eventfd written by Stop()
  std::atomic<bool> stop_{false};
  std::string workers_resolved_;
  std::string link_resolved_;

  JobQueue queue_;
  WorkerRegistry registry_;
  std::string coordinator_;  // routing id of the link peer ("" until it sends something)
  // Messages held for the coordinator; a RESULT remembers its attempt, which the broker still
  // knows (RECONCILE) while it waits here.
  struct Outgoing {
    std::vector<std::string> frames;
    std::optional<JobRef> result;
  };
  std::deque<Outgoing> outbox_;
  std::unordered_map<JobRef, size_t, JobRefHash> outbox_results_;  // RESULTs held, by attempt
  std::vector<proto::StartedJob> started_;  // leased since the last SendStarted
  bool list_dirty_ = false;
  Clock::time_point last_list_sent_{};
  Clock::time_point next_housekeeping_{};
  BrokerStats stats_;
  InputGrants grants_;
};

// `s` cut to `n` bytes with "..." appended when cut (reasons and messages from peers).
std::string Truncate(std::string s, size_t n = 200);

}  // namespace recomp::broker
