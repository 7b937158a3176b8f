// Broker: the workers socket (see broker.h and docs/protocol.md): registration, results,
// disconnects, dropping workers and sending to them.
#include <chrono>

#include "base/clock.h"
#include "broker/broker.h"
#include "broker/log.h"
#include "messages/codec.h"
#include "messages/protocol.h"
#include "net/framing.h"

namespace recomp::broker {
namespace {

std::string DisconnectBody(const std::string& reason) {
  return proto::JsonBody({{"reason", Truncate(reason, wire::kMaxText / 2)}});
}

}  // namespace

bool Broker::KeyAllowed(const std::string& identity, const net::Received& message,
                        AllowedKey* key) {
  if (opt_.access == nullptr) return true;
  std::optional<AllowedKey> found = opt_.access->Lookup(message.user_id);
  if (found && RoleAllows(found->role, Permission::kWork)) {
    *key = std::move(*found);
    return true;
  }
  // The same words as AccessControl::Authorize, without a second lookup.
  Status st = opt_.access->Authorize(message.user_id, Permission::kWork);
  ++stats_.refused_keys;
  if (registry_.Find(identity) != nullptr) {
    DropWorker(identity, st.message(), true);
  } else {
    SendDisconnect(identity, st.message());
  }
  return false;
}

void Broker::RecheckKeys() {
  if (opt_.access == nullptr || opt_.access->generation() == access_generation_) return;
  access_generation_ = opt_.access->generation();
  std::vector<std::pair<std::string, std::string>> gone;  // identity, why
  registry_.ForEach([&](const WorkerEntry& w) {
    auto key = opt_.access->Lookup(w.user_id);
    Status st =
        key ? CheckWorkerIdentity(*key, w.hello.worker_id, w.hello.labels)
            : Status::PermissionDenied("key " + w.user_id + " was removed from the allowlist");
    if (!st.ok()) gone.emplace_back(w.identity, st.message());
  });
  for (auto& [identity, why] : gone) {
    ++stats_.refused_keys;
    DropWorker(identity, why, true);
  }
}

void Broker::OnWorkerMessage(const std::string& identity, const net::Received& message) {
  auto now = Clock::now();
  AllowedKey key;
  if (!KeyAllowed(identity, message, &key)) return;
  WorkerEntry* w = registry_.Find(identity);
  if (w != nullptr) {  // any traffic counts as a heartbeat
    w->last_seen = now;
    w->last_seen_unix_ms = NowUnixMillis();
  }
  Result<net::Message> msg = net::Parse(proto::kTag, message);
  if (!msg.ok()) {
    ++stats_.malformed;
    Log()->warn("broker: malformed message from worker peer {}: {}", net::PeerName(identity),
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
    OnWorkerReady(identity, msg->body, key);
    return;
  }
  if (w == nullptr) {
    // MDP: anything but READY from an unknown (or already dropped) worker gets DISCONNECT.
    if (cmd != proto::kDisconnect) {
      Log()->info("broker: {} from unregistered worker peer {}: sending DISCONNECT", cmd,
                  net::PeerName(identity));
      SendDisconnect(identity, "not registered: send READY");
    }
    return;
  }
  if (cmd == proto::kHeartbeat) return;
  if (cmd == proto::kResult) {
    OnWorkerResult(*w, msg->body);
    return;
  }
  if (cmd == proto::kLogPiece) {
    OnWorkerLog(*w, msg->body);
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

void Broker::OnWorkerReady(const std::string& identity, const std::string& body,
                           const AllowedKey& key) {
  Result<proto::WorkerHello> hello = proto::DecodeWorkerHello(body);
  if (!hello.ok()) {
    ++stats_.malformed;
    Log()->warn("broker: bad READY from worker peer {}: {}", net::PeerName(identity),
                hello.status().message());
    if (registry_.Find(identity) != nullptr) {
      DropWorker(identity, "protocol error: bad READY: " + hello.status().message(), true);
    } else {
      SendDisconnect(identity, "bad READY: " + hello.status().message());
    }
    return;
  }
  if (opt_.access != nullptr) {
    if (Status st = CheckWorkerIdentity(key, hello->worker_id, hello->labels); !st.ok()) {
      ++stats_.refused_keys;
      Log()->warn("broker: refusing worker {}: {}", hello->worker_id, st.message());
      SendDisconnect(identity, st.message());
      return;
    }
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
  WorkerEntry& w = registry_.Add(identity, *hello, Clock::now(), NowUnixMillis());
  w.user_id = key.name;
  w.SetHeartbeat(HeartbeatMsFor(w), Clock::now());
  Log()->info("broker: worker {} ready ({} slots, heartbeat {} ms x {}, {} pid {})",
              w.hello.worker_id, w.hello.slots, w.hello.heartbeat_ms, w.hello.liveness,
              w.hello.host, w.hello.pid);
  // Acknowledge at once so the worker knows the broker is alive and resets its backoff, and
  // where the blob service is, and the heartbeat interval to use.
  if (SendToWorker(
          w, proto::kWelcome,
          proto::JsonBody({{"blobs", opt_.blobs_endpoint}, {"heartbeat_ms", w.heartbeat_ms}})) ==
      net::SendResult::kUnreachable) {
    return;
  }
  SendWorkerEvent(proto::kWorkerJoined, w, "");
  MarkListDirty();
  AssignJobs();
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
  std::optional<Lease> lease = registry_.RemoveLease(w, JobRef{r->job_id, r->attempt});
  if (lease) grants_.Revoke(w.hello.worker_id, JobRef{r->job_id, r->attempt});
  if (!lease) {
    ++stats_.stale_results;
    Log()->info(
        "broker: stale RESULT for job {} attempt {} from worker {} (not leased to it): ignored",
        r->job_id, r->attempt, w.hello.worker_id);
    return;
  }
  ++stats_.results;
  // The broker is the authority on who ran it and for which run/stage/shard. An honest worker
  // already says exactly that: its validated bytes go on unchanged (no re-encoding per job).
  const JobAttempt& a = lease->job;
  if (r->worker == w.hello.worker_id && r->run_id == a.run_id && r->stage == a.stage &&
      r->shard == a.shard) {
    SendResultToCoordinator(*r, body);
  } else {
    StageResult result = std::move(r).value();
    SetAttempt(&result, a);
    result.worker = w.hello.worker_id;
    SendResultToCoordinator(result, EncodeStageResult(result));
  }
  MarkListDirty();
  AssignJobs();
}

StageResult Broker::LostResult(const WorkerEntry& w, const Lease& lease,
                               const std::string& why) const {
  StageResult r = ResultFor(lease.job);
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
  grants_.RevokeWorker(w->hello.worker_id);
  Log()->info("broker: dropping worker {} ({} jobs): {}", w->hello.worker_id, w->jobs.size(), why);
  SendWorkerEvent(proto::kWorkerLeft, *w, why);
  for (const auto& [key, lease] : w->jobs) {
    StageResult lost = LostResult(*w, lease, why);
    SendResultToCoordinator(lost, EncodeStageResult(lost));
  }
  if (send_disconnect) SendDisconnect(identity, why);
  MarkListDirty();
}

void Broker::SendDisconnect(const std::string& identity, const std::string& reason) {
  std::string err;
  net::SendResult st =
      net::SendTo(workers_, identity,
                  net::Frames(proto::kTag, proto::kDisconnect, DisconnectBody(reason)), &err);
  // A peer that is gone or not reading needs no DISCONNECT: it is not registered either way.
  if (st == net::SendResult::kError) Log()->warn("broker: DISCONNECT send failed: {}", err);
}

net::SendResult Broker::SendToWorker(WorkerEntry& w, std::string_view command, std::string body) {
  std::string err;
  std::string identity = w.identity;
  net::SendResult st =
      net::SendTo(workers_, identity, net::Frames(proto::kTag, command, std::move(body)), &err);
  switch (st) {
    case net::SendResult::kOk:
      w.last_sent = Clock::now();
      break;
    case net::SendResult::kAgain:
      Log()->warn("broker: worker {} is not reading (HWM reached): {} not sent", w.hello.worker_id,
                  command);
      break;
    case net::SendResult::kUnreachable:
      DropWorker(identity, "worker " + w.hello.worker_id + " unreachable (connection gone)", false);
      break;
    case net::SendResult::kError:
      Log()->warn("broker: send to worker {} failed: {}", w.hello.worker_id, err);
      break;
  }
  return st;
}

}  // namespace recomp::broker
