// RunView: a run at a glance (what SHOW answers and `recomp show` prints): per stage, its shards
// by state, attempts, durations, workers, outputs by path and the reasons of failures. Built
// from a run's row and job rows, with no I/O. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinator/run_model.h"

namespace recomp::coordinator {

struct RunViewOptions {
  size_t max_outputs_per_stage = 1000;  // outputs listed per stage (the count is always given)
  size_t max_failures_per_stage = 100;  // failed shards described per stage
};

// The view of run `row` whose jobs are `jobs` (any order). `stage_order` lists the pipeline's
// stages in execution order (stages not in it follow, by name); `running_on` maps the job IDs
// held by workers now to the worker id: a dispatched job held by none is `queued` (in the
// broker's queue), one held is `running`; `waiting` jobs wait for their needs or a retry's
// backoff. Shape: docs/protocol.md, "SHOW".
nlohmann::json BuildRunView(const RunRow& row, const std::vector<JobRow>& jobs,
                            const std::vector<std::string>& stage_order,
                            const std::map<std::string, std::string>& running_on,
                            const RunViewOptions& opts = {});

// The job IDs in a WORKER_LIST body ({workers: [{worker_id, jobs: [{job_id}]}]}) mapped to the
// worker holding each; an undecodable body gives an empty map.
std::map<std::string, std::string> JobsByWorker(const std::string& worker_list_body);

}  // namespace recomp::coordinator
