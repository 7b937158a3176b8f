// WorkerAgent (see worker_agent.h and docs/protocol.md).
//
// Sources for the liveness rules (docs/protocol.md cites them): Paranoid Pirate (RFC 6):
// heartbeat on the data socket, never an infinite poll, on broker silence reconnect on a NEW
// socket with exponential backoff 1 s -> 32 s; Salt's reconnect storms: jitter the delay;
// ipyparallel: a long job must not starve heartbeats, so jobs run off the socket thread.
#include "worker/worker_agent.h"

#include <sys/eventfd.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <random>

#include "base/clock.h"
#include "base/log.h"
#include "base/posix_file.h"
#include "messages/artifact_ref.h"
#include "messages/codec.h"
#include "messages/protocol.h"
#include "net/framing.h"
#include "worker/job_groups.h"
#include "worker/job_sandbox.h"
#include "worker/process_runner.h"

namespace recomp::worker {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

namespace {

constexpr int kDrainLimit = 1000;  // messages handled per wake-up

uint64_t Random64() {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^ static_cast<uint64_t>(::getpid())
                                                                       << 32};
  return rng();
}

std::string HostName() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return host;
}

}  // namespace

std::string DefaultWorkerId() {
  std::string host = HostName();
  if (host.empty()) host = "localhost";
  char rnd[8];
  std::snprintf(rnd, sizeof rnd, "%06x", static_cast<unsigned>(Random64() & 0xffffff));
  return host.substr(0, 64) + ":" + std::to_string(::getpid()) + ":" + rnd;
}

struct WorkerAgent::RunningJob {
  StageJob job;
  std::unique_ptr<JobControl> control;
  StageResult result;  // written by the job thread before it is queued in done_
};

Labels WithDefaultLabels(Labels labels) {
  struct utsname u {};
  if (::uname(&u) == 0) {
    std::string os = u.sysname;
    for (char& c : os) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    labels.emplace("os", os);
    labels.emplace("arch", u.machine);
  }
  labels.emplace("pool", "default");
  return labels;
}

Result<std::unique_ptr<WorkerAgent>> WorkerAgent::Create(zmq::context_t& ctx,
                                                         WorkerAgentOptions options,
                                                         BlobSource* source, BlobSink* sink) {
  if (options.connect.empty()) {
    return Status::InvalidArgument("worker: a broker endpoint is required");
  }
  if (options.slots < 1 || options.slots > 1024) {
    return Status::InvalidArgument("worker: slots must be in [1, 1024]");
  }
  if (options.heartbeat_ms < 10 || options.heartbeat_ms > 60000) {
    return Status::InvalidArgument("worker: heartbeat_ms must be in [10, 60000]");
  }
  if (options.liveness < 2 || options.liveness > 100) {
    return Status::InvalidArgument("worker: liveness must be in [2, 100]");
  }
  if (uint64_t{options.heartbeat_ms} * options.liveness > proto::kMaxLivenessWindowMs) {
    return Status::InvalidArgument("worker: heartbeat_ms x liveness must be at most " +
                                   std::to_string(proto::kMaxLivenessWindowMs) + " ms");
  }
  options.labels = WithDefaultLabels(std::move(options.labels));
  RECOMP_RETURN_IF_ERROR(ValidateLabels(options.labels, "worker --label"));
  if (options.reconnect_initial_ms < 1 || options.reconnect_max_ms < options.reconnect_initial_ms) {
    return Status::InvalidArgument("worker: need 1 <= reconnect_initial_ms <= reconnect_max_ms");
  }
  if (options.executor == Executor::kProcess) {
    if (source == nullptr || sink == nullptr) {
      return Status::InvalidArgument("worker: the process executor needs a blob source and sink");
    }
    if (options.work_root.empty()) {
      return Status::InvalidArgument("worker: a work directory is required");
    }
    // Once, before any job: the jobs' orphans become our children, so each job's process
    // group can be waited for with waitid(P_PGID); the guard kills the jobs if we die; and
    // what dead workers left in the work directory goes (see docs/worker-sandbox.md).
    RECOMP_RETURN_IF_ERROR(EnableChildSubreaper());
    RECOMP_RETURN_IF_ERROR(JobGroups::Get().StartGuard());
    RECOMP_ASSIGN_OR_RETURN(size_t reclaimed, ReclaimDeadSandboxes(options.work_root));
    if (reclaimed > 0) {
      WorkerLog()->info("worker: removed {} sandbox(es) left by dead workers in {}", reclaimed,
                        options.work_root);
    }
  }
  if (options.worker_id.empty()) options.worker_id = DefaultWorkerId();
  if (options.worker_id.size() > 128) {
    return Status::InvalidArgument("worker: id longer than 128 bytes");
  }
  std::unique_ptr<WorkerAgent> a(new WorkerAgent(ctx, std::move(options), source, sink));
  a->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (a->wake_fd_ < 0) return ErrnoStatus("worker: eventfd", "", errno);
  return a;
}

WorkerAgent::WorkerAgent(zmq::context_t& ctx, WorkerAgentOptions options, BlobSource* source,
                         BlobSink* sink)
    : ctx_(ctx), opt_(std::move(options)) {
  backoff_ms_ = opt_.reconnect_initial_ms;
  exec_.work_root = opt_.work_root;
  exec_.worker_id = opt_.worker_id;
  exec_.kill_grace = opt_.kill_grace;
  exec_.source = source;
  exec_.sink = sink;
  exec_.confinement = &opt_.confinement;
}

WorkerAgent::~WorkerAgent() {
  KillAll(true);
  if (pool_) pool_->WaitIdle();
  jobs_.clear();
  CloseSocket();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void WorkerAgent::Stop() {
  stop_.store(true);
  uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!::write(wake_fd_, &one, sizeof one);
}

// ---------------------------------------------------------------------------------------------
// Socket

Status WorkerAgent::Connect() {
  heartbeat_ms_ = opt_.heartbeat_ms;  // until the new broker says otherwise
  heard_since_connect_ = false;
  last_heard_ = Clock::now();
  net::SocketOptions so;
  so.curve_client = opt_.curve;
  so.reconnect_ivl_ms = static_cast<int>(opt_.reconnect_initial_ms);
  so.reconnect_ivl_max_ms = static_cast<int>(opt_.reconnect_max_ms);
  RECOMP_ASSIGN_OR_RETURN(zmq::socket_t s, net::MakeSocket(ctx_, zmq::socket_type::dealer, so));
  socket_ = std::make_unique<zmq::socket_t>(std::move(s));
  // Monitored before connecting, so no handshake outcome is missed.
  if (auto mon = net::SocketMonitor::Start(ctx_, *socket_); mon.ok()) {
    monitor_.emplace(std::move(mon).value());
  } else {
    WorkerLog()->warn("worker {}: no socket monitor: {}", opt_.worker_id, mon.status().message());
  }
  RECOMP_RETURN_IF_ERROR(net::Connect(*socket_, opt_.connect, "broker"));
  proto::WorkerHello h;
  h.worker_id = opt_.worker_id;
  h.slots = opt_.slots;
  h.heartbeat_ms = opt_.heartbeat_ms;
  h.liveness = opt_.liveness;
  h.host = HostName();
  h.pid = ::getpid();
  h.labels = opt_.labels;
  ++stats_.registrations;
  Send(proto::kReady, proto::EncodeWorkerHello(h));
  WorkerLog()->info("worker {}: READY sent to {} ({} slots)", opt_.worker_id, opt_.connect,
                    opt_.slots);
  return Status::Ok();
}

void WorkerAgent::CloseSocket() {
  monitor_.reset();  // before the socket it monitors
  if (socket_) {
    socket_->close();
    socket_.reset();
  }
}

void WorkerAgent::LogSocketEvents() {
  if (!monitor_) return;
  for (const net::SocketEvent& e : monitor_->Drain()) {
    if (e.kind == net::SocketEvent::Kind::kConnectRetried) continue;  // every retry: too chatty
    if (e.kind == net::SocketEvent::Kind::kHandshakeFailed && opt_.curve.enabled()) {
      // libzmq does not retry a refused handshake by itself: a new socket, on the backoff.
      BrokerLost(net::HandshakeFailure(e, opt_.curve.public_key));
      return;  // the socket and its monitor are gone
    }
    WorkerLog()->info("worker {}: {}", opt_.worker_id, net::Describe(e));
  }
}

bool WorkerAgent::Send(std::string_view command, std::string body) {
  if (!socket_) return false;
  std::string err;
  net::SendResult r = net::Send(*socket_, net::Frames(proto::kTag, command, std::move(body)), &err);
  if (r != net::SendResult::kOk) {
    WorkerLog()->warn("worker {}: {} not sent: {}{}", opt_.worker_id, command, net::ToString(r),
                      err.empty() ? "" : ": " + err);
    return false;
  }
  last_sent_ = Clock::now();
  return true;
}

void WorkerAgent::SendResult(const StageResult& r) {
  if (Send(proto::kResult, EncodeStageResult(r))) ++stats_.results_sent;
}

void WorkerAgent::BrokerLost(const std::string& why) {
  ++stats_.broker_lost;
  // Jobs the broker no longer knows we hold will be re-dispatched with attempt+1: kill ours.
  KillAll(true);
  CloseSocket();
  uint32_t jitter = static_cast<uint32_t>(Random64() % (backoff_ms_ / 2 + 1));
  uint32_t delay = backoff_ms_ + jitter;
  reconnect_at_ = Clock::now() + Ms(delay);
  WorkerLog()->warn("worker {}: {}; reconnecting in {} ms", opt_.worker_id, why, delay);
  backoff_ms_ = std::min(backoff_ms_ * 2, opt_.reconnect_max_ms);
}

// ---------------------------------------------------------------------------------------------
// Loop

Status WorkerAgent::Run() {
  Status st = Serve();
  if (!st.ok()) {
    KillAll(true);
    return st.WithContext("worker");
  }
  // Graceful exit: tell the broker (it reports our jobs lost; the coordinator retries them).
  Send(proto::kDisconnect, proto::JsonBody({{"reason", "worker stopping"}}));
  KillAll(true);
  if (pool_) pool_->WaitIdle();
  jobs_.clear();
  {
    MutexLock lock(&done_mu_);
    done_.clear();
  }
  CloseSocket();
  WorkerLog()->info("worker {}: stopped", opt_.worker_id);
  return Status::Ok();
}

Status WorkerAgent::Serve() {
  RECOMP_RETURN_IF_ERROR(Connect());
  while (!stop_.load()) {
    auto now = Clock::now();
    Ms timeout(250);
    if (socket_) {
      Ms hb(heartbeat_ms_);
      timeout = std::min(timeout, std::chrono::duration_cast<Ms>(last_sent_ + hb - now));
      timeout =
          std::min(timeout, std::chrono::duration_cast<Ms>(last_heard_ + hb * opt_.liveness - now));
    } else {
      timeout = std::min(timeout, std::chrono::duration_cast<Ms>(reconnect_at_ - now));
    }
    timeout = std::clamp(timeout, Ms(1), Ms(250));
    // The monitor is read on a timer, not polled: every ZeroMQ socket in a poll set costs
    // system calls on each turn, and its events are only logged.
    zmq::pollitem_t items[2] = {{nullptr, wake_fd_, ZMQ_POLLIN, 0},
                                {socket_ ? socket_->handle() : nullptr, 0, ZMQ_POLLIN, 0}};
    size_t n = socket_ ? 2 : 1;
    if (Status s = net::Poll(items, n, timeout); !s.ok()) {
      if (s.code() == Status::Code::kCancelled) continue;  // EINTR
      return s;
    }
    if (items[0].revents & ZMQ_POLLIN) {
      uint64_t v;
      (void)!::read(wake_fd_, &v, sizeof v);
    }
    if (stop_.load()) break;
    ReapFinished();
    if (socket_ && (items[1].revents & ZMQ_POLLIN)) RECOMP_RETURN_IF_ERROR(DrainSocket());
    now = Clock::now();
    if (now >= next_monitor_read_) {
      next_monitor_read_ = now + kMonitorInterval;
      LogSocketEvents();
    }
    if (opt_.executor == Executor::kProcess && now >= next_reap_) {
      next_reap_ = now + kReapInterval;
      if (size_t k = JobGroups::Get().ReapEscapedZombies(); k > 0) {
        WorkerLog()->info("worker {}: reaped {} zombie(s) of processes that left their job's group",
                          opt_.worker_id, k);
      }
    }
    if (socket_ && !logs_.empty() && now >= next_log_poll_) StreamLogs(now);
    if (socket_) {
      if (now - last_heard_ > Ms(uint64_t{heartbeat_ms_} * opt_.liveness)) {
        BrokerLost("no heartbeat from the broker for " + std::to_string(MillisSince(last_heard_)) +
                   " ms");
      } else if (now - last_sent_ >= Ms(heartbeat_ms_)) {
        Send(proto::kHeartbeat, proto::EmptyBody());
      }
    } else if (now >= reconnect_at_ && jobs_.empty()) {
      // Killed jobs are drained first so we never hold more than `slots` processes.
      RECOMP_RETURN_IF_ERROR(Connect());
    }
  }
  return Status::Ok();
}

Status WorkerAgent::DrainSocket() {
  net::Received m;
  for (int i = 0; i < kDrainLimit && socket_; ++i) {
    RECOMP_ASSIGN_OR_RETURN(bool got, net::Receive(*socket_, &m));
    if (!got) break;
    last_heard_ = Clock::now();
    if (!heard_since_connect_) {
      heard_since_connect_ = true;
      backoff_ms_ = opt_.reconnect_initial_ms;  // registered: reset the backoff
    }
    HandleMessage(m);
  }
  return Status::Ok();
}

void WorkerAgent::HandleMessage(const net::Received& message) {
  Result<net::Message> msg = net::Parse(proto::kTag, message);
  if (!msg.ok()) {
    WorkerLog()->warn("worker {}: ignoring malformed message: {}", opt_.worker_id,
                      msg.status().message());
    return;
  }
  const std::string& cmd = msg->command;
  if (cmd == proto::kHeartbeat) return AdoptHeartbeat(msg->body);
  if (cmd == proto::kWelcome) return OnWelcome(msg->body);
  if (cmd == proto::kJob) return OnJob(msg->body);
  if (cmd == proto::kCancel) return OnCancel(msg->body);
  if (cmd == proto::kWatchLog) return OnWatchLog(msg->body);
  if (cmd == proto::kDisconnect) {
    std::string reason;
    if (auto j = proto::BodyJson(msg->body, "disconnect");
        j.ok() && j->contains("reason") && (*j)["reason"].is_string()) {
      reason = (*j)["reason"].get<std::string>().substr(0, 200);
    }
    BrokerLost("broker sent DISCONNECT (" + reason + ")");
    return;
  }
  WorkerLog()->warn("worker {}: ignoring unexpected command {}", opt_.worker_id, cmd);
}

void WorkerAgent::AdoptHeartbeat(const std::string& body) {
  auto j = proto::BodyJson(body, "heartbeat");
  if (!j.ok() || !j->contains("heartbeat_ms") || !(*j)["heartbeat_ms"].is_number_unsigned()) return;
  uint64_t ms = (*j)["heartbeat_ms"].get<uint64_t>();
  // Never shorter than ours, never past the longest liveness window.
  if (ms < opt_.heartbeat_ms || ms * opt_.liveness > proto::kMaxLivenessWindowMs) return;
  if (ms != heartbeat_ms_) {
    WorkerLog()->info("worker {}: heartbeat interval {} ms (set by the broker)", opt_.worker_id,
                      ms);
  }
  heartbeat_ms_ = static_cast<uint32_t>(ms);
}

void WorkerAgent::OnWelcome(const std::string& body) {
  AdoptHeartbeat(body);
  auto j = proto::BodyJson(body, "welcome");
  if (!j.ok() || !j->contains("blobs") || !(*j)["blobs"].is_string()) return;
  std::string blobs = net::ResolveWildcardHost((*j)["blobs"].get<std::string>(), opt_.connect);
  if (!blobs.empty() && opt_.on_blob_endpoint) opt_.on_blob_endpoint(blobs);
}

void WorkerAgent::OnJob(const std::string& body) {
  Result<StageJob> job = DecodeStageJob(body);
  if (!job.ok()) {
    Result<proto::JobRef> ref = proto::DecodeJobRef(body);
    if (!ref.ok()) {
      WorkerLog()->warn("worker {}: ignoring undecodable JOB: {}", opt_.worker_id,
                        job.status().message());
      return;
    }
    StageResult r;
    r.job_id = ref->job_id;
    r.attempt = ref->attempt;
    r.run_id = "unknown";  // the broker fills run/stage/shard from its lease
    if (auto j = proto::BodyJson(body, "job");
        j.ok() && j->contains("run_id") && (*j)["run_id"].is_string()) {
      std::string run = (*j)["run_id"].get<std::string>();
      if (ValidateRunId(run).ok()) r.run_id = run;
    }
    r.worker = opt_.worker_id;
    r.outcome = JobOutcome::kError;
    r.message = "worker could not decode the job: " + job.status().message();
    WorkerLog()->warn("worker {}: {}", opt_.worker_id, r.message);
    SendResult(r);
    return;
  }
  proto::JobRef key{job->job_id, job->attempt};
  if (jobs_.count(key) != 0) {
    WorkerLog()->info("worker {}: duplicate JOB {} attempt {}: already running", opt_.worker_id,
                      key.job_id, key.attempt);
    return;
  }
  StageResult base = ResultFor(AttemptOf(*job));
  base.worker = opt_.worker_id;
  if (opt_.executor == Executor::kNoop) {
    ++stats_.jobs_started;
    base.outcome = JobOutcome::kSucceeded;
    base.exit_code = 0;
    SendResult(base);
    return;
  }
  if (jobs_.size() >= opt_.slots) {
    base.outcome = JobOutcome::kError;
    base.message =
        "worker " + opt_.worker_id + " has no free slot (" + std::to_string(opt_.slots) + " busy)";
    SendResult(base);
    return;
  }
  auto control = JobControl::Create();
  if (!control.ok()) {
    base.outcome = JobOutcome::kError;
    base.message = control.status().message();
    SendResult(base);
    return;
  }
  auto rj = std::make_unique<RunningJob>();
  rj->job = std::move(job).value();
  rj->control = std::move(control).value();
  RunningJob* p = rj.get();
  jobs_.emplace(key, std::move(rj));
  ++stats_.jobs_started;
  stats_.jobs_running.store(jobs_.size());
  WorkerLog()->info("worker {}: job {} attempt {} ({} shard {}) started", opt_.worker_id,
                    p->job.job_id, p->job.attempt, p->job.stage, p->job.shard);
  if (!pool_) pool_ = std::make_unique<JobPool>(opt_.slots + 1);  // +1: one may be cleaning up
  pool_->Submit([this, p] { Execute(p); });
}

void WorkerAgent::OnCancel(const std::string& body) {
  Result<proto::JobRef> ref = proto::DecodeJobRef(body);
  if (!ref.ok()) {
    WorkerLog()->warn("worker {}: ignoring undecodable CANCEL_JOB: {}", opt_.worker_id,
                      ref.status().message());
    return;
  }
  auto it = jobs_.find(*ref);
  if (it == jobs_.end()) {
    WorkerLog()->info("worker {}: CANCEL_JOB for job {} attempt {} not running", opt_.worker_id,
                      ref->job_id, ref->attempt);
    return;
  }
  WorkerLog()->info("worker {}: cancelling job {} attempt {}", opt_.worker_id, ref->job_id,
                    ref->attempt);
  it->second->control->Cancel(false);
}

void WorkerAgent::ReapFinished() {
  std::vector<RunningJob*> done;
  {
    MutexLock lock(&done_mu_);
    done.swap(done_);
  }
  for (RunningJob* p : done) {  // Execute no longer touches *p once it is in done_
    auto it = jobs_.find(proto::JobRef{p->job.job_id, p->job.attempt});
    if (it == jobs_.end() || it->second.get() != p) continue;
    if (!p->control->orphaned() && socket_) {
      WorkerLog()->info("worker {}: job {} attempt {} {}{}", opt_.worker_id, p->job.job_id,
                        p->job.attempt, ToString(p->result.outcome),
                        p->result.message.empty() ? "" : ": " + p->result.message);
      SendResult(p->result);
    }
    logs_.Forget(it->first);
    jobs_.erase(it);
    stats_.jobs_running.store(jobs_.size());
  }
}

void WorkerAgent::OnWatchLog(const std::string& body) {
  auto j = proto::BodyJson(body, "watch_log");
  auto ref = proto::DecodeJobRef(body);
  if (!j.ok() || !ref.ok()) {
    WorkerLog()->warn("worker {}: ignoring undecodable WATCH_LOG", opt_.worker_id);
    return;
  }
  auto it = jobs_.find(*ref);
  if (it == jobs_.end()) return;  // it ended meanwhile: its stored log has everything
  const JobControl* control = it->second->control.get();
  // A malformed offset is not a reason to stop: stream from the start.
  const auto off = j->find("offset");
  const uint64_t from =
      off != j->end() && off->is_number_unsigned() ? off->get<uint64_t>() : uint64_t{0};
  logs_.Watch(
      *ref, [control] { return control->log_path(); }, from,
      Clock::now() + std::chrono::milliseconds(proto::kLogWatchMs));
}

void WorkerAgent::StreamLogs(std::chrono::steady_clock::time_point now) {
  next_log_poll_ = now + kLogPollInterval;
  for (const proto::LogPiece& p : logs_.Poll(now)) Send(proto::kLogPiece, proto::EncodeLogPiece(p));
}

void WorkerAgent::KillAll(bool orphan) {
  for (auto& [key, job] : jobs_) job->control->Cancel(orphan);
}

// Runs on a pool thread.
void WorkerAgent::Execute(RunningJob* rj) {
  JobExecution execution(rj->job, exec_, *rj->control);
  rj->result = execution.Run();
  {
    MutexLock lock(&done_mu_);
    done_.push_back(rj);
  }
  uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof one);
  // `execution` removes the sandbox here, after the result is on its way.
}

}  // namespace recomp::worker
