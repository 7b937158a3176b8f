// Snapshot-then-follow.
#include "cli/event_follower.h"

#include <chrono>
#include <cstdio>

#include "messages/codec.h"
#include "messages/protocol.h"
#include "net/socket.h"

namespace recomp::cli {

Result<bool> EventFollower::CatchUp(const std::function<bool(const Event&)>& fn) {
  while (true) {
    nlohmann::json req = {{"from", covered_}, {"limit", 1000}};
    if (!run_id_.empty()) req["run_id"] = run_id_;
    RECOMP_ASSIGN_OR_RETURN(std::string body, client_->Replay(ep_.replay, proto::JsonBody(req)));
    RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(body, "replay reply"));
    RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(oh.get(), "replay reply"));
    uint64_t last = 0, head = 0;
    bool more = false;
    RECOMP_RETURN_IF_ERROR(r.Uint("last", &last));
    RECOMP_RETURN_IF_ERROR(r.Uint("head", &head));
    RECOMP_RETURN_IF_ERROR(r.Bool("more", &more));
    uint64_t pruned = 0;
    RECOMP_RETURN_IF_ERROR(r.Uint("pruned_through", &pruned, wire::Need::kOptional));
    if (pruned != 0 && !told_pruned_ && run_id_.empty()) {  // a kept run's log is whole
      told_pruned_ = true;                                  // stderr: --json keeps stdout JSON only
      std::fprintf(stderr,
                   "recomp events: runs past their retention window were removed: events up "
                   "to sequence %llu are only those of runs still kept\n",
                   static_cast<unsigned long long>(pruned));
    }
    const msgpack::object* events = r.Find("events");
    if (events == nullptr || events->type != msgpack::type::ARRAY) {
      return Status::InvalidArgument("replay reply: events must be an array");
    }
    for (uint32_t i = 0; i < events->via.array.size; ++i) {
      RECOMP_ASSIGN_OR_RETURN(Event e, DecodeEvent(events->via.array.ptr[i]));
      if (e.sequence <= covered_) continue;
      covered_ = e.sequence;
      if (!fn(e)) return false;
    }
    // A page that was not cut short reached the head the coordinator had committed.
    if (!more) {
      covered_ = std::max(covered_, head);
      return true;
    }
    covered_ = std::max(covered_, last);
  }
}

Status EventFollower::Run(bool follow, const std::function<bool(const Event&)>& fn,
                          const std::atomic<bool>* stop, const std::function<bool()>& idle) {
  net::SocketOptions so;
  so.rcvhwm = 100000;
  so.curve_client = client_->curve();
  RECOMP_ASSIGN_OR_RETURN(zmq::socket_t sub,
                          net::MakeSocket(client_->context(), zmq::socket_type::sub, so));
  // Every type (run events and the extensions): only then is a jump in sequence a gap.
  RECOMP_RETURN_IF_ERROR(net::Subscribe(sub, "recomp."));
  // Subscribe BEFORE the snapshot (the Clone pattern, RFC 12).
  if (follow) RECOMP_RETURN_IF_ERROR(net::Connect(sub, ep_.events, "events"));
  RECOMP_ASSIGN_OR_RETURN(bool more, CatchUp(fn));
  if (!more || !follow) return Status::Ok();
  auto idle_since = std::chrono::steady_clock::now();
  auto idle_checked = idle_since;
  while (stop == nullptr || !stop->load()) {
    // `idle` once a second whatever the traffic: other runs' events must not postpone it.
    if (idle && std::chrono::steady_clock::now() - idle_checked > std::chrono::seconds(1)) {
      idle_checked = std::chrono::steady_clock::now();
      if (!idle()) return Status::Ok();
    }
    zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
    if (Status s = net::Poll(&item, 1, std::chrono::milliseconds(200)); !s.ok()) {
      if (s.code() == Status::Code::kCancelled) continue;  // EINTR
      return s;
    }
    bool gap = false;
    net::Received m;
    RECOMP_ASSIGN_OR_RETURN(bool got, net::Receive(sub, &m));
    if (got) {
      if (m.frames.size() < 2) continue;  // [topic][event]; extra frames are tolerated
      auto e = DecodeEvent(m.frames[1]);
      if (!e.ok() || e->sequence <= covered_) continue;
      idle_since = std::chrono::steady_clock::now();
      if (e->sequence != covered_ + 1) {
        gap = true;  // missed something (slow joiner, HWM): replay fills it
      } else {
        covered_ = e->sequence;
        if ((run_id_.empty() || e->subject == run_id_) && !fn(*e)) return Status::Ok();
        continue;
      }
    }
    // On a gap, and every second of silence (a live event may have been published before
    // our subscription was connected), ask the replay endpoint.
    if (gap || std::chrono::steady_clock::now() - idle_since > std::chrono::seconds(1)) {
      RECOMP_ASSIGN_OR_RETURN(bool go_on, CatchUp(fn));
      if (!go_on) return Status::Ok();
      idle_since = std::chrono::steady_clock::now();
    }
  }
  return Status::Ok();
}

}  // namespace recomp::cli
