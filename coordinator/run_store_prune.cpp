// RunStore's retention primitives (docs/coordinator-storage.md "Retention"): the finished
// index, whole-run pruning in one transaction, the pruned_through watermark, and the action
// cache sweep.
#include <algorithm>
#include <cassert>

#include "base/clock.h"
#include "base/endian.h"
#include "coordinator/log.h"
#include "coordinator/run_store.h"
#include "coordinator/run_store_keys.h"
#include "messages/codec.h"
#include "messages/protocol.h"

namespace recomp::coordinator {
namespace {

constexpr std::string_view kPrunedThroughKey = "pruned_through";
constexpr std::string_view kFinishedIndexKey = "finished_index";  // "1": every run indexed
const Status kStop = Status::Cancelled("enough");

// The finished index key of a terminal row; "" for a row that is not terminal.
std::string FinishedKey(const RunRow& r) {
  const RunState st = r.status.state;
  if (!IsTerminal(st)) return std::string();
  auto t = ParseRfc3339(r.status.updated_at);
  int64_t ms =
      t.ok() ? std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count()
             : 0;  // unreadable: oldest (the row's own decoder refuses such rows)
  return std::string(1, st == RunState::kFailed ? 'f' : 's') +
         U64Bytes(static_cast<uint64_t>(std::max<int64_t>(ms, 0))) + r.submission.run_id;
}

// Every key of `dbi` starting with `prefix`.
Result<std::vector<std::string>> KeysWithPrefix(const store::Txn& txn, MDB_dbi dbi,
                                                const std::string& prefix) {
  std::vector<std::string> keys;
  Status s = txn.ForEachFrom(dbi, prefix, [&](std::string_view k, std::string_view) {
    if (k.substr(0, prefix.size()) != prefix) return kStop;
    keys.emplace_back(k);
    return Status::Ok();
  });
  if (!s.ok() && s.code() != Status::Code::kCancelled) return s;
  return keys;
}

}  // namespace

Status RunStore::IndexFinished(store::Txn& txn, const RunRow& r) {
  std::string key = FinishedKey(r);
  if (key.empty()) return Status::Ok();
  return txn.Put(finished_, key, "");
}

Status RunStore::OpenRetention() {
  RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*env_, /*write=*/true));
  RECOMP_ASSIGN_OR_RETURN(auto pt, txn.Get(meta_, kPrunedThroughKey));
  if (pt) {
    if (pt->size() != 8) return Status::Corruption("meta.pruned_through is not 8 bytes");
    pruned_through_ = ReadBigEndian(*pt);
  }
  RECOMP_ASSIGN_OR_RETURN(auto indexed, txn.Get(meta_, kFinishedIndexKey));
  if (indexed) return Status::Ok();  // the index exists: PutRun keeps it
  std::vector<std::string> keys;
  RECOMP_RETURN_IF_ERROR(txn.ForEach(runs_, [&](std::string_view, std::string_view v) {
    RECOMP_ASSIGN_OR_RETURN(RunRow row, keys::DecodeRow<RunRow>(v, &RunRowFromJson, "run row"));
    if (std::string k = FinishedKey(row); !k.empty()) keys.push_back(std::move(k));
    return Status::Ok();
  }));
  for (const std::string& k : keys) RECOMP_RETURN_IF_ERROR(txn.Put(finished_, k, ""));
  // Marked, so a store written by a build without the index (whatever is indexed) is
  // indexed once, and never again.
  RECOMP_RETURN_IF_ERROR(txn.Put(meta_, kFinishedIndexKey, "1"));
  if (!keys.empty()) Log()->info("retention: indexed {} finished runs", keys.size());
  return txn.Commit();
}

Result<std::vector<RunStore::FinishedRun>> RunStore::RunsFinishedBefore(int64_t failed_before_ms,
                                                                        int64_t succeeded_before_ms,
                                                                        size_t limit) const {
  RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*env_, false));
  std::vector<FinishedRun> ids;
  for (const auto& window :
       {std::pair{'f', failed_before_ms}, std::pair{'s', succeeded_before_ms}}) {
    const char tag = window.first;  // not a structured binding: the lambda below captures it
    const int64_t before = window.second;
    if (before <= 0) continue;
    const std::string from(1, tag);
    const std::string end = from + U64Bytes(static_cast<uint64_t>(before));
    Status s = txn.ForEachFrom(finished_, from, [&](std::string_view k, std::string_view) {
      if (ids.size() >= limit || k.size() < 9 || k[0] != tag || k.substr(0, 9) >= end) return kStop;
      ids.push_back({std::string(k.substr(9)), std::string(k)});
      return Status::Ok();
    });
    if (!s.ok() && s.code() != Status::Code::kCancelled) return s;
  }
  return ids;
}

Result<RunStore::Pruned> RunStore::PruneRuns(const std::vector<FinishedRun>& runs,
                                             size_t max_rows) {
  RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*env_, /*write=*/true));
  Pruned out;
  uint64_t newest = pruned_through_;
  for (const FinishedRun& f : runs) {
    if (out.jobs + out.events >= max_rows) break;
    ++out.considered;
    const std::string& id = f.run_id;
    RECOMP_RETURN_IF_ERROR(txn.Del(finished_, f.index_key).status());
    RECOMP_ASSIGN_OR_RETURN(auto v, txn.Get(runs_, id));
    if (!v) continue;
    Result<RunRow> decoded = keys::DecodeRow<RunRow>(*v, &RunRowFromJson, "run row");
    if (!decoded.ok()) {  // kept for an operator to look at; not offered again
      Log()->error("retention: run {} not removed: its row is unreadable: {}", id,
                   decoded.status().ToString());
      continue;
    }
    const RunRow& row = *decoded;
    const std::string finished = FinishedKey(row);
    if (finished.empty()) continue;  // never a run that may still change
    const std::string prefix = keys::RunPrefix(id);
    RECOMP_ASSIGN_OR_RETURN(auto job_keys, KeysWithPrefix(txn, jobs_, prefix));
    for (const std::string& k : job_keys) {
      RECOMP_ASSIGN_OR_RETURN(auto jv, txn.Get(jobs_, k));
      if (jv) {
        auto job = DecodeJobRow(*jv);
        if (job.ok() && !job->job_id.empty()) out.jobs_planned.emplace_back(job->job_id, id);
      }
      RECOMP_RETURN_IF_ERROR(txn.Del(jobs_, k).status());
    }
    RECOMP_ASSIGN_OR_RETURN(auto event_keys, KeysWithPrefix(txn, run_events_, prefix));
    for (const std::string& k : event_keys) {
      const uint64_t seq = keys::SeqFrom(k);
      RECOMP_RETURN_IF_ERROR(txn.Del(events_, keys::Seq(seq)).status());
      RECOMP_RETURN_IF_ERROR(txn.Del(run_events_, k).status());
      newest = std::max(newest, seq);
    }
    RECOMP_RETURN_IF_ERROR(txn.Del(runs_, id).status());
    if (finished != f.index_key) RECOMP_RETURN_IF_ERROR(txn.Del(finished_, finished).status());
    out.runs += 1;
    out.jobs += job_keys.size();
    out.events += event_keys.size();
  }
  if (newest != pruned_through_)
    RECOMP_RETURN_IF_ERROR(txn.Put(meta_, kPrunedThroughKey, U64Bytes(newest)));
  RECOMP_RETURN_IF_ERROR(txn.Commit());
  pruned_through_ = newest;
  return out;
}

Result<uint64_t> RunStore::DropCacheOf(
    const std::vector<std::pair<std::string, std::string>>& jobs) {
  if (jobs.empty()) return uint64_t{0};
  RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*cache_env_, /*write=*/true));
  uint64_t removed = 0;
  for (const auto& [job_id, run_id] : jobs) {
    RECOMP_ASSIGN_OR_RETURN(auto v, txn.Get(cache_, job_id));
    if (!v) continue;
    auto r = DecodeStageResult(*v);
    // Another run's result still serves; one with blobs goes when they do (SweepCache).
    if (r.ok() && (r->run_id != run_id || !r->outputs.empty() || !r->log_ref.empty())) continue;
    RECOMP_RETURN_IF_ERROR(txn.Del(cache_, job_id).status());
    ++removed;
  }
  RECOMP_RETURN_IF_ERROR(txn.Commit());
  return removed;
}

Result<uint64_t> RunStore::SweepCache(std::string* cursor, size_t limit,
                                      const std::function<bool(const StageResult&)>& keep) {
  RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*cache_env_, /*write=*/true));
  std::vector<std::string> gone;
  std::string next;
  size_t seen = 0;
  auto visit = [&](std::string_view k, std::string_view v) {
    if (seen == limit) {
      next.assign(k);
      return kStop;
    }
    ++seen;
    auto r = DecodeStageResult(v);
    if (!r.ok() || !keep(*r)) gone.emplace_back(k);  // undecodable: useless too
    return Status::Ok();
  };
  Status s = cursor->empty() ? txn.ForEach(cache_, visit) : txn.ForEachFrom(cache_, *cursor, visit);
  if (!s.ok() && s.code() != Status::Code::kCancelled) return s;
  for (const std::string& k : gone) RECOMP_RETURN_IF_ERROR(txn.Del(cache_, k).status());
  RECOMP_RETURN_IF_ERROR(txn.Commit());
  *cursor = next;
  return static_cast<uint64_t>(gone.size());
}

}  // namespace recomp::coordinator
