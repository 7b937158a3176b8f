// scale_bench: many simulated workers (DEALER sockets in this one process, answering every JOB
// at once with a successful RESULT) against a real `recomp coordinator`: how long N workers
// take to register, the idle coordinator's CPU for their heartbeats, and the control-plane
// throughput at N workers beside the same with 2 workers, measured in the same run.
// Prints figures; asserts nothing.
//   recomp_scale_bench [RECOMP] [--workers 1000,10000] [--runs 8] [--shards 1024] [--idle-s 10]
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "messages/protocol.h"
#include "messages/stage_job.h"
#include "messages/stage_result.h"
#include "net/framing.h"
#include "net/socket.h"

extern char** environ;

namespace {

using namespace recomp;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "scale_bench: %s\n", what.c_str());
  std::exit(1);
}

std::string Run(const std::vector<std::string>& args) {
  std::string cmd;
  for (const auto& a : args) cmd += "'" + a + "' ";
  FILE* p = ::popen((cmd + "2>&1").c_str(), "r");
  if (!p) Fail("popen " + cmd);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (::pclose(p) != 0) Fail(cmd + " failed:\n" + out);
  return out;
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0].c_str(), &fa, nullptr, argv.data(), environ) != 0) {
    Fail("cannot start " + args[0]);
  }
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// utime + stime of `pid` in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  std::istringstream in(s.substr(s.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// One coordinator on a fresh data dir, endpoints on OS-chosen loopback ports.
struct Coordinator {
  std::string data, api, workers;
  pid_t pid = -1;
  Coordinator(const std::string& recomp, const std::string& dir) : data(dir) {
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/c.toml")
        << "[coordinator]\napi = \"tcp://127.0.0.1:0\"\n"
           "events = \"tcp://127.0.0.1:0\"\nreplay = "
           "\"tcp://127.0.0.1:0\"\nblobs = \"tcp://127.0.0.1:0\"\n"
           "metrics = \"127.0.0.1:0\"\n[broker]\nworkers = \"tcp://127.0.0.1:0\"\n";
    pid = Spawn({recomp, "coordinator", "--data", dir, "--config", dir + "/c.toml"},
                dir + "/coordinator.log");
    for (int i = 0; i < 3000 && api.empty(); ++i) {
      std::ifstream f(dir + "/endpoints.json");
      auto j = nlohmann::json::parse(f, nullptr, false);
      if (!j.is_discarded() && j.contains("workers")) {
        api = j["api"];
        workers = j["workers"];
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    if (api.empty()) Fail("the coordinator did not write endpoints.json");
  }
  ~Coordinator() {
    ::kill(pid, SIGTERM);
    int st;
    ::waitpid(pid, &st, 0);
    std::filesystem::remove_all(data);
  }
};

// An API call from a fresh DEALER; the reply body as JSON.
nlohmann::json Api(zmq::context_t& ctx, const std::string& ep, std::string_view cmd,
                   const std::string& body) {
  auto s = net::MakeSocket(ctx, zmq::socket_type::dealer);
  if (!s.ok() || !net::Connect(*s, ep, "api").ok()) Fail("api socket");
  if (net::Send(*s, net::Frames(proto::kTag, cmd, body)) != net::SendResult::kOk) Fail("send");
  zmq::pollitem_t item{s->handle(), 0, ZMQ_POLLIN, 0};
  (void)net::Poll(&item, 1, std::chrono::milliseconds(30000));
  net::Received r;
  auto got = net::Receive(*s, &r);
  if (!got.ok() || !*got) Fail("no reply to " + std::string(cmd));
  auto m = net::Parse(proto::kTag, r);
  if (!m.ok() || m->command != proto::kOk) Fail(std::string(cmd) + " refused");
  auto j = proto::BodyJson(m->body, "reply");
  if (!j.ok()) Fail("reply");
  return *j;
}

// N simulated workers on one thread: READY, a heartbeat every second, and a successful RESULT
// for every JOB at once (the noop executor's answer, without a process).
// Past kPerProcess workers the simulation forks processes of kPerProcess each (a DEALER costs
// two descriptors, and the hard limit may be as low as 20,000).
constexpr int kPerProcess = 2500;

class Simulator {
 public:
  Simulator(const std::string& endpoint, int n, uint32_t slots) : ctx_(2) {
    for (int first = kPerProcess; n > kPerProcess && first < n; first += kPerProcess) {
      pid_t pid = ::fork();
      if (pid == 0) {  // a fresh context of its own; runs until killed
        zmq::context_t ctx(2);
        Simulator* child =
            new Simulator(ctx, endpoint, first, std::min(n, first + kPerProcess), slots);
        (void)child;
        ::pause();
        ::_exit(0);
      }
      children_.push_back(pid);
    }
    int own = std::min(n, kPerProcess);
    ctx_.set(zmq::ctxopt::max_sockets, own + 64);
    thread_ = std::thread([=, this] { Loop(endpoint, 0, own, slots); });
  }
  ~Simulator() {
    for (pid_t pid : children_) {
      ::kill(pid, SIGKILL);
      int st;
      ::waitpid(pid, &st, 0);
    }
    stop_ = true;
    thread_.join();
  }
  uint64_t results() const { return results_.load(); }

 private:
  void Send(zmq::socket_t& s, std::string_view cmd, std::string body) {
    (void)net::Send(s, net::Frames(proto::kTag, cmd, std::move(body)));
  }
  void Ready(zmq::socket_t& s, int i, uint32_t slots) {
    proto::WorkerHello h;
    h.worker_id = "sim-" + std::to_string(i);
    h.slots = slots;
    h.host = "sim";
    h.pid = i;
    h.labels = {{"pool", "default"}};
    Send(s, proto::kReady, proto::EncodeWorkerHello(h));
  }
  // The interval a WELCOME or HEARTBEAT body sets (the broker stretches it with many workers).
  static void Adopt(const std::string& body, uint32_t* beat_ms) {
    auto j = proto::BodyJson(body, "heartbeat");
    if (j.ok() && j->contains("heartbeat_ms") && (*j)["heartbeat_ms"].is_number_unsigned()) {
      *beat_ms = std::max<uint32_t>(10, (*j)["heartbeat_ms"].get<uint32_t>());
    }
  }
  void Handle(zmq::socket_t& s, int i, uint32_t slots, uint32_t* beat_ms) {
    for (int k = 0; k < 256; ++k) {
      net::Received r;
      auto got = net::Receive(s, &r);
      if (!got.ok() || !*got) return;
      auto m = net::Parse(proto::kTag, r);
      if (!m.ok()) continue;
      if (m->command == proto::kJob) {
        auto job = DecodeStageJob(m->body);
        if (!job.ok()) continue;
        StageResult res = ResultFor(AttemptOf(*job));
        res.worker = "sim-" + std::to_string(i);
        res.outcome = JobOutcome::kSucceeded;
        Send(s, proto::kResult, EncodeStageResult(res));
        ++results_;
      } else if (m->command == proto::kDisconnect) {
        Ready(s, i, slots);
      } else if (m->command == proto::kWelcome || m->command == proto::kHeartbeat) {
        Adopt(m->body, beat_ms);
      }
    }
  }
  // The workers [first, end) of a forked child, on its own context.
  Simulator(zmq::context_t& ctx, const std::string& endpoint, int first, int end, uint32_t slots)
      : ctx_(0) {
    ctx.set(zmq::ctxopt::max_sockets, end - first + 64);
    other_ = &ctx;
    thread_ = std::thread([=, this] { Loop(endpoint, first, end, slots); });
  }
  void Loop(const std::string& endpoint, int first, int end, uint32_t slots) {
    zmq::context_t& ctx = other_ ? *other_ : ctx_;
    const int n = end - first;
    std::vector<zmq::socket_t> socks;
    std::vector<zmq::pollitem_t> items;
    net::SocketOptions o;
    o.sndhwm = o.rcvhwm = 10000;
    for (int i = 0; i < n; ++i) {
      auto s = net::MakeSocket(ctx, zmq::socket_type::dealer, o);
      if (!s.ok() || !net::Connect(*s, endpoint, "workers").ok()) Fail("sim socket");
      socks.push_back(std::move(s).value());
    }
    for (int i = 0; i < n; ++i) {
      Ready(socks[i], first + i, slots);
      items.push_back({socks[i].handle(), 0, ZMQ_POLLIN, 0});
    }
    std::vector<uint32_t> beat_ms(n, 1000);
    std::vector<Clock::time_point> last_beat(n, Clock::now());
    while (!stop_) {
      (void)net::Poll(items.data(), items.size(), std::chrono::milliseconds(50));
      for (int i = 0; i < n; ++i) {
        if (items[i].revents & ZMQ_POLLIN) Handle(socks[i], first + i, slots, &beat_ms[i]);
      }
      auto now = Clock::now();
      for (int i = 0; i < n; ++i) {
        if (now - last_beat[i] < std::chrono::milliseconds(beat_ms[i])) continue;
        Send(socks[i], proto::kHeartbeat, proto::EmptyBody());
        last_beat[i] = now;
      }
    }
  }
  zmq::context_t ctx_;
  zmq::context_t* other_ = nullptr;  // a forked child's context
  std::vector<pid_t> children_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> results_{0};
  std::thread thread_;
};

struct Figures {
  double register_s = 0, idle_cpu = 0, sim_cpu = 0, jobs_per_s = 0;
};

// Submits `runs` runs of `shards` trivial jobs with `recomp submit` and waits for all to end.
double Throughput(zmq::context_t& ctx, const std::string& recomp, const Coordinator& c,
                  const std::string& work, int runs, int shards, const std::string& tag) {
  std::string mod = work + "/module.bin", prov = work + "/prov.json";
  std::ofstream(mod) << "scale bench " << tag << "\n";
  std::ofstream(prov) << "{}\n";
  std::vector<std::string> ids;
  Clock::time_point t0 = Clock::now();
  for (int r = 0; r < runs; ++r) {
    std::string cfg = work + "/p" + std::to_string(r) + ".toml";
    std::ofstream(cfg) << "tools = []\n[[stages]]\nname = \"noop\"\ncommand = [\"/bin/true\"]\n"
                          "outputs = []\nshards = "
                       << shards << "\nsalt = \"" << tag << "-" << r << "-" << ::getpid() << "\"\n";
    std::string out = Run({recomp, "submit", "--data", c.data, "--module", mod, "--config", cfg,
                           "--provenance", prov});
    ids.push_back(out.substr(0, out.find_last_not_of(" \n") + 1));
  }
  for (const std::string& id : ids) {
    for (;;) {
      auto st = Api(ctx, c.api, proto::kStatus,
                    proto::JsonBody({{"run_id", id.substr(id.rfind('\n') + 1)}}));
      std::string state = st.value("state", "");
      if (state == "succeeded") break;
      if (state == "failed") Fail("run " + id + " failed");
      if (Since(t0) > 600) Fail("runs did not finish within 600 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return runs * static_cast<double>(shards) / Since(t0);
}

Figures Measure(const std::string& recomp, int n, uint32_t slots, int runs, int shards,
                int idle_s) {
  char tmpl[] = "/tmp/recomp-scale-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  Figures f;
  {
    Coordinator c(recomp, dir + "/data");
    zmq::context_t ctx;
    Clock::time_point t0 = Clock::now();
    double sim0 = CpuSeconds(::getpid());
    Simulator sim(c.workers, n, slots);
    for (;;) {
      auto w = Api(ctx, c.api, proto::kWorkers, proto::EmptyBody());
      if (w["workers"].size() >= static_cast<size_t>(n)) break;
      if (Since(t0) > 120) Fail(std::to_string(n) + " workers did not register within 120 s");
      // Decoding a list of 10,000 workers costs this process ~50 ms of a shared core: ask
      // less often with more workers. The figure includes the list's own delay (the broker
      // sends a changed list at most every 1 ms per 10 workers).
      std::this_thread::sleep_for(std::chrono::milliseconds(n >= 5000 ? 250 : 50));
    }
    f.register_s = Since(t0);
    std::this_thread::sleep_for(std::chrono::seconds(2));  // let registration traffic settle
    double cpu0 = CpuSeconds(c.pid), own0 = CpuSeconds(::getpid());
    std::this_thread::sleep_for(std::chrono::seconds(idle_s));
    f.idle_cpu = 100 * (CpuSeconds(c.pid) - cpu0) / idle_s;
    f.sim_cpu = 100 * (CpuSeconds(::getpid()) - own0) / idle_s;
    (void)sim0;
    f.jobs_per_s = Throughput(ctx, recomp, c, dir, runs, shards, "n" + std::to_string(n));
  }
  std::filesystem::remove_all(dir);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::string recomp = argc > 1 && argv[1][0] != '-' ? argv[1] : "build/cli/recomp";
  std::vector<int> ns = {1000, 10000};
  int runs = 8, shards = 1024, idle_s = 10;
  for (int i = 1; i + 1 < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs") runs = std::stoi(argv[i + 1]);
    if (a == "--shards") shards = std::stoi(argv[i + 1]);
    if (a == "--idle-s") idle_s = std::stoi(argv[i + 1]);
    if (a == "--workers") {
      ns.clear();
      std::stringstream in(argv[i + 1]);
      for (std::string x; std::getline(in, x, ',');) ns.push_back(std::stoi(x));
    }
  }
  // 10,000 connections need two descriptors each here (the TCP socket and the socket's
  // mailbox) and one each in the coordinator, which inherits this limit: ask for 262144
  // (root may raise the hard limit), else take the hard limit.
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  rlimit want{262144, 262144};
  if (lim.rlim_max >= want.rlim_max || ::setrlimit(RLIMIT_NOFILE, &want) != 0) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
  ::getrlimit(RLIMIT_NOFILE, &lim);
  std::printf("open-file limit %llu\n", static_cast<unsigned long long>(lim.rlim_cur));
  std::printf("scale_bench: %d runs x %d shards per measurement, idle CPU over %d s\n", runs,
              shards, idle_s);
  std::printf("%8s %6s %12s %14s %12s %10s\n", "workers", "slots", "register s", "coordinator %",
              "simulator %", "jobs/s");
  Figures base = Measure(recomp, 2, 64, runs, shards, idle_s);
  std::printf("%8d %6d %12.2f %14.1f %12.1f %10.0f\n", 2, 64, base.register_s, base.idle_cpu,
              base.sim_cpu, base.jobs_per_s);
  std::fflush(stdout);
  for (int n : ns) {
    Figures f = Measure(recomp, n, 1, runs, shards, idle_s);
    std::printf("%8d %6d %12.2f %14.1f %12.1f %10.0f  (%.0f%% of 2 workers)\n", n, 1, f.register_s,
                f.idle_cpu, f.sim_cpu, f.jobs_per_s, 100 * f.jobs_per_s / base.jobs_per_s);
    std::fflush(stdout);
  }
  return 0;
}
