// Broker (see broker.h and docs/protocol.md): the loop, the coordinator link, assignment of
// queued jobs to workers, housekeeping and the coordinator's outbox. The workers socket's
// messages are handled in broker_workers.cpp.
//
// Design notes, with their sources (docs/protocol.md cites them):
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

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "base/clock.h"
#include "base/metrics.h"
#include "base/posix_file.h"
#include "broker/log.h"
#include "messages/artifact_ref.h"
#include "messages/codec.h"
#include "messages/protocol.h"
#include "net/framing.h"

namespace recomp::broker {

std::string Truncate(std::string s, size_t n) {
  if (s.size() > n) s = s.substr(0, n) + "...";
  return s;
}

Result<std::unique_ptr<Broker>> Broker::Create(zmq::context_t& ctx, BrokerOptions options) {
  if (options.workers_endpoint.empty() || options.link_endpoint.empty()) {
    return Status::InvalidArgument("broker: workers and link endpoints are required");
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
  std::unique_ptr<Broker> b(new Broker(ctx, std::move(options)));
  net::SocketOptions so;
  so.sndhwm = b->opt_.sndhwm;
  so.rcvhwm = b->opt_.rcvhwm;
  RECOMP_ASSIGN_OR_RETURN(b->link_, net::MakeSocket(ctx, zmq::socket_type::router, so));
  if (b->opt_.access != nullptr) {
    so.curve_server = {b->opt_.curve_secret, std::string(ZapDomain(Endpoint::kWorkers))};
    b->access_generation_ = b->opt_.access->generation();
  }
  RECOMP_ASSIGN_OR_RETURN(b->workers_, net::MakeSocket(ctx, zmq::socket_type::router, so));
  b->wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (b->wake_fd_ < 0) return ErrnoStatus("broker: eventfd", "", errno);
  return b;
}

Broker::Broker(zmq::context_t& ctx, BrokerOptions options)
    : ctx_(ctx), opt_(std::move(options)), queue_(opt_.max_queue) {}

Broker::~Broker() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

Status Broker::Bind() {
  RECOMP_ASSIGN_OR_RETURN(workers_resolved_,
                          net::Bind(workers_, opt_.workers_endpoint, "broker: workers"));
  RECOMP_ASSIGN_OR_RETURN(link_resolved_, net::Bind(link_, opt_.link_endpoint, "broker: link"));
  Log()->info("broker: workers on {}, coordinator link on {}", workers_resolved_, link_resolved_);
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

uint32_t Broker::HeartbeatMsFor(const WorkerEntry& w) const {
  uint64_t per_s = std::max<uint32_t>(1, opt_.max_heartbeats_per_s);
  uint64_t needed = (uint64_t{1000} * registry_.size() + per_s - 1) / per_s;  // ms
  if (needed <= w.hello.heartbeat_ms) return w.hello.heartbeat_ms;
  // Stretched: in whole seconds, so that it changes rarely while workers come and go.
  uint64_t stretched = (needed + 999) / 1000 * 1000;
  uint64_t longest = proto::kMaxLivenessWindowMs / std::max<uint32_t>(1, w.hello.liveness);
  return static_cast<uint32_t>(
      std::max<uint64_t>(w.hello.heartbeat_ms, std::min(stretched, longest)));
}

std::string Broker::HeartbeatBody(uint32_t ms) const {
  return proto::JsonBody({{"heartbeat_ms", ms}});
}

Status Broker::Run() {
  Status st = Serve();
  if (!st.ok() && st.code() != Status::Code::kCancelled) Log()->error("broker: {}", st.ToString());
  Log()->info("broker: stopped ({} queued, {} workers)", queue_.size(), registry_.size());
  return st;
}

Status Broker::Serve() {
  using std::chrono::milliseconds;
  next_housekeeping_ = Clock::now();
  while (!stop_.load()) {
    zmq::pollitem_t items[] = {
        {workers_.handle(), 0, ZMQ_POLLIN, 0},
        {link_.handle(), 0, ZMQ_POLLIN, 0},
        {nullptr, wake_fd_, ZMQ_POLLIN, 0},
    };
    auto now = Clock::now();
    auto timeout = std::chrono::duration_cast<milliseconds>(next_housekeeping_ - now);
    if (!outbox_.empty() && !coordinator_.empty()) timeout = std::min(timeout, milliseconds(5));
    timeout = std::clamp(timeout, milliseconds(0), milliseconds(250));
    if (Status s = net::Poll(items, 3, timeout); !s.ok()) {
      if (s.code() == Status::Code::kCancelled) continue;  // EINTR
      return s;
    }
    if (items[2].revents & ZMQ_POLLIN) {
      uint64_t v;
      (void)!::read(wake_fd_, &v, sizeof v);
    }
    if (stop_.load()) break;
    if (items[0].revents & ZMQ_POLLIN) {
      RECOMP_RETURN_IF_ERROR(DrainRouter(workers_, &Broker::OnWorkerMessage));
    }
    if (items[1].revents & ZMQ_POLLIN) {
      RECOMP_RETURN_IF_ERROR(DrainRouter(link_, &Broker::OnLinkMessage));
    }
    now = Clock::now();
    if (now >= next_housekeeping_) {
      RecheckKeys();
      Housekeeping(now);
      next_housekeeping_ = now + Tick();
    }
    if (list_dirty_ && now - last_list_sent_ >= ListInterval()) {
      SendWorkerList(now);
    }
    FlushOutbox();
  }
  return Status::Ok();
}

Status Broker::DrainRouter(zmq::socket_t& s, Handler handler) {
  net::Received m;
  for (int i = 0; i < kDrainLimit; ++i) {
    RECOMP_ASSIGN_OR_RETURN(bool got, net::Receive(s, &m));
    if (!got) break;
    if (m.frames.empty()) continue;
    // [identity][protocol frames...]: what follows the identity is one protocol message.
    net::Received rest;
    rest.frames.assign(m.frames.begin() + 1, m.frames.end());
    rest.total_frames = m.total_frames - 1;
    rest.user_id = std::move(m.user_id);
    (this->*handler)(m.frames.front(), rest);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// The coordinator link

void Broker::OnLinkMessage(const std::string& identity, const net::Received& message) {
  if (identity != coordinator_) {
    Log()->info("broker: coordinator link peer {} connected", net::PeerName(identity));
    coordinator_ = identity;  // the latest peer that spoke is the coordinator
    MarkListDirty();
  }
  Result<net::Message> msg = net::Parse(proto::kTag, message);
  if (!msg.ok()) {
    ++stats_.malformed;
    Log()->warn("broker: malformed message on the coordinator link: {}", msg.status().message());
    SendToCoordinator(proto::kError, proto::ErrorBody(msg.status()));
    return;
  }
  if (msg->command == proto::kDispatch) {
    OnDispatch(msg->body);
  } else if (msg->command == proto::kRevoke) {
    OnRevoke(msg->body);
  } else if (msg->command == proto::kReconcile) {
    OnReconcile(msg->body);
  } else if (msg->command == proto::kWatchLog) {
    OnWatchLog(msg->body);
  } else if (msg->command == proto::kHeartbeat) {
    // Announces the coordinator (a ROUTER can only reply to a peer it has heard from).
  } else {
    ++stats_.malformed;
    Log()->warn("broker: unknown command {} on the coordinator link", msg->command);
    SendToCoordinator(proto::kError,
                      proto::ErrorBody(Status::InvalidArgument(
                          "broker: unknown command " + msg->command + " on the coordinator link")));
  }
}

void Broker::OnWatchLog(const std::string& body) {
  auto ref = proto::DecodeJobRef(body);
  if (!ref.ok()) {
    ++stats_.malformed;
    Log()->warn("broker: undecodable WATCH_LOG: {}", ref.status().message());
    return;
  }
  WorkerEntry* w = registry_.Holder(*ref);
  if (w == nullptr) return;                  // queued, or ended: nothing to stream (yet)
  SendToWorker(*w, proto::kWatchLog, body);  // validated; its offset passes through
}

void Broker::OnWorkerLog(WorkerEntry& w, const std::string& body) {
  auto piece = proto::DecodeLogPiece(body);
  if (!piece.ok()) {
    ++stats_.malformed;
    Log()->warn("broker: undecodable LOG from worker {}: {}", w.hello.worker_id,
                piece.status().message());
    return;
  }
  // Only the lease holder speaks for an attempt; pieces are informational: dropped rather
  // than held while the coordinator is away or results wait.
  if (registry_.Holder(piece->ref) != &w || coordinator_.empty() || !outbox_.empty()) return;
  SendToCoordinator(proto::kLogPiece, body);
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
  JobRef key = RefOf(*job);
  if (registry_.Holder(key) != nullptr) {
    Log()->debug("broker: duplicate DISPATCH of running job {} attempt {}: ignored", key.job_id,
                 key.attempt);
    return;
  }
  switch (queue_.Push(QueuedJob(std::move(job).value(), body))) {
    case JobQueue::PushResult::kQueued:
      AssignJobs();
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
  Result<JobRef> ref = proto::DecodeJobRef(body);
  if (!ref.ok()) {
    ++stats_.malformed;
    SendToCoordinator(proto::kError, proto::ErrorBody(ref.status().WithContext("REVOKE")));
    return;
  }
  if (std::optional<QueuedJob> job = queue_.Remove(*ref)) {
    // Every accepted DISPATCH ends in exactly one RESULT (or REJECTED): a job revoked before it
    // reached a worker ends as cancelled, run by nobody.
    StageResult r = ResultFor(AttemptOf(*job));
    r.outcome = JobOutcome::kCancelled;
    r.message = "revoked before dispatch";
    SendResultToCoordinator(r, EncodeStageResult(r));
    MarkListDirty();
    return;
  }
  if (WorkerEntry* w = registry_.Holder(*ref); w != nullptr) {
    auto it = w->jobs.find(*ref);
    if (it != w->jobs.end()) it->second.revoked = true;
    Log()->info("broker: revoking job {} attempt {} on worker {}", ref->job_id, ref->attempt,
                w->hello.worker_id);
    // The lease (and credit) stays until the worker reports the (cancelled) result.
    (void)SendToWorker(*w, proto::kCancel, proto::EncodeJobRef(*ref));  // failures handled there
    return;
  }
  Log()->debug("broker: REVOKE of unknown job {} attempt {}: ignored", ref->job_id, ref->attempt);
}

// ---------------------------------------------------------------------------------------------
// Assignment, liveness, coordinator output

void Broker::AssignJobs() {
  AssignQueuedJobs();
  SendStarted();
}

void Broker::SendStarted() {
  if (started_.empty()) return;
  if (!opt_.report_starts) {
    started_.clear();
    return;
  }
  std::vector<proto::StartedJob> jobs;
  jobs.swap(started_);
  if (coordinator_.empty() || !outbox_.empty()) {
    stats_.started_dropped += jobs.size();
    return;
  }
  SendToCoordinator(proto::kStarted, proto::EncodeStartedJobs(jobs));
}

void Broker::SendWorkerEvent(std::string_view command, const WorkerEntry& w,
                             const std::string& reason) {
  nlohmann::json body = {{"worker_id", w.hello.worker_id},
                         {"host", w.hello.host},
                         {"pid", w.hello.pid},
                         {"slots", w.hello.slots},
                         {"labels", w.hello.labels}};
  if (command == proto::kWorkerLeft) {
    body["reason"] = Truncate(reason, wire::kMaxText / 2);
    body["jobs"] = w.jobs.size();
  }
  SendToCoordinator(command, proto::JsonBody(body));
}

void Broker::AssignQueuedJobs() {
  std::set<Labels> idle;  // label sets of free workers that no queued job fits, this turn
  while (!queue_.empty()) {
    WorkerEntry* w = registry_.PickFreeSlot([&](const Labels& l) { return idle.count(l) == 0; });
    if (w == nullptr) return;
    std::optional<QueuedJob> next = queue_.PopFor(w->hello.labels);
    if (!next) {
      idle.insert(w->hello.labels);
      continue;
    }
    QueuedJob job = std::move(next).value();
    std::string identity = w->identity;
    net::SendResult st =
        SendToWorker(*w, proto::kJob, job.wire.empty() ? EncodeStageJob(job) : job.wire);
    if (st != net::SendResult::kOk) {
      queue_.PushFront(std::move(job));
      if (st == net::SendResult::kUnreachable) continue;  // that worker was dropped
      return;  // its pipe is full: retry on the next event
    }
    ++stats_.dispatched;
    Lease lease;
    lease.job = AttemptOf(job);
    lease.started = Clock::now();
    lease.deadline = lease.started + std::chrono::seconds(job.timeout_s) +
                     std::chrono::milliseconds(opt_.lease_grace_ms);
    std::vector<Digest> inputs;
    inputs.reserve(job.inputs.size());
    for (const PathRef& in : job.inputs) {
      if (auto d = ParseArtifactRef(in.ref); d.ok()) inputs.push_back(*d);
    }
    grants_.Grant(w->hello.worker_id, JobRef{job.job_id, job.attempt}, std::move(inputs));
    started_.push_back({JobRef{job.job_id, job.attempt}, w->hello.worker_id});
    registry_.AddLease(*w, std::move(lease));
    MarkListDirty();
  }
}

void Broker::FailUnservable(Clock::time_point now) {
  auto wait = std::chrono::seconds(opt_.no_worker_timeout_s);
  auto expired = queue_.TakeUnservable(
      now - wait, [&](const Labels& required) { return registry_.AnySatisfies(required); });
  for (QueuedJob& job : expired) {
    StageResult r = ResultFor(AttemptOf(job));
    r.outcome = JobOutcome::kFailed;  // final: another attempt would wait the same way
    r.exit_code = -1;
    r.message = "no live worker has the labels " + LabelsText(job.requirements) + " that stage '" +
                job.stage + "' requires (waited " + std::to_string(opt_.no_worker_timeout_s) +
                " s; start a worker with --label)";
    Log()->warn("broker: job {} attempt {}: {}", job.job_id, job.attempt, r.message);
    SendResultToCoordinator(r, EncodeStageResult(r));
  }
}

void Broker::PublishGauges() {
  static prometheus::Gauge& workers =
      metrics::GaugeFamily("recomp_workers", "Workers registered with the broker.").Add({});
  static prometheus::Gauge& slots =
      metrics::GaugeFamily("recomp_worker_slots", "Job slots of the registered workers, by use.")
          .Add({{"use", "total"}});
  static prometheus::Gauge& busy =
      metrics::GaugeFamily("recomp_worker_slots", "Job slots of the registered workers, by use.")
          .Add({{"use", "busy"}});
  static prometheus::Gauge& queued =
      metrics::GaugeFamily("recomp_queue_depth",
                           "Jobs waiting in a queue: the coordinator's ready queues by priority, "
                           "its retry timers, and the broker's queue.")
          .Add({{"queue", "broker"}});
  workers.Set(static_cast<double>(registry_.size()));
  slots.Set(static_cast<double>(registry_.total_slots()));
  busy.Set(static_cast<double>(registry_.leased()));
  queued.Set(static_cast<double>(queue_.size()));
}

void Broker::Housekeeping(Clock::time_point now) {
  FailUnservable(now);
  PublishGauges();
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
  for (const auto& [identity, lease] : registry_.OverdueLeases(now)) {
    WorkerEntry* w = registry_.Find(identity);
    if (w == nullptr) continue;
    auto held = std::chrono::duration_cast<std::chrono::seconds>(now - lease.started);
    Log()->warn("broker: worker {} still holds job {} attempt {} after {} s: dropping it",
                w->hello.worker_id, lease.job.job_id, lease.job.attempt, held.count());
    DropWorker(identity,
               "worker " + w->hello.worker_id + " held job " + lease.job.job_id + " attempt " +
                   std::to_string(lease.job.attempt) + " for " + std::to_string(held.count()) +
                   " s, past its timeout and the lease grace",
               true);
  }
  std::vector<std::string> due;
  registry_.ForEach([&](WorkerEntry& w) {
    w.SettleHeartbeat(now);
    if (now - w.last_sent >= std::chrono::milliseconds(w.heartbeat_ms)) {
      due.push_back(w.identity);
    }
  });
  for (const std::string& identity : due) {
    // A failed heartbeat is handled (logged, or the worker dropped) in SendToWorker. The
    // heartbeat carries the interval from now on, so both sides switch together.
    if (WorkerEntry* w = registry_.Find(identity)) {
      uint32_t ms = HeartbeatMsFor(*w);
      if (SendToWorker(*w, proto::kHeartbeat, HeartbeatBody(ms)) == net::SendResult::kOk) {
        if (WorkerEntry* still = registry_.Find(identity)) still->SetHeartbeat(ms, now);
      }
    }
  }
  if (now - last_list_sent_ >= ListRefreshInterval()) SendWorkerList(now);
  if (!queue_.empty()) AssignJobs();
}

void Broker::OnReconcile(const std::string& body) {
  Result<std::vector<JobRef>> refs = proto::DecodeJobRefs("jobs", body);
  if (!refs.ok()) {
    ++stats_.malformed;
    SendToCoordinator(proto::kError, proto::ErrorBody(refs.status().WithContext("RECONCILE")));
    return;
  }
  std::vector<JobRef> unknown;
  for (const JobRef& ref : *refs) {
    if (!queue_.Contains(ref) && registry_.Holder(ref) == nullptr &&
        outbox_results_.count(ref) == 0) {
      unknown.push_back(ref);
    }
  }
  if (!unknown.empty()) {
    Log()->warn("broker: {} of {} attempts the coordinator has in flight are unknown here",
                unknown.size(), refs->size());
  }
  SendToCoordinator(proto::kReconciled, proto::EncodeJobRefs("unknown", unknown));
}

void Broker::SendResultToCoordinator(const StageResult& r, std::string body) {
  SendToCoordinator(proto::kResult, std::move(body), JobRef{r.job_id, r.attempt});
}

void Broker::PopOutbox() {
  if (const auto& ref = outbox_.front().result) {
    auto it = outbox_results_.find(*ref);
    if (it != outbox_results_.end() && --it->second == 0) outbox_results_.erase(it);
  }
  outbox_.pop_front();
}

void Broker::SendToCoordinator(std::string_view command, std::string body,
                               std::optional<JobRef> result) {
  std::vector<std::string> frames = net::Frames(proto::kTag, command, std::move(body));
  if (outbox_.empty() && !coordinator_.empty()) {
    std::string err;
    net::SendResult st = net::SendTo(link_, coordinator_, frames, &err);
    if (st == net::SendResult::kOk) return;
    if (st == net::SendResult::kUnreachable) {
      Log()->warn("broker: coordinator peer {} gone: holding messages",
                  net::PeerName(coordinator_));
      coordinator_.clear();
    } else if (st == net::SendResult::kError) {
      Log()->warn("broker: send to coordinator failed: {}", err);
    }
  }
  if (outbox_.size() >= opt_.max_outbox) {
    ++stats_.outbox_dropped;
    Log()->error("broker: coordinator outbox full ({} messages): dropping the oldest ({})",
                 outbox_.size(), outbox_.front().frames[1]);
    PopOutbox();  // a dropped RESULT's job becomes unknown: RECONCILE has it offered again
  }
  if (result) ++outbox_results_[*result];
  outbox_.push_back({std::move(frames), std::move(result)});
}

void Broker::FlushOutbox() {
  while (!outbox_.empty() && !coordinator_.empty()) {
    std::string err;
    net::SendResult st = net::SendTo(link_, coordinator_, outbox_.front().frames, &err);
    if (st == net::SendResult::kOk) {
      PopOutbox();
      continue;
    }
    if (st == net::SendResult::kUnreachable) {
      Log()->warn("broker: coordinator peer {} gone: holding {} messages",
                  net::PeerName(coordinator_), outbox_.size());
      coordinator_.clear();
    } else if (st == net::SendResult::kError) {
      Log()->warn("broker: send to coordinator failed: {}: dropping {}", err,
                  outbox_.front().frames[1]);
      PopOutbox();
      continue;
    }
    return;
  }
}

std::chrono::milliseconds Broker::ListInterval() const {
  // ~200 bytes per worker: with many workers, a list every 100 ms would be most of the work.
  uint64_t by_size = registry_.size() / 10;
  return std::chrono::milliseconds(std::min<uint64_t>(
      opt_.heartbeat_ms, std::max<uint64_t>(opt_.worker_list_min_interval_ms, by_size)));
}

std::chrono::milliseconds Broker::ListRefreshInterval() const {
  // An unchanged list is resent only to refresh last_seen: 1 ms per worker, so a pool of
  // 10,000 idle workers does not re-encode 2 MB every second.
  return std::chrono::milliseconds(std::max<uint64_t>(opt_.heartbeat_ms, registry_.size()));
}

void Broker::SendWorkerList(Clock::time_point now) {
  last_list_sent_ = now;
  list_dirty_ = false;
  if (coordinator_.empty()) return;  // never buffered: only the latest list matters
  nlohmann::json workers = nlohmann::json::array();
  for (const WorkerEntry* w : registry_.Sorted()) {
    nlohmann::json jobs = nlohmann::json::array();
    for (const auto& [key, l] : w->jobs) {
      jobs.push_back({{"job_id", l.job.job_id},
                      {"attempt", l.job.attempt},
                      {"stage", l.job.stage},
                      {"shard", l.job.shard},
                      {"run_id", l.job.run_id}});
    }
    workers.push_back({{"worker_id", w->hello.worker_id},
                       {"host", w->hello.host},
                       {"pid", w->hello.pid},
                       {"slots", w->hello.slots},
                       {"active", w->jobs.size()},
                       {"heartbeat_ms", w->heartbeat_ms},
                       {"liveness", w->hello.liveness},
                       {"labels", w->hello.labels},
                       {"jobs", std::move(jobs)},
                       {"last_seen_ms", w->last_seen_unix_ms}});
  }
  nlohmann::json body = {{"workers", std::move(workers)}, {"queued", queue_.size()}};
  std::string bytes = proto::JsonBody(body);
  if (bytes.size() > limits::kMaxBodyBytes) {
    Log()->warn("broker: WORKER_LIST of {} bytes exceeds the body limit: not sent", bytes.size());
    return;
  }
  if (!outbox_.empty()) return;  // keep order: results first; the next tick sends a fresh list
  std::string err;
  net::SendResult st = net::SendTo(
      link_, coordinator_, net::Frames(proto::kTag, proto::kWorkerList, std::move(bytes)), &err);
  if (st == net::SendResult::kUnreachable) {
    Log()->warn("broker: coordinator peer {} gone", net::PeerName(coordinator_));
    coordinator_.clear();
  } else if (st != net::SendResult::kOk) {
    Log()->debug("broker: WORKER_LIST not sent ({}); the next tick sends a fresh one",
                 net::ToString(st));
  }
}

}  // namespace recomp::broker
