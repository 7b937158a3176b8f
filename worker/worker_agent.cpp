// WorkerAgent (see worker_agent.h and docs/protocol.md).
//
// Sources for the liveness rules (see /work/shared/LESSONS.md): Paranoid Pirate (RFC 6):
// heartbeat on the data socket, never an infinite poll, on broker silence reconnect on a NEW
// socket with exponential backoff 1 s -> 32 s; Salt's reconnect storms: jitter the delay;
// ipyparallel: a long job must not starve heartbeats, so jobs run off the socket thread.
#include "worker/worker_agent.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

#include "messages/artifact_ref.h"
#include "messages/codec.h"
#include "messages/protocol.h"
#include "worker/job_pool.h"
#include "worker/job_sandbox.h"
#include "worker/process_runner.h"
#include "worker/zombie_reaper.h"

namespace recomp::worker {

using Clock = std::chrono::steady_clock;
using Ms = std::chrono::milliseconds;

namespace {

constexpr size_t kMaxKeptFrames = 8;
constexpr int64_t kMaxFrameBytes = int64_t{32} << 20;

uint64_t Random64() {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^ static_cast<uint64_t>(::getpid())
                                                                       << 32};
  return rng();
}

int64_t ElapsedMs(Clock::time_point since) {
  return std::chrono::duration_cast<Ms>(Clock::now() - since).count();
}

void AppendToLog(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return;
  std::string text = "\n[recomp worker] " + line + "\n";
  (void)!::write(fd, text.data(), text.size());
  ::close(fd);
}

}  // namespace

std::string DefaultWorkerId() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  char rnd[8];
  std::snprintf(rnd, sizeof rnd, "%06x", static_cast<unsigned>(Random64() & 0xffffff));
  return std::string(host).substr(0, 64) + ":" + std::to_string(::getpid()) + ":" + rnd;
}

struct WorkerAgent::RunningJob {
  StageJob job;
  std::atomic<bool> cancel{false};
  std::atomic<bool> orphan{false};  // the broker was lost: nothing is reported or stored
  int cancel_fd = -1;               // eventfd: wakes the job thread's poll
  StageResult result;               // written by the job thread before it signals done
  ~RunningJob() {
    if (cancel_fd >= 0) ::close(cancel_fd);
  }
  void Cancel() {
    cancel.store(true);
    uint64_t one = 1;
    (void)!::write(cancel_fd, &one, sizeof one);
  }
};

Result<std::unique_ptr<WorkerAgent>> WorkerAgent::Create(zmq::context_t& ctx,
                                                         WorkerAgentOptions options,
                                                         BlobSource* source, BlobSink* sink) {
  if (options.connect.empty())
    return Status::InvalidArgument("worker: a broker endpoint is required");
  if (options.slots < 1 || options.slots > 1024)
    return Status::InvalidArgument("worker: slots must be in [1, 1024]");
  if (options.heartbeat_ms < 10 || options.heartbeat_ms > 60000) {
    return Status::InvalidArgument("worker: heartbeat_ms must be in [10, 60000]");
  }
  if (options.liveness < 2 || options.liveness > 100) {
    return Status::InvalidArgument("worker: liveness must be in [2, 100]");
  }
  if (options.reconnect_initial_ms < 1 || options.reconnect_max_ms < options.reconnect_initial_ms) {
    return Status::InvalidArgument("worker: need 1 <= reconnect_initial_ms <= reconnect_max_ms");
  }
  if (options.executor == Executor::kProcess) {
    if (source == nullptr || sink == nullptr) {
      return Status::InvalidArgument("worker: the process executor needs a blob source and sink");
    }
    if (options.work_root.empty())
      return Status::InvalidArgument("worker: a work directory is required");
    // Once, before any job: the jobs' orphans become our children, so each job's process
    // group can be waited for with waitid(P_PGID) (see docs/worker-sandbox.md).
    RECOMP_RETURN_IF_ERROR(EnableChildSubreaper());
  }
  if (options.worker_id.empty()) options.worker_id = DefaultWorkerId();
  if (options.worker_id.size() > 128)
    return Status::InvalidArgument("worker: id longer than 128 bytes");
  std::unique_ptr<WorkerAgent> a(new WorkerAgent(ctx, std::move(options), source, sink));
  a->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (a->wake_fd_ < 0)
    return Status::IOError(std::string("worker: eventfd: ") + std::strerror(errno));
  return a;
}

WorkerAgent::WorkerAgent(zmq::context_t& ctx, WorkerAgentOptions options, BlobSource* source,
                         BlobSink* sink)
    : ctx_(ctx), opt_(std::move(options)), source_(source), sink_(sink) {
  backoff_ms_ = opt_.reconnect_initial_ms;
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

void WorkerAgent::Connect() {
  socket_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
  socket_->set(zmq::sockopt::linger, 0);
  socket_->set(zmq::sockopt::sndhwm, 1000);
  socket_->set(zmq::sockopt::rcvhwm, 1000);
  socket_->set(zmq::sockopt::maxmsgsize, kMaxFrameBytes);
  socket_->connect(opt_.connect);
  heard_since_connect_ = false;
  last_heard_ = Clock::now();
  proto::WorkerHello h;
  h.worker_id = opt_.worker_id;
  h.slots = opt_.slots;
  h.heartbeat_ms = opt_.heartbeat_ms;
  h.liveness = opt_.liveness;
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  h.host = host;
  h.pid = ::getpid();
  ++stats_.registrations;
  Send(proto::kReady, proto::EncodeWorkerHello(h));
  WorkerLog().info("worker {}: READY sent to {} ({} slots)", opt_.worker_id, opt_.connect,
                   opt_.slots);
}

void WorkerAgent::CloseSocket() {
  if (socket_) {
    socket_->close();
    socket_.reset();
  }
}

bool WorkerAgent::Send(std::string_view command, std::string body) {
  if (!socket_) return false;
  std::vector<std::string> frames = proto::Frames(command, std::move(body));
  try {
    for (size_t i = 0; i < frames.size(); ++i) {
      auto flags = zmq::send_flags::dontwait |
                   (i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      if (!socket_->send(zmq::buffer(frames[i]), flags)) {
        WorkerLog().warn("worker {}: {} not sent: the broker is not reading (HWM)", opt_.worker_id,
                         command);
        return false;
      }
    }
  } catch (const zmq::error_t& e) {
    WorkerLog().warn("worker {}: sending {}: {}", opt_.worker_id, command, e.what());
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
  WorkerLog().warn("worker {}: {}; reconnecting in {} ms", opt_.worker_id, why, delay);
  backoff_ms_ = std::min(backoff_ms_ * 2, opt_.reconnect_max_ms);
}

// ---------------------------------------------------------------------------------------------
// Loop

Status WorkerAgent::Run() {
  try {
    Connect();
    while (!stop_.load()) {
      auto now = Clock::now();
      Ms timeout(250);
      if (socket_) {
        Ms hb(opt_.heartbeat_ms);
        timeout = std::min(timeout, std::chrono::duration_cast<Ms>(last_sent_ + hb - now));
        timeout = std::min(timeout,
                           std::chrono::duration_cast<Ms>(last_heard_ + hb * opt_.liveness - now));
      } else {
        timeout = std::min(timeout, std::chrono::duration_cast<Ms>(reconnect_at_ - now));
      }
      timeout = std::clamp(timeout, Ms(1), Ms(250));
      zmq::pollitem_t items[2] = {{nullptr, wake_fd_, ZMQ_POLLIN, 0},
                                  {socket_ ? socket_->handle() : nullptr, 0, ZMQ_POLLIN, 0}};
      try {
        zmq::poll(items, socket_ ? 2 : 1, timeout);
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) throw;
      }
      if (items[0].revents & ZMQ_POLLIN) {
        uint64_t v;
        (void)!::read(wake_fd_, &v, sizeof v);
      }
      if (stop_.load()) break;
      ReapFinished();
      if (socket_ && (items[1].revents & ZMQ_POLLIN)) {
        for (int i = 0; i < 1000 && socket_; ++i) {
          std::vector<std::string> frames;
          size_t total = 0;
          zmq::message_t m;
          if (!socket_->recv(m, zmq::recv_flags::dontwait)) break;
          for (;;) {
            ++total;
            if (frames.size() < kMaxKeptFrames) frames.push_back(m.to_string());
            if (!m.more()) break;
            (void)socket_->recv(m);
          }
          last_heard_ = Clock::now();
          if (!heard_since_connect_) {
            heard_since_connect_ = true;
            backoff_ms_ = opt_.reconnect_initial_ms;  // registered: reset the backoff
          }
          HandleMessage(frames, total);
        }
      }
      now = Clock::now();
      if (opt_.executor == Executor::kProcess && now >= next_reap_) {
        next_reap_ = now + kReapInterval;
        if (size_t n = JobGroups::Get().ReapEscapedZombies(); n > 0) {
          WorkerLog().info(
              "worker {}: reaped {} zombie(s) of processes that left their job's group",
              opt_.worker_id, n);
        }
      }
      if (socket_) {
        if (now - last_heard_ > Ms(uint64_t{opt_.heartbeat_ms} * opt_.liveness)) {
          BrokerLost("no heartbeat from the broker for " + std::to_string(ElapsedMs(last_heard_)) +
                     " ms");
        } else if (now - last_sent_ >= Ms(opt_.heartbeat_ms)) {
          Send(proto::kHeartbeat, proto::EmptyBody());
        }
      } else if (now >= reconnect_at_ && jobs_.empty()) {
        // Killed jobs are drained first so we never hold more than `slots` processes.
        Connect();
      }
    }
  } catch (const zmq::error_t& e) {
    KillAll(true);
    if (e.num() == ETERM) return Status::Cancelled("worker: context terminated");
    return Status::Internal(std::string("worker: zeromq error: ") + e.what());
  } catch (const std::exception& e) {
    KillAll(true);
    return Status::Internal(std::string("worker: unexpected exception: ") + e.what());
  }
  // Graceful exit: tell the broker (it reports our jobs lost; the coordinator retries them).
  Send(proto::kDisconnect, proto::JsonBody({{"reason", "worker stopping"}}));
  KillAll(true);
  if (pool_) pool_->WaitIdle();
  jobs_.clear();
  {
    std::lock_guard<std::mutex> lock(done_mu_);
    done_.clear();
  }
  CloseSocket();
  WorkerLog().info("worker {}: stopped", opt_.worker_id);
  return Status::Ok();
}

void WorkerAgent::HandleMessage(const std::vector<std::string>& frames, size_t total_frames) {
  if (total_frames != frames.size()) {
    WorkerLog().warn("worker {}: ignoring a {}-frame message", opt_.worker_id, total_frames);
    return;
  }
  Result<proto::Message> msg = proto::Parse(frames);
  if (!msg.ok()) {
    WorkerLog().warn("worker {}: ignoring malformed message: {}", opt_.worker_id,
                     msg.status().message());
    return;
  }
  const std::string& cmd = msg->command;
  if (cmd == proto::kHeartbeat) return;
  if (cmd == proto::kJob) return OnJob(msg->body);
  if (cmd == proto::kCancel) return OnCancel(msg->body);
  if (cmd == proto::kDisconnect) {
    std::string reason;
    if (auto j = proto::BodyJson(msg->body, "disconnect");
        j.ok() && j->contains("reason") && (*j)["reason"].is_string()) {
      reason = (*j)["reason"].get<std::string>().substr(0, 200);
    }
    BrokerLost("broker sent DISCONNECT (" + reason + ")");
    return;
  }
  WorkerLog().warn("worker {}: ignoring unexpected command {}", opt_.worker_id, cmd);
}

void WorkerAgent::OnJob(const std::string& body) {
  Result<StageJob> job = DecodeStageJob(body);
  if (!job.ok()) {
    Result<proto::JobRef> ref = proto::DecodeJobRef(body);
    if (!ref.ok()) {
      WorkerLog().warn("worker {}: ignoring undecodable JOB: {}", opt_.worker_id,
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
    WorkerLog().warn("worker {}: {}", opt_.worker_id, r.message);
    SendResult(r);
    return;
  }
  auto key = std::make_pair(job->job_id, job->attempt);
  if (jobs_.count(key) != 0) {
    WorkerLog().info("worker {}: duplicate JOB {} attempt {}: already running", opt_.worker_id,
                     key.first, key.second);
    return;
  }
  StageResult base;
  base.job_id = job->job_id;
  base.run_id = job->run_id;
  base.stage = job->stage;
  base.shard = job->shard;
  base.attempt = job->attempt;
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
  auto rj = std::make_unique<RunningJob>();
  rj->job = std::move(job).value();
  rj->result = base;
  rj->cancel_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (rj->cancel_fd < 0) {
    base.outcome = JobOutcome::kError;
    base.message = std::string("worker: eventfd: ") + std::strerror(errno);
    SendResult(base);
    return;
  }
  RunningJob* p = rj.get();
  jobs_.emplace(key, std::move(rj));
  ++stats_.jobs_started;
  WorkerLog().info("worker {}: job {} attempt {} ({} shard {}) started", opt_.worker_id,
                   p->job.job_id, p->job.attempt, p->job.stage, p->job.shard);
  if (!pool_) pool_ = std::make_unique<JobPool>(opt_.slots + 1);  // +1: one may be cleaning up
  pool_->Submit([this, p] { Execute(p); });
}

void WorkerAgent::OnCancel(const std::string& body) {
  Result<proto::JobRef> ref = proto::DecodeJobRef(body);
  if (!ref.ok()) {
    WorkerLog().warn("worker {}: ignoring undecodable CANCEL_JOB: {}", opt_.worker_id,
                     ref.status().message());
    return;
  }
  auto it = jobs_.find({ref->job_id, ref->attempt});
  if (it == jobs_.end()) {
    WorkerLog().info("worker {}: CANCEL_JOB for job {} attempt {} not running", opt_.worker_id,
                     ref->job_id, ref->attempt);
    return;
  }
  WorkerLog().info("worker {}: cancelling job {} attempt {}", opt_.worker_id, ref->job_id,
                   ref->attempt);
  it->second->Cancel();
}

void WorkerAgent::ReapFinished() {
  std::vector<RunningJob*> done;
  {
    std::lock_guard<std::mutex> lock(done_mu_);
    done.swap(done_);
  }
  for (RunningJob* p : done) {  // Execute no longer touches *p once it is in done_
    auto key = std::make_pair(p->job.job_id, p->job.attempt);
    auto it = jobs_.find(key);
    if (it == jobs_.end() || it->second.get() != p) continue;
    if (!p->orphan.load() && socket_) {
      WorkerLog().info("worker {}: job {} attempt {} {}{}", opt_.worker_id, key.first, key.second,
                       ToString(p->result.outcome),
                       p->result.message.empty() ? "" : ": " + p->result.message);
      SendResult(p->result);
    }
    jobs_.erase(it);
  }
}

void WorkerAgent::KillAll(bool orphan) {
  for (auto& [key, job] : jobs_) {
    if (orphan) job->orphan.store(true);
    job->Cancel();
  }
}

// ---------------------------------------------------------------------------------------------
// One job (its own thread)

void WorkerAgent::Execute(RunningJob* rj) {
  const StageJob& job = rj->job;
  StageResult& r = rj->result;
  auto t0 = Clock::now();
  const std::string producer = "worker:" + opt_.worker_id;
  auto finish = [&] {
    if (r.duration_ms == 0) r.duration_ms = static_cast<uint64_t>(ElapsedMs(t0));
    {
      std::lock_guard<std::mutex> lock(done_mu_);
      done_.push_back(rj);
    }
    uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  };
  auto error = [&](JobOutcome o, std::string message) {
    r.outcome = o;
    r.exit_code = -1;
    r.message = std::move(message);
  };

  Result<std::unique_ptr<JobSandbox>> sb =
      JobSandbox::Create(opt_.work_root, job.job_id, job.attempt);
  if (!sb.ok()) {
    error(JobOutcome::kError,
          "worker could not create the job's sandbox: " + sb.status().message());
    return finish();
  }
  JobSandbox& sandbox = **sb;
  auto store_log = [&] {
    if (rj->orphan.load()) return;
    if (!r.message.empty()) AppendToLog(sandbox.log_path(), r.message);
    Result<std::string> log = sandbox.StoreLog(*sink_, producer);
    if (log.ok()) {
      r.log_ref = *log;
    } else {
      r.message += (r.message.empty() ? "" : "; ") + std::string("log not stored: ") +
                   log.status().message();
    }
  };

  // Inputs: PathRef paths are relative to the working dir and live under in/.
  std::vector<SandboxInput> inputs;
  inputs.reserve(job.inputs.size());
  for (const PathRef& in : job.inputs) {
    if (in.path.rfind("in/", 0) != 0) {
      error(JobOutcome::kError, "input path " + in.path + " is not under in/");
      store_log();
      return finish();
    }
    Result<Digest> d = ParseArtifactRef(in.ref);
    if (!d.ok()) {
      error(JobOutcome::kError, "input " + in.path + ": " + d.status().message());
      store_log();
      return finish();
    }
    inputs.push_back({in.path.substr(3), *d});
  }
  if (Status st = sandbox.MaterializeInputs(inputs, *source_); !st.ok()) {
    error(JobOutcome::kError, "inputs unavailable: " + st.message());
    store_log();
    return finish();
  }
  if (rj->cancel.load()) {
    error(JobOutcome::kCancelled, "cancelled before start");
    store_log();
    return finish();
  }

  ProcessSpec spec;
  spec.argv = job.argv;
  spec.env = job.env;
  spec.env["RECOMP_JOB_ID"] = job.job_id;
  spec.env["RECOMP_ATTEMPT"] = std::to_string(job.attempt);
  spec.working_dir = sandbox.work_dir();
  spec.log_path = sandbox.log_path();
  spec.timeout = std::chrono::seconds(job.timeout_s);
  spec.kill_grace = opt_.kill_grace;
  Result<std::unique_ptr<ProcessRunner>> runner = ProcessRunner::Start(spec);
  if (!runner.ok()) {
    error(JobOutcome::kError, "worker could not start the job: " + runner.status().message());
    store_log();
    return finish();
  }
  ProcessOutcome out;
  bool killed = false;
  while (!(*runner)->Poll(&out)) {
    if (rj->cancel.load() && !killed) {
      (*runner)->Kill();
      killed = true;
      continue;
    }
    struct pollfd fds[2] = {{(*runner)->wait_fd(), POLLIN, 0}, {rj->cancel_fd, POLLIN, 0}};
    int n = ::poll(fds, 2, 250);
    if (n > 0 && (fds[1].revents & POLLIN)) {
      uint64_t v;
      (void)!::read(rj->cancel_fd, &v, sizeof v);
    }
  }
  r.exit_code = out.exit_code;
  r.signal = out.signal;
  r.duration_ms = static_cast<uint64_t>(std::max<int64_t>(out.wall_ms, 0));
  if (r.duration_ms == 0) r.duration_ms = 1;
  if (rj->orphan.load()) return finish();  // nobody wants the result: skip storing

  switch (out.kind) {
    case ProcessOutcome::Kind::kExited:
      if (out.exit_code == 0) {
        Result<CollectedOutputs> collected = sandbox.CollectOutputs(job.outputs, *sink_, producer);
        if (collected.ok()) {
          r.outcome = JobOutcome::kSucceeded;
          for (const SandboxOutput& o : collected->files) r.outputs.push_back({o.path, o.ref});
          std::sort(r.outputs.begin(), r.outputs.end());
          r.log_ref = collected->log_ref;
          return finish();
        }
        r.outcome = collected.status().code() == Status::Code::kInvalidArgument ||
                            collected.status().code() == Status::Code::kNotFound ||
                            collected.status().code() == Status::Code::kResourceExhausted ||
                            collected.status().code() == Status::Code::kFailedPrecondition
                        ? JobOutcome::kFailed
                        : JobOutcome::kError;
        r.message = "outputs: " + collected.status().message();
      } else {
        r.outcome = JobOutcome::kFailed;
        r.message =
            out.message.empty() ? "exited with code " + std::to_string(out.exit_code) : out.message;
      }
      break;
    case ProcessOutcome::Kind::kSignaled:
      r.outcome = JobOutcome::kFailed;
      r.message = out.message;
      break;
    case ProcessOutcome::Kind::kTimedOut:
      r.outcome = JobOutcome::kTimedOut;
      r.message = "timed out after " + std::to_string(job.timeout_s) + " s" +
                  (out.message.empty() ? "" : " (" + out.message + ")");
      break;
    case ProcessOutcome::Kind::kKilled:
      r.outcome = JobOutcome::kCancelled;
      r.message = "cancelled" + (out.message.empty() ? "" : " (" + out.message + ")");
      break;
    case ProcessOutcome::Kind::kSpawnFailed:
      r.outcome = JobOutcome::kFailed;
      r.message = "could not start the command: " + out.message;
      break;
    case ProcessOutcome::Kind::kLost:
      r.outcome = JobOutcome::kError;
      r.message = "the job's exit status was lost: " + out.message;
      break;
  }
  if (!out.group_drained) r.message += " (some of the job's processes survived SIGKILL)";
  store_log();
  finish();
}

}  // namespace recomp::worker
