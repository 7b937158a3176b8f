// WorkerAgent against a fake broker (a real ROUTER socket in the test) with a real artifact
// store: registration, heartbeats during a long job, end-to-end jobs (inputs, outputs, log),
// failures, timeouts, cancellation, garbage, and reconnecting after the broker goes away.
// Every wait polls with a deadline; nothing sleeps to synchronise.
#include "worker/worker_agent.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "messages/protocol.h"
#include "messages/tree.h"
#include "net/framing.h"
#include "store/artifact_store.h"
#include "tests/worker/worker_test_util.h"
#include "worker/job_sandbox.h"
#include "worker/local_store_blobs.h"

namespace recomp::worker {
namespace {

using testing::NoSandboxLeft;

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "recomp-agent-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() { (void)RemoveTree(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Received {
  std::string identity;
  net::Message msg;
};

// The broker side of the conversation, done by hand.
class FakeBroker {
 public:
  FakeBroker(zmq::context_t& ctx, const std::string& endpoint) : s_(ctx, zmq::socket_type::router) {
    s_.set(zmq::sockopt::linger, 0);
    s_.set(zmq::sockopt::router_mandatory, 1);
    // Rebinding the port of a just-closed broker: libzmq closes listeners asynchronously.
    auto deadline = std::chrono::steady_clock::now() + 5s;
    for (;;) {
      try {
        s_.bind(endpoint);
        break;
      } catch (const zmq::error_t& e) {
        if (e.num() != EADDRINUSE || std::chrono::steady_clock::now() > deadline) throw;
        std::this_thread::sleep_for(10ms);
      }
    }
    endpoint_ = s_.get(zmq::sockopt::last_endpoint);
  }
  const std::string& endpoint() const { return endpoint_; }

  std::optional<Received> Recv(Ms timeout, const std::set<std::string>& skip = {"HEARTBEAT"}) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now());
      if (left < Ms(0)) return std::nullopt;
      zmq::pollitem_t item{s_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::min(left, Ms(50)));
      if (auto_heartbeat_ && !peer_.empty() &&
          std::chrono::steady_clock::now() - last_hb_ > Ms(50)) {
        try {
          Send(proto::kHeartbeat, proto::EmptyBody());
        } catch (const zmq::error_t& e) {  // the registered peer's socket is gone
          if (e.num() != EHOSTUNREACH) throw;
        }
        last_hb_ = std::chrono::steady_clock::now();
      }
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<std::string> frames;
      zmq::message_t m;
      do {
        (void)s_.recv(m);
        frames.push_back(m.to_string());
      } while (m.more());
      REQUIRE(frames.size() == 4);
      auto msg = net::Parse(proto::kTag, {frames.begin() + 1, frames.end()});
      REQUIRE_MESSAGE(msg.ok(), msg.status().ToString());
      // Like the real broker, only a peer that sent READY is registered (and heartbeated);
      // unlike it, traffic from unregistered peers is ignored rather than answered with
      // DISCONNECT, so the worker's silence detection is what gets tested.
      if (msg->command == proto::kReady) peer_ = frames[0];
      if (frames[0] != peer_) continue;
      if (skip.count(msg->command)) continue;
      return Received{frames[0], *msg};
    }
  }
  Received Expect(std::string_view cmd, Ms timeout = 5000ms) {
    auto r = Recv(timeout);
    REQUIRE_MESSAGE(r.has_value(), "timed out waiting for " << cmd);
    REQUIRE_MESSAGE(r->msg.command == cmd, "expected " << cmd << ", got " << r->msg.command);
    return *r;
  }
  proto::WorkerHello ExpectReady() {
    auto r = Expect(proto::kReady);
    auto h = proto::DecodeWorkerHello(r.msg.body);
    REQUIRE(h.ok());
    Send(proto::kHeartbeat, proto::EmptyBody());  // the broker acknowledges READY
    return *h;
  }
  StageResult ExpectResult(Ms timeout = 10000ms) {
    auto r = Expect(proto::kResult, timeout);
    auto res = DecodeStageResult(r.msg.body);
    REQUIRE_MESSAGE(res.ok(), res.status().ToString());
    return *res;
  }
  void Send(std::string_view cmd, std::string body) {
    SendRaw(net::Frames(proto::kTag, cmd, std::move(body)));
  }
  void SendRaw(const std::vector<std::string>& frames) {
    REQUIRE_FALSE(peer_.empty());
    s_.send(zmq::buffer(peer_), zmq::send_flags::sndmore);
    for (size_t i = 0; i < frames.size(); ++i) {
      s_.send(zmq::buffer(frames[i]),
              i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  void SendJob(const StageJob& j) { Send(proto::kJob, EncodeStageJob(j)); }
  void set_auto_heartbeat(bool on) { auto_heartbeat_ = on; }

 private:
  zmq::socket_t s_;
  std::string endpoint_;
  std::string peer_;
  bool auto_heartbeat_ = true;
  std::chrono::steady_clock::time_point last_hb_{};
};

StageJob ShJob(int n, const std::string& script, std::vector<std::string> outputs = {}) {
  StageJob j;
  j.job_id = std::string(63, 'b') + static_cast<char>('0' + n);
  j.run_id = "r1";
  j.stage = "lift";
  j.argv = {"/bin/sh", "-c", script};
  j.env = {{"PATH", "/usr/bin:/bin"}, {"RECOMP_STAGE", "lift"}};
  j.outputs = std::move(outputs);
  j.timeout_s = 60;
  return j;
}

struct AgentHarness {
  explicit AgentHarness(WorkerAgentOptions o = {}) {
    auto st = store::ArtifactStore::Open(dir.path() + "/store");
    REQUIRE_MESSAGE(st.ok(), st.status().ToString());
    store = std::move(st).value();
    blobs = std::make_unique<LocalStoreBlobs>(*store);
    broker = std::make_unique<FakeBroker>(ctx, "tcp://127.0.0.1:0");
    o.connect = broker->endpoint();
    o.work_root = dir.path() + "/work";
    if (o.worker_id.empty()) o.worker_id = "test-worker";
    options = o;
  }
  void Start() {
    auto a = WorkerAgent::Create(ctx, options, blobs.get(), blobs.get());
    REQUIRE_MESSAGE(a.ok(), a.status().ToString());
    agent = std::move(a).value();
    thread = std::thread([this] { run_status = agent->Run(); });
  }
  ~AgentHarness() {
    if (agent) agent->Stop();
    if (thread.joinable()) thread.join();
    agent.reset();
    broker.reset();
  }
  std::string Blob(const std::string& ref) {
    auto d = ParseArtifactRef(ref);
    REQUIRE(d.ok());
    auto b = store->GetBytes(*d, 1 << 20);
    REQUIRE_MESSAGE(b.ok(), b.status().ToString());
    return *b;
  }

  TempDir dir;
  zmq::context_t ctx;
  std::unique_ptr<store::ArtifactStore> store;
  std::unique_ptr<LocalStoreBlobs> blobs;
  std::unique_ptr<FakeBroker> broker;
  WorkerAgentOptions options;
  std::unique_ptr<WorkerAgent> agent;
  std::thread thread;
  Status run_status;
};

TEST_CASE("worker agent: registers with its hello and heartbeats") {
  WorkerAgentOptions o;
  o.slots = 3;
  o.heartbeat_ms = 100;
  AgentHarness h(o);
  h.Start();
  proto::WorkerHello hello = h.broker->ExpectReady();
  CHECK(hello.worker_id == "test-worker");
  CHECK(hello.slots == 3);
  CHECK(hello.heartbeat_ms == 100);
  CHECK(hello.liveness == 3);
  CHECK(hello.pid == ::getpid());
  for (int i = 0; i < 3; ++i) {
    auto r = h.broker->Recv(1000ms, {});
    REQUIRE(r);
    CHECK(r->msg.command == proto::kHeartbeat);
  }
}

TEST_CASE("worker agent: keeps heartbeating while a 2 s job runs") {
  WorkerAgentOptions o;
  o.heartbeat_ms = 100;
  AgentHarness h(o);
  h.Start();
  h.broker->ExpectReady();
  h.broker->SendJob(ShJob(1, "sleep 2"));
  auto t0 = std::chrono::steady_clock::now();
  auto last = t0;
  int heartbeats = 0;
  Ms max_gap(0);
  std::optional<StageResult> result;
  while (!result && std::chrono::steady_clock::now() - t0 < 10s) {
    auto r = h.broker->Recv(1000ms, {});
    REQUIRE_MESSAGE(r, "worker went silent during the job");
    auto now = std::chrono::steady_clock::now();
    max_gap = std::max(max_gap, std::chrono::duration_cast<Ms>(now - last));
    last = now;
    if (r->msg.command == proto::kHeartbeat) ++heartbeats;
    if (r->msg.command == proto::kResult) result = *DecodeStageResult(r->msg.body);
  }
  REQUIRE(result);
  CHECK(result->outcome == JobOutcome::kSucceeded);
  CHECK(result->duration_ms >= 1900);
  CHECK(heartbeats >= 10);
  CHECK(max_gap < 300ms);  // never silent for liveness x interval
}

TEST_CASE("worker agent: runs a job end to end against the store") {
  AgentHarness h;
  auto in = h.store->PutBytes("hello input\n");
  REQUIRE(in.ok());
  h.Start();
  h.broker->ExpectReady();
  StageJob j = ShJob(2,
                     "set -e; mkdir -p out/dir; cp in/module/data.txt out/copy.txt; "
                     "echo \"$RECOMP_JOB_ID $RECOMP_ATTEMPT $RECOMP_STAGE\" > out/dir/env.txt; "
                     "env | sort > out/dir/all_env.txt; echo to-stdout; echo to-stderr >&2",
                     {"out/copy.txt", "out/dir/"});
  j.attempt = 4;
  j.inputs = {{"in/module/data.txt", in->ref}};
  h.broker->SendJob(j);
  StageResult r = h.broker->ExpectResult();
  CHECK_MESSAGE(r.outcome == JobOutcome::kSucceeded, r.message);
  CHECK(r.job_id == j.job_id);
  CHECK(r.attempt == 4);
  CHECK(r.worker == "test-worker");
  CHECK(r.exit_code == 0);
  REQUIRE(r.outputs.size() == 2);
  CHECK(r.outputs[0].path == "out/copy.txt");
  CHECK(r.outputs[1].path == "out/dir/");  // a directory output is named by its tree
  CHECK(h.Blob(r.outputs[0].ref) == "hello input\n");
  auto tree = DecodeTree(h.Blob(r.outputs[1].ref));
  REQUIRE_MESSAGE(tree.ok(), tree.status().ToString());
  REQUIRE(tree->entries.size() == 2);
  CHECK(tree->entries[0].path == "all_env.txt");
  CHECK(tree->entries[1].path == "env.txt");
  CHECK(h.Blob(tree->entries[1].digest.Ref()) == j.job_id + " 4 lift\n");
  auto tree_rec = h.store->Stat(*ParseArtifactRef(r.outputs[1].ref));
  REQUIRE(tree_rec.ok());
  CHECK(tree_rec->media_type == kTreeMediaType);
  // Exactly the job's env plus RECOMP_JOB_ID and RECOMP_ATTEMPT (sh adds PWD, SHLVL, _ itself).
  std::string env = h.Blob(tree->entries[0].digest.Ref());
  CHECK(env.find("PATH=/usr/bin:/bin\n") != std::string::npos);
  CHECK(env.find("RECOMP_ATTEMPT=4\n") != std::string::npos);
  CHECK(env.find("HOME=") == std::string::npos);
  REQUIRE_FALSE(r.log_ref.empty());
  std::string log = h.Blob(r.log_ref);
  CHECK(log.find("to-stdout") != std::string::npos);
  CHECK(log.find("to-stderr") != std::string::npos);
  auto rec = h.store->Stat(*ParseArtifactRef(r.log_ref));
  REQUIRE(rec.ok());
  CHECK(rec->media_type == "text/plain");
  CHECK(rec->producer == "worker:test-worker");
  CHECK(rec->artifact_class == ArtifactClass::kGenerated);
  // The sandbox is gone: nothing survives a job but the store's blobs.
  auto wait_empty = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < wait_empty && !NoSandboxLeft(h.options.work_root)) {
    h.broker->Recv(20ms);
  }
  CHECK(NoSandboxLeft(h.options.work_root));
}

TEST_CASE("worker agent: a failing job reports its exit code and log") {
  AgentHarness h;
  h.Start();
  h.broker->ExpectReady();
  h.broker->SendJob(ShJob(3, "echo boom >&2; exit 3", {"out/never.txt"}));
  StageResult r = h.broker->ExpectResult();
  CHECK(r.outcome == JobOutcome::kFailed);
  CHECK(r.exit_code == 3);
  CHECK(r.outputs.empty());
  REQUIRE_FALSE(r.log_ref.empty());
  CHECK(h.Blob(r.log_ref).find("boom") != std::string::npos);
}

TEST_CASE("worker agent: a missing output fails the job, named in the message and the log") {
  AgentHarness h;
  h.Start();
  h.broker->ExpectReady();
  h.broker->SendJob(ShJob(4, "echo fine", {"out/missing.txt"}));
  StageResult r = h.broker->ExpectResult();
  CHECK(r.outcome == JobOutcome::kFailed);
  CHECK(r.exit_code == 0);
  CHECK(r.message.find("out/missing.txt") != std::string::npos);
  REQUIRE_FALSE(r.log_ref.empty());
  CHECK(h.Blob(r.log_ref).find("out/missing.txt") != std::string::npos);
}

TEST_CASE("worker agent: a job past its timeout is killed with its group") {
  WorkerAgentOptions o;
  o.kill_grace = 200ms;
  AgentHarness h(o);
  h.Start();
  h.broker->ExpectReady();
  StageJob j = ShJob(5, "sleep 30 & sleep 30; wait");
  j.timeout_s = 1;
  auto t0 = std::chrono::steady_clock::now();
  h.broker->SendJob(j);
  StageResult r = h.broker->ExpectResult(10000ms);
  CHECK(r.outcome == JobOutcome::kTimedOut);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK(r.message.find("timed out") != std::string::npos);
}

TEST_CASE("worker agent: CANCEL_JOB kills the job and reports cancelled") {
  WorkerAgentOptions o;
  o.kill_grace = 200ms;
  AgentHarness h(o);
  h.Start();
  h.broker->ExpectReady();
  StageJob j = ShJob(6, "sleep 30");
  h.broker->SendJob(j);
  // Give the job a moment to start: wait for one heartbeat round trip.
  h.broker->Recv(300ms);
  h.broker->Send(proto::kCancel, proto::EncodeJobRef({j.job_id, j.attempt}));
  StageResult r = h.broker->ExpectResult(10000ms);
  CHECK(r.outcome == JobOutcome::kCancelled);
}

TEST_CASE("worker agent: WATCH_LOG streams a running job's log; a malformed offset is harmless") {
  WorkerAgentOptions o;
  o.kill_grace = 200ms;
  AgentHarness h(o);
  h.Start();
  h.broker->ExpectReady();
  StageJob j = ShJob(8, "echo live-line; sleep 30");
  h.broker->SendJob(j);
  h.broker->Send(proto::kWatchLog,
                 proto::JsonBody({{"job_id", j.job_id}, {"attempt", j.attempt}, {"offset", "x"}}));
  std::string seen;
  for (int i = 0; i < 50 && seen.find("live-line") == std::string::npos; ++i) {
    auto piece = proto::DecodeLogPiece(h.broker->Expect(proto::kLogPiece, 10000ms).msg.body);
    REQUIRE_MESSAGE(piece.ok(), piece.status().ToString());
    CHECK(piece->ref == proto::JobRef{j.job_id, j.attempt});
    CHECK(piece->offset == seen.size());
    seen += piece->data;
  }
  CHECK(seen.find("live-line") != std::string::npos);
  h.broker->Send(proto::kCancel, proto::EncodeJobRef({j.job_id, j.attempt}));
  // More pieces may come before the result (the watch lasts until the job ends).
  auto r = h.broker->Recv(10000ms, {"HEARTBEAT", "LOG"});
  REQUIRE(r.has_value());
  REQUIRE(r->msg.command == proto::kResult);
  CHECK(DecodeStageResult(r->msg.body)->outcome == JobOutcome::kCancelled);
}

TEST_CASE("worker agent: garbage from the broker never crashes it") {
  WorkerAgentOptions o;
  o.heartbeat_ms = 100;
  AgentHarness h(o);
  h.Start();
  h.broker->ExpectReady();
  h.broker->SendRaw({"RCP1"});
  h.broker->SendRaw({"NOPE", "JOB", proto::EmptyBody()});
  h.broker->SendRaw({"RCP1", "WHAT", proto::EmptyBody()});
  h.broker->Send(proto::kJob, std::string("\xc1\xc1garbage", 9));  // no job id: ignored
  h.broker->Send(proto::kCancel, "garbage");
  // A job whose id and attempt are readable but which is otherwise invalid: RESULT error.
  h.broker->Send(proto::kJob, proto::JsonBody({{"job_id", std::string(64, 'c')}, {"attempt", 2}}));
  StageResult r = h.broker->ExpectResult();
  CHECK(r.outcome == JobOutcome::kError);
  CHECK(r.job_id == std::string(64, 'c'));
  CHECK(r.attempt == 2);
  // Still alive and working.
  h.broker->SendJob(ShJob(7, "true"));
  CHECK(h.broker->ExpectResult().outcome == JobOutcome::kSucceeded);
}

TEST_CASE("worker agent: reconnects on a new socket after the broker goes away") {
  WorkerAgentOptions o;
  o.heartbeat_ms = 100;
  o.liveness = 3;
  o.reconnect_initial_ms = 200;
  o.kill_grace = 200ms;
  AgentHarness h(o);
  h.Start();
  h.broker->ExpectReady();
  std::string endpoint = h.broker->endpoint();
  h.broker->SendJob(ShJob(8, "sleep 30"));
  h.broker->Recv(200ms);
  h.broker.reset();  // the broker dies (its job is killed by the worker)
  auto t0 = std::chrono::steady_clock::now();
  // ... and comes back on the same endpoint.
  h.broker = std::make_unique<FakeBroker>(h.ctx, endpoint);
  proto::WorkerHello hello = h.broker->ExpectReady();
  CHECK(hello.worker_id == "test-worker");
  auto elapsed = std::chrono::steady_clock::now() - t0;
  CHECK(elapsed >= 300ms);  // liveness x interval of silence first ...
  CHECK(elapsed < 3s);      // ... then 200-300 ms of backoff (plus the job's kill)
  CHECK(h.agent->stats().registrations.load() == 2);
  // The killed job is not reported to the new broker; new work runs.
  h.broker->SendJob(ShJob(9, "true"));
  StageResult r = h.broker->ExpectResult();
  CHECK(r.job_id == ShJob(9, "").job_id);
  CHECK(r.outcome == JobOutcome::kSucceeded);
  // DISCONNECT makes it re-register too.
  h.broker->Send(proto::kDisconnect, proto::JsonBody({{"reason", "test"}}));
  h.broker->ExpectReady();
  CHECK(h.agent->stats().registrations.load() == 3);
}

TEST_CASE("worker agent: noop executor reports success at once") {
  WorkerAgentOptions o;
  o.executor = Executor::kNoop;
  AgentHarness h(o);
  h.Start();
  h.broker->ExpectReady();
  h.broker->SendJob(ShJob(1, "exit 1"));
  StageResult r = h.broker->ExpectResult();
  CHECK(r.outcome == JobOutcome::kSucceeded);
  CHECK(r.outputs.empty());
}

TEST_CASE("worker agent: Create validates options") {
  zmq::context_t ctx;
  WorkerAgentOptions o;
  CHECK_FALSE(WorkerAgent::Create(ctx, o, nullptr, nullptr).ok());  // no endpoint
  o.connect = "tcp://127.0.0.1:1";
  CHECK_FALSE(WorkerAgent::Create(ctx, o, nullptr, nullptr).ok());  // process needs a store
  o.executor = Executor::kNoop;
  auto a = WorkerAgent::Create(ctx, o, nullptr, nullptr);
  REQUIRE(a.ok());
  CHECK((*a)->worker_id().find(':') != std::string::npos);
}

}  // namespace
}  // namespace recomp::worker
