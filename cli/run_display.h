// Text views of runs for the CLI: the SHOW view as a table (`recomp show`), durations, and the
// tail of a job's log (`submit --wait` on failure). Pure functions over JSON and text;
// thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace recomp::cli {

// "412ms", "3.2s", "2m05s", "1h02m".
std::string FormatDuration(uint64_t ms);

// The SHOW view (docs/protocol.md, "SHOW") as the human text of `recomp show`: the run line,
// its reason, one table row per stage, the running and failed jobs (with the `recomp logs`
// command for each failure) and up to `max_outputs` outputs per stage.
std::string FormatRunView(const nlohmann::json& view, size_t max_outputs = 20);

// "[#####.....]  50%" for `done` of `total` in a bar `width` characters wide.
std::string ProgressBar(uint64_t done, uint64_t total, size_t width);

// One screen of `recomp top`: a header (runs in flight, jobs per second, jobs in flight, the
// event head), the queue depths, one line per run in flight with a progress bar, one line per
// worker with its slots and current jobs. `stats` is the STATS reply, `workers` WORKERS's;
// lines are cut to `width` columns.
std::string FormatTop(const nlohmann::json& stats, const nlohmann::json& workers, double jobs_per_s,
                      size_t width);

// The last `n` lines of `text` (all of it when it has fewer); a final line without '\n' counts.
std::string_view LastLines(std::string_view text, size_t n);

// The command that prints a job's whole log.
std::string LogsCommand(const std::string& run_id, const std::string& stage, uint64_t shard);

}  // namespace recomp::cli
