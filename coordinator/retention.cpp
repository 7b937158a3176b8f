// Retention passes: which runs are past their window, and which cache entries are dead.
#include "coordinator/retention.h"

#include <algorithm>

#include "coordinator/log.h"
#include "messages/artifact_ref.h"

namespace recomp::coordinator {

bool AllBlobsPresent(store::ArtifactStore* store, const StageResult& r) {
  for (const PathRef& o : r.outputs) {
    auto d = ParseArtifactRef(o.ref);
    if (!d.ok() || !store->Contains(*d)) return false;
  }
  if (r.log_ref.empty()) return true;
  auto d = ParseArtifactRef(r.log_ref);
  return d.ok() && store->Contains(*d);
}

Result<std::optional<Retention::Pass>> Retention::MaybeRun(int64_t now_ms) {
  if (opt_.interval_ms <= 0 || now_ms < next_ms_) return std::optional<Pass>();
  next_ms_ = now_ms + opt_.interval_ms;  // a failed pass is retried after the interval too
  RECOMP_ASSIGN_OR_RETURN(Pass p, RunOnce(now_ms));
  next_ms_ = p.more ? now_ms : now_ms + opt_.interval_ms;
  return std::optional<Pass>(p);
}

Result<Retention::Pass> Retention::RunOnce(int64_t now_ms) {
  using std::chrono::milliseconds;
  auto before = [&](std::chrono::seconds window) {
    return now_ms - std::max(std::chrono::duration_cast<milliseconds>(window), opt_.grace).count();
  };
  Pass p;
  RECOMP_ASSIGN_OR_RETURN(
      auto due,
      runs_->RunsFinishedBefore(before(opt_.failed), before(opt_.succeeded), opt_.runs_per_pass));
  if (!due.empty()) {
    RECOMP_ASSIGN_OR_RETURN(RunStore::Pruned pruned, runs_->PruneRuns(due, opt_.rows_per_pass));
    p.runs = pruned.runs;
    p.jobs = pruned.jobs;
    p.events = pruned.events;
    p.more = pruned.considered < due.size() || due.size() >= opt_.runs_per_pass;
    RECOMP_ASSIGN_OR_RETURN(p.cache_entries, runs_->DropCacheOf(pruned.jobs_planned));
  }
  auto usable = [&](const StageResult& r) { return AllBlobsPresent(store_, r); };
  RECOMP_ASSIGN_OR_RETURN(uint64_t dead,
                          runs_->SweepCache(&cache_cursor_, opt_.cache_per_pass, usable));
  p.cache_entries += dead;
  if (p.runs != 0 || p.cache_entries != 0) {
    Log()->info(
        "retention: removed {} runs ({} jobs, {} events; events through {} pruned), "
        "{} action-cache entries (produced by those runs, or whose blobs are gone)",
        p.runs, p.jobs, p.events, runs_->pruned_through(), p.cache_entries);
  }
  return p;
}

}  // namespace recomp::coordinator
