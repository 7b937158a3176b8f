// `recomp up`: runs a whole local pool in the foreground: one `recomp coordinator` child and
// N `recomp worker` children; restarts any that dies (the coordinator on the same endpoints,
// so workers reconnect to it) with a doubling backoff, and gives up loudly (stopping the pool,
// exit 1) when a child keeps dying soon after it starts; stops them all on SIGINT/SIGTERM,
// leaving no orphan (children also get PR_SET_PDEATHSIG, so even `kill -9` of `up` takes them
// down).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "base/dir_lock.h"
#include "cli/api_client.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/security.h"

namespace recomp::cli {
namespace {

volatile sig_atomic_t g_up_stop = 0;
extern "C" void OnUpSignal(int) {
  g_up_stop = 1;
}

using Clock = std::chrono::steady_clock;

struct UpArgs {
  int workers = -1;
  int slots = -1;
  std::string data, config;
  std::string api, events, replay, workers_endpoint, blobs;  // "" = the config's
  std::optional<std::string> metrics;                        // "" = off
  bool insecure = false;
  bool curve = false;
};

struct Child {
  std::vector<std::string> argv;
  std::string name;
  Clock::time_point restart_at{};  // when dead: time to start again
  Clock::time_point started{};
  int quick_failures = 0;  // deaths in a row, each within RestartPolicy::healthy of starting
  pid_t pid = -1;
};

// How dead children are restarted ([up] in the config).
struct RestartPolicy {
  std::chrono::milliseconds initial{1000};  // the first delay; it doubles per quick failure
  std::chrono::milliseconds max{30000};     // ... up to this
  std::chrono::seconds healthy{30};         // a child that ran this long starts over at 1
  int max_quick_failures = 10;              // one more and up gives up
};

std::string SelfExe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("recomp") : p.string();
}

// fork+exec with the parent-death signal set; the child keeps our stdout/stderr.
pid_t Spawn(const std::vector<std::string>& argv) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(1);  // the parent died before prctl
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  std::fprintf(stderr, "up: cannot exec %s: %s\n", args[0], std::strerror(errno));
  _exit(127);
}

// Waits for the coordinator to publish endpoints.json (polling with a deadline), or dies.
Result<Endpoints> AwaitEndpoints(const std::string& data, pid_t coordinator) {
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline && !g_up_stop) {
    auto e = ReadEndpoints(data);
    if (e.ok()) return e;
    int status;
    if (waitpid(coordinator, &status, WNOHANG) == coordinator) {
      return Status::Unavailable("the coordinator exited before it was ready (see its log above)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::DeadlineExceeded("the coordinator did not write " + data +
                                  "/endpoints.json within 30 s");
}

void StopAll(std::vector<Child>& kids, int grace_ms) {
  for (Child& c : kids)
    if (c.pid > 0) kill(c.pid, SIGTERM);
  auto deadline = Clock::now() + std::chrono::milliseconds(grace_ms);
  for (Child& c : kids) {
    while (c.pid > 0) {
      int status;
      if (waitpid(c.pid, &status, WNOHANG) == c.pid) {
        c.pid = -1;
      } else if (Clock::now() > deadline) {
        std::fprintf(stderr, "up: %s (pid %d) did not stop in %d ms: SIGKILL\n", c.name.c_str(),
                     c.pid, grace_ms);
        kill(c.pid, SIGKILL);
        waitpid(c.pid, &status, 0);
        c.pid = -1;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
}

void Start(Child& c) {
  c.pid = Spawn(c.argv);
  c.started = Clock::now();
}

// Records the death of `c`; false when it died too often in a row to be restarted.
bool ScheduleRestart(Child& c, int status, const RestartPolicy& policy) {
  auto now = Clock::now();
  c.quick_failures = now - c.started < policy.healthy ? c.quick_failures + 1 : 1;
  const char* how = WIFSIGNALED(status) ? "signal" : "status";
  int code = WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status);
  if (c.quick_failures > policy.max_quick_failures) {
    std::fprintf(stderr,
                 "up: ERROR: %s (pid %d) exited (%s %d), its %d%s death in a row within %lld s "
                 "of starting: giving up and stopping the pool (see its log above)\n",
                 c.name.c_str(), c.pid, how, code, c.quick_failures,
                 c.quick_failures % 10 == 1 ? "st" : "th",
                 static_cast<long long>(policy.healthy.count()));
    c.pid = -1;
    return false;
  }
  std::chrono::milliseconds delay = policy.initial * (1LL << std::min(c.quick_failures - 1, 20));
  delay = std::min(delay, policy.max);
  std::fprintf(stderr, "up: %s (pid %d) exited (%s %d); restarting in %lld ms\n", c.name.c_str(),
               c.pid, how, code, static_cast<long long>(delay.count()));
  c.pid = -1;
  c.restart_at = now + delay;
  return true;
}

// Reaps dead children and restarts them with the policy's backoff. Returns OK when asked to
// stop, an error when a child keeps dying.
Status Supervise(std::vector<Child>& kids, const RestartPolicy& policy) {
  while (!g_up_stop) {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (Child& c : kids) {
        if (c.pid != pid) continue;
        if (!ScheduleRestart(c, status, policy)) {
          return Status::Unavailable(c.name + " keeps exiting soon after it starts: gave up");
        }
      }
    }
    for (Child& c : kids) {
      if (c.pid < 0 && Clock::now() >= c.restart_at) Start(c);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::Ok();
}

RestartPolicy PolicyFrom(const Config& cfg) {
  RestartPolicy p;
  p.initial = std::chrono::milliseconds(cfg.Int("up.restart_delay_ms", p.initial.count()));
  p.max = std::chrono::milliseconds(cfg.Int("up.restart_max_delay_ms", p.max.count()));
  p.healthy = std::chrono::seconds(cfg.Int("up.restart_healthy_s", p.healthy.count()));
  p.max_quick_failures = static_cast<int>(cfg.Int("up.max_quick_failures", 10));
  return p;
}

// `recomp worker` flags for up's workers: --slots when given; the rest each worker reads from
// the config file up passes it ([worker]), like one started alone.
std::vector<std::string> WorkerFlags(const UpArgs& a) {
  if (a.slots <= 0) return {};
  return {"--slots", std::to_string(a.slots)};
}

// Removes endpoints.json only while holding the data directory's lock, so only a file that no
// live coordinator wrote: FailedPrecondition (naming the holder's pid) when a pool holds it.
// The lock is released at once: the coordinator takes it next (a second `up` racing this one
// finds its coordinator refused).
Status RemoveStaleEndpoints(const std::string& data) {
  RECOMP_ASSIGN_OR_RETURN(DirLock lock, DirLock::Acquire(data));
  std::error_code ec;
  std::filesystem::remove(data + "/endpoints.json", ec);
  return Status::Ok();
}

// `recomp coordinator` argv for `up`: the endpoints the flags name, or with `bound` (after
// the first start) the ones it bound, so a restarted coordinator comes back on the same ports
// (a wildcard or port 0 resolved).
std::vector<std::string> CoordinatorArgv(const std::string& self,
                                         const std::vector<std::string>& common, const UpArgs& a,
                                         const Endpoints* bound) {
  std::vector<std::string> argv = {self, "coordinator"};
  argv.insert(argv.end(), common.begin(), common.end());
  if (a.insecure) argv.push_back("--insecure");
  if (a.curve) argv.push_back("--curve");
  const std::pair<const char*, std::string> eps[] = {
      {"--api", bound ? bound->api : a.api},
      {"--events", bound ? bound->events : a.events},
      {"--replay", bound ? bound->replay : a.replay},
      {"--workers-endpoint", bound ? bound->workers : a.workers_endpoint},
      {"--blobs", bound ? bound->blobs : a.blobs}};
  for (const auto& [flag, value] : eps) {
    if (value.empty()) continue;
    argv.push_back(flag);
    argv.push_back(value);
  }
  // Metrics: the address it bound ("http://HOST:PORT/metrics" in endpoints.json), else the flag.
  std::string metrics = a.metrics.value_or("");
  if (bound != nullptr && bound->metrics.rfind("http://", 0) == 0) {
    metrics = bound->metrics.substr(7, bound->metrics.find('/', 7) - 7);
  }
  if (a.metrics || !metrics.empty()) argv.insert(argv.end(), {"--metrics", metrics});
  return argv;
}

Status RunUp(const UpArgs& a) {
  RECOMP_ASSIGN_OR_RETURN(Config cfg, Config::Load(a.config));
  std::string data = std::filesystem::absolute(DataDir(a.data)).string();
  RECOMP_RETURN_IF_ERROR(PrepareDataDir(data));
  RECOMP_RETURN_IF_ERROR(RemoveStaleEndpoints(data));
  int workers = a.workers >= 0 ? a.workers : static_cast<int>(cfg.Int("up.workers", 2));
  std::string self = SelfExe();
  std::vector<std::string> common = {"--data", data};
  if (!cfg.path().empty()) {  // the children read the file this process found
    common.push_back("--config");
    common.push_back(std::filesystem::absolute(cfg.path()).string());
  }
  signal(SIGINT, OnUpSignal);
  signal(SIGTERM, OnUpSignal);
  std::vector<Child> kids(1);
  kids[0].name = "coordinator";
  kids[0].argv = CoordinatorArgv(self, common, a, nullptr);
  Start(kids[0]);
  auto ep = AwaitEndpoints(data, kids[0].pid);
  if (!ep.ok()) {
    StopAll(kids, 2000);
    return ep.status();
  }
  kids[0].argv = CoordinatorArgv(self, common, a, &*ep);
  std::vector<std::string> worker_flags = WorkerFlags(a);
  for (int i = 0; i < workers; ++i) {
    Child w;
    w.name = "worker " + std::to_string(i);
    w.argv = {self, "worker", "--connect", ep->workers};
    w.argv.insert(w.argv.end(), common.begin(), common.end());  // --data, --config
    w.argv.insert(w.argv.end(), worker_flags.begin(), worker_flags.end());
    if (!ep->server_key.empty()) {  // the pool's own worker key (docs/security.md)
      w.argv.insert(w.argv.end(),
                    {"--server-key", ep->server_key, "--key", KeyPath(data, kLocalWorkerKeyName)});
    }
    Start(w);
    kids.push_back(std::move(w));
  }
  std::printf(
      "recomp up: %d worker(s), data %s\napi      %s\nevents   %s\nreplay   %s\nworkers  %s\n"
      "blobs    %s\n",
      workers, data.c_str(), ep->api.c_str(), ep->events.c_str(), ep->replay.c_str(),
      ep->workers.c_str(), ep->blobs.c_str());
  std::printf("endpoints written to %s/endpoints.json; Ctrl-C stops the pool\n", data.c_str());
  std::fflush(stdout);
  Status st = Supervise(kids, PolicyFrom(cfg));
  std::fprintf(stderr, "up: stopping\n");
  StopAll(kids, static_cast<int>(cfg.Int("up.stop_grace_ms", 5000)));
  // Left by our coordinator if it was killed; kept when another pool holds the directory now.
  (void)RemoveStaleEndpoints(data);
  return st;
}

}  // namespace

void AddUpCommand(CLI::App& app) {
  auto a = std::make_shared<UpArgs>();
  CLI::App* c =
      app.add_subcommand("up", "run a local pool (coordinator + N workers) in the foreground");
  c->add_option("--workers", a->workers, "worker processes (default [up] workers = 2)");
  c->add_option("--slots", a->slots, "jobs per worker (default [worker] slots = 1)");
  c->add_option("--data", a->data, "data directory (default $RECOMP_HOME, else ./.recomp)");
  c->add_option("--config", a->config,
                "config file (default $RECOMP_CONFIG, then $XDG_CONFIG_HOME/recomp/recomp.toml, "
                "/etc/recomp/recomp.toml; keys: config/recomp.toml)");
  const char* wild = " (tcp://HOST:PORT; port * or 0 = any free port, see endpoints.json)";
  c->add_option("--api", a->api, std::string("client API endpoint to bind") + wild);
  c->add_option("--events", a->events, std::string("events PUB endpoint to bind") + wild);
  c->add_option("--replay", a->replay, std::string("events replay endpoint to bind") + wild);
  c->add_option("--workers-endpoint", a->workers_endpoint,
                std::string("endpoint workers connect to") + wild);
  c->add_option("--blobs", a->blobs, std::string("blob service endpoint to bind") + wild);
  c->add_option("--metrics", a->metrics,
                "HOST:PORT of the coordinator's Prometheus endpoint (port 0 = any; \"\" = off)");
  c->add_flag("--insecure", a->insecure,
              "let the coordinator bind non-loopback endpoints without authentication");
  c->add_flag("--curve", a->curve,
              "CURVE on every endpoint (default [security] curve = false; docs/security.md)");
  c->callback([a] { ExitIfError(RunUp(*a)); });
}

}  // namespace recomp::cli
