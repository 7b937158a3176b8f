// Retention of the coordinator's own state (docs/coordinator-storage.md "Retention"): runs
// whose window passed (failed 90 days, succeeded 30 days by default; non-terminal runs never)
// are removed whole -- row, jobs, events, and the action-cache entries the run produced -- a
// bounded number per pass, and action-cache entries whose blobs the artifact store no longer
// has are swept. Used by the coordinator's
// service thread only (it owns the RunStore's writes); not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "base/status.h"
#include "coordinator/run_store.h"
#include "store/artifact_store.h"

namespace recomp::coordinator {

struct RetentionOptions {
  // The windows, counted from a run's finish (its terminal status's updated_at). The same
  // keys as the store's gc: [store.retention] failed_days / succeeded_days.
  std::chrono::seconds failed{std::chrono::days(90)};
  std::chrono::seconds succeeded{std::chrono::days(30)};
  // No run is removed sooner than this after it finished, whatever its window: a client
  // waiting on the run (`submit --wait`) or reading its results just after it ended still finds
  // it. [coordinator] retention_grace_ms.
  std::chrono::milliseconds grace{60000};
  int64_t interval_ms = 60000;    // between passes when there was nothing left; 0 = off
  size_t runs_per_pass = 200;     // runs removed in one transaction
  size_t rows_per_pass = 50000;   // job rows + events removed in one transaction (>= 1 run)
  size_t cache_per_pass = 20000;  // cache entries looked at per pass
};

// Whether every output blob and the log blob of `r` are in `store` (a cache entry that can
// still serve a job).
bool AllBlobsPresent(store::ArtifactStore* store, const StageResult& r);

class Retention {
 public:
  Retention(RunStore* runs, store::ArtifactStore* store, const RetentionOptions& o)
      : runs_(runs), store_(store), opt_(o) {}

  struct Pass {
    uint64_t runs = 0, jobs = 0, events = 0, cache_entries = 0;
    bool more = false;  // a limit cut it short: the next pass follows at once
  };
  // One pass when one is due at `now_ms` (nullopt otherwise): prunes up to runs_per_pass runs
  // past their window in one transaction, drops the cache entries they produced, then sweeps
  // up to cache_per_pass cache entries.
  Result<std::optional<Pass>> MaybeRun(int64_t now_ms);
  // One pass now.
  Result<Pass> RunOnce(int64_t now_ms);

 private:
  RunStore* runs_;
  store::ArtifactStore* store_;
  RetentionOptions opt_;
  int64_t next_ms_ = 0;
  std::string cache_cursor_;  // where the next sweep continues ("" = from the first)
};

}  // namespace recomp::coordinator
