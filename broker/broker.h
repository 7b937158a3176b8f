// Broker: the job broker that runs as a thread inside the coordinator process. It owns two
// ROUTER sockets, served by one zmq_poll loop on the thread that calls Run():
//   workers:  worker agents' DEALERs connect (READY / HEARTBEAT / RESULT / DISCONNECT in,
//             JOB / CANCEL_JOB / HEARTBEAT / DISCONNECT out);
//   dispatch: the coordinator's DEALER connects (DISPATCH / REVOKE / HEARTBEAT in,
//             RESULT / REJECTED / WORKER_LIST / ERROR out).
// Credit-based dispatch (a worker holds at most `slots` jobs), priority queue, heartbeats and
// liveness both ways (MDP / Paranoid Pirate), leases fenced by (job_id, attempt), and
// worker-lost results. The wire contract is docs/protocol.md.
//
// Threading: Create and Bind on any thread, then call Run() on exactly one thread; from then
// on the sockets belong to that thread. Stop() is thread-safe and may be called from any
// thread (or a signal-free context) at any time, even before Run(). The endpoint accessors
// are safe to call from any thread after Bind() returned.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "broker/job_queue.h"
#include "broker/worker_registry.h"
#include "broker/zmq_frames.h"
#include "messages/stage_result.h"
#include "messages/status.h"

namespace recomp::broker {

struct BrokerOptions {
  std::string workers_endpoint = "tcp://127.0.0.1:7421";
  std::string dispatch_endpoint = "inproc://recomp-dispatch";
  // The broker's own tick towards the coordinator: a WORKER_LIST is sent at least this often
  // (it doubles as the broker's heartbeat on the dispatch link). Workers are heartbeated at
  // their own interval (sent in READY).
  uint32_t heartbeat_ms = 1000;
  uint32_t liveness = 3;        // reserved for the dispatch link; workers use their own
  size_t max_queue = 100000;    // queued jobs; DISPATCH beyond it is REJECTED
  size_t max_workers = 100000;  // READY beyond it gets DISCONNECT
  // Messages for the coordinator held while it is not connected (or its pipe is full); when
  // full the oldest is dropped (logged as an error). WORKER_LIST is never buffered.
  size_t max_outbox = 100000;
  uint32_t worker_list_min_interval_ms = 100;  // rate limit of change-triggered WORKER_LIST
  int sndhwm = 100000;  // explicit HWMs on both ROUTERs (LESSONS: default 1000)
  int rcvhwm = 100000;
  // libzmq drops a connection that sends a frame larger than this (ZMQ_MAXMSGSIZE). Bodies
  // between wire::kMaxMessageBytes and this are received and answered with an error.
  int64_t max_frame_bytes = int64_t{32} << 20;
};

// Counters for tests and diagnostics (read from the broker thread, or after Run returned).
struct BrokerStats {
  uint64_t dispatched = 0;      // JOB sent to a worker
  uint64_t results = 0;         // RESULT forwarded from a worker
  uint64_t stale_results = 0;   // RESULT ignored by fencing
  uint64_t workers_lost = 0;    // workers dropped (silence, unreachable, protocol error, ...)
  uint64_t rejected = 0;        // REJECTED sent
  uint64_t malformed = 0;       // messages that failed framing or decoding
  uint64_t outbox_dropped = 0;  // coordinator messages dropped because the outbox was full
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
  // Serves until Stop(). Never throws; returns the Status that ended it (OK after Stop).
  Status Run();
  // Makes Run() return soon (within one poll wake-up). Thread-safe, idempotent.
  void Stop();

  // The resolved endpoints after Bind (e.g. the port chosen for tcp://127.0.0.1:0).
  std::string workers_endpoint() const { return workers_resolved_; }
  std::string dispatch_endpoint() const { return dispatch_resolved_; }
  // Only meaningful from the broker thread or after Run() returned.
  const BrokerStats& stats() const { return stats_; }

 private:
  Broker(zmq::context_t& ctx, BrokerOptions options);

  // Loop pieces.
  void DrainWorkers();
  void DrainDispatch();
  void OnWorkerMessage(const std::string& identity, const std::vector<std::string>& frames,
                       size_t total_frames);
  void OnDispatchMessage(const std::string& identity, const std::vector<std::string>& frames,
                         size_t total_frames);
  void OnWorkerReady(const std::string& identity, const std::string& body);
  void OnWorkerResult(WorkerEntry& w, const std::string& body);
  void OnDispatch(const std::string& body);
  void OnRevoke(const std::string& body);
  void Dispatch();
  void Housekeeping(Clock::time_point now);
  std::chrono::milliseconds Tick() const;

  // Drops a worker: each lease becomes a kWorkerLost RESULT to the coordinator with `why`.
  void DropWorker(std::string identity, std::string why, bool send_disconnect);
  void SendDisconnect(const std::string& identity, const std::string& reason);
  // Sends to a worker; kUnreachable drops it (its leases become worker-lost).
  SendStatus SendToWorker(WorkerEntry& w, std::string_view command, std::string body);
  void SendToCoordinator(std::string_view command, std::string body);
  void FlushOutbox();
  void SendWorkerList(Clock::time_point now);
  void MarkListDirty() { list_dirty_ = true; }

  StageResult LostResult(const WorkerEntry& w, const Lease& lease, const std::string& why) const;

  zmq::context_t& ctx_;
  BrokerOptions opt_;
  zmq::socket_t workers_;
  zmq::socket_t dispatch_;
  int wake_fd_ = -1;  // eventfd written by Stop()
  std::atomic<bool> stop_{false};
  std::string workers_resolved_;
  std::string dispatch_resolved_;

  JobQueue queue_;
  WorkerRegistry registry_;
  std::string coordinator_;  // routing id of the dispatch peer ("" until it sends something)
  std::deque<std::vector<std::string>> outbox_;
  bool list_dirty_ = false;
  Clock::time_point last_list_sent_{};
  Clock::time_point next_housekeeping_{};
  BrokerStats stats_;
};

}  // namespace recomp::broker
