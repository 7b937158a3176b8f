// Broker end to end over real ZeroMQ sockets: a Broker thread, fake workers (DEALER) on tcp and
// a fake coordinator (DEALER) on inproc. Waits poll with deadlines; nothing sleeps to sync.
#include "broker/broker.h"

#include <doctest/doctest.h>

#include <random>

#include "base/blake2b.h"
#include "broker_test_util.h"
#include "messages/codec.h"

namespace recomp::broker {
namespace {

using namespace testing;

TEST_CASE("broker: dispatch, WORKER_JOINED, STARTED and RESULT forwarding, in order") {
  BrokerHarness h;
  auto coord = h.Coord();
  StageJob job = MakeJob(1);
  coord->Dispatch(job);  // queued: no worker yet
  auto w = h.Worker("w1");
  w->Ready();
  StageJob got = w->ExpectJob();
  CHECK(got == job);
  const std::set<std::string> lists = {"HEARTBEAT", "WORKER_LIST"};
  auto joined = proto::BodyJson(coord->Expect(proto::kWorkerJoined, 3000ms, lists).body, "j");
  REQUIRE(joined.ok());
  CHECK((*joined)["worker_id"] == "w1");
  CHECK((*joined)["slots"] == 1);
  CHECK((*joined)["host"] == "testhost");
  auto started = proto::DecodeStartedJobs(coord->Expect(proto::kStarted, 3000ms, lists).body);
  REQUIRE(started.ok());
  REQUIRE(started->size() == 1);
  CHECK((*started)[0] == proto::StartedJob{{job.job_id, job.attempt}, "w1"});
  CHECK(coord->Silent(200ms, lists));
  StageResult r = MakeResult(job, "someone-else");
  r.duration_ms = 12;
  w->Send(proto::kResult, EncodeStageResult(r));
  StageResult fwd = coord->ExpectResult();
  CHECK(fwd.job_id == job.job_id);
  CHECK(fwd.outcome == JobOutcome::kSucceeded);
  CHECK(fwd.worker == "w1");  // the broker names the worker that held the lease
  CHECK(fwd.duration_ms == 12);
  CHECK(coord->Silent(100ms));
}

TEST_CASE("broker: WELCOME names the blob service; a worker holds its jobs' inputs only") {
  BrokerOptions o;
  o.blobs_endpoint = "tcp://0.0.0.0:7424";
  BrokerHarness h(o);
  auto coord = h.Coord();
  StageJob job = MakeJob(1);
  Digest rom = Blake2b256::Of("rom");
  job.inputs = {{"in/module/game.rom", rom.Ref()}};
  coord->Dispatch(job);
  auto w = h.Worker("w1");
  auto welcome = proto::BodyJson(w->Ready(), "welcome");
  REQUIRE(welcome.ok());
  CHECK((*welcome)["blobs"] == "tcp://0.0.0.0:7424");
  auto other = h.Worker("w2");
  other->Ready();
  w->ExpectJob();
  CHECK(h.broker->grants().Holds("w1", rom));
  CHECK_FALSE(h.broker->grants().Holds("w2", rom));
  w->Send(proto::kResult, EncodeStageResult(MakeResult(job, "w1")));
  coord->ExpectResult();
  CHECK_FALSE(h.broker->grants().Holds("w1", rom));
}

TEST_CASE("broker: a job that requires labels goes only to a worker that has them") {
  BrokerHarness h;
  auto coord = h.Coord();
  auto plain = h.Worker("plain", 4);
  plain->SetLabels({{"pool", "default"}});
  plain->Ready();
  auto gpu = h.Worker("gpu", 1);
  gpu->SetLabels({{"gpu", "1"}, {"pool", "default"}});
  gpu->Ready();
  StageJob needs_gpu = MakeJob(1);
  needs_gpu.requirements = {{"gpu", "1"}};
  coord->Dispatch(needs_gpu);
  CHECK(gpu->ExpectJob().job_id == needs_gpu.job_id);
  CHECK(plain->Silent(200ms));  // the plain worker had more free credits, and got nothing
  StageJob anywhere = MakeJob(2);
  coord->Dispatch(anywhere);
  CHECK(plain->ExpectJob().job_id == anywhere.job_id);
}

TEST_CASE("broker: a job no live worker can take fails after the wait, naming the labels") {
  BrokerOptions o;
  o.no_worker_timeout_s = 1;
  o.heartbeat_ms = 100;
  BrokerHarness h(o);
  auto coord = h.Coord();
  auto w = h.Worker("plain");
  w->Ready();
  StageJob job = MakeJob(1);
  job.requirements = {{"arch", "riscv64"}};
  coord->Dispatch(job);
  StageResult r = coord->ExpectResult(5000ms);
  CHECK(r.job_id == job.job_id);
  CHECK(r.outcome == JobOutcome::kFailed);
  CHECK(r.message.find("arch=riscv64") != std::string::npos);
  CHECK(w->Silent(100ms));
}

TEST_CASE("broker: WORKER_LIST describes workers and their jobs") {
  BrokerHarness h;
  auto coord = h.Coord();
  auto w = h.Worker("w1", 2);
  w->Ready();
  coord->Dispatch(MakeJob(7));
  w->ExpectJob();
  auto deadline = std::chrono::steady_clock::now() + 3s;
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    auto m = coord->Recv(3000ms, {"HEARTBEAT"});
    REQUIRE(m);
    if (m->command != proto::kWorkerList) continue;
    auto j = proto::BodyJson(m->body, "worker_list");
    REQUIRE(j.ok());
    if ((*j)["workers"].size() != 1 || (*j)["workers"][0]["active"] != 1) continue;
    const auto& wj = (*j)["workers"][0];
    CHECK(wj["worker_id"] == "w1");
    CHECK(wj["host"] == "testhost");
    CHECK(wj["pid"] == 42);
    CHECK(wj["slots"] == 2);
    CHECK(wj["jobs"][0]["job_id"] == JobId(7));
    CHECK(wj["jobs"][0]["stage"] == "lift");
    CHECK(wj["jobs"][0]["run_id"] == "r1");
    CHECK(wj["last_seen_ms"].get<int64_t>() > 0);
    seen = true;
  }
  CHECK(seen);
}

TEST_CASE("broker: a 1-slot worker never holds 2 jobs; most free credits wins") {
  BrokerHarness h;
  auto coord = h.Coord();
  auto w = h.Worker("w1", 1);
  w->Ready();
  for (int i = 1; i <= 3; ++i) coord->Dispatch(MakeJob(i));
  StageJob a = w->ExpectJob();
  CHECK(w->Silent(300ms));  // no second job while the first is held
  w->Finish(a);
  StageJob b = w->ExpectJob();
  CHECK(b.job_id != a.job_id);
  CHECK(w->Silent(200ms));
  w->Finish(b);
  StageJob c = w->ExpectJob();
  w->Finish(c);
  for (int i = 0; i < 3; ++i) CHECK(coord->ExpectResult().outcome == JobOutcome::kSucceeded);
  CHECK(w->Silent(100ms));

  // A 3-slot worker joins next to the idle 1-slot one: it has the most free credits.
  auto big = h.Worker("big", 3);
  big->Ready();
  coord->Dispatch(MakeJob(10));
  StageJob d = big->ExpectJob();
  CHECK(d.job_id == JobId(10));
  CHECK(w->Silent(100ms));
}

TEST_CASE("broker: priority order high > standard > low, FIFO within") {
  BrokerHarness h;
  auto coord = h.Coord();
  coord->Dispatch(MakeJob(1, Priority::kLow));
  coord->Dispatch(MakeJob(2, Priority::kStandard));
  coord->Dispatch(MakeJob(3, Priority::kHigh));
  coord->Dispatch(MakeJob(4, Priority::kLow));
  coord->Dispatch(MakeJob(5, Priority::kHigh));
  // Make sure all five are queued before the worker registers: a REVOKE of an unknown job is a
  // no-op but is processed in order after the dispatches, and the rejected probe proves it.
  BrokerOptions o;
  auto probe = MakeJob(99);
  probe.argv.clear();  // invalid: argv must name a program -> REJECTED
  coord->Send(proto::kDispatch, EncodeStageJob(probe));
  coord->Expect(proto::kRejected);
  auto w = h.Worker("w1", 1);
  w->Ready();
  std::vector<std::string> order;
  for (int i = 0; i < 5; ++i) {
    StageJob j = w->ExpectJob();
    order.push_back(j.job_id);
    w->Finish(j);
  }
  CHECK(order == std::vector<std::string>{JobId(3), JobId(5), JobId(2), JobId(1), JobId(4)});
}

TEST_CASE(
    "broker: a silent worker is lost; each held job becomes worker_lost; late RESULT is stale") {
  BrokerHarness h;
  auto coord = h.Coord();
  auto w = h.Worker("quiet", 2, /*hb=*/50, /*liveness=*/2);
  w->Ready();
  coord->Dispatch(MakeJob(1));
  coord->Dispatch(MakeJob(2));
  StageJob a = w->ExpectJob();
  StageJob b = w->ExpectJob();
  // The worker now stops talking. Within liveness x interval (100 ms) plus a tick, both jobs
  // come back as worker_lost.
  std::set<std::string> lost;
  for (int i = 0; i < 2; ++i) {
    StageResult r = coord->ExpectResult(2000ms);
    CHECK(r.outcome == JobOutcome::kWorkerLost);
    CHECK(r.worker == "quiet");
    CHECK(r.attempt == 1);
    CHECK(r.run_id == "r1");
    CHECK(r.message.find("worker quiet lost: no heartbeat for") != std::string::npos);
    lost.insert(r.job_id);
  }
  CHECK(lost == std::set<std::string>{a.job_id, b.job_id});
  w->Expect(proto::kDisconnect, 2000ms);
  // Its late RESULT is not forwarded; the unknown peer is told to DISCONNECT again.
  w->Finish(a);
  w->Expect(proto::kDisconnect, 2000ms);
  CHECK(coord->Silent(300ms));
  // The coordinator's re-dispatch (attempt 2) goes to a live worker.
  auto w2 = h.Worker("fresh");
  w2->Ready();
  coord->Dispatch(MakeJob(1, Priority::kStandard, 2));
  StageJob again = w2->ExpectJob();
  CHECK(again.attempt == 2);
}

TEST_CASE("broker: fencing: a RESULT for another attempt or job is ignored") {
  BrokerHarness h;
  auto coord = h.Coord();
  auto w = h.Worker("w1");
  w->Ready();
  StageJob job = MakeJob(1, Priority::kStandard, 2);
  coord->Dispatch(job);
  w->ExpectJob();
  StageJob old = job;
  old.attempt = 1;
  w->Finish(old);          // stale attempt
  w->Finish(MakeJob(55));  // never leased
  CHECK(coord->Silent(300ms));
  w->Finish(job);
  StageResult r = coord->ExpectResult();
  CHECK(r.attempt == 2);
  w->Finish(job);  // duplicate after the lease ended
  CHECK(coord->Silent(300ms));
  CHECK(h.broker->workers_endpoint().rfind("tcp://127.0.0.1:", 0) == 0);
}

TEST_CASE("broker: REVOKE of a queued job and of a running job") {
  BrokerHarness h;
  auto coord = h.Coord();
  StageJob queued = MakeJob(1);
  coord->Dispatch(queued);
  coord->Revoke(queued);
  StageResult r = coord->ExpectResult();
  CHECK(r.job_id == queued.job_id);
  CHECK(r.outcome == JobOutcome::kCancelled);
  CHECK(r.worker.empty());
  auto w = h.Worker("w1");
  w->Ready();
  CHECK(w->Silent(300ms));  // the revoked job is gone

  StageJob running = MakeJob(2);
  coord->Dispatch(running);
  w->ExpectJob();
  coord->Revoke(running);
  auto cancel = w->Expect(proto::kCancel);
  auto ref = proto::DecodeJobRef(cancel.body);
  REQUIRE(ref.ok());
  CHECK(ref->job_id == running.job_id);
  CHECK(ref->attempt == 1);
  w->Finish(running, JobOutcome::kCancelled);
  StageResult c = coord->ExpectResult();
  CHECK(c.outcome == JobOutcome::kCancelled);
  CHECK(c.worker == "w1");
  // The credit is free again.
  coord->Dispatch(MakeJob(3));
  CHECK(w->ExpectJob().job_id == JobId(3));
}

TEST_CASE("broker: bounded queue rejects beyond max_queue") {
  BrokerOptions o;
  o.max_queue = 2;
  BrokerHarness h(o);
  auto coord = h.Coord();
  coord->Dispatch(MakeJob(1));
  coord->Dispatch(MakeJob(2));
  coord->Dispatch(MakeJob(3));
  auto rej = proto::BodyJson(coord->Expect(proto::kRejected).body, "rejected");
  REQUIRE(rej.ok());
  CHECK((*rej)["job_id"] == JobId(3));
  CHECK((*rej)["attempt"] == 1);
  CHECK((*rej)["reason"].get<std::string>().find("queue full") != std::string::npos);
}

TEST_CASE("broker: results are held while no coordinator is connected") {
  BrokerHarness h;
  auto w = h.Worker("w1");
  w->Ready();
  StageJob job = MakeJob(1);
  {
    auto coord = h.Coord();
    coord->Dispatch(job);
    w->ExpectJob();
  }  // the coordinator goes away
  // Its pipe is torn down asynchronously: a RESULT racing that teardown would be written into
  // the dying pipe and lost (a ZeroMQ property; in production the broker lives and dies with
  // the coordinator's process). Give the teardown a quiet period first.
  CHECK(w->Silent(300ms));
  w->Finish(job);
  CHECK(w->Silent(200ms));
  auto coord2 = h.Coord();
  StageResult r = coord2->ExpectResult();
  CHECK(r.job_id == job.job_id);
}

TEST_CASE("broker: a dropped worker is WORKER_LEFT with the reason, before its lost results") {
  BrokerHarness h;
  auto coord = h.Coord();
  auto w = h.Worker("w1");
  w->Ready();
  coord->Dispatch(MakeJob(1));
  w->ExpectJob();
  const std::set<std::string> quiet = {"HEARTBEAT", "WORKER_LIST", "STARTED", "WORKER_JOINED"};
  w->Send(proto::kDisconnect, proto::JsonBody({{"reason", "shutting down"}}));
  auto left = proto::BodyJson(coord->Expect(proto::kWorkerLeft, 3000ms, quiet).body, "left");
  REQUIRE(left.ok());
  CHECK((*left)["worker_id"] == "w1");
  CHECK((*left)["jobs"] == 1);
  CHECK((*left)["reason"].get<std::string>().find("shutting down") != std::string::npos);
  CHECK(coord->ExpectResult().outcome == JobOutcome::kWorkerLost);
}

TEST_CASE("broker: a worker re-registering on a new socket loses its old jobs") {
  BrokerHarness h;
  auto coord = h.Coord();
  auto w = h.Worker("w1");
  w->Ready();
  coord->Dispatch(MakeJob(1));
  w->ExpectJob();
  auto again = h.Worker("w1");
  again->Ready();
  StageResult r = coord->ExpectResult();
  CHECK(r.outcome == JobOutcome::kWorkerLost);
  CHECK(r.message.find("re-registered") != std::string::npos);
  w->Expect(proto::kDisconnect);
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::vector<std::vector<std::string>> GarbageMessages() {
  std::vector<std::vector<std::string>> g;
  g.push_back({"RCP1"});                                                   // 1 frame
  g.push_back(std::vector<std::string>(10, "RCP1"));                       // 10 frames
  g.push_back({"XXXX", std::string(proto::kReady), proto::EmptyBody()});   // wrong tag
  g.push_back({"RCP1", "FROBNICATE", proto::EmptyBody()});                 // unknown command
  g.push_back({"RCP1", "ready!", proto::EmptyBody()});                     // bad command bytes
  g.push_back({"RCP1", std::string(proto::kReady), RandomBytes(100, 1)});  // garbage body
  g.push_back({"RCP1", std::string(proto::kDispatch), RandomBytes(100, 2)});
  g.push_back({"RCP1", std::string(proto::kResult), RandomBytes(64, 3)});
  g.push_back({"RCP1", std::string(proto::kRevoke), proto::EmptyBody()});
  g.push_back({"RCP1", std::string(proto::kReady), std::string(17u << 20, 'x')});  // 17 MiB
  g.push_back({});  // placeholder: an empty frame list is skipped below
  return g;
}

TEST_CASE("broker: garbage on the workers socket: DISCONNECT, no crash, still serves") {
  BrokerHarness h;
  auto coord = h.Coord();
  for (const auto& frames : GarbageMessages()) {
    if (frames.empty()) continue;
    CAPTURE(frames.size());
    auto peer = h.Worker("garbage");
    peer->SendRaw(frames);
    peer->Expect(proto::kDisconnect, 5000ms);
  }
  // A registered worker that sends garbage is dropped: its job is lost, it gets DISCONNECT.
  auto bad = h.Worker("bad");
  bad->Ready();
  coord->Dispatch(MakeJob(1));
  bad->ExpectJob();
  bad->SendRaw({"RCP1", std::string(proto::kResult), RandomBytes(50, 9)});
  bad->Expect(proto::kDisconnect);
  StageResult lost = coord->ExpectResult();
  CHECK(lost.outcome == JobOutcome::kWorkerLost);
  CHECK(lost.message.find("protocol error") != std::string::npos);
  // JOB from a worker is not a worker command.
  auto odd = h.Worker("odd");
  odd->Ready();
  odd->Send(proto::kJob, EncodeStageJob(MakeJob(2)));
  odd->Expect(proto::kDisconnect);
  // Still serving.
  auto good = h.Worker("good");
  good->Ready();
  coord->Dispatch(MakeJob(3));
  StageJob j = good->ExpectJob();
  good->Finish(j);
  CHECK(coord->ExpectResult().outcome == JobOutcome::kSucceeded);
}

TEST_CASE("broker: garbage on the dispatch socket: ERROR, no crash, still serves") {
  BrokerHarness h;
  auto coord = h.Coord();
  for (const auto& frames : GarbageMessages()) {
    if (frames.empty()) continue;
    CAPTURE(frames.size());
    coord->SendRaw(frames);
    auto m = coord->Recv(5000ms);
    REQUIRE(m);
    if (frames.size() == 3 && frames[1] == proto::kReady && frames[2].size() < 1000) {
      // READY is not a dispatch-link command.
      CHECK(m->command == proto::kError);
    } else {
      CHECK(m->command == proto::kError);
    }
    Status err = proto::DecodeError(m->body);
    CHECK_FALSE(err.ok());
  }
  // A DISPATCH whose job is invalid but whose id is readable is REJECTED, not an ERROR.
  StageJob bad = MakeJob(4);
  bad.argv.clear();
  coord->Send(proto::kDispatch, EncodeStageJob(bad));
  auto rej = proto::BodyJson(coord->Expect(proto::kRejected).body, "rejected");
  REQUIRE(rej.ok());
  CHECK((*rej)["job_id"] == JobId(4));
  auto w = h.Worker("w1");
  w->Ready();
  coord->Dispatch(MakeJob(5));
  StageJob j = w->ExpectJob();
  w->Finish(j);
  CHECK(coord->ExpectResult().outcome == JobOutcome::kSucceeded);
}

TEST_CASE("broker: Stop is prompt and Create validates options") {
  BrokerOptions o;
  o.heartbeat_ms = 1;
  zmq::context_t ctx;
  CHECK_FALSE(Broker::Create(ctx, o).ok());
  BrokerHarness h;
  auto t0 = std::chrono::steady_clock::now();
  h.StopAndJoin();
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  CHECK(h.run_status.ok());
}

TEST_CASE(
    "broker: a worker that heartbeats but holds a job past its timeout and grace is dropped") {
  BrokerOptions o;
  o.lease_grace_ms = 300;
  BrokerHarness h(o);
  auto coord = h.Coord();
  auto w = h.Worker("sitter", 4, /*hb=*/100, /*liveness=*/50);
  w->Ready();
  StageJob job = MakeJob(1);
  job.timeout_s = 1;
  coord->Dispatch(job);
  w->ExpectJob();
  // The worker keeps heartbeating and never answers; after 1 s + 300 ms the lease ends.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::optional<StageResult> lost;
  while (!lost && std::chrono::steady_clock::now() < deadline) {
    w->Send(proto::kHeartbeat, proto::EmptyBody());
    if (auto m = coord->Recv(100ms); m && m->command == proto::kResult) {
      lost = DecodeStageResult(m->body).value();
    }
  }
  REQUIRE(lost.has_value());
  CHECK(lost->outcome == JobOutcome::kWorkerLost);
  CHECK(lost->job_id == job.job_id);
  CHECK(lost->message.find("past its timeout and the lease grace") != std::string::npos);
  w->Expect(proto::kDisconnect, 2000ms);
}

TEST_CASE("broker: a READY asking for a liveness window over 60 s is refused") {
  BrokerHarness h;
  auto w = h.Worker("sleepy", 1, /*hb=*/60000, /*liveness=*/2);
  w->Send(proto::kReady, proto::EncodeWorkerHello([] {
            proto::WorkerHello hello;
            hello.worker_id = "sleepy";
            hello.heartbeat_ms = 60000;
            hello.liveness = 2;
            hello.host = "h";
            return hello;
          }()));
  auto m = w->Expect(proto::kDisconnect, 3000ms);
  CHECK(proto::BodyJson(m.body, "d")->at("reason").get<std::string>().find("exceeds 60000 ms") !=
        std::string::npos);
}

TEST_CASE("broker: RECONCILE names the attempts it neither queues, leases nor holds") {
  BrokerHarness h;
  auto coord = h.Coord();
  auto w = h.Worker("one", 1);
  w->Ready();
  StageJob leased = MakeJob(1), queued = MakeJob(2), lost = MakeJob(3);
  coord->Dispatch(leased);
  coord->Dispatch(queued);
  w->ExpectJob();  // `leased` goes to the worker; `queued` waits for its slot
  coord->Send(proto::kReconcile,
              proto::EncodeJobRefs("jobs", {RefOf(leased), RefOf(queued), RefOf(lost)}));
  auto reply = coord->Expect(proto::kReconciled);
  auto unknown = proto::DecodeJobRefs("unknown", reply.body);
  REQUIRE(unknown.ok());
  CHECK(*unknown == std::vector<JobRef>{RefOf(lost)});
  // Once its RESULT went out, an attempt is unknown too (the coordinator has it by then).
  w->Finish(leased);
  CHECK(coord->ExpectResult().job_id == leased.job_id);
  coord->Send(proto::kReconcile, proto::EncodeJobRefs("jobs", {RefOf(leased)}));
  CHECK(proto::DecodeJobRefs("unknown", coord->Expect(proto::kReconciled).body)->size() == 1);
  coord->Send(proto::kReconcile, proto::JsonBody({{"jobs", "nope"}}));
  coord->Expect(proto::kError);
}

TEST_CASE("broker: past max_heartbeats_per_s workers, heartbeat intervals are stretched") {
  BrokerOptions o;
  o.max_heartbeats_per_s = 1;  // 2 workers: 2 s each
  BrokerHarness h(o);
  auto w1 = h.Worker("w1", 1, /*hb=*/100, /*liveness=*/3);
  auto first = proto::BodyJson(w1->Ready(), "welcome");
  REQUIRE(first.ok());
  CHECK((*first)["heartbeat_ms"] == 1000);  // 1 worker: 1 s, longer than its own 100 ms
  auto w2 = h.Worker("w2", 1, /*hb=*/100, /*liveness=*/3);
  auto second = proto::BodyJson(w2->Ready(), "welcome");
  REQUIRE(second.ok());
  CHECK((*second)["heartbeat_ms"] == 2000);
  // w1 learns the new interval from the broker's next heartbeat, and silences far past its
  // own window (3 x 100 ms) do not get it dropped.
  auto hb = w1->Expect(proto::kHeartbeat, 3000ms, {"WORKER_LIST"});
  auto body = proto::BodyJson(hb.body, "heartbeat");
  REQUIRE(body.ok());
  CHECK((*body)["heartbeat_ms"] == 2000);
  auto until = std::chrono::steady_clock::now() + 2500ms;
  while (std::chrono::steady_clock::now() < until) {
    w1->Send(proto::kHeartbeat, proto::EmptyBody());
    w2->Send(proto::kHeartbeat, proto::EmptyBody());
    CHECK_FALSE(w1->Recv(800ms).has_value());  // no DISCONNECT (heartbeats skipped)
  }
}

TEST_CASE("broker: a shortened heartbeat interval is judged by the old one for one window") {
  using Clock = std::chrono::steady_clock;
  WorkerEntry w;
  w.hello.liveness = 3;
  w.heartbeat_ms = w.expiry_heartbeat_ms = 1000;
  auto t0 = Clock::now();
  w.SetHeartbeat(3000, t0);  // longer: at once
  CHECK(w.expiry() == 9000ms);
  w.SetHeartbeat(1000, t0);  // shorter: the worker may still be on 3 s for one window
  CHECK(w.heartbeat_ms == 1000);
  w.SettleHeartbeat(t0 + 8000ms);
  CHECK(w.expiry() == 9000ms);
  w.SettleHeartbeat(t0 + 9000ms);
  CHECK(w.expiry() == 3000ms);
}

}  // namespace
}  // namespace recomp::broker
