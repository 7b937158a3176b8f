// WorkerAgent: the stateless worker process's engine. One DEALER to the broker's workers ROUTER,
// owned by the thread that calls Run(): READY on connect, heartbeats both ways (any traffic
// counts), JOB / CANCEL_JOB / DISCONNECT handling, and Paranoid Pirate reconnects (a new socket
// after liveness x interval of broker silence, backoff 1 s doubling to 32 s with jitter).
// Each job runs on a thread of a pool of slots + 1 (a JobExecution: sandbox, inputs, process,
// outputs, log) so the socket loop keeps heartbeating while jobs run; finished jobs wake the
// loop through an eventfd (the result is sent while the job's thread still removes its
// sandbox). Connection changes (connected, disconnected, handshake failures) are logged from a
// socket monitor.
// The wire contract is docs/protocol.md; the sandbox contract docs/worker-sandbox.md.
//
// Threading: Create on any thread; Run() on exactly one thread; Stop() from any thread or a
// signal handler (async-signal-safe). The destructor kills and joins running jobs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "base/mutex.h"
#include "base/status.h"
#include "messages/protocol.h"
#include "messages/stage_job.h"
#include "messages/stage_result.h"
#include "net/monitor.h"
#include "net/socket.h"
#include "worker/blob_source.h"
#include "worker/job_execution.h"
#include "worker/job_pool.h"
#include "worker/log_streamer.h"

namespace recomp::worker {

enum class Executor {
  kProcess,  // run the job's command in a JobSandbox (the real thing)
  kNoop,     // report success at once with no outputs (control-plane benchmark)
};

struct WorkerAgentOptions {
  std::string connect;           // the broker's workers endpoint, e.g. tcp://127.0.0.1:7421
  std::string worker_id;         // "" = "<host>:<pid>:<random hex>"
  uint32_t slots = 1;            // credits: jobs held at once (1-1024)
  uint32_t heartbeat_ms = 1000;  // sent in READY; the broker uses it too (10-60000)
  uint32_t liveness = 3;         // missed intervals before the peer is dead (2-100)
  std::string work_root;         // sandbox root (required for kProcess)
  Executor executor = Executor::kProcess;
  uint32_t reconnect_initial_ms = 1000;        // Paranoid Pirate: 1 s doubling ...
  uint32_t reconnect_max_ms = 32000;           // ... to 32 s, each delay plus up to 50% jitter
  std::chrono::milliseconds kill_grace{2000};  // SIGTERM -> SIGKILL on timeout/cancel
  // What stages may require of this worker (`--label key=value`); Create adds os, arch and
  // pool=default where not given.
  Labels labels;
  // CURVE: the broker's public key (pinned) and this worker's keypair; unset = plain. A refused
  // key is logged naming it and retried on the reconnect backoff.
  net::CurveClient curve;
  // How jobs are confined (DecideConfinement); default: not at all.
  ConfinementOptions confinement;
  // Called (on the Run() thread) with the blob service endpoint the broker's WELCOME names,
  // a wildcard host replaced by the host of `connect`.
  std::function<void(const std::string&)> on_blob_endpoint;
};

struct WorkerAgentStats {
  std::atomic<uint64_t> registrations{0};  // READY sent (one per socket)
  std::atomic<uint64_t> jobs_started{0};
  std::atomic<uint64_t> results_sent{0};
  std::atomic<uint64_t> broker_lost{0};   // times the broker was declared dead or said DISCONNECT
  std::atomic<uint64_t> jobs_running{0};  // jobs held now (executing or cleaning up)
};

class WorkerAgent {
 public:
  // `source` and `sink` (not owned; must outlive the agent) are required for kProcess and may
  // be null for kNoop. `ctx` must outlive the agent.
  static Result<std::unique_ptr<WorkerAgent>> Create(zmq::context_t& ctx,
                                                     WorkerAgentOptions options, BlobSource* source,
                                                     BlobSink* sink);
  ~WorkerAgent();
  WorkerAgent(const WorkerAgent&) = delete;
  WorkerAgent& operator=(const WorkerAgent&) = delete;

  // Serves until Stop(): then says DISCONNECT to the broker, kills running jobs and returns OK.
  Status Run();
  void Stop();

  const std::string& worker_id() const { return opt_.worker_id; }
  const WorkerAgentStats& stats() const { return stats_; }

 private:
  struct RunningJob;
  WorkerAgent(zmq::context_t& ctx, WorkerAgentOptions options, BlobSource* source, BlobSink* sink);

  Status Serve();
  // A new socket to the broker, and READY on it. Fails only for a malformed endpoint.
  Status Connect();
  void CloseSocket();
  void BrokerLost(const std::string& why);
  // Receives what is waiting on the socket (bounded) and handles it.
  Status DrainSocket();
  void HandleMessage(const net::Received& message);
  void OnJob(const std::string& body);
  void OnWelcome(const std::string& body);
  // Takes the interval a WELCOME or HEARTBEAT body carries (`heartbeat_ms`), if valid.
  void AdoptHeartbeat(const std::string& body);
  void OnCancel(const std::string& body);
  // WATCH_LOG {job_id, attempt, offset?}: stream that running attempt's log for a while.
  void OnWatchLog(const std::string& body);
  // Sends the LOG pieces the watched logs gained (every kLogPollInterval).
  void StreamLogs(std::chrono::steady_clock::time_point now);
  void ReapFinished();
  void LogSocketEvents();
  // Cancels every running job; with `orphan` their results are not wanted any more.
  void KillAll(bool orphan);
  bool Send(std::string_view command, std::string body);
  void SendResult(const StageResult& r);
  void Execute(RunningJob* job);  // runs on a pool thread

  zmq::context_t& ctx_;
  WorkerAgentOptions opt_;
  ExecutionContext exec_;
  int wake_fd_ = -1;  // eventfd: Stop() and finished jobs
  std::atomic<bool> stop_{false};

  std::unique_ptr<zmq::socket_t> socket_;
  std::optional<net::SocketMonitor> monitor_;  // of socket_; destroyed before it
  std::chrono::steady_clock::time_point last_heard_{};
  std::chrono::steady_clock::time_point last_sent_{};
  // Zombies of processes that escaped their job's group are reaped this often (job_groups.h).
  static constexpr std::chrono::seconds kReapInterval{2};
  std::chrono::steady_clock::time_point next_reap_{};
  static constexpr std::chrono::milliseconds kMonitorInterval{100};
  uint32_t heartbeat_ms_ = 0;  // the interval in use: ours, or the broker's stretched one
  std::chrono::steady_clock::time_point next_monitor_read_{};
  std::chrono::steady_clock::time_point reconnect_at_{};
  uint32_t backoff_ms_ = 0;
  bool heard_since_connect_ = false;

  std::map<proto::JobRef, std::unique_ptr<RunningJob>> jobs_;  // owned by the Run() thread
  // Watched jobs' logs; an entry never outlives its job in jobs_ (forgotten when reaped).
  LogStreamer logs_;
  static constexpr std::chrono::milliseconds kLogPollInterval{200};
  std::chrono::steady_clock::time_point next_log_poll_{};
  Mutex done_mu_;
  std::vector<RunningJob*> done_ GUARDED_BY(done_mu_);  // finished jobs, to report
  WorkerAgentStats stats_;
  // Runs Execute; created with the first job. Last member: joined before anything it uses dies.
  std::unique_ptr<JobPool> pool_;
};

// `labels` plus os (lowercase uname sysname), arch (uname machine) and pool=default, where
// not set.
Labels WithDefaultLabels(Labels labels);

// "<host>:<pid>:<6 random hex>".
std::string DefaultWorkerId();

}  // namespace recomp::worker
