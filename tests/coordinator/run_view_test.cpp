// RunView: per-stage tallies from job rows (states, cache hits, attempts, durations, workers,
// outputs, failures, running jobs), stage order, the caps, and the worker-list lookup.
#include "coordinator/run_view.h"

#include <doctest/doctest.h>

#include "messages/protocol.h"

namespace recomp::coordinator {
namespace {

JobRow Job(const std::string& stage, uint32_t shard, JobState st, uint32_t attempt = 1) {
  JobRow j;
  j.run_id = "run-1";
  j.stage = stage;
  j.shard = shard;
  j.job_id = std::string(63, 'a') + static_cast<char>('0' + shard);
  j.state = st;
  j.attempt = attempt;
  return j;
}

JobRow Done(const std::string& stage, uint32_t shard, uint64_t ms, const std::string& worker,
            bool cached = false, uint32_t attempt = 1) {
  JobRow j = Job(stage, shard, JobState::kSucceeded, attempt);
  StageResult r;
  r.duration_ms = ms;
  r.worker = worker;
  r.cached = cached;
  r.attempt = attempt;
  r.outputs = {{"out/" + stage + std::to_string(shard), "artifact://" + std::string(64, 'b')}};
  j.result = r;
  return j;
}

RunRow Row() {
  RunRow row;
  row.submission.run_id = "run-1";
  row.submission.requested_by = "alice";
  row.status.run_id = "run-1";
  row.status.state = RunState::kRunning;
  return row;
}

TEST_CASE("run view: per-stage tallies, pipeline order, durations and workers") {
  JobRow failed = Job("compile", 2, JobState::kFailed, 3);
  StageResult fr;
  fr.outcome = JobOutcome::kFailed;
  fr.exit_code = 2;
  fr.attempt = 3;
  fr.worker = "w2";
  fr.message = "exited:2";
  fr.log_ref = "artifact://" + std::string(64, 'c');
  fr.duration_ms = 50;
  failed.result = fr;
  JobRow lost = Job("compile", 3, JobState::kDispatched, 2);
  lost.lost = 1;
  std::vector<JobRow> jobs = {Done("compile", 0, 30, "w1"),
                              Done("compile", 1, 10, "w2"),
                              failed,
                              lost,
                              Job("compile", 4, JobState::kReady),
                              Job("compile", 5, JobState::kDispatched),
                              Done("split", 0, 0, "", /*cached=*/true),
                              Job("link", 0, JobState::kWaiting, 0)};
  nlohmann::json v = BuildRunView(Row(), jobs, {"split", "compile", "link"}, {{lost.job_id, "w3"}});
  CHECK(v["run"]["run_id"] == "run-1");
  CHECK(v["jobs"] == 8);
  CHECK(v["jobs_done"] == 4);
  REQUIRE(v["stages"].size() == 3);
  CHECK(v["stages"][0]["name"] == "split");
  CHECK(v["stages"][1]["name"] == "compile");
  CHECK(v["stages"][2]["name"] == "link");
  const auto& split = v["stages"][0];
  CHECK(split["state"] == "succeeded");
  CHECK(split["cached"] == 1);
  CHECK(split["attempts"] == 0);  // a cache hit ran nothing
  CHECK(split["duration_ms"].is_null());
  const auto& c = v["stages"][1];
  CHECK(c["state"] == "failed");
  CHECK(c["shards"] == 6);
  CHECK(c["succeeded"] == 2);
  CHECK(c["failed"] == 1);
  CHECK(c["running"] == 1);
  CHECK(c["queued"] == 1);
  CHECK(c["waiting"] == 1);
  CHECK(c["attempts"] == 1 + 1 + 3 + 2 + 1 + 1);
  CHECK(c["lost"] == 1);
  CHECK(c["duration_ms"] == nlohmann::json({{"min", 10}, {"median", 30}, {"max", 50}}));
  CHECK(c["workers"] == nlohmann::json({"w1", "w2", "w3"}));
  REQUIRE(c["failures"].size() == 1);
  CHECK(c["failures"][0]["shard"] == 2);
  CHECK(c["failures"][0]["exit_code"] == 2);
  CHECK(c["failures"][0]["worker"] == "w2");
  CHECK(c["failures"][0]["log_ref"] == fr.log_ref);
  REQUIRE(c["running_jobs"].size() == 1);
  CHECK(c["running_jobs"][0] == nlohmann::json({{"shard", 3}, {"attempt", 2}, {"worker", "w3"}}));
  CHECK(c["outputs_total"] == 2);
  CHECK(c["outputs"][0]["path"] == "out/compile0");
  CHECK(v["stages"][2]["state"] == "waiting");
}

TEST_CASE("run view: a row without its result is described, never dereferenced") {
  std::vector<JobRow> jobs = {Job("a", 0, JobState::kFailed, 2), Job("a", 1, JobState::kSucceeded)};
  nlohmann::json v = BuildRunView(Row(), jobs, {"a"}, {});
  CHECK(v["stages"][0]["failures"][0]["attempt"] == 2);
  CHECK(v["stages"][0]["outputs_total"] == 0);
}

TEST_CASE("run view: outputs and failures are capped, the totals are not; unknown stages last") {
  std::vector<JobRow> jobs;
  for (uint32_t i = 0; i < 5; ++i) jobs.push_back(Done("b", i, i, "w"));
  jobs.push_back(Done("a", 0, 1, "w"));
  RunViewOptions o;
  o.max_outputs_per_stage = 2;
  nlohmann::json v = BuildRunView(Row(), jobs, {"b"}, {}, o);
  CHECK(v["stages"][0]["name"] == "b");
  CHECK(v["stages"][1]["name"] == "a");
  CHECK(v["stages"][0]["outputs"].size() == 2);
  CHECK(v["stages"][0]["outputs_total"] == 5);
}

TEST_CASE("run view: JobsByWorker reads a WORKER_LIST body; garbage gives nothing") {
  std::string body =
      proto::JsonBody({{"workers",
                        {{{"worker_id", "w1"}, {"jobs", {{{"job_id", "j1"}}, {{"job_id", "j2"}}}}},
                         {{"worker_id", "w2"}, {"jobs", nlohmann::json::array()}},
                         {{"worker_id", "w3"}}}}});
  auto m = JobsByWorker(body);
  CHECK(m == std::map<std::string, std::string>{{"j1", "w1"}, {"j2", "w1"}});
  CHECK(JobsByWorker("").empty());
  CHECK(JobsByWorker("\xc1garbage").empty());
  CHECK(JobsByWorker(proto::JsonBody({{"workers", 3}})).empty());
}

}  // namespace
}  // namespace recomp::coordinator
