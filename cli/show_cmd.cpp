// `recomp show RUN`: a run at a glance (the coordinator's SHOW view), and the failure summary
// `submit --wait` prints when a run fails.
#include <cstdio>

#include "cli/blob_access.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/run_display.h"
#include "messages/artifact_ref.h"
#include "messages/protocol.h"

namespace recomp::cli {
namespace {

constexpr size_t kTailLines = 20;
constexpr size_t kMaxLogBytes = size_t{64} << 20;  // a log is read whole to take its tail

Result<nlohmann::json> FetchView(ApiClient& client, const std::string& run_id) {
  RECOMP_ASSIGN_OR_RETURN(std::string reply, client.Api(std::string(proto::kShow),
                                                        proto::JsonBody({{"run_id", run_id}})));
  return proto::BodyJson(reply, "show");
}

void ShowCommand(CLI::App& app) {
  auto f = std::make_shared<ClientFlags>();
  auto run = std::make_shared<std::string>();
  CLI::App* c = app.add_subcommand(
      "show",
      "a run at a glance: per stage shards done/running/failed/cached, attempts, "
      "durations, workers, outputs and why it failed");
  c->add_option("RUN", *run, "run id")->required();
  AddClientFlags(c, f.get());
  c->callback([f, run] {
    auto conn = Connect(*f);
    ExitIfError(conn.status());
    auto view = FetchView(*conn->client, *run);
    ExitIfError(view.status());
    if (f->json) {
      std::printf("%s\n", view->dump().c_str());
    } else {
      std::fputs(FormatRunView(*view).c_str(), stdout);
    }
  });
}

}  // namespace

void PrintFailureTail(Connection& c, BlobAccess* blobs, const std::string& run_id) {
  auto view = FetchView(*c.client, run_id);
  if (!view.ok()) return;  // the status line already said it failed
  for (const auto& stage : view->value("stages", nlohmann::json::array())) {
    for (const auto& f : stage.value("failures", nlohmann::json::array())) {
      const std::string name = stage.value("name", "");
      const uint64_t shard = f.value("shard", 0);
      std::fprintf(stderr, "\n%s/%llu failed (%s, attempt %d): %s\n", name.c_str(),
                   static_cast<unsigned long long>(shard), f.value("outcome", "").c_str(),
                   f.value("attempt", 0), f.value("message", "").c_str());
      auto ref = ParseArtifactRef(f.value("log_ref", ""));
      if (ref.ok() && blobs != nullptr) {
        auto log = blobs->GetBytes(*ref, kMaxLogBytes);
        if (log.ok()) {
          std::fprintf(stderr, "--- last %zu lines of its log ---\n", kTailLines);
          std::string_view tail = LastLines(*log, kTailLines);
          std::fwrite(tail.data(), 1, tail.size(), stderr);
          if (!tail.empty() && tail.back() != '\n') std::fputc('\n', stderr);
          std::fprintf(stderr, "---\n");
        }
      }
      std::fprintf(stderr, "whole log: %s\n", LogsCommand(run_id, name, shard).c_str());
      return;  // the failing job: the first failure is what ended the run
    }
  }
}

void AddShowCommand(CLI::App& app) {
  ShowCommand(app);
}

}  // namespace recomp::cli
