// `recomp worker`: runs one stateless worker agent that connects to a broker's workers endpoint
// and executes stage jobs until SIGINT/SIGTERM (see docs/protocol.md). Exit codes: 0 stopped by
// a signal, 1 runtime failure (store unavailable, ZeroMQ error), 2 usage.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "cli/commands.h"
#include "store/artifact_store.h"
#include "worker/local_store_blobs.h"
#include "worker/worker_agent.h"

namespace recomp::cli {
namespace {

std::atomic<worker::WorkerAgent*> g_agent{nullptr};

void OnWorkerStopSignal(int) {
  // WorkerAgent::Stop is async-signal-safe (an atomic store and a write to an eventfd).
  if (worker::WorkerAgent* a = g_agent.load()) a->Stop();
}

struct WorkerArgs {
  std::string connect;
  uint32_t slots = 1;
  std::string store_dir;
  std::string data_dir;
  std::string work_dir;
  uint32_t heartbeat_ms = 1000;
  uint32_t liveness = 3;
  uint32_t reconnect_ms = 1000;
  std::string executor = "process";
  std::string id;
};

void RunWorker(const WorkerArgs& a) {
  const std::string home = a.data_dir.empty() ? DefaultHome() : a.data_dir;
  worker::WorkerAgentOptions o;
  o.connect = a.connect;
  o.worker_id = a.id;
  o.slots = a.slots;
  o.heartbeat_ms = a.heartbeat_ms;
  o.liveness = a.liveness;
  o.reconnect_initial_ms = a.reconnect_ms;
  o.reconnect_max_ms = std::max<uint32_t>(32000, a.reconnect_ms);
  o.executor = a.executor == "noop" ? worker::Executor::kNoop : worker::Executor::kProcess;
  o.work_root = a.work_dir.empty() ? home + "/work" : a.work_dir;

  std::unique_ptr<store::ArtifactStore> st;
  std::unique_ptr<worker::LocalStoreBlobs> blobs;
  if (o.executor == worker::Executor::kProcess) {
    const std::string store_dir = a.store_dir.empty() ? home + "/store" : a.store_dir;
    auto opened = store::ArtifactStore::Open(store_dir);
    ExitIfError(opened.status().WithContext("opening store '" + store_dir + "'"));
    st = std::move(opened).value();
    blobs = std::make_unique<worker::LocalStoreBlobs>(*st);
  }
  zmq::context_t ctx;
  auto agent = worker::WorkerAgent::Create(ctx, o, blobs.get(), blobs.get());
  if (!agent.ok()) {
    std::fprintf(stderr, "error: %s\n", agent.status().ToString().c_str());
    throw CLI::RuntimeError(2);
  }
  g_agent.store(agent->get());
  struct sigaction sa = {};
  sa.sa_handler = OnWorkerStopSignal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  std::fprintf(stderr, "recomp worker %s: connecting to %s (%u slots, %s executor)\n",
               (*agent)->worker_id().c_str(), o.connect.c_str(), o.slots, a.executor.c_str());
  Status s = (*agent)->Run();
  g_agent.store(nullptr);
  ExitIfError(s);
}

}  // namespace

void AddWorkerCommands(CLI::App& app) {
  auto a = std::make_shared<WorkerArgs>();
  CLI::App* w =
      app.add_subcommand("worker", "run a worker agent that executes stage jobs for a broker");
  w->add_option("--connect", a->connect, "the broker's workers endpoint, e.g. tcp://127.0.0.1:7421")
      ->required();
  w->add_option("--slots", a->slots, "jobs run at once (credits granted to the broker)")
      ->check(CLI::Range(1, 1024));
  auto* store_opt =
      w->add_option("--store", a->store_dir, "artifact store directory (default <data>/store)");
  auto* data_opt =
      w->add_option("--data", a->data_dir,
                    "recomp home: store/ and work/ below it (default $RECOMP_HOME or ./.recomp)");
  store_opt->excludes(data_opt);
  w->add_option("--work-dir", a->work_dir, "where job sandboxes are created (default <data>/work)");
  w->add_option("--heartbeat-ms", a->heartbeat_ms, "heartbeat interval sent in READY")
      ->check(CLI::Range(10, 60000));
  w->add_option("--liveness", a->liveness, "missed heartbeats before the broker is declared dead")
      ->check(CLI::Range(2, 100));
  w->add_option("--reconnect-ms", a->reconnect_ms,
                "first reconnect delay (doubles to 32 s, plus jitter)")
      ->check(CLI::Range(1, 32000));
  w->add_option("--executor", a->executor, "process (run jobs) or noop (report success at once)")
      ->check(CLI::IsMember({"process", "noop"}));
  w->add_option("--id", a->id, "worker id (default <host>:<pid>:<random>)");
  w->callback([a] { RunWorker(*a); });
}

}  // namespace recomp::cli
