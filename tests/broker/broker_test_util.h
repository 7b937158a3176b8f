// Test harness for the broker: a Broker on its own thread, fake workers and a fake coordinator
// as real DEALER sockets. Every wait polls with a deadline; nothing sleeps to synchronise.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "broker/broker.h"
#include "messages/protocol.h"
#include "messages/stage_job.h"
#include "messages/stage_result.h"
#include "net/framing.h"

namespace recomp::broker::testing {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;

inline std::string JobId(int n) {
  std::string hex = "0123456789abcdef";
  std::string id(64, '0');
  for (int i = 0; i < 8; ++i) id[63 - i] = hex[(n >> (4 * i)) & 15];
  id[0] = 'a';
  return id;
}

inline StageJob MakeJob(int n, Priority p = Priority::kStandard, uint32_t attempt = 1) {
  StageJob j;
  j.job_id = JobId(n);
  j.run_id = "r1";
  j.stage = "lift";
  j.shard = 0;
  j.shards = 1;
  j.attempt = attempt;
  j.argv = {"/bin/true"};
  j.priority = p;
  return j;
}

inline StageResult MakeResult(const StageJob& j, const std::string& worker,
                              JobOutcome o = JobOutcome::kSucceeded) {
  StageResult r = ResultFor(AttemptOf(j));
  r.worker = worker;
  r.outcome = o;
  r.exit_code = o == JobOutcome::kSucceeded ? 0 : 1;
  return r;
}

// What Expect and Silent skip unless told otherwise: messages that do not drive a job.
inline const std::set<std::string> kInformational = {"HEARTBEAT", "WORKER_LIST", "STARTED",
                                                     "WORKER_JOINED", "WORKER_LEFT"};

class Peer {
 public:
  Peer(zmq::context_t& ctx, const std::string& endpoint) : s_(ctx, zmq::socket_type::dealer) {
    s_.set(zmq::sockopt::linger, 0);
    s_.set(zmq::sockopt::rcvhwm, 100000);
    s_.set(zmq::sockopt::sndhwm, 100000);
    s_.connect(endpoint);
  }
  void SendRaw(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i) {
      s_.send(zmq::buffer(frames[i]),
              i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  void Send(std::string_view cmd, std::string body) {
    SendRaw(net::Frames(proto::kTag, cmd, std::move(body)));
  }

  // Next message within `timeout`, skipping commands in `skip`.
  std::optional<net::Message> Recv(Ms timeout, const std::set<std::string>& skip = {
                                                   "HEARTBEAT", "WORKER_LIST"}) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now());
      if (left < Ms(0)) return std::nullopt;
      zmq::pollitem_t item{s_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, left);
      if (!(item.revents & ZMQ_POLLIN)) continue;
      std::vector<std::string> frames;
      zmq::message_t m;
      do {
        (void)s_.recv(m);
        frames.push_back(m.to_string());
      } while (m.more());
      auto msg = net::Parse(proto::kTag, frames);
      REQUIRE_MESSAGE(msg.ok(), msg.status().ToString());
      if (skip.count(msg->command)) continue;
      return std::move(msg).value();
    }
  }
  // Waits for `cmd`, failing the test on any other (non-skipped) command or a timeout.
  net::Message Expect(std::string_view cmd, Ms timeout = 3000ms,
                      const std::set<std::string>& skip = kInformational) {
    auto m = Recv(timeout, skip);
    REQUIRE_MESSAGE(m.has_value(), "timed out waiting for " << cmd);
    REQUIRE_MESSAGE(m->command == cmd, "expected " << cmd << ", got " << m->command);
    return *m;
  }
  // True when nothing (non-skipped) arrives within `quiet`.
  bool Silent(Ms quiet, const std::set<std::string>& skip = kInformational) {
    auto m = Recv(quiet, skip);
    if (m) MESSAGE("unexpected " << m->command);
    return !m.has_value();
  }
  zmq::socket_t& socket() { return s_; }

 private:
  zmq::socket_t s_;
};

class FakeWorker : public Peer {
 public:
  FakeWorker(zmq::context_t& ctx, const std::string& endpoint, std::string id, uint32_t slots = 1,
             uint32_t heartbeat_ms = 1000, uint32_t liveness = 3)
      : Peer(ctx, endpoint), id_(std::move(id)) {
    hello_.worker_id = id_;
    hello_.slots = slots;
    hello_.heartbeat_ms = heartbeat_ms;
    hello_.liveness = liveness;
    hello_.host = "testhost";
    hello_.pid = 42;
  }
  void SetLabels(Labels labels) { hello_.labels = std::move(labels); }
  // Sends READY and waits for the broker's acknowledging WELCOME (which names the blob
  // service); returns its body.
  std::string Ready() {
    Send(proto::kReady, proto::EncodeWorkerHello(hello_));
    return Expect(proto::kWelcome, 3000ms, {"WORKER_LIST"}).body;
  }
  StageJob ExpectJob(Ms timeout = 3000ms) {
    auto m = Expect(proto::kJob, timeout);
    auto j = DecodeStageJob(m.body);
    REQUIRE(j.ok());
    return *j;
  }
  void Finish(const StageJob& j, JobOutcome o = JobOutcome::kSucceeded) {
    Send(proto::kResult, EncodeStageResult(MakeResult(j, id_, o)));
  }
  const std::string& id() const { return id_; }

 private:
  std::string id_;
  proto::WorkerHello hello_;
};

class Coordinator : public Peer {
 public:
  using Peer::Peer;
  // Announces itself (a ROUTER can only talk to peers it heard from).
  void Hello() { Send(proto::kHeartbeat, proto::EmptyBody()); }
  void Dispatch(const StageJob& j) { Send(proto::kDispatch, EncodeStageJob(j)); }
  void Revoke(const StageJob& j) {
    Send(proto::kRevoke, proto::EncodeJobRef({j.job_id, j.attempt}));
  }
  StageResult ExpectResult(Ms timeout = 3000ms) {
    auto r = DecodeStageResult(Expect(proto::kResult, timeout).body);
    REQUIRE(r.ok());
    return *r;
  }
};

class BrokerHarness {
 public:
  explicit BrokerHarness(BrokerOptions o = {}) {
    static std::atomic<int> n{0};
    o.workers_endpoint = "tcp://127.0.0.1:0";
    o.link_endpoint = "inproc://broker-test-" + std::to_string(n++);
    auto b = Broker::Create(ctx, o);
    REQUIRE_MESSAGE(b.ok(), b.status().ToString());
    broker = std::move(b).value();
    Status st = broker->Bind();
    REQUIRE_MESSAGE(st.ok(), st.ToString());
    thread = std::thread([this] { run_status = broker->Run(); });
  }
  ~BrokerHarness() { StopAndJoin(); }
  void StopAndJoin() {
    if (thread.joinable()) {
      broker->Stop();
      thread.join();
    }
  }
  std::unique_ptr<FakeWorker> Worker(std::string id, uint32_t slots = 1, uint32_t hb = 1000,
                                     uint32_t liveness = 3) {
    return std::make_unique<FakeWorker>(ctx, broker->workers_endpoint(), std::move(id), slots, hb,
                                        liveness);
  }
  std::unique_ptr<Coordinator> Coord() {
    auto c = std::make_unique<Coordinator>(ctx, broker->link_endpoint());
    c->Hello();
    return c;
  }

  zmq::context_t ctx;
  std::unique_ptr<Broker> broker;
  std::thread thread;
  Status run_status;
};

}  // namespace recomp::broker::testing
