// The client subcommands over the coordinator API: status, runs, cancel, rerun, events, audit,
// workers, and the --wait progress display of submit.
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "base/clock.h"
#include "cli/blob_access.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/event_follower.h"
#include "messages/artifact_ref.h"
#include "messages/codec.h"
#include "messages/protocol.h"

namespace recomp::cli {
namespace {

std::atomic<bool> g_client_stop{false};
extern "C" void OnClientSignal(int) {
  g_client_stop.store(true);
}

Connection MustConnect(const ClientFlags& f) {
  auto c = Connect(f);
  ExitIfError(c.status());
  return std::move(c).value();
}

std::string RunIdBody(const std::string& run_id) {
  return proto::JsonBody({{"run_id", run_id}});
}

nlohmann::json MustJson(const Result<std::string>& reply, const char* what) {
  ExitIfError(reply.status());
  auto j = proto::BodyJson(*reply, what);
  ExitIfError(j.status());
  return *j;
}

void StatusCommand(CLI::App& app) {
  auto f = std::make_shared<ClientFlags>();
  auto run = std::make_shared<std::string>();
  CLI::App* c = app.add_subcommand("status", "show a run's v1 status record");
  c->add_option("RUN", *run, "run id")->required();
  AddClientFlags(c, f.get());
  c->callback([f, run] {
    Connection conn = MustConnect(*f);
    auto reply = conn.client->Api(std::string(proto::kStatus), RunIdBody(*run));
    ExitIfError(reply.status());
    auto st = DecodeRunStatus(*reply);
    ExitIfError(st.status());
    PrintStatus(*st, f->json);
  });
}

struct RunsArgs {
  ClientFlags f;
  std::string state, since;
  int64_t limit = 0;  // 0 = every match
};

// Pages through LIST (docs/protocol.md) with the filters, printing each run as its page
// arrives, until `limit` runs were printed or the list ends.
Status PrintRuns(ApiClient& client, const RunsArgs& a) {
  nlohmann::json all = nlohmann::json::array();
  std::string after;
  int64_t printed = 0;
  for (size_t pages = 0; pages < 1000000; ++pages) {  // a cursor always moves forward
    const int64_t want = a.limit > 0 ? std::min<int64_t>(1000, a.limit - printed) : 1000;
    nlohmann::json req = {{"limit", want}, {"after", after}};
    if (!a.state.empty()) req["state"] = a.state;
    if (!a.since.empty()) req["since"] = a.since;
    RECOMP_ASSIGN_OR_RETURN(std::string reply,
                            client.Api(std::string(proto::kList), proto::JsonBody(req)));
    RECOMP_ASSIGN_OR_RETURN(nlohmann::json page, proto::BodyJson(reply, "runs"));
    if (!page.contains("runs") || !page["runs"].is_array() || !page.contains("next") ||
        !page["next"].is_string()) {
      return Status::InvalidArgument("LIST reply: needs runs (an array) and next (a string)");
    }
    for (nlohmann::json& entry : page["runs"]) {
      ++printed;
      if (a.f.json) {
        all.push_back(std::move(entry));
        continue;
      }
      RECOMP_ASSIGN_OR_RETURN(RunStatus st, DecodeRunStatus(proto::JsonBody(entry)));
      std::printf("%s\n", StatusLine(st, entry.value("artifact_count", 0)).c_str());
    }
    after = page["next"].get<std::string>();
    if (after.empty() || (a.limit > 0 && printed >= a.limit)) break;
  }
  if (a.f.json) std::printf("%s\n", all.dump().c_str());
  return Status::Ok();
}

void RunsCommand(CLI::App& app) {
  auto a = std::make_shared<RunsArgs>();
  CLI::App* c = app.add_subcommand("runs", "list runs (in run-id order)");
  c->add_option("--state", a->state, "only runs in this state")
      ->check(CLI::IsMember({"queued", "running", "blocked", "failed", "succeeded"}));
  c->add_option("--limit", a->limit, "at most this many runs")->check(CLI::Range(1, 100000000));
  c->add_option("--since", a->since,
                "only runs accepted at or after this RFC 3339 time (2026-12-05T08:00:00Z)");
  AddClientFlags(c, &a->f);
  c->callback([a] {
    Connection conn = MustConnect(a->f);
    ExitIfError(PrintRuns(*conn.client, *a));
  });
}

void CancelCommand(CLI::App& app) {
  auto f = std::make_shared<ClientFlags>();
  auto run = std::make_shared<std::string>();
  CLI::App* c = app.add_subcommand("cancel", "cancel a run (it ends failed, reason cancelled)");
  c->add_option("RUN", *run, "run id")->required();
  AddClientFlags(c, f.get());
  c->callback([f, run] {
    Connection conn = MustConnect(*f);
    auto reply = conn.client->Api(std::string(proto::kCancelRun), RunIdBody(*run));
    ExitIfError(reply.status());
    auto st = DecodeRunStatus(*reply);
    ExitIfError(st.status());
    PrintStatus(*st, f->json);
  });
}

void RerunCommand(CLI::App& app) {
  struct A {
    ClientFlags f;
    std::string run, from_stage, store;
    bool wait = false;
  };
  auto a = std::make_shared<A>();
  CLI::App* c =
      app.add_subcommand("rerun", "submit a new run of a run's manifests; prints the new run id");
  c->add_option("RUN", a->run, "the run to run again")->required();
  c->add_option("--from-stage", a->from_stage,
                "re-execute this stage and every stage that needs it (nothing of theirs is "
                "served from the action cache); the others may be");
  c->add_flag("--wait", a->wait, "follow the new run; exit 0 only if it succeeded");
  c->add_option("--store", a->store, "artifact store for --wait's failure log (default as logs)");
  AddClientFlags(c, &a->f);
  c->callback([a] {
    Connection conn = MustConnect(a->f);
    nlohmann::json req = {{"run_id", a->run}, {"requested_by", Principal()}};
    if (!a->from_stage.empty()) req["from_stage"] = a->from_stage;
    auto reply = conn.client->Api(std::string(proto::kRerun), proto::JsonBody(req));
    ExitIfError(reply.status());
    auto st = DecodeRunStatus(*reply);
    ExitIfError(st.status());
    if (!a->wait) {
      if (a->f.json)
        std::printf("%s\n", ToJson(*st).dump().c_str());
      else
        std::printf("%s\n", st->run_id.c_str());
      return;
    }
    auto blobs = OpenBlobAccess(a->f, a->store, &conn);
    ExitWith(WaitForRun(conn, blobs.ok() ? blobs->get() : nullptr, st->run_id, a->f.json));
  });
}

std::string EventLine(const Event& e) {
  std::string line = std::to_string(e.sequence) + " " + e.time + " " +
                     std::string(ToString(e.type)) + " " + e.subject;
  auto job = [&] {
    return " " + e.data.value("stage", "") + "/" + std::to_string(e.data.value("shard", 0));
  };
  if (e.type == EventType::kStageCompleted) {
    line += job() + " " + e.data.value("outcome", "") +
            (e.data.value("cached", false) ? " cached" : "");
  } else if (e.type == EventType::kJobStarted) {
    line += job() + " attempt " + std::to_string(e.data.value("attempt", 0)) + " on " +
            e.data.value("worker", "");
  } else if (e.type == EventType::kJobRetryScheduled) {
    line += job() + " attempt " + std::to_string(e.data.value("attempt", 0)) + " " +
            e.data.value("outcome", "") + ": attempt " +
            std::to_string(e.data.value("next_attempt", 0)) + " at " +
            e.data.value("not_before", "");
  } else if (e.type == EventType::kWorkerLeft) {
    line += " " + e.data.value("reason", "");
  } else if (e.type == EventType::kValidationCompleted) {
    line += " validation " + e.data.value("verdict", "");
  } else if (e.type == EventType::kCompleted) {
    line += " " + e.data.value("state", "");
  }
  return line;
}

void EventsCommand(CLI::App& app) {
  struct A {
    ClientFlags f;
    uint64_t from = 0;
    bool follow = false;
    std::string run;
  };
  auto a = std::make_shared<A>();
  CLI::App* c =
      app.add_subcommand("events", "print events (JSON lines with --json); replay then follow");
  AddClientFlags(c, &a->f);
  c->add_option("--from", a->from, "only events with a sequence greater than this");
  c->add_flag("--follow", a->follow, "keep following live events (Ctrl-C stops)");
  c->add_option("--run", a->run, "only this run's events");
  c->callback([a] {
    Connection conn = MustConnect(a->f);
    std::signal(SIGINT, OnClientSignal);
    std::signal(SIGTERM, OnClientSignal);
    if (!a->run.empty()) {  // a unique prefix names its run; the replay filter needs its id
      auto reply = conn.client->Api(std::string(proto::kStatus), RunIdBody(a->run));
      ExitIfError(reply.status());
      auto st = DecodeRunStatus(*reply);
      ExitIfError(st.status());
      a->run = st->run_id;
    }
    EventFollower follower(conn.client.get(), conn.endpoints, a->run, a->from);
    ExitIfError(follower.Run(
        a->follow,
        [&](const Event& e) {
          std::printf("%s\n", a->f.json ? ToJson(e).dump().c_str() : EventLine(e).c_str());
          std::fflush(stdout);
          return true;
        },
        &g_client_stop));
    if (g_client_stop.load()) ExitWith(kExitInterrupted);
  });
}

void AuditCommand(CLI::App& app) {
  auto f = std::make_shared<ClientFlags>();
  auto run = std::make_shared<std::string>();
  CLI::App* c = app.add_subcommand(
      "audit", "rebuild a run's state from its events and compare with the stored row");
  c->add_option("RUN", *run, "run id")->required();
  AddClientFlags(c, f.get());
  c->callback([f, run] {
    Connection conn = MustConnect(*f);
    nlohmann::json j =
        MustJson(conn.client->Api(std::string(proto::kAudit), RunIdBody(*run)), "audit");
    bool ok = j.value("ok", false);
    if (f->json) {
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("run %s: %zu events replayed; stored row %s the replayed state\n", run->c_str(),
                  static_cast<size_t>(j.value("events", 0)), ok ? "matches" : "DOES NOT match");
      if (!ok)
        std::printf("%s\n",
                    j.contains("error") ? j["error"].dump().c_str() : j["diff"].dump(2).c_str());
    }
    ExitWith(ok ? 0 : 1);
  });
}

void WorkersCommand(CLI::App& app) {
  auto f = std::make_shared<ClientFlags>();
  CLI::App* c = app.add_subcommand("workers", "list connected workers and their jobs");
  AddClientFlags(c, f.get());
  c->callback([f] {
    Connection conn = MustConnect(*f);
    nlohmann::json j =
        MustJson(conn.client->Api(std::string(proto::kWorkers), proto::EmptyBody()), "workers");
    if (f->json) {
      std::printf("%s\n", j["workers"].dump().c_str());
      return;
    }
    for (const auto& w : j["workers"]) {
      Labels labels;
      if (w.contains("labels") && w["labels"].is_object()) {
        for (const auto& [k, v] : w["labels"].items()) {
          if (v.is_string()) labels[k] = v.get<std::string>();
        }
      }
      // A 64-bit default: value() returns the default's type (an int would cut the time).
      const int64_t seen = w.value("last_seen_ms", int64_t{0});
      std::printf(
          "%s  host=%s pid=%lld  slots=%lld active=%lld  last_seen=%s (%.1f s ago)  "
          "labels=%s\n",
          w.value("worker_id", "?").c_str(), w.value("host", "?").c_str(),
          static_cast<long long>(w.value("pid", int64_t{0})),
          static_cast<long long>(w.value("slots", int64_t{0})),
          static_cast<long long>(w.value("active", int64_t{0})),
          FormatRfc3339(FromUnixMillis(seen)).c_str(),
          static_cast<double>(NowUnixMillis() - seen) / 1000.0, LabelsText(labels).c_str());
    }
  });
}

// Whether STATUS says `run_id` is not found (removed by retention; an unreachable pool is not
// "gone": the follower's own errors report it).
bool RunGone(Connection& c, const std::string& run_id) {
  auto reply = c.client->Api(std::string(proto::kStatus), RunIdBody(run_id));
  return !reply.ok() && reply.status().code() == Status::Code::kNotFound;
}

// The end of a waited-for run whose record retention already removed: its completed event's
// state when it was seen, else unknown (exit 1).
int ReportRemoved(const std::string& run_id, const std::string& state, bool json) {
  const char* why = "removed by retention ([store.retention]) right after it ended";
  if (json) {
    nlohmann::json j = {{"run_id", run_id}, {"removed", true}};
    if (!state.empty()) j["state"] = state;
    std::printf("%s\n", j.dump().c_str());
  }
  if (state.empty()) {
    std::fprintf(stderr, "run %s: %s before its end was seen: outcome unknown\n", run_id.c_str(),
                 why);
    return kExitFailed;
  }
  if (!json) std::printf("run %s %s (%s)\n", run_id.c_str(), state.c_str(), why);
  return state == "succeeded" ? 0 : kExitFailed;
}

}  // namespace

int WaitForRun(Connection& c, BlobAccess* blobs, const std::string& run_id, bool json) {
  bool tty = isatty(STDOUT_FILENO);
  size_t done = 0, total = 0;
  std::string final_state;
  std::signal(SIGINT, OnClientSignal);
  EventFollower follower(c.client.get(), c.endpoints, run_id, 0);
  Status s = follower.Run(
      true,
      [&](const Event& e) {
        if (e.type == EventType::kRequested) total = e.data.value("jobs", 0);
        if (e.type == EventType::kStageCompleted) ++done;
        if (e.type == EventType::kCompleted) final_state = e.data.value("state", "");
        if (tty && !json) {
          std::printf("\r\033[K[%zu/%zu] %s", done, total, EventLine(e).c_str());
          if (e.type == EventType::kCompleted) std::printf("\n");
        } else if (!json) {
          std::printf("[%zu/%zu] %s\n", done, total, EventLine(e).c_str());
        }
        std::fflush(stdout);
        return e.type != EventType::kCompleted;
      },
      &g_client_stop,
      // A run that retention removed (a very short window) sends nothing more: stop waiting.
      [&] { return !RunGone(c, run_id); });
  if (!s.ok()) return ReportStatus(s);
  if (g_client_stop.load()) {
    std::fprintf(stderr, "\ninterrupted: run %s goes on (recomp status %s)\n", run_id.c_str(),
                 run_id.c_str());
    return kExitInterrupted;
  }
  auto reply = c.client->Api(std::string(proto::kStatus), RunIdBody(run_id));
  if (!reply.ok() && reply.status().code() == Status::Code::kNotFound)
    return ReportRemoved(run_id, final_state, json);
  if (!reply.ok()) return ReportStatus(reply.status());
  auto st = DecodeRunStatus(*reply);
  if (!st.ok()) return ReportStatus(st.status());
  if (json)
    std::printf("%s\n", ToJson(*st).dump().c_str());
  else
    PrintStatus(*st, false);
  std::fflush(stdout);
  if (st->state == RunState::kSucceeded) return 0;
  PrintFailureTail(c, blobs, run_id);
  return kExitFailed;
}

void AddClientCommands(CLI::App& app) {
  StatusCommand(app);
  RunsCommand(app);
  CancelCommand(app);
  RerunCommand(app);
  EventsCommand(app);
  AuditCommand(app);
  WorkersCommand(app);
}

}  // namespace recomp::cli
