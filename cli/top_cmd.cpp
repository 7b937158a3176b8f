// `recomp top`: a live view of the pool (runs in flight with progress, workers and their jobs,
// queue depths, jobs per second), redrawn in place on a terminal; one plain snapshot when
// stdout is not a terminal (or with --once).
#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/run_display.h"
#include "messages/protocol.h"

namespace recomp::cli {
namespace {

std::atomic<bool> g_top_stop{false};
extern "C" void OnTopSignal(int) {
  g_top_stop.store(true);
}

size_t TerminalWidth() {
  struct winsize ws {};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 160;
}

struct Frame {
  nlohmann::json stats, workers;
};

Result<Frame> Fetch(ApiClient& client) {
  Frame f;
  RECOMP_ASSIGN_OR_RETURN(std::string s,
                          client.Api(std::string(proto::kStats), proto::EmptyBody()));
  RECOMP_ASSIGN_OR_RETURN(f.stats, proto::BodyJson(s, "stats"));
  RECOMP_ASSIGN_OR_RETURN(std::string w,
                          client.Api(std::string(proto::kWorkers), proto::EmptyBody()));
  RECOMP_ASSIGN_OR_RETURN(f.workers, proto::BodyJson(w, "workers"));
  return f;
}

Status RunTop(const ClientFlags& flags, double interval_s, bool once) {
  RECOMP_ASSIGN_OR_RETURN(Connection conn, Connect(flags));
  const bool live = !once && isatty(STDOUT_FILENO);
  std::signal(SIGINT, OnTopSignal);
  std::signal(SIGTERM, OnTopSignal);
  uint64_t prev_done = 0;
  auto prev_t = std::chrono::steady_clock::now();
  bool first = true;
  while (!g_top_stop.load()) {
    RECOMP_ASSIGN_OR_RETURN(Frame f, Fetch(*conn.client));
    const auto now = std::chrono::steady_clock::now();
    const uint64_t done = f.stats.value("jobs_completed", uint64_t{0});
    const double dt = std::chrono::duration<double>(now - prev_t).count();
    const double rate = first || dt <= 0 || done < prev_done ? 0.0 : (done - prev_done) / dt;
    prev_done = done;
    prev_t = now;
    first = false;
    if (flags.json) {
      std::printf("%s\n",
                  nlohmann::json({{"stats", f.stats},
                                  {"workers", f.workers.value("workers", nlohmann::json::array())},
                                  {"jobs_per_s", rate}})
                      .dump()
                      .c_str());
    } else {
      // Home the cursor and clear the screen: the view is redrawn in place.
      std::string text = FormatTop(f.stats, f.workers, rate, live ? TerminalWidth() : 160);
      std::printf("%s%s", live ? "\033[H\033[2J" : "", text.c_str());
    }
    std::fflush(stdout);
    if (!live) return Status::Ok();
    const auto until = now + std::chrono::duration<double>(interval_s);
    while (!g_top_stop.load() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::Ok();
}

}  // namespace

void AddTopCommand(CLI::App& app) {
  struct A {
    ClientFlags f;
    double interval = 1.0;
    bool once = false;
  };
  auto a = std::make_shared<A>();
  CLI::App* c = app.add_subcommand(
      "top", "a live view of the pool: runs in flight, workers, queues, jobs per second");
  c->add_option("--interval", a->interval, "seconds between refreshes")
      ->check(CLI::Range(0.1, 3600.0));
  c->add_flag("--once", a->once, "print one snapshot and exit (also when stdout is no terminal)");
  AddClientFlags(c, &a->f);
  c->callback([a] { ExitIfError(RunTop(a->f, a->interval, a->once)); });
}

}  // namespace recomp::cli
