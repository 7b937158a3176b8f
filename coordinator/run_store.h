// RunStore: the coordinator's durable state in one LMDB environment: the global event log
// (the source of truth), a per-run event index, run rows and job rows; plus the action cache
// in a second, non-durable environment (docs/coordinator-storage.md). Writes go through a
// Batch = one LMDB write transaction, so an event and the rows it changes commit together
// (group commit: many per batch); the batch's cache entries are committed right after it.
// Thread-safe (LMDB); in practice one coordinator thread writes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "coordinator/run_model.h"
#include "messages/event.h"
#include "messages/stage_result.h"
#include "store/lmdb_env.h"

namespace recomp::coordinator {

class RunStore {
 public:
  // Opens or creates the store in directory `dir` (created if missing). An action cache that
  // cannot be opened (damaged by an OS crash) is discarded and recreated empty. With `durable`
  // false commits do not fsync (MDB_NOSYNC): a killed process loses nothing (the OS has the pages),
  // an OS crash or power loss may lose the newest commits or damage the file.
  static Result<std::unique_ptr<RunStore>> Open(const std::string& dir, bool durable = true);

  // One write transaction; aborted unless Commit() succeeds.
  class Batch {
   public:
    // Appends `e` (its sequence must be greater than every stored one) and, when it is a run
    // event (IsRunEvent), indexes it by run.
    Status AppendEvent(const Event& e);
    // The same, for `e` already encoded as `encoded` (= EncodeEvent(e)).
    Status AppendEncodedEvent(const Event& e, std::string_view encoded);
    Status PutRun(const RunRow& r);
    Status PutJob(const JobRow& j);
    // A job row already encoded: `key` = JobRow::Key(), `encoded` = EncodeJobRow(row).
    Status PutEncodedJob(std::string_view key, std::string_view encoded);
    // Records a successful result under its job ID (failures are never cached: asserted).
    // Written by Commit after the batch, into the cache environment.
    Status PutCache(const StageResult& r);
    // Commits the batch durably (unless opened non-durable), then its cache entries (best
    // effort: a cache write that fails is logged, never fails the batch).
    Status Commit();

   private:
    friend class RunStore;
    Batch(store::Txn txn, RunStore* s) : txn_(std::move(txn)), s_(s), last_(s->last_seq_) {}
    store::Txn txn_;
    RunStore* s_;
    uint64_t last_;  // newest sequence in this batch or before it
    std::vector<std::pair<std::string, std::string>> cache_;  // job_id -> encoded result
  };
  Result<Batch> Begin();

  // The newest sequence ever handed out: the newest stored event's, or pruned_through() when
  // retention removed the newest events (so sequences never go back); 0 when the log is empty.
  Result<uint64_t> LastSequence() const;
  // The same as of this store's last commit (no read): events an engine numbered in a batch
  // that is not committed yet are not counted.
  uint64_t committed_sequence() const { return last_seq_; }
  Result<std::optional<RunRow>> GetRun(const std::string& run_id) const;
  Result<std::vector<RunRow>> ListRuns() const;
  // The run whose id is `id`, or else the only one whose id starts with it (a unique prefix).
  // NotFound when none does; InvalidArgument naming a few when several do.
  Result<std::string> ResolveRunId(const std::string& id) const;
  // At most `limit` runs with an id after `after` ("" = from the first), in id order.
  Result<std::vector<RunRow>> ListRunsPage(const std::string& after, size_t limit) const;
  // A run's job rows in key order (stage, then shard).
  Result<std::vector<JobRow>> GetJobs(const std::string& run_id) const;
  // One job row; nullopt when the run has no such stage or shard.
  Result<std::optional<JobRow>> GetJob(const std::string& run_id, const std::string& stage,
                                       uint32_t shard) const;
  Result<std::optional<StageResult>> GetCache(const std::string& job_id) const;
  // Events with sequence > `after`, oldest first, at most `limit` and, past the first, at most
  // `max_bytes` of stored event bytes in all; only `run_id`'s if non-empty. `*more` (if given)
  // says whether a limit cut the page short of the last such event.
  Result<std::vector<Event>> ReadEvents(uint64_t after, size_t limit, const std::string& run_id,
                                        size_t max_bytes = SIZE_MAX, bool* more = nullptr) const;

  // Retention (run_store_prune.cpp; docs/coordinator-storage.md "Retention").
  // Terminal runs in the order they finished (failed and succeeded apart), at most `limit`,
  // that finished before `failed_before_ms` / `succeeded_before_ms` (Unix ms; <= 0: none).
  struct FinishedRun {
    std::string run_id;
    std::string index_key;  // its entry in the finished index
  };
  Result<std::vector<FinishedRun>> RunsFinishedBefore(int64_t failed_before_ms,
                                                      int64_t succeeded_before_ms,
                                                      size_t limit) const;
  struct Pruned {
    uint64_t runs = 0, jobs = 0, events = 0;
    size_t considered = 0;  // entries of `runs` handled (the rest: past the row budget)
    // (job ID, run id) of the pruned job rows that had a job ID: DropCacheOf's input.
    std::vector<std::pair<std::string, std::string>> jobs_planned;
  };
  // Removes each terminal run of `runs` whole -- its row, job rows, events and their index
  // entries -- in ONE write transaction, and raises pruned_through() to the newest sequence
  // removed. A run that is no longer there or not terminal is skipped (its index entry goes).
  // Stops before the next run once `max_rows` job rows and events were removed (the first run
  // always goes whole), so one transaction stays bounded.
  Result<Pruned> PruneRuns(const std::vector<FinishedRun>& runs, size_t max_rows = SIZE_MAX);
  // The newest sequence retention removed (0: nothing was): replay before it has holes.
  uint64_t pruned_through() const { return pruned_through_; }
  // Removes the cache entries of `jobs` (job ID, run id) that the run itself produced (its
  // first successful, executed attempt) and that name no blob: nothing else would ever remove
  // them. Entries another run produced stay, and so do entries with blobs (SweepCache removes
  // them once the store collected their blobs). Returns how many were removed.
  Result<uint64_t> DropCacheOf(const std::vector<std::pair<std::string, std::string>>& jobs);
  // Visits up to `limit` action-cache entries from `*cursor` ("" = the first), removes those
  // `keep` refuses (their blobs are gone), and moves `*cursor` past them ("" again at the end).
  // Returns how many were removed.
  Result<uint64_t> SweepCache(std::string* cursor, size_t limit,
                              const std::function<bool(const StageResult&)>& keep);

 private:
  RunStore() = default;
  Status OpenCache(const std::string& dir);
  std::shared_ptr<store::Env> env_;
  MDB_dbi events_ = 0, run_events_ = 0, runs_ = 0, jobs_ = 0;
  // finished: state (1 byte: 'f' failed, 's' succeeded), finished Unix ms (8 BE), run id ->
  // "": the terminal runs in the order retention removes them. meta: "pruned_through" -> 8 BE,
  // "finished_index" -> "1" once every terminal run is indexed.
  MDB_dbi finished_ = 0, meta_ = 0;
  uint64_t pruned_through_ = 0;
  // Adds the finished index entry of a terminal row (PutRun).
  Status IndexFinished(store::Txn& txn, const RunRow& r);
  // At Open: reads pruned_through, and indexes terminal runs written before the finished
  // index existed (once: meta's "finished_index" marks it done).
  Status OpenRetention();
  // The action cache: <dir>/action-cache/, MDB_NOSYNC. Its keys are random job IDs, so a batch
  // of N results dirties ~N pages: kept out of the fsynced environment (a lost entry only
  // means a job runs again).
  std::shared_ptr<store::Env> cache_env_;
  MDB_dbi cache_ = 0;
  // One read txn for GetCache, renewed per lookup (mdb_txn_renew keeps the reader slot: no
  // reader-table lock and no allocation per job). Declared after cache_env_: ends before it.
  mutable Mutex cache_read_mu_;
  mutable std::optional<store::Txn> cache_read_ GUARDED_BY(cache_read_mu_);
  uint64_t last_seq_ = 0;  // newest committed sequence (one writer: the owning thread)
};

}  // namespace recomp::coordinator
