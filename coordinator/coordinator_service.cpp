// The coordinator service loop. One thread owns every socket here.
#include "coordinator/coordinator_service.h"

#include <chrono>
#include <map>
#include <vector>

#include <zmq_addon.hpp>

#include "coordinator/api_handler.h"
#include "coordinator/log.h"
#include "coordinator/pinner.h"
#include "coordinator/zmq_io.h"
#include "messages/protocol.h"
#include "messages/stage_result.h"

namespace recomp::coordinator {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr int kDrainLimit = 1000;  // messages per socket per loop turn: bounds one batch

}  // namespace

struct CoordinatorService::Impl {
  zmq::socket_t api, events, replay, dispatch;
  ServiceOptions opts;
  std::unique_ptr<RunStore> runs;
  std::unique_ptr<RunEngine> engine;
  std::unique_ptr<ApiHandler> api_handler;
  std::unique_ptr<Pinner> pinner;  // store pins, off the service thread
  std::vector<Reply> replies;      // sent after the batch commits
  std::shared_ptr<spdlog::logger> log;

  Status Flush(Effects& fx);
  void HandleDispatch(const std::vector<std::string>& frames, Effects* fx);
  void HandleReplay(const std::vector<std::string>& frames);
};

Result<std::unique_ptr<CoordinatorService>> CoordinatorService::Create(
    zmq::context_t& ctx, ServiceOptions opts, store::ArtifactStore* store) {
  std::unique_ptr<CoordinatorService> svc(new CoordinatorService());
  auto impl = std::make_unique<Impl>();
  impl->log = Log();
  RECOMP_ASSIGN_OR_RETURN(impl->runs, RunStore::Open(opts.state_dir, opts.durable));
  RECOMP_ASSIGN_OR_RETURN(uint64_t last, impl->runs->LastSequence());
  impl->engine = std::make_unique<RunEngine>(opts.engine, impl->runs.get(), store, last);
  RECOMP_ASSIGN_OR_RETURN(impl->api, MakeSocket(ctx, zmq::socket_type::router, 10000));
  RECOMP_ASSIGN_OR_RETURN(impl->replay, MakeSocket(ctx, zmq::socket_type::router, 10000));
  RECOMP_ASSIGN_OR_RETURN(impl->events, MakeSocket(ctx, zmq::socket_type::pub, opts.events_hwm));
  RECOMP_ASSIGN_OR_RETURN(impl->dispatch, MakeSocket(ctx, zmq::socket_type::dealer, 200000));
  RECOMP_ASSIGN_OR_RETURN(svc->api_ep_, BindSocket(impl->api, opts.api_endpoint, "api"));
  RECOMP_ASSIGN_OR_RETURN(svc->events_ep_,
                          BindSocket(impl->events, opts.events_endpoint, "events"));
  RECOMP_ASSIGN_OR_RETURN(svc->replay_ep_,
                          BindSocket(impl->replay, opts.replay_endpoint, "replay"));
  RECOMP_RETURN_IF_ERROR(ConnectSocket(impl->dispatch, opts.dispatch_endpoint, "dispatch"));
  impl->api_handler = std::make_unique<ApiHandler>(impl->engine.get(), impl->runs.get());
  impl->pinner = std::make_unique<Pinner>(store);
  if (!opts.durable) impl->log->warn("durable = false: run-store commits are not fsynced");
  impl->opts = std::move(opts);
  svc->impl_ = std::move(impl);
  return svc;
}

CoordinatorService::~CoordinatorService() = default;

Status CoordinatorService::Impl::Flush(Effects& fx) {
  // Jobs go out BEFORE the commit, so a job runs while its dispatch is being fsynced (a 1-job
  // run's result then waits for one commit, not two in a row). This announces nothing: a job
  // ID names only what the job does and reads, so if we crash before the commit the restarted
  // coordinator ignores the orphan's result (unknown run or attempt) and dispatches the same
  // job ID again; the worst case is work done twice.
  for (const StageJob& j : fx.dispatch) {
    SendFrames(dispatch, proto::Frames(proto::kDispatch, EncodeStageJob(j)), "dispatch");
  }
  RECOMP_RETURN_IF_ERROR(engine->Commit(&fx));
  // Durable now: only from here on is anything announced (LESSONS: Titanic). Each event is
  // published as the very bytes that were stored.
  for (size_t i = 0; i < fx.events.size(); ++i) {
    SendFrames(events, {std::string(ToString(fx.events[i].type)), std::move(fx.encoded_events[i])},
               "events");
  }
  for (const proto::JobRef& r : fx.revoke) {
    SendFrames(dispatch, proto::Frames(proto::kRevoke, proto::EncodeJobRef(r)), "dispatch");
  }
  for (Reply& r : replies) SendFrames(api, std::move(r.frames), "api");
  replies.clear();
  pinner->Enqueue(std::move(fx.pins));  // gc hints: written in the background, in order
  return Status::Ok();
}

void CoordinatorService::Impl::HandleDispatch(const std::vector<std::string>& frames, Effects* fx) {
  auto msg = proto::Parse(frames);
  if (!msg.ok()) {
    log->warn("dispatch link: malformed message: {}", msg.status().ToString());
    return;
  }
  if (msg->command == proto::kResult) {
    auto r = DecodeStageResult(msg->body);
    if (!r.ok()) {
      log->warn("dispatch link: bad RESULT: {}", r.status().ToString());
      return;
    }
    engine->OnResult(*r, fx);
  } else if (msg->command == proto::kRejected) {
    auto j = proto::BodyJson(msg->body, "rejected");
    auto ref = proto::DecodeJobRef(msg->body);
    if (j.ok() && ref.ok()) engine->OnRejected(*ref, j->value("run_id", ""), fx);
  } else if (msg->command == proto::kWorkerList) {
    auto j = proto::BodyJson(msg->body, "worker_list");
    if (j.ok()) api_handler->SetWorkers(j->value("workers", nlohmann::json::array()));
  } else if (msg->command == proto::kError) {
    log->warn("dispatch link: broker reported {}", proto::DecodeError(msg->body).ToString());
  } else if (msg->command != proto::kStarted && msg->command != proto::kHeartbeat) {
    log->warn("dispatch link: unexpected command {}", msg->command);
  }
}

void CoordinatorService::Impl::HandleReplay(const std::vector<std::string>& frames) {
  if (frames.empty()) return;
  auto split = SplitEnvelope(frames);
  // Without a tag the message is garbage, but its sender can still be told so.
  std::vector<std::string> reply = split.ok() ? split->envelope : FallbackEnvelope(frames);
  auto body = split.ok() ? api_handler->Replay(split->message, opts.max_replay_batch)
                         : proto::Frames(proto::kError,
                                         proto::ErrorBody(Status::InvalidArgument(
                                             "malformed request: " + split.status().message())));
  for (auto& f : body) reply.push_back(std::move(f));
  SendFrames(replay, std::move(reply), "replay");
}

Status CoordinatorService::Run() {
  Impl& m = *impl_;
  Effects fx;
  RECOMP_RETURN_IF_ERROR(m.engine->Resume(&fx));
  m.engine->Tick(NowMs(), &fx);
  RECOMP_RETURN_IF_ERROR(m.Flush(fx));
  m.log->info("coordinator serving api={} events={} replay={}", api_ep_, events_ep_, replay_ep_);
  int64_t next_heartbeat = 0;
  while (!stop_.load()) {
    // The broker's ROUTER can only address us after we spoke: say hello now and every second
    // (docs/protocol.md, dispatch link).
    if (NowMs() >= next_heartbeat) {
      SendFrames(m.dispatch, proto::Frames(proto::kHeartbeat, proto::EmptyBody()), "dispatch");
      next_heartbeat = NowMs() + 1000;
    }
    int64_t wake = m.engine->NextWakeMs(NowMs());
    long timeout = (wake < 0 || wake > 100) ? 100 : static_cast<long>(wake);
    zmq::pollitem_t items[] = {{m.api.handle(), 0, ZMQ_POLLIN, 0},
                               {m.dispatch.handle(), 0, ZMQ_POLLIN, 0},
                               {m.replay.handle(), 0, ZMQ_POLLIN, 0}};
    if (Status s = Poll(items, 3, timeout); !s.ok()) {
      if (s.code() == Status::Code::kCancelled) continue;  // EINTR
      return s;
    }
    Effects batch;
    std::vector<std::string> frames;
    for (int i = 0; i < kDrainLimit && RecvFrames(m.dispatch, &frames); ++i)
      m.HandleDispatch(frames, &batch);
    for (int i = 0; i < kDrainLimit && RecvFrames(m.api, &frames); ++i) {
      if (auto r = m.api_handler->Handle(frames, &batch); r) m.replies.push_back(std::move(*r));
    }
    m.engine->Tick(NowMs(), &batch);
    if (Status s = m.Flush(batch); !s.ok()) {
      m.log->critical("cannot persist state, stopping: {}", s.ToString());
      return s;  // nothing was announced; a restart resumes from the last commit
    }
    // After the flush, so a replay's `head` is exactly the newest committed event.
    for (int i = 0; i < 64 && RecvFrames(m.replay, &frames); ++i) m.HandleReplay(frames);
  }
  m.log->info("coordinator stopping: active_runs={} inflight={}", m.engine->active_runs(),
              m.engine->inflight());
  return Status::Ok();
}

}  // namespace recomp::coordinator
