// Broker (see broker.h and docs/protocol.md).
//
// Design notes, with their sources (see /work/shared/LESSONS.md):
//  - Majordomo (RFC 18): READY carries the worker's heartbeat interval and liveness, so both
//    sides agree; any traffic counts as a heartbeat; an unexpected command or a message from an
//    unknown worker gets DISCONNECT and the worker re-registers on a new socket.
//  - Paranoid Pirate (RFC 6): heartbeats on the same socket as data; the poll timeout is never
//    infinite.
//  - Credit-based flow control (Guide ch. 7): slots = credits; a worker never holds more jobs
//    than it granted, so the per-worker HWM is never the flow control.
//  - ROUTER_MANDATORY: an unroutable send is EHOSTUNREACH instead of a silent drop; it means the
//    worker is gone. LINGER 0 so shutdown never hangs. Every queue is bounded.
//  - Fencing (Celery's duplicate executions): a RESULT is accepted only from the worker that
//    currently holds exactly that (job_id, attempt); the coordinator re-dispatches lost jobs
//    with attempt+1.
#include "broker/broker.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "messages/clock.h"
#include "messages/codec.h"
#include "messages/protocol.h"

namespace recomp::broker {
namespace {

std::shared_ptr<spdlog::logger> Log() {
  static const std::shared_ptr<spdlog::logger> kLogger = [] {
    if (auto existing = spdlog::get("broker")) return existing;
    try {
      return spdlog::stderr_color_mt("broker");
    } catch (const spdlog::spdlog_ex&) {  // registered concurrently by the host
      return spdlog::get("broker");
    }
  }();
  return kLogger;
}

int64_t NowUnixMs() {
  return ToUnixMillis(std::chrono::system_clock::now());
}

std::string Truncate(std::string s, size_t n = 200) {
  if (s.size() > n) s = s.substr(0, n) + "...";
  return s;
}

std::string DisconnectBody(const std::string& reason) {
  return proto::JsonBody({{"reason", Truncate(reason, wire::kMaxText / 2)}});
}

}  // namespace

Result<std::unique_ptr<Broker>> Broker::Create(zmq::context_t& ctx, BrokerOptions options) {
  if (options.workers_endpoint.empty() || options.dispatch_endpoint.empty()) {
    return Status::InvalidArgument("broker: workers and dispatch endpoints are required");
  }
  if (options.heartbeat_ms < 10 || options.heartbeat_ms > 60000) {
    return Status::InvalidArgument("broker: heartbeat_ms must be in [10, 60000]");
  }
  if (options.liveness < 2 || options.liveness > 100) {
    return Status::InvalidArgument("broker: liveness must be in [2, 100]");
  }
  if (options.max_queue == 0 || options.max_workers == 0 || options.max_outbox == 0) {
    return Status::InvalidArgument("broker: max_queue, max_workers and max_outbox must be > 0");
  }
  if (options.sndhwm < 0 || options.rcvhwm < 0) {
    return Status::InvalidArgument("broker: HWMs must be >= 0");
  }
  std::unique_ptr<Broker> b;
  try {
    b.reset(new Broker(ctx, std::move(options)));
  } catch (const zmq::error_t& e) {
    return Status::Internal(std::string("broker: creating sockets: ") + e.what());
  }
  b->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (b->wake_fd_ < 0)
    return Status::IOError(std::string("broker: eventfd: ") + std::strerror(errno));
  return b;
}

Broker::Broker(zmq::context_t& ctx, BrokerOptions options)
    : ctx_(ctx),
      opt_(std::move(options)),
      workers_(ctx, zmq::socket_type::router),
      dispatch_(ctx, zmq::socket_type::router),
      queue_(opt_.max_queue) {
  for (zmq::socket_t* s : {&workers_, &dispatch_}) {
    s->set(zmq::sockopt::linger, 0);
    s->set(zmq::sockopt::router_mandatory, 1);
    s->set(zmq::sockopt::sndhwm, opt_.sndhwm);
    s->set(zmq::sockopt::rcvhwm, opt_.rcvhwm);
    s->set(zmq::sockopt::maxmsgsize, opt_.max_frame_bytes);
  }
}

Broker::~Broker() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status Broker::Bind() {
  try {
    workers_.bind(opt_.workers_endpoint);
    workers_resolved_ = workers_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("broker: cannot bind workers endpoint " + opt_.workers_endpoint +
                               ": " + e.what());
  }
  try {
    dispatch_.bind(opt_.dispatch_endpoint);
    dispatch_resolved_ = dispatch_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("broker: cannot bind dispatch endpoint " + opt_.dispatch_endpoint +
                               ": " + e.what());
  }
  Log()->info("broker: workers on {}, dispatch on {}", workers_resolved_, dispatch_resolved_);
  return Status::Ok();
}

void Broker::Stop() {
  stop_.store(true);
  uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!::write(wake_fd_, &one, sizeof one);
}

std::chrono::milliseconds Broker::Tick() const {
  uint32_t hb = opt_.heartbeat_ms;
  uint32_t worker_hb = registry_.MinHeartbeatMs();
  if (worker_hb != 0) hb = std::min(hb, worker_hb);
  return std::chrono::milliseconds(std::clamp<uint32_t>(hb / 4, 2, 250));
}

Status Broker::Run() {
  try {
    next_housekeeping_ = Clock::now();
    while (!stop_.load()) {
      zmq::pollitem_t items[] = {
          {workers_.handle(), 0, ZMQ_POLLIN, 0},
          {dispatch_.handle(), 0, ZMQ_POLLIN, 0},
          {nullptr, wake_fd_, ZMQ_POLLIN, 0},
      };
      auto now = Clock::now();
      auto timeout =
          std::chrono::duration_cast<std::chrono::milliseconds>(next_housekeeping_ - now);
      if (!outbox_.empty() && !coordinator_.empty())
        timeout = std::min(timeout, std::chrono::milliseconds(5));
      timeout = std::clamp(timeout, std::chrono::milliseconds(0), std::chrono::milliseconds(250));
      try {
        zmq::poll(items, 3, timeout);
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) throw;
        continue;
      }
      if (items[2].revents & ZMQ_POLLIN) {
        uint64_t v;
        (void)!::read(wake_fd_, &v, sizeof v);
      }
      if (stop_.load()) break;
      if (items[0].revents & ZMQ_POLLIN) DrainWorkers();
      if (items[1].revents & ZMQ_POLLIN) DrainDispatch();
      now = Clock::now();
      if (now >= next_housekeeping_) {
        Housekeeping(now);
        next_housekeeping_ = now + Tick();
      }
      if (list_dirty_ &&
          now - last_list_sent_ >= std::chrono::milliseconds(opt_.worker_list_min_interval_ms)) {
        SendWorkerList(now);
      }
      FlushOutbox();
    }
  } catch (const zmq::error_t& e) {
    if (e.num() == ETERM) return Status::Cancelled("broker: context terminated");
    Log()->error("broker: zeromq error: {}", e.what());
    return Status::Internal(std::string("broker: zeromq error: ") + e.what());
  } catch (const std::exception& e) {
    Log()->error("broker: unexpected exception: {}", e.what());
    return Status::Internal(std::string("broker: unexpected exception: ") + e.what());
  }
  Log()->info("broker: stopped ({} queued, {} workers)", queue_.size(), registry_.size());
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Workers socket

void Broker::DrainWorkers() {
  Received m;
  // Bounded per wake-up so the dispatch socket and housekeeping are never starved.
  for (int i = 0; i < 1000 && RecvBounded(workers_, &m); ++i) {
    if (m.frames.empty()) continue;
    std::string identity = m.frames.front();
    std::vector<std::string> rest(m.frames.begin() + 1, m.frames.end());
    OnWorkerMessage(identity, rest, m.total_frames - 1);
  }
}

void Broker::OnWorkerMessage(const std::string& identity, const std::vector<std::string>& frames,
                             size_t total_frames) {
  auto now = Clock::now();
  WorkerEntry* w = registry_.Find(identity);
  if (w != nullptr) {  // any traffic counts as a heartbeat
    w->last_seen = now;
    w->last_seen_unix_ms = NowUnixMs();
  }
  Result<proto::Message> msg =
      total_frames == frames.size()
          ? proto::Parse(frames)
          : Result<proto::Message>(Status::InvalidArgument("protocol: expected 3 frames, got " +
                                                           std::to_string(total_frames)));
  if (!msg.ok()) {
    ++stats_.malformed;
    Log()->warn("broker: malformed message from worker peer {}: {}", PeerName(identity),
                msg.status().message());
    if (w != nullptr) {
      DropWorker(identity, "protocol error: " + msg.status().message(), true);
    } else {
      SendDisconnect(identity, msg.status().message());
    }
    return;
  }
  const std::string& cmd = msg->command;
  if (cmd == proto::kReady) {
    OnWorkerReady(identity, msg->body);
    return;
  }
  if (w == nullptr) {
    // MDP: anything but READY from an unknown (or already dropped) worker gets DISCONNECT.
    if (cmd != proto::kDisconnect) {
      Log()->info("broker: {} from unregistered worker peer {}: sending DISCONNECT", cmd,
                  PeerName(identity));
      SendDisconnect(identity, "not registered: send READY");
    }
    return;
  }
  if (cmd == proto::kHeartbeat) return;
  if (cmd == proto::kResult) {
    OnWorkerResult(*w, msg->body);
    return;
  }
  if (cmd == proto::kDisconnect) {
    std::string reason = "disconnected";
    if (auto j = proto::BodyJson(msg->body, "disconnect");
        j.ok() && j->contains("reason") && (*j)["reason"].is_string()) {
      reason = "disconnected: " + Truncate((*j)["reason"].get<std::string>());
    }
    DropWorker(identity, "worker " + w->hello.worker_id + " " + reason, false);
    return;
  }
  ++stats_.malformed;
  Log()->warn("broker: unexpected command {} from worker {}: disconnecting it", cmd,
              w->hello.worker_id);
  DropWorker(identity, "protocol error: unexpected command " + cmd, true);
}

void Broker::OnWorkerReady(const std::string& identity, const std::string& body) {
  Result<proto::WorkerHello> hello = proto::DecodeWorkerHello(body);
  if (!hello.ok()) {
    ++stats_.malformed;
    Log()->warn("broker: bad READY from worker peer {}: {}", PeerName(identity),
                hello.status().message());
    if (registry_.Find(identity) != nullptr) {
      DropWorker(identity, "protocol error: bad READY: " + hello.status().message(), true);
    } else {
      SendDisconnect(identity, "bad READY: " + hello.status().message());
    }
    return;
  }
  if (WorkerEntry* same = registry_.Find(identity); same != nullptr) {
    // READY twice on one socket is a protocol error (MDP): drop and make it start over.
    DropWorker(identity, "worker " + same->hello.worker_id + " sent READY twice", true);
    return;
  }
  if (WorkerEntry* old = registry_.FindByWorkerId(hello->worker_id); old != nullptr) {
    // The worker reconnected on a new socket (it kills its jobs before doing so).
    std::string old_identity = old->identity;
    DropWorker(old_identity, "worker " + hello->worker_id + " re-registered", true);
  }
  if (registry_.size() >= opt_.max_workers) {
    Log()->warn("broker: refusing worker {}: {} workers registered", hello->worker_id,
                registry_.size());
    SendDisconnect(identity, "too many workers");
    return;
  }
  WorkerEntry& w = registry_.Add(identity, *hello, Clock::now(), NowUnixMs());
  Log()->info("broker: worker {} ready ({} slots, heartbeat {} ms x {}, {} pid {})",
              w.hello.worker_id, w.hello.slots, w.hello.heartbeat_ms, w.hello.liveness,
              w.hello.host, w.hello.pid);
  // Acknowledge at once so the worker knows the broker is alive and resets its backoff.
  if (SendToWorker(w, proto::kHeartbeat, proto::EmptyBody()) == SendStatus::kUnreachable) return;
  MarkListDirty();
  Dispatch();
}

void Broker::OnWorkerResult(WorkerEntry& w, const std::string& body) {
  Result<StageResult> r = DecodeStageResult(body);
  if (!r.ok()) {
    ++stats_.malformed;
    Log()->warn("broker: undecodable RESULT from worker {}: {}", w.hello.worker_id,
                r.status().message());
    // We cannot tell which lease it ends: drop the worker so its leases are reported lost and
    // it re-registers with a clean slate.
    DropWorker(w.identity, "protocol error: undecodable RESULT: " + r.status().message(), true);
    return;
  }
  JobKey key{r->job_id, r->attempt};
  std::optional<Lease> lease = registry_.RemoveLease(w, key);
  if (!lease) {
    ++stats_.stale_results;
    Log()->info(
        "broker: stale RESULT for job {} attempt {} from worker {} (not leased to it): "
        "ignored",
        r->job_id, r->attempt, w.hello.worker_id);
    return;
  }
  ++stats_.results;
  // The broker is the authority on who ran it and for which run/stage/shard. An honest worker
  // already says exactly that: its validated bytes go on unchanged (no re-encoding per job).
  if (r->worker == w.hello.worker_id && r->run_id == lease->run_id && r->stage == lease->stage &&
      r->shard == lease->shard) {
    SendToCoordinator(proto::kResult, body);
  } else {
    StageResult result = std::move(r).value();
    result.worker = w.hello.worker_id;
    result.run_id = lease->run_id;
    result.stage = lease->stage;
    result.shard = lease->shard;
    SendToCoordinator(proto::kResult, EncodeStageResult(result));
  }
  MarkListDirty();
  Dispatch();
}

// ---------------------------------------------------------------------------------------------
// Dispatch socket

void Broker::DrainDispatch() {
  Received m;
  for (int i = 0; i < 1000 && RecvBounded(dispatch_, &m); ++i) {
    if (m.frames.empty()) continue;
    std::string identity = m.frames.front();
    std::vector<std::string> rest(m.frames.begin() + 1, m.frames.end());
    OnDispatchMessage(identity, rest, m.total_frames - 1);
  }
}

void Broker::OnDispatchMessage(const std::string& identity, const std::vector<std::string>& frames,
                               size_t total_frames) {
  if (identity != coordinator_) {
    Log()->info("broker: dispatch peer {} connected", PeerName(identity));
    coordinator_ = identity;  // the latest peer that spoke is the coordinator
    MarkListDirty();
  }
  Result<proto::Message> msg =
      total_frames == frames.size()
          ? proto::Parse(frames)
          : Result<proto::Message>(Status::InvalidArgument("protocol: expected 3 frames, got " +
                                                           std::to_string(total_frames)));
  if (!msg.ok()) {
    ++stats_.malformed;
    Log()->warn("broker: malformed message on the dispatch link: {}", msg.status().message());
    SendToCoordinator(proto::kError, proto::ErrorBody(msg.status()));
    return;
  }
  if (msg->command == proto::kDispatch) {
    OnDispatch(msg->body);
  } else if (msg->command == proto::kRevoke) {
    OnRevoke(msg->body);
  } else if (msg->command == proto::kHeartbeat) {
    // Announces the coordinator (a ROUTER can only reply to a peer it has heard from).
  } else {
    ++stats_.malformed;
    Log()->warn("broker: unknown command {} on the dispatch link", msg->command);
    SendToCoordinator(proto::kError,
                      proto::ErrorBody(Status::InvalidArgument(
                          "broker: unknown command " + msg->command + " on the dispatch link")));
  }
}

void Broker::OnDispatch(const std::string& body) {
  Result<StageJob> job = DecodeStageJob(body);
  if (!job.ok()) {
    ++stats_.malformed;
    Log()->warn("broker: undecodable DISPATCH: {}", job.status().message());
    if (auto ref = proto::DecodeJobRef(body); ref.ok()) {
      ++stats_.rejected;
      SendToCoordinator(proto::kRejected,
                        proto::JsonBody({{"job_id", ref->job_id},
                                         {"attempt", ref->attempt},
                                         {"reason", "invalid job: " + job.status().message()}}));
    } else {
      SendToCoordinator(proto::kError, proto::ErrorBody(job.status().WithContext("DISPATCH")));
    }
    return;
  }
  JobKey key = KeyOf(*job);
  if (registry_.Holder(key) != nullptr) {
    Log()->debug("broker: duplicate DISPATCH of running job {} attempt {}: ignored", key.job_id,
                 key.attempt);
    return;
  }
  switch (queue_.Push(QueuedJob(std::move(job).value(), body))) {
    case JobQueue::PushResult::kQueued:
      Dispatch();
      break;
    case JobQueue::PushResult::kDuplicate:
      Log()->debug("broker: duplicate DISPATCH of queued job {} attempt {}: ignored", key.job_id,
                   key.attempt);
      break;
    case JobQueue::PushResult::kFull:
      ++stats_.rejected;
      Log()->warn("broker: queue full ({} jobs): rejecting job {} attempt {}", queue_.size(),
                  key.job_id, key.attempt);
      SendToCoordinator(
          proto::kRejected,
          proto::JsonBody(
              {{"job_id", key.job_id},
               {"attempt", key.attempt},
               {"reason", "queue full (" + std::to_string(queue_.max_size()) + " jobs)"}}));
      break;
  }
}

void Broker::OnRevoke(const std::string& body) {
  Result<proto::JobRef> ref = proto::DecodeJobRef(body);
  if (!ref.ok()) {
    ++stats_.malformed;
    SendToCoordinator(proto::kError, proto::ErrorBody(ref.status().WithContext("REVOKE")));
    return;
  }
  JobKey key{ref->job_id, ref->attempt};
  if (std::optional<QueuedJob> job = queue_.Remove(key)) {
    // Every accepted DISPATCH ends in exactly one RESULT (or REJECTED): a job revoked before it
    // reached a worker ends as cancelled, run by nobody.
    StageResult r;
    r.job_id = job->job_id;
    r.run_id = job->run_id;
    r.stage = job->stage;
    r.shard = job->shard;
    r.attempt = job->attempt;
    r.outcome = JobOutcome::kCancelled;
    r.message = "revoked before dispatch";
    SendToCoordinator(proto::kResult, EncodeStageResult(r));
    MarkListDirty();
    return;
  }
  if (WorkerEntry* w = registry_.Holder(key); w != nullptr) {
    auto it = w->jobs.find(key);
    if (it != w->jobs.end()) it->second.revoked = true;
    Log()->info("broker: revoking job {} attempt {} on worker {}", key.job_id, key.attempt,
                w->hello.worker_id);
    // The lease (and credit) stays until the worker reports the (cancelled) result.
    SendToWorker(*w, proto::kCancel, proto::EncodeJobRef(*ref));
    return;
  }
  Log()->debug("broker: REVOKE of unknown job {} attempt {}: ignored", key.job_id, key.attempt);
}

// ---------------------------------------------------------------------------------------------
// Dispatch, liveness, coordinator output

void Broker::Dispatch() {
  while (!queue_.empty()) {
    WorkerEntry* w = registry_.PickForDispatch();
    if (w == nullptr) return;
    QueuedJob job = std::move(queue_.Pop()).value();
    std::string identity = w->identity;
    SendStatus st =
        SendToWorker(*w, proto::kJob, job.wire.empty() ? EncodeStageJob(job) : job.wire);
    if (st != SendStatus::kOk) {
      queue_.PushFront(std::move(job));
      if (st == SendStatus::kUnreachable) continue;  // that worker was dropped; try another
      return;                                        // its pipe is full: retry on the next event
    }
    ++stats_.dispatched;
    Lease lease;
    lease.job_id = job.job_id;
    lease.attempt = job.attempt;
    lease.run_id = job.run_id;
    lease.stage = job.stage;
    lease.shard = job.shard;
    lease.started = Clock::now();
    registry_.AddLease(*w, std::move(lease));
    // No per-job STARTED message: the coordinator learns who runs what from WORKER_LIST (the
    // leases, at most 10 times a second) and who ran it from the RESULT.
    MarkListDirty();
  }
}

void Broker::Housekeeping(Clock::time_point now) {
  for (const std::string& identity : registry_.Expired(now)) {
    WorkerEntry* w = registry_.Find(identity);
    if (w == nullptr) continue;
    auto silent = std::chrono::duration_cast<std::chrono::milliseconds>(now - w->last_seen);
    Log()->warn("broker: worker {} lost: no heartbeat for {} ms", w->hello.worker_id,
                silent.count());
    DropWorker(identity,
               "worker " + w->hello.worker_id + " lost: no heartbeat for " +
                   std::to_string(silent.count()) + " ms",
               true);
  }
  std::vector<std::string> due;
  registry_.ForEach([&](WorkerEntry& w) {
    if (now - w.last_sent >= std::chrono::milliseconds(w.hello.heartbeat_ms))
      due.push_back(w.identity);
  });
  for (const std::string& identity : due) {
    if (WorkerEntry* w = registry_.Find(identity))
      SendToWorker(*w, proto::kHeartbeat, proto::EmptyBody());
  }
  if (now - last_list_sent_ >= std::chrono::milliseconds(opt_.heartbeat_ms)) SendWorkerList(now);
  if (!queue_.empty()) Dispatch();
}

StageResult Broker::LostResult(const WorkerEntry& w, const Lease& lease,
                               const std::string& why) const {
  StageResult r;
  r.job_id = lease.job_id;
  r.run_id = lease.run_id;
  r.stage = lease.stage;
  r.shard = lease.shard;
  r.attempt = lease.attempt;
  r.worker = w.hello.worker_id;
  r.outcome = JobOutcome::kWorkerLost;
  r.exit_code = -1;
  r.duration_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - lease.started).count());
  r.message = Truncate(why, wire::kMaxText / 2);
  return r;
}

// Takes copies: callers often pass fields of the entry this removes.
void Broker::DropWorker(std::string identity, std::string why, bool send_disconnect) {
  std::optional<WorkerEntry> w = registry_.Remove(identity);
  if (!w) return;
  ++stats_.workers_lost;
  Log()->info("broker: dropping worker {} ({} jobs): {}", w->hello.worker_id, w->jobs.size(), why);
  for (const auto& [key, lease] : w->jobs) {
    SendToCoordinator(proto::kResult, EncodeStageResult(LostResult(*w, lease, why)));
  }
  if (send_disconnect) SendDisconnect(identity, why);
  MarkListDirty();
}

void Broker::SendDisconnect(const std::string& identity, const std::string& reason) {
  std::string err;
  SendStatus st = SendFrames(workers_, identity,
                             proto::Frames(proto::kDisconnect, DisconnectBody(reason)), &err);
  if (st == SendStatus::kError) Log()->warn("broker: DISCONNECT send failed: {}", err);
}

SendStatus Broker::SendToWorker(WorkerEntry& w, std::string_view command, std::string body) {
  std::string err;
  std::string identity = w.identity;
  SendStatus st = SendFrames(workers_, identity, proto::Frames(command, std::move(body)), &err);
  switch (st) {
    case SendStatus::kOk:
      w.last_sent = Clock::now();
      break;
    case SendStatus::kAgain:
      Log()->warn("broker: worker {} is not reading (HWM reached): {} not sent", w.hello.worker_id,
                  command);
      break;
    case SendStatus::kUnreachable:
      DropWorker(identity, "worker " + w.hello.worker_id + " unreachable (connection gone)", false);
      break;
    case SendStatus::kError:
      Log()->warn("broker: send to worker {} failed: {}", w.hello.worker_id, err);
      break;
  }
  return st;
}

void Broker::SendToCoordinator(std::string_view command, std::string body) {
  std::vector<std::string> frames = proto::Frames(command, std::move(body));
  if (outbox_.empty() && !coordinator_.empty()) {
    std::string err;
    SendStatus st = SendFrames(dispatch_, coordinator_, frames, &err);
    if (st == SendStatus::kOk) return;
    if (st == SendStatus::kUnreachable) {
      Log()->warn("broker: coordinator peer {} gone: holding messages", PeerName(coordinator_));
      coordinator_.clear();
    } else if (st == SendStatus::kError) {
      Log()->warn("broker: send to coordinator failed: {}", err);
    }
  }
  if (outbox_.size() >= opt_.max_outbox) {
    ++stats_.outbox_dropped;
    Log()->error("broker: coordinator outbox full ({} messages): dropping the oldest ({})",
                 outbox_.size(), outbox_.front()[1]);
    outbox_.pop_front();
  }
  outbox_.push_back(std::move(frames));
}

void Broker::FlushOutbox() {
  while (!outbox_.empty() && !coordinator_.empty()) {
    std::string err;
    SendStatus st = SendFrames(dispatch_, coordinator_, outbox_.front(), &err);
    if (st == SendStatus::kOk) {
      outbox_.pop_front();
      continue;
    }
    if (st == SendStatus::kUnreachable) {
      Log()->warn("broker: coordinator peer {} gone: holding {} messages", PeerName(coordinator_),
                  outbox_.size());
      coordinator_.clear();
    } else if (st == SendStatus::kError) {
      Log()->warn("broker: send to coordinator failed: {}: dropping {}", err, outbox_.front()[1]);
      outbox_.pop_front();
      continue;
    }
    return;
  }
}

void Broker::SendWorkerList(Clock::time_point now) {
  last_list_sent_ = now;
  list_dirty_ = false;
  if (coordinator_.empty()) return;  // never buffered: only the latest list matters
  nlohmann::json workers = nlohmann::json::array();
  for (const WorkerEntry* w : registry_.Sorted()) {
    nlohmann::json jobs = nlohmann::json::array();
    for (const auto& [key, l] : w->jobs) {
      jobs.push_back({{"job_id", l.job_id},
                      {"attempt", l.attempt},
                      {"stage", l.stage},
                      {"shard", l.shard},
                      {"run_id", l.run_id}});
    }
    workers.push_back({{"worker_id", w->hello.worker_id},
                       {"host", w->hello.host},
                       {"pid", w->hello.pid},
                       {"slots", w->hello.slots},
                       {"active", w->jobs.size()},
                       {"heartbeat_ms", w->hello.heartbeat_ms},
                       {"liveness", w->hello.liveness},
                       {"jobs", std::move(jobs)},
                       {"last_seen_ms", w->last_seen_unix_ms}});
  }
  nlohmann::json body = {{"workers", std::move(workers)}, {"queued", queue_.size()}};
  std::string bytes = proto::JsonBody(body);
  if (bytes.size() > wire::kMaxMessageBytes) {
    Log()->warn("broker: WORKER_LIST of {} bytes exceeds the frame limit: not sent", bytes.size());
    return;
  }
  if (!outbox_.empty()) return;  // keep order: results first; the next tick sends a fresh list
  std::string err;
  SendStatus st = SendFrames(dispatch_, coordinator_,
                             proto::Frames(proto::kWorkerList, std::move(bytes)), &err);
  if (st == SendStatus::kUnreachable) {
    Log()->warn("broker: coordinator peer {} gone", PeerName(coordinator_));
    coordinator_.clear();
  }
}

}  // namespace recomp::broker
