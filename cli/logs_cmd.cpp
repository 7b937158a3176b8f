// `recomp logs RUN [--stage S] [--shard N] [--follow]`: finished jobs' logs from the store, or
// with --follow one job's log live while it runs (LOG_TAIL, docs/protocol.md "Live logs") and
// the rest of it from the store once it ends.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include "cli/blob_access.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "messages/artifact_ref.h"
#include "messages/codec.h"
#include "messages/protocol.h"

namespace recomp::cli {
namespace {

std::atomic<bool> g_logs_stop{false};
extern "C" void OnLogsSignal(int) {
  g_logs_stop.store(true);
}

struct LogsArgs {
  ClientFlags f;
  std::string run, stage, store;
  int shard = -1;
  bool follow = false;
};

void Write(std::string_view bytes) {
  std::fwrite(bytes.data(), 1, bytes.size(), stdout);
  std::fflush(stdout);
}

// Every finished job's log (of one stage / shard when given): unknown ones are an error.
Status PrintFinished(const LogsArgs& a, Connection& conn, BlobAccess& blobs) {
  RECOMP_ASSIGN_OR_RETURN(
      std::string reply,
      conn.client->Api(std::string(proto::kResultOf), proto::JsonBody({{"run_id", a.run}})));
  RECOMP_ASSIGN_OR_RETURN(nlohmann::json j, proto::BodyJson(reply, "results"));
  bool stage_seen = a.stage.empty(), shard_seen = a.shard < 0;
  for (const auto& job : j["jobs"]) {
    if (!a.stage.empty() && job.value("stage", "") != a.stage) continue;
    stage_seen = true;
    if (a.shard >= 0 && job.value("shard", -1) != a.shard) continue;
    shard_seen = true;
    if (!job["result"].is_object() || job["result"].value("log_ref", "").empty()) continue;
    std::string ref = job["result"]["log_ref"];
    std::printf("==> %s/%d (%s, %s) %s <==\n", job.value("stage", "").c_str(),
                job.value("shard", 0), job["result"].value("outcome", "").c_str(),
                job.value("state", "").c_str(), ref.c_str());
    std::fflush(stdout);
    RECOMP_ASSIGN_OR_RETURN(Digest d, ParseArtifactRef(ref));
    RECOMP_RETURN_IF_ERROR(blobs.GetToFd(d, STDOUT_FILENO));
  }
  if (!stage_seen) return Status::NotFound("run " + a.run + " has no stage '" + a.stage + "'");
  if (!shard_seen)
    return Status::NotFound("stage '" + a.stage + "' has no shard " + std::to_string(a.shard));
  return Status::Ok();
}

struct Tail {
  std::string state, log_ref;
  uint32_t attempt = 0;
  uint64_t start = 0, next = 0;
  std::string data;
};

Result<Tail> AskTail(ApiClient& client, const LogsArgs& a, uint64_t offset) {
  RECOMP_ASSIGN_OR_RETURN(
      std::string body,
      client.Api(std::string(proto::kLogTail), proto::JsonBody({{"run_id", a.run},
                                                                {"stage", a.stage},
                                                                {"shard", std::max(a.shard, 0)},
                                                                {"offset", offset}})));
  RECOMP_ASSIGN_OR_RETURN(auto oh, wire::Unpack(body, "log tail"));
  RECOMP_ASSIGN_OR_RETURN(wire::MapReader r, wire::MapReader::From(oh.get(), "log tail"));
  Tail t;
  int64_t attempt = 0;
  RECOMP_RETURN_IF_ERROR(r.Str("state", &t.state));
  RECOMP_RETURN_IF_ERROR(r.Str("log_ref", &t.log_ref));
  RECOMP_RETURN_IF_ERROR(r.Int("attempt", &attempt, wire::Need::kRequired, 0, UINT32_MAX));
  RECOMP_RETURN_IF_ERROR(r.Uint("start", &t.start));
  RECOMP_RETURN_IF_ERROR(r.Uint("next", &t.next));
  RECOMP_RETURN_IF_ERROR(r.Bin("data", &t.data, wire::Need::kRequired, limits::kMaxBodyBytes));
  t.attempt = static_cast<uint32_t>(attempt);
  return t;
}

// Follows one job: live bytes while it runs, then the rest of its stored log.
Status Follow(const LogsArgs& a, Connection& conn, BlobAccess* blobs) {
  uint64_t offset = 0;
  uint32_t attempt = 0;
  bool skipped = false;
  while (!g_logs_stop.load()) {
    RECOMP_ASSIGN_OR_RETURN(Tail t, AskTail(*conn.client, a, offset));
    if (t.attempt != attempt && t.state != "waiting") {
      if (attempt != 0) std::fprintf(stderr, "[recomp: attempt %u starts]\n", t.attempt);
      attempt = t.attempt;
      offset = 0;
      skipped = false;
      if (t.state == "running") continue;  // ask again from the start of this attempt's log
    }
    if (t.state == "done") {
      if (t.log_ref.empty()) return Status::Ok();
      if (blobs == nullptr) return Status::Unavailable("no artifact store to read the log from");
      RECOMP_ASSIGN_OR_RETURN(Digest d, ParseArtifactRef(t.log_ref));
      RECOMP_ASSIGN_OR_RETURN(std::string log, blobs->GetBytes(d, size_t{1} << 30));
      if (skipped) std::fprintf(stderr, "\n[recomp: the job ended; its whole log follows]\n");
      Write(skipped || offset > log.size() ? std::string_view(log)
                                           : std::string_view(log).substr(offset));
      return Status::Ok();
    }
    if (t.start > offset) {
      std::fprintf(stderr, "\n[recomp: %llu bytes skipped while following]\n",
                   static_cast<unsigned long long>(t.start - offset));
      skipped = true;
    }
    Write(t.data);
    offset = t.next;
    for (int i = 0; i < 5 && !g_logs_stop.load(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the poll interval
  }
  std::fprintf(stderr, "\n[recomp: interrupted; the job goes on]\n");
  return Status::Cancelled("interrupted");
}

}  // namespace

void AddLogsCommand(CLI::App& app) {
  auto a = std::make_shared<LogsArgs>();
  CLI::App* c = app.add_subcommand(
      "logs", "print the logs of a run's finished jobs, or follow one job's log live (--follow)");
  c->add_option("RUN", a->run, "run id")->required();
  c->add_option("--stage", a->stage, "only this stage (required with --follow)");
  c->add_option("--shard", a->shard, "only this shard (--follow: default 0)");
  c->add_flag("--follow,-f", a->follow,
              "show the job's output as it runs, then the rest of its log when it ends");
  c->add_option("--store", a->store, "artifact store (default <data>/store)");
  AddClientFlags(c, &a->f);
  c->callback([a] {
    if (a->follow && a->stage.empty()) throw CLI::ValidationError("--follow needs --stage");
    Connection conn = [&] {
      auto r = Connect(a->f);
      ExitIfError(r.status());
      return std::move(r).value();
    }();
    auto blobs = OpenBlobAccess(a->f, a->store, &conn);
    if (!a->follow) {
      ExitIfError(blobs.status());
      ExitIfError(PrintFinished(*a, conn, **blobs));
      return;
    }
    std::signal(SIGINT, OnLogsSignal);
    std::signal(SIGTERM, OnLogsSignal);
    Status s = Follow(*a, conn, blobs.ok() ? blobs->get() : nullptr);
    if (s.code() == Status::Code::kCancelled) ExitWith(kExitInterrupted);
    ExitIfError(s);
  });
}

}  // namespace recomp::cli
