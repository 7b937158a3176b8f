// Run views as text: durations, the SHOW table with running and failed jobs and the logs
// command, output caps, and log tails.
#include "cli/run_display.h"

#include <doctest/doctest.h>

namespace recomp::cli {
namespace {

bool Has(const std::string& s, const std::string& what) {
  return s.find(what) != std::string::npos;
}

TEST_CASE("FormatDuration picks a unit") {
  CHECK(FormatDuration(0) == "0ms");
  CHECK(FormatDuration(999) == "999ms");
  CHECK(FormatDuration(3200) == "3.2s");
  CHECK(FormatDuration(125000) == "2m05s");
  CHECK(FormatDuration(3720000) == "1h02m");
}

TEST_CASE("LastLines keeps the last n lines, with or without a final newline") {
  CHECK(LastLines("a\nb\nc\n", 2) == "b\nc\n");
  CHECK(LastLines("a\nb\nc", 2) == "b\nc");
  CHECK(LastLines("a\nb\n", 5) == "a\nb\n");
  CHECK(LastLines("", 3).empty());
  CHECK(LastLines("a\nb\n", 0).empty());
  std::string many;
  for (int i = 0; i < 100; ++i) many += "line " + std::to_string(i) + "\n";
  std::string_view tail = LastLines(many, 20);
  CHECK(tail.substr(0, 8) == "line 80\n");
  CHECK(std::count(tail.begin(), tail.end(), '\n') == 20);
}

TEST_CASE("FormatRunView: the run line, the reason, a row per stage, running and failed jobs") {
  nlohmann::json view = {{"run",
                          {{"run_id", "run-7"},
                           {"state", "failed"},
                           {"current_stage", "compile"},
                           {"updated_at", "2026-12-05T08:00:00.000Z"},
                           {"reason", "stage 'compile' shard 2 failed"}}},
                         {"jobs", 4},
                         {"jobs_done", 3},
                         {"verdict", ""},
                         {"stages",
                          {{{"name", "compile"},
                            {"state", "failed"},
                            {"shards", 4},
                            {"succeeded", 2},
                            {"cached", 1},
                            {"failed", 1},
                            {"running", 1},
                            {"queued", 0},
                            {"waiting", 0},
                            {"attempts", 5},
                            {"duration_ms", {{"min", 10}, {"median", 1500}, {"max", 125000}}},
                            {"workers", {"w1", "w2"}},
                            {"running_jobs", {{{"shard", 3}, {"attempt", 1}, {"worker", "w1"}}}},
                            {"failures",
                             {{{"shard", 2},
                               {"attempt", 2},
                               {"worker", "w2"},
                               {"outcome", "failed"},
                               {"exit_code", 1},
                               {"signal", 0},
                               {"message", "exited:1"},
                               {"log_ref", "artifact://" + std::string(64, 'c')}}}},
                            {"outputs",
                             {{{"shard", 0}, {"path", "out/a.o"}, {"ref", "artifact://x"}},
                              {{"shard", 1}, {"path", "out/b.o"}, {"ref", "artifact://y"}}}},
                            {"outputs_total", 2}}}}};
  std::string text = FormatRunView(view);
  CHECK(Has(text, "run-7  failed  3/4 jobs done  stage=compile"));
  CHECK(Has(text, "reason: stage 'compile' shard 2 failed"));
  CHECK(Has(text, "STAGE"));
  CHECK(Has(text, "10ms/1.5s/2m05s"));
  CHECK(Has(text, "w1,w2"));
  CHECK(Has(text, "compile/3 running, attempt 1 on w1"));
  CHECK(Has(text, "compile/2 FAILED (exit 1, attempt 2 on w2): exited:1"));
  CHECK(Has(text, "recomp logs run-7 --stage compile --shard 2"));
  CHECK(Has(text, "out/b.o"));
  std::string capped = FormatRunView(view, 1);
  CHECK(!Has(capped, "out/b.o"));
  CHECK(Has(capped, "compile: 1 more outputs (--json lists them)"));
}

TEST_CASE("FormatRunView tolerates a view with missing fields") {
  CHECK(Has(FormatRunView(nlohmann::json::object()), "?"));
  CHECK(Has(FormatRunView({{"stages", {{{"name", "a"}}}}}), "a"));
}

}  // namespace
}  // namespace recomp::cli

namespace recomp::cli {
namespace {

TEST_CASE("ProgressBar fills in proportion and clamps") {
  CHECK(ProgressBar(0, 10, 10) == "[..........]   0%");
  CHECK(ProgressBar(5, 10, 10) == "[#####.....]  50%");
  CHECK(ProgressBar(10, 10, 10) == "[##########] 100%");
  CHECK(ProgressBar(3, 0, 4) == "[....]   0%");
  CHECK(ProgressBar(20, 10, 4) == "[####] 100%");
}

TEST_CASE("FormatTop: header, queues, a line per run and per worker, cut to the width") {
  nlohmann::json stats = {{"runs_active", 1},
                          {"inflight", 3},
                          {"jobs_completed", 42},
                          {"head", 900},
                          {"queues",
                           {{"ready_low", 0},
                            {"ready_standard", 5},
                            {"ready_high", 1},
                            {"retry_backoff", 2},
                            {"broker", 7}}},
                          {"runs",
                           {{{"run_id", "run-1"},
                             {"state", "running"},
                             {"current_stage", "lift"},
                             {"jobs", 10},
                             {"jobs_done", 5}}}}};
  nlohmann::json workers = {
      {"workers",
       {{{"worker_id", "w1"},
         {"host", "box"},
         {"slots", 4},
         {"active", 2},
         {"jobs", {{{"stage", "lift"}, {"shard", 3}}, {{"stage", "lift"}, {"shard", 4}}}}}}}};
  std::string text = FormatTop(stats, workers, 12.5, 200);
  CHECK(Has(text, "runs in flight 1"));
  CHECK(Has(text, "jobs/s 12.5"));
  CHECK(Has(text, "ready high 1, standard 5, low 0   retry backoff 2   broker 7"));
  CHECK(Has(text, "run-1"));
  CHECK(Has(text, "[##########..........]  50% 5/10"));
  CHECK(Has(text, "lift/3, lift/4"));
  std::string narrow = FormatTop(stats, workers, 0, 20);
  for (size_t start = 0, end; (end = narrow.find('\n', start)) != std::string::npos;
       start = end + 1) {
    CHECK(end - start <= 20);
  }
  CHECK(Has(FormatTop(nlohmann::json::object(), nlohmann::json::object(), 0, 100),
            "(no runs in flight)"));
}

}  // namespace
}  // namespace recomp::cli
