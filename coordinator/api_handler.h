// ApiHandler: decodes client API requests (docs/protocol.md, "Client API"), calls the
// RunEngine or RunStore, and builds replies. Malformed requests get an ERROR reply naming the
// problem and change nothing. Not thread-safe: used by the coordinator's service thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinator/live_logs.h"
#include "coordinator/run_engine.h"
#include "coordinator/run_store.h"
#include "messages/access.h"
#include "net/socket.h"

namespace recomp::coordinator {

struct Reply {
  std::vector<std::string> frames;  // routing envelope + [RCP1, OK|ERROR, body]
};

class ApiHandler {
 public:
  ApiHandler(RunEngine* engine, RunStore* runs) : engine_(engine), runs_(runs) {}

  // Handles one ROUTER message from authenticated key `user` ("" without CURVE); nullopt only
  // when there is no one to answer (no identity).
  std::optional<Reply> Handle(const std::vector<std::string>& frames, Effects* fx,
                              const std::string& user = "");
  // The same for a received message; one with more than limits::kMaxFrames frames gets an
  // ERROR naming its frame count.
  std::optional<Reply> HandleMessage(const net::Received& m, Effects* fx);
  // Serves one replay request (protocol frames, no envelope): reply protocol frames. A page
  // holds at most `max_batch` events and kMaxReplayPageBytes of them (at least one event).
  static constexpr size_t kMaxReplayPageBytes = size_t{4} << 20;
  std::vector<std::string> Replay(const std::vector<std::string>& message, size_t max_batch);
  // Serves one replay ROUTER message (envelope included); nullopt when there is no identity.
  std::optional<Reply> HandleReplay(const net::Received& m, size_t max_batch);
  // What ENDPOINTS answers: {api, events, replay, workers, blobs} as bound.
  void SetEndpoints(nlohmann::json endpoints) { endpoints_ = std::move(endpoints); }
  // The broker's latest WORKER_LIST body ({workers, queued}), kept as received: WORKERS
  // answers with it, so a list of 10,000 workers is not decoded on every update.
  void SetWorkerList(std::string body) {
    worker_list_ = std::move(body);
    broker_queued_.reset();
  }
  // While `reason` is not empty the coordinator cannot record anything: SUBMIT and CANCEL are
  // refused with RESOURCE_EXHAUSTED naming it; reads are served.
  void SetPaused(std::string reason) { paused_ = std::move(reason); }
  // Where LOG_TAIL reads running jobs' logs (not owned; must outlive the handler; null = no
  // live logs: a running job's LOG_TAIL then returns no bytes).
  void SetLiveLogs(LiveLogs* logs) { live_logs_ = logs; }
  // CURVE (docs/security.md): every request is checked against `access` (not owned; must
  // outlive the handler): reads need a reader or submitter key, SUBMIT and CANCEL a submitter
  // key, and with `cancel_own_runs_only` CANCEL also the run's own submitter. A submission's
  // requested_by becomes the key's name, whatever the client wrote.
  void SetAccess(const AccessControl* access, bool cancel_own_runs_only) {
    access_ = access;
    cancel_own_runs_only_ = cancel_own_runs_only;
  }

 private:
  // Splits a received ROUTER message into *envelope and its protocol frames (the error when it
  // has no tag or was truncated; *envelope is then the fallback).
  static Result<std::vector<std::string>> Split(const net::Received& m,
                                                std::vector<std::string>* envelope);
  static std::vector<std::string> ErrorFrames(const Status& s);
  Result<std::string> Execute(const std::string& command, const std::string& body, Effects* fx,
                              const std::string& user);
  // With CURVE: whether `user` may send `command` (and cancel `run_id`).
  Status Permit(const std::string& user, const std::string& command) const;
  Status PermitCancel(const std::string& user, const std::string& run_id) const;
  // Reads {run_id} into *run_id, resolved (a unique prefix names its run).
  Result<std::string> RunIdRequest(const std::string& body, std::string* run_id);
  // *run_id = the run it names: itself when the engine or store has it, else the one run it
  // is a prefix of (RunStore::ResolveRunId).
  Result<std::string> ResolveRunId(std::string* run_id) const;
  // LIST {limit?, after?} -> {runs: [list entries], next}: docs/protocol.md.
  Result<std::string> List(const std::string& body);

  Result<std::string> Audit(const std::string& run_id);
  Result<std::string> Results(const std::string& run_id);
  // RERUN {run_id, from_stage?, requested_by?} -> the new run's RunStatus.
  Result<std::string> Rerun(const std::string& body, Effects* fx, const std::string& user);
  // LOG_TAIL {run_id, stage, shard?, offset?} -> a job's state and its live log from offset.
  Result<std::string> LogTail(const std::string& body, Effects* fx);
  // STATS {limit?} -> runs in flight, queues, jobs in flight and completed, the event head.
  Result<std::string> Stats(const std::string& body);
  // SHOW {run_id} -> the run view (coordinator/run_view.h).
  Result<std::string> Show(const std::string& run_id);

  RunEngine* engine_;
  RunStore* runs_;
  std::string worker_list_;  // "" until the broker sent one
  // The list's `queued`, decoded once per list on the first STATS that asks.
  std::optional<uint64_t> broker_queued_;
  nlohmann::json endpoints_ = nlohmann::json::object();
  std::string paused_;
  const AccessControl* access_ = nullptr;
  LiveLogs* live_logs_ = nullptr;
  bool cancel_own_runs_only_ = false;
};

}  // namespace recomp::coordinator
