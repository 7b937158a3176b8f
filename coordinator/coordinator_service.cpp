// The coordinator service loop. One thread owns every socket here.
#include "coordinator/coordinator_service.h"

#include <chrono>
#include <map>
#include <optional>
#include <vector>

#include "base/clock.h"
#include "base/digest.h"
#include "base/memory.h"
#include "coordinator/api_handler.h"
#include "coordinator/coordinator_metrics.h"
#include "coordinator/live_logs.h"
#include "coordinator/log.h"
#include "coordinator/pinner.h"
#include "messages/protocol.h"
#include "messages/run_lifecycle.h"
#include "messages/stage_result.h"
#include "net/framing.h"
#include "net/socket.h"

namespace recomp::coordinator {
namespace {

constexpr int kDrainLimit = 1000;  // messages per socket per loop turn: bounds one batch
constexpr int kReplayLimit = 64;   // replay requests per loop turn
// The longest message the events endpoint reads (ZMQ_MAXMSGSIZE: a longer one makes libzmq
// drop the subscriber's connection). Subscriptions are short event type names, but the limit
// also applies to the handshake: CURVE's INITIATE command (a vouch, the client's long-term key
// and its metadata, about 300 bytes) must fit.
constexpr size_t kMaxSubscriptionBytes = 1024;
// How often freed memory is handed back (malloc_trim: its cost grows with the free space).
constexpr int64_t kTrimIntervalMs = 10000;
constexpr int64_t kAccessCheckMs = 1000;  // how often the allowlist file is looked at

net::SocketOptions Hwm(int hwm) {
  net::SocketOptions o;
  o.sndhwm = hwm;
  o.rcvhwm = hwm;
  return o;
}

}  // namespace

struct CoordinatorService::Impl {
  zmq::context_t* ctx = nullptr;
  zmq::socket_t api, events, replay, link;
  std::string events_ep;  // as bound: re-bound by ReopenEvents
  ServiceOptions opts;
  std::unique_ptr<RunStore> runs;
  std::unique_ptr<RunEngine> engine;
  std::unique_ptr<ApiHandler> api_handler;
  LiveLogs live_logs;              // running jobs' logs being watched (LOG_TAIL)
  std::unique_ptr<Pinner> pinner;  // store pins, off the service thread
  std::unique_ptr<Retention> retention;
  // Between batches: one bounded retention pass when due (its own write transaction).
  void Retain();
  std::vector<Reply> replies;  // sent after the batch commits
  spdlog::logger* log = nullptr;

  // Sends the batch's DISPATCHes, then commits and announces it; when the commit fails, the
  // coordinator pauses (Pause) instead of stopping.
  void Flush(Effects& fx);
  // Commits `fx` (one LMDB transaction) and only then publishes its events, sends its
  // REVOKEs and the replies waiting for it, and queues its pins. Retry-safe: on error nothing
  // was written or sent.
  Status CommitAndAnnounce(Effects& fx);
  // Keeps `fx` to commit again every kRetryInterval: while it waits, the coordinator refuses
  // SUBMIT and CANCEL, dispatches nothing and reads no results, and serves reads and replay.
  void Pause(Effects fx, const Status& why);
  void RetryPending();
  void SendReplies();
  // Every reconcile_interval_ms: RECONCILE the jobs in flight with the broker.
  void Reconcile();
  int64_t next_reconcile = 0;
  // Every kTrimIntervalMs: hand memory freed since (a peer's burst) back to the system.
  void TrimMemory();
  int64_t next_trim = 0;
  CoordinatorMetrics metrics;  // docs/metrics.md
  int64_t next_sample = 0;
  // With CURVE, every kAccessCheckMs: re-reads the allowlist; when it changed, re-opens the
  // events endpoint (a PUB cannot drop one subscriber: all reconnect through ZAP again and
  // recover missed events by replay).
  void CheckAccess();
  Status ReopenEvents();
  int64_t next_access_check = 0;
  bool events_reopen_pending = false;
  // One loop turn: poll, read what is waiting (bounded), act on it, answer.
  Status Turn();
  static constexpr std::chrono::seconds kRetryInterval{1};
  std::optional<Effects> pending;  // the batch whose commit failed; set = paused
  SteadyClock::time_point paused_since{}, next_retry{};
  void HandleLink(const net::Received& m, Effects* fx);
  // A (un)subscription from an events subscriber: accepted only for a prefix of a known event
  // type, so no subscriber can grow the socket's topic trie.
  void HandleSubscription(const net::Received& m);
  uint64_t refused_subscriptions = 0;
  // Sends and logs what was not sent: every caller's next step does not depend on the send
  // (lost DISPATCHes and replies are recovered by the peers' own retries and timeouts).
  void SendOrLog(zmq::socket_t& s, const std::vector<std::string>& frames, const char* what);
  // Receives up to `limit` messages from `s`, calling `fn` for each.
  template <typename F>
  Status Drain(zmq::socket_t& s, int limit, F&& fn);
};

void CoordinatorService::Impl::SendOrLog(zmq::socket_t& s, const std::vector<std::string>& frames,
                                         const char* what) {
  std::string err;
  net::SendResult r = net::Send(s, frames, &err);
  if (r != net::SendResult::kOk) {
    log->warn("{}: message not sent: {}{}", what, net::ToString(r), err.empty() ? "" : ": " + err);
  }
}

template <typename F>
Status CoordinatorService::Impl::Drain(zmq::socket_t& s, int limit, F&& fn) {
  net::Received m;
  for (int i = 0; i < limit; ++i) {
    RECOMP_ASSIGN_OR_RETURN(bool got, net::Receive(s, &m));
    if (!got) break;
    fn(m);
  }
  return Status::Ok();
}

void CoordinatorService::Impl::HandleSubscription(const net::Received& m) {
  if (m.frames.size() != 1 || m.truncated() || m.frames[0].empty() ||
      (m.frames[0][0] != 0 && m.frames[0][0] != 1)) {
    return;  // not a subscription message: XPUB passes only those up; ignore anything else
  }
  if (opts.access != nullptr && !opts.access->Authorize(m.user_id, Permission::kRead).ok()) {
    return;  // a key removed since it connected; its connection goes at the next reopen
  }
  const bool subscribe = m.frames[0][0] == 1;
  std::string_view topic = std::string_view(m.frames[0]).substr(1);
  if (!IsEventTopicPrefix(topic)) {
    if (refused_subscriptions++ % 1000 == 0) {
      log->warn("events: refused a subscription to an unknown topic '{}' ({} so far)",
                Printable(topic.substr(0, 64)), refused_subscriptions);
    }
    return;
  }
  Status s = subscribe ? net::Subscribe(events, topic) : net::Unsubscribe(events, topic);
  if (!s.ok()) log->warn("events: {}", s.ToString());
}

namespace {

net::SocketOptions EventsOptions(const ServiceOptions& opts) {
  net::SocketOptions o = Hwm(opts.events_hwm);
  o.xpub_manual = true;  // only known topics are accepted (HandleSubscription)
  o.max_frame_bytes = kMaxSubscriptionBytes;
  if (opts.access != nullptr) {
    o.curve_server = {opts.curve_secret, std::string(ZapDomain(Endpoint::kEvents))};
  }
  return o;
}

net::SocketOptions RouterOptions(const ServiceOptions& opts, Endpoint e) {
  net::SocketOptions o = Hwm(10000);
  if (opts.access != nullptr) o.curve_server = {opts.curve_secret, std::string(ZapDomain(e))};
  return o;
}

}  // namespace

Status CoordinatorService::Impl::ReopenEvents() {
  events.close();  // drops every subscriber; they reconnect (through ZAP) on their own
  RECOMP_ASSIGN_OR_RETURN(events,
                          net::MakeSocket(*ctx, zmq::socket_type::xpub, EventsOptions(opts)));
  return net::Bind(events, events_ep, "events").status();
}

void CoordinatorService::Impl::CheckAccess() {
  if (opts.access == nullptr) return;
  const int64_t now = NowUnixMillis();
  if (now < next_access_check) return;
  next_access_check = now + kAccessCheckMs;
  Result<bool> changed = opts.access->ReloadIfChanged();
  if (!changed.ok()) {
    log->error("security: {}", changed.status().ToString());
  } else if (*changed) {
    log->warn("security: allowlist {} reloaded: {} keys allowed", opts.access->path(),
              opts.access->size());
    events_reopen_pending = true;
  }
  if (!events_reopen_pending) return;
  // The old listener may still hold the port for a moment: tried again at the next check.
  if (Status s = ReopenEvents(); !s.ok()) {
    log->warn("security: re-opening the events endpoint: {}; trying again", s.ToString());
    return;
  }
  events_reopen_pending = false;
}

Result<std::unique_ptr<CoordinatorService>> CoordinatorService::Create(
    zmq::context_t& ctx, ServiceOptions opts, store::ArtifactStore* store) {
  std::unique_ptr<CoordinatorService> svc(new CoordinatorService());
  auto impl = std::make_unique<Impl>();
  impl->log = Log();
  RECOMP_ASSIGN_OR_RETURN(impl->runs, RunStore::Open(opts.state_dir, opts.durable));
  RECOMP_ASSIGN_OR_RETURN(uint64_t last, impl->runs->LastSequence());
  impl->engine = std::make_unique<RunEngine>(opts.engine, impl->runs.get(), store, last);
  impl->ctx = &ctx;
  RECOMP_ASSIGN_OR_RETURN(impl->api, net::MakeSocket(ctx, zmq::socket_type::router,
                                                     RouterOptions(opts, Endpoint::kApi)));
  RECOMP_ASSIGN_OR_RETURN(impl->replay, net::MakeSocket(ctx, zmq::socket_type::router,
                                                        RouterOptions(opts, Endpoint::kReplay)));
  RECOMP_ASSIGN_OR_RETURN(impl->events,
                          net::MakeSocket(ctx, zmq::socket_type::xpub, EventsOptions(opts)));
  RECOMP_ASSIGN_OR_RETURN(impl->link, net::MakeSocket(ctx, zmq::socket_type::dealer, Hwm(200000)));
  RECOMP_ASSIGN_OR_RETURN(svc->api_ep_, net::Bind(impl->api, opts.api_endpoint, "api"));
  RECOMP_ASSIGN_OR_RETURN(svc->events_ep_, net::Bind(impl->events, opts.events_endpoint, "events"));
  RECOMP_ASSIGN_OR_RETURN(svc->replay_ep_, net::Bind(impl->replay, opts.replay_endpoint, "replay"));
  RECOMP_RETURN_IF_ERROR(net::Connect(impl->link, opts.link_endpoint, "coordinator link"));
  impl->events_ep = svc->events_ep_;
  impl->api_handler = std::make_unique<ApiHandler>(impl->engine.get(), impl->runs.get());
  impl->api_handler->SetAccess(opts.access, opts.cancel_own_runs_only);
  impl->api_handler->SetLiveLogs(&impl->live_logs);
  impl->api_handler->SetEndpoints({{"api", svc->api_ep_},
                                   {"events", svc->events_ep_},
                                   {"replay", svc->replay_ep_},
                                   {"workers", opts.workers_endpoint},
                                   {"blobs", opts.blobs_endpoint}});
  impl->pinner = std::make_unique<Pinner>(store);
  impl->retention = std::make_unique<Retention>(impl->runs.get(), store, opts.retention);
  if (!opts.durable) impl->log->warn("durable = false: run-store commits are not fsynced");
  impl->opts = std::move(opts);
  svc->impl_ = std::move(impl);
  return svc;
}

CoordinatorService::~CoordinatorService() = default;

void CoordinatorService::Impl::Flush(Effects& fx) {
  // Jobs go out BEFORE the commit, so a job runs while its dispatch is being fsynced (a 1-job
  // run's result then waits for one commit, not two in a row). This announces nothing: a job
  // ID names only what the job does and reads, so if we crash before the commit the restarted
  // coordinator ignores the orphan's result (unknown run or attempt) and dispatches the same
  // job ID again; the worst case is work done twice.
  for (const StageJob& j : fx.dispatch) {
    SendOrLog(link, net::Frames(proto::kTag, proto::kDispatch, EncodeStageJob(j)), "link");
  }
  fx.dispatch.clear();  // sent once, also when the commit below must be retried
  if (Status s = CommitAndAnnounce(fx); !s.ok()) Pause(std::move(fx), s);
}

void CoordinatorService::Impl::Pause(Effects fx, const Status& why) {
  log->critical(
      "cannot persist state ({}): paused; submissions and cancellations are refused "
      "and nothing is dispatched until a retry of the commit succeeds",
      why.ToString());
  pending = std::move(fx);
  paused_since = SteadyClock::now();
  next_retry = paused_since + kRetryInterval;
  api_handler->SetPaused(why.message());
}

void CoordinatorService::Impl::RetryPending() {
  if (SteadyClock::now() < next_retry) return;
  next_retry = SteadyClock::now() + kRetryInterval;
  Status s = CommitAndAnnounce(*pending);
  if (!s.ok()) {
    log->warn("still cannot persist state after {} s: {}", MillisSince(paused_since) / 1000,
              s.ToString());
    return;
  }
  log->warn("state persisted again after {} s: resumed", MillisSince(paused_since) / 1000);
  pending.reset();
  api_handler->SetPaused("");
}

void CoordinatorService::Impl::Reconcile() {
  const int64_t now = NowUnixMillis();
  if (now < next_reconcile) return;
  next_reconcile = now + opts.reconcile_interval_ms;
  std::vector<proto::JobRef> flying = engine->InFlight();
  if (flying.empty()) return;
  // The link is ordered: the broker answers after every DISPATCH sent before this, and its
  // answer arrives after every RESULT it sent before it, so a job it calls unknown was lost.
  SendOrLog(link, net::Frames(proto::kTag, proto::kReconcile, proto::EncodeJobRefs("jobs", flying)),
            "link");
}

void CoordinatorService::Impl::TrimMemory() {
  const int64_t now = NowUnixMillis();
  if (now < next_trim) return;
  next_trim = now + kTrimIntervalMs;
  ReleaseFreeMemory();
}

void CoordinatorService::Impl::SendReplies() {
  for (Reply& r : replies) SendOrLog(api, r.frames, "api");
  replies.clear();
}

Status CoordinatorService::Impl::CommitAndAnnounce(Effects& fx) {
  const auto t0 = SteadyClock::now();
  RECOMP_RETURN_IF_ERROR(engine->Commit(&fx));
  metrics.OnCommitted(fx, std::chrono::duration<double>(SteadyClock::now() - t0).count(),
                      engine->last_sequence());
  // Durable now: only from here on is anything announced (Titanic, RFC 9). Each event is
  // published as the very bytes that were stored.
  for (size_t i = 0; i < fx.events.size(); ++i) {
    SendOrLog(events, {std::string(ToString(fx.events[i].type)), std::move(fx.encoded_events[i])},
              "events");
  }
  for (const proto::JobRef& r : fx.revoke) {
    SendOrLog(link, net::Frames(proto::kTag, proto::kRevoke, proto::EncodeJobRef(r)), "link");
  }
  for (std::string& w : fx.watch_logs)
    SendOrLog(link, net::Frames(proto::kTag, proto::kWatchLog, std::move(w)), "link");
  SendReplies();
  pinner->Enqueue(std::move(fx.pins));  // gc hints: written in the background, in order
  return Status::Ok();
}

void CoordinatorService::Impl::HandleLink(const net::Received& m, Effects* fx) {
  auto msg = net::Parse(proto::kTag, m);
  if (!msg.ok()) {
    log->warn("coordinator link: malformed message: {}", msg.status().ToString());
    return;
  }
  if (msg->command == proto::kResult) {
    auto r = DecodeStageResult(msg->body);
    if (!r.ok()) {
      log->warn("coordinator link: bad RESULT: {}", r.status().ToString());
      return;
    }
    engine->OnResult(*r, fx);
    live_logs.Drop({r->job_id, r->attempt});
  } else if (msg->command == proto::kLogPiece) {
    auto piece = proto::DecodeLogPiece(msg->body);
    if (piece.ok()) live_logs.Add(*piece);
  } else if (msg->command == proto::kRejected) {
    auto ref = proto::DecodeJobRef(msg->body);
    if (ref.ok()) engine->OnRejected(*ref, fx);
  } else if (msg->command == proto::kReconciled) {
    auto unknown = proto::DecodeJobRefs("unknown", msg->body);
    if (!unknown.ok()) {
      log->warn("coordinator link: bad RECONCILED: {}", unknown.status().ToString());
      return;
    }
    for (const proto::JobRef& ref : *unknown) engine->OnUnknownToBroker(ref, fx);
  } else if (msg->command == proto::kStarted) {
    auto started = proto::DecodeStartedJobs(msg->body);
    if (!started.ok()) {
      log->warn("coordinator link: bad STARTED: {}", started.status().ToString());
      return;
    }
    for (const proto::StartedJob& s : *started) engine->OnStarted(s, fx);
  } else if (msg->command == proto::kWorkerJoined || msg->command == proto::kWorkerLeft) {
    auto body = proto::BodyJson(msg->body, msg->command);
    if (!body.ok() || !body->contains("worker_id") || !(*body)["worker_id"].is_string()) {
      log->warn("coordinator link: bad {}: needs worker_id", msg->command);
      return;
    }
    engine->OnWorkerEvent(
        msg->command == proto::kWorkerJoined ? EventType::kWorkerJoined : EventType::kWorkerLeft,
        std::move(body).value(), fx);
  } else if (msg->command == proto::kWorkerList) {
    api_handler->SetWorkerList(std::move(msg->body));
  } else if (msg->command == proto::kError) {
    log->warn("coordinator link: broker reported {}", proto::DecodeError(msg->body).ToString());
  } else if (msg->command != proto::kHeartbeat) {
    log->warn("coordinator link: unexpected command {}", msg->command);
  }
}

Status CoordinatorService::Run() {
  Impl& m = *impl_;
  Effects fx;
  RECOMP_RETURN_IF_ERROR(m.engine->Resume(&fx));
  m.engine->Tick(NowUnixMillis(), &fx);
  m.Flush(fx);
  m.log->info("coordinator serving api={} events={} replay={}", api_ep_, events_ep_, replay_ep_);
  int64_t next_heartbeat = 0;
  while (!stop_.load()) {
    // The broker's ROUTER can only address us after we spoke: say hello now and every second
    // (docs/protocol.md, coordinator link).
    if (NowUnixMillis() >= next_heartbeat) {
      m.SendOrLog(m.link, net::Frames(proto::kTag, proto::kHeartbeat, proto::EmptyBody()), "link");
      next_heartbeat = NowUnixMillis() + 1000;
    }
    RECOMP_RETURN_IF_ERROR(m.Turn());
  }
  m.log->info("coordinator stopping: active_runs={} inflight={}", m.engine->active_runs(),
              m.engine->inflight());
  return Status::Ok();
}

void CoordinatorService::Impl::Retain() {
  auto pass = retention->MaybeRun(NowUnixMillis());
  if (!pass.ok()) {
    log->warn("retention pass failed (the next one retries): {}", pass.status().ToString());
    return;
  }
  if (*pass) metrics.OnRetention(**pass);
}

Status CoordinatorService::Impl::Turn() {
  int64_t wake = pending ? 100 : engine->NextWakeMs(NowUnixMillis());
  long timeout = (wake < 0 || wake > 100) ? 100 : static_cast<long>(wake);
  // While paused the link is not read (it is last, left out): results stay with the broker
  // until they can be recorded.
  zmq::pollitem_t items[] = {{api.handle(), 0, ZMQ_POLLIN, 0},
                             {replay.handle(), 0, ZMQ_POLLIN, 0},
                             {events.handle(), 0, ZMQ_POLLIN, 0},
                             {link.handle(), 0, ZMQ_POLLIN, 0}};
  if (Status s = net::Poll(items, pending ? 3 : 4, std::chrono::milliseconds(timeout)); !s.ok()) {
    return s.code() == Status::Code::kCancelled ? Status::Ok() : s;  // EINTR: next turn
  }
  // Only the sockets the poll found readable are read: a read that finds nothing costs two
  // system calls inside libzmq, and what arrives after the poll wakes the next one at once.
  const bool api_in = items[0].revents & ZMQ_POLLIN, replay_in = items[1].revents & ZMQ_POLLIN;
  const bool events_in = items[2].revents & ZMQ_POLLIN, link_in = items[3].revents & ZMQ_POLLIN;
  if (events_in) {
    RECOMP_RETURN_IF_ERROR(
        Drain(events, kDrainLimit, [&](const net::Received& r) { HandleSubscription(r); }));
  }
  TrimMemory();
  CheckAccess();
  if (const int64_t now = NowUnixMillis(); now >= next_sample) {
    next_sample = now + 1000;
    metrics.Sample(engine->Sample());
  }
  if (pending) {
    RetryPending();
    if (pending && api_in) {  // still paused: answer reads (and refuse changes) at once
      Effects none;
      RECOMP_RETURN_IF_ERROR(Drain(api, kDrainLimit, [&](const net::Received& r) {
        if (auto reply = api_handler->HandleMessage(r, &none); reply) {
          SendOrLog(api, reply->frames, "api");
        }
      }));
    }
  } else {
    Reconcile();
    Effects batch;
    if (link_in) {
      RECOMP_RETURN_IF_ERROR(
          Drain(link, kDrainLimit, [&](const net::Received& r) { HandleLink(r, &batch); }));
    }
    if (api_in) {
      RECOMP_RETURN_IF_ERROR(Drain(api, kDrainLimit, [&](const net::Received& r) {
        if (auto reply = api_handler->HandleMessage(r, &batch); reply) {
          replies.push_back(std::move(*reply));
        }
      }));
    }
    engine->Tick(NowUnixMillis(), &batch);
    Flush(batch);
    if (!pending) Retain();
  }
  // After the flush, so a replay's `head` is the newest committed event.
  if (!replay_in) return Status::Ok();
  return Drain(replay, kReplayLimit, [&](const net::Received& r) {
    if (auto reply = api_handler->HandleReplay(r, opts.max_replay_batch); reply) {
      SendOrLog(replay, reply->frames, "replay");
    }
  });
}

}  // namespace recomp::coordinator
