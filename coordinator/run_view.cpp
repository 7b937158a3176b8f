// Run row + job rows -> the SHOW view.
#include "coordinator/run_view.h"

#include <algorithm>
#include <set>

#include "messages/protocol.h"

namespace recomp::coordinator {
namespace {

struct StageTally {
  uint32_t shards = 0, succeeded = 0, cached = 0, failed = 0, running = 0, queued = 0;
  uint32_t waiting = 0;
  uint64_t attempts = 0, lost = 0;
  std::vector<uint64_t> durations;
  std::set<std::string> workers;
  nlohmann::json outputs = nlohmann::json::array();
  size_t outputs_total = 0;
  nlohmann::json failures = nlohmann::json::array();
  nlohmann::json running_jobs = nlohmann::json::array();
};

nlohmann::json Failure(const JobRow& j) {
  if (!j.result) return {{"shard", j.shard}, {"job_id", j.job_id}, {"attempt", j.attempt}};
  const StageResult& r = *j.result;
  return {{"shard", j.shard},
          {"job_id", j.job_id},
          {"attempt", r.attempt},
          {"worker", r.worker},
          {"outcome", ToString(r.outcome)},
          {"exit_code", r.exit_code},
          {"signal", r.signal},
          {"message", r.message},
          {"log_ref", r.log_ref}};
}

void Count(const JobRow& j, const std::map<std::string, std::string>& running_on,
           const RunViewOptions& opts, StageTally* t) {
  ++t->shards;
  t->lost += j.lost;
  const bool cached = j.result && j.result->cached;
  if (!cached) t->attempts += j.attempt;
  if (j.result && !cached) {
    t->durations.push_back(j.result->duration_ms);
    if (!j.result->worker.empty()) t->workers.insert(j.result->worker);
  }
  switch (j.state) {
    case JobState::kSucceeded:
      ++t->succeeded;
      if (cached) ++t->cached;
      if (!j.result) break;  // a row always has its result once succeeded; never trusted
      for (const PathRef& o : j.result->outputs) {
        if (t->outputs_total++ < opts.max_outputs_per_stage)
          t->outputs.push_back({{"shard", j.shard}, {"path", o.path}, {"ref", o.ref}});
      }
      break;
    case JobState::kFailed:
      ++t->failed;
      if (t->failures.size() < opts.max_failures_per_stage) t->failures.push_back(Failure(j));
      break;
    case JobState::kDispatched: {
      auto w = running_on.find(j.job_id);
      if (w == running_on.end()) {
        ++t->queued;  // in the broker's queue: no worker holds it yet
        break;
      }
      ++t->running;
      t->workers.insert(w->second);
      t->running_jobs.push_back(
          {{"shard", j.shard}, {"attempt", j.attempt}, {"worker", w->second}});
      break;
    }
    case JobState::kWaiting:
    case JobState::kReady:
      ++t->waiting;
      break;
  }
}

std::string StageState(const StageTally& t) {
  if (t.failed > 0) return "failed";
  if (t.succeeded == t.shards) return "succeeded";
  if (t.running > 0 || t.queued > 0 || t.succeeded > 0) return "running";
  return "waiting";
}

nlohmann::json StageJson(const std::string& name, StageTally& t) {
  nlohmann::json d = nullptr;
  if (!t.durations.empty()) {
    std::sort(t.durations.begin(), t.durations.end());
    d = {{"min", t.durations.front()},
         {"median", t.durations[t.durations.size() / 2]},
         {"max", t.durations.back()}};
  }
  return {{"name", name},
          {"state", StageState(t)},
          {"shards", t.shards},
          {"succeeded", t.succeeded},
          {"cached", t.cached},
          {"failed", t.failed},
          {"running", t.running},
          {"queued", t.queued},
          {"waiting", t.waiting},
          {"attempts", t.attempts},
          {"lost", t.lost},
          {"duration_ms", std::move(d)},
          {"workers", t.workers},
          {"running_jobs", std::move(t.running_jobs)},
          {"failures", std::move(t.failures)},
          {"outputs", std::move(t.outputs)},
          {"outputs_total", t.outputs_total}};
}

}  // namespace

nlohmann::json BuildRunView(const RunRow& row, const std::vector<JobRow>& jobs,
                            const std::vector<std::string>& stage_order,
                            const std::map<std::string, std::string>& running_on,
                            const RunViewOptions& opts) {
  std::map<std::string, StageTally> tally;
  for (const JobRow& j : jobs) Count(j, running_on, opts, &tally[j.stage]);
  std::vector<std::string> order;
  for (const std::string& s : stage_order) {
    if (tally.count(s)) order.push_back(s);
  }
  for (const auto& [name, t] : tally) {
    if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
  }
  nlohmann::json stages = nlohmann::json::array();
  uint64_t total = 0, done = 0;
  for (const std::string& s : order) {
    StageTally& t = tally[s];
    total += t.shards;
    done += t.succeeded + t.failed;
    stages.push_back(StageJson(s, t));
  }
  return {{"run", ToJson(row.status)}, {"requested_by", row.submission.requested_by},
          {"verdict", row.verdict},    {"jobs", total},
          {"jobs_done", done},         {"stages", std::move(stages)}};
}

std::map<std::string, std::string> JobsByWorker(const std::string& worker_list_body) {
  std::map<std::string, std::string> out;
  auto list = proto::BodyJson(worker_list_body, "worker list");
  if (!list.ok() || !list->contains("workers") || !(*list)["workers"].is_array()) return out;
  for (const auto& w : (*list)["workers"]) {
    if (!w.is_object() || !w.contains("jobs") || !w["jobs"].is_array()) continue;
    const std::string id = w.value("worker_id", "");
    for (const auto& j : w["jobs"]) {
      if (j.is_object() && j.contains("job_id") && j["job_id"].is_string())
        out[j["job_id"].get<std::string>()] = id;
    }
  }
  return out;
}

}  // namespace recomp::coordinator
