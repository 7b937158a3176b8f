// LMDB layout (docs/coordinator-storage.md): events: seq(8 BE) -> Event; run_events:
// run_id \0 seq(8 BE) -> ""; runs: run_id -> RunRow; jobs: JobRow::Key() -> JobRow;
// action-cache/ (its own environment, MDB_NOSYNC) action_cache: job_id hex -> StageResult. Run rows
// are MessagePack of their JSON form; job rows are packed directly (EncodeJobRow, version 2).
#include "coordinator/run_store.h"

#include <cassert>
#include <filesystem>

#include "base/endian.h"
#include "coordinator/log.h"
#include "coordinator/run_store_keys.h"
#include "messages/codec.h"
#include "messages/protocol.h"

namespace recomp::coordinator {
using keys::DecodeRow;
using keys::RunPrefix;

Result<std::unique_ptr<RunStore>> RunStore::Open(const std::string& dir, bool durable) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return Status::IOError("cannot create coordinator state dir " + dir + ": " + ec.message());
  std::unique_ptr<RunStore> s(new RunStore());
  store::EnvOptions opts;
  opts.no_sync = !durable;
  RECOMP_ASSIGN_OR_RETURN(s->env_, store::Env::OpenShared(dir, opts));
  RECOMP_ASSIGN_OR_RETURN(s->events_, s->env_->OpenDbi("events"));
  RECOMP_ASSIGN_OR_RETURN(s->run_events_, s->env_->OpenDbi("run_events"));
  RECOMP_ASSIGN_OR_RETURN(s->runs_, s->env_->OpenDbi("runs"));
  RECOMP_ASSIGN_OR_RETURN(s->jobs_, s->env_->OpenDbi("jobs"));
  RECOMP_ASSIGN_OR_RETURN(s->finished_, s->env_->OpenDbi("finished"));
  RECOMP_ASSIGN_OR_RETURN(s->meta_, s->env_->OpenDbi("meta"));
  RECOMP_RETURN_IF_ERROR(s->OpenRetention());
  RECOMP_RETURN_IF_ERROR(s->OpenCache(dir + "/action-cache"));
  RECOMP_ASSIGN_OR_RETURN(s->last_seq_, s->LastSequence());
  return s;
}

Status RunStore::OpenCache(const std::string& dir) {
  store::EnvOptions opts;
  opts.no_sync = true;  // a cache: losing the newest entries in an OS crash is harmless
  opts.map_size = size_t{64} << 30;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError("cannot create action cache dir " + dir + ": " + ec.message());
    auto env = store::Env::OpenShared(dir, opts);
    Result<MDB_dbi> dbi =
        env.ok() ? (*env)->OpenDbi("action_cache") : Result<MDB_dbi>(env.status());
    if (dbi.ok()) {
      cache_env_ = std::move(env).value();
      cache_ = *dbi;
      return Status::Ok();
    }
    if (attempt == 0) {
      Log()->warn("action cache {} unreadable ({}): discarded, starting empty", dir,
                  dbi.status().ToString());
      std::filesystem::remove_all(dir, ec);
    } else {
      return dbi.status().WithContext("action cache");
    }
  }
  return Status::Ok();
}

Result<RunStore::Batch> RunStore::Begin() {
  RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*env_, /*write=*/true));
  return Batch(std::move(txn), this);
}

Status RunStore::Batch::AppendEvent(const Event& e) {
  return AppendEncodedEvent(e, EncodeEvent(e));
}

Status RunStore::Batch::AppendEncodedEvent(const Event& e, std::string_view encoded) {
  if (e.sequence <= last_) {
    return Status::AlreadyExists("event sequence " + std::to_string(e.sequence) +
                                 " is not after the newest, " + std::to_string(last_));
  }
  last_ = e.sequence;
  // Sequences only grow, so the key is the greatest: MDB_APPEND (no search, full pages).
  RECOMP_RETURN_IF_ERROR(txn_.Append(s_->events_, keys::Seq(e.sequence), encoded));
  if (!IsRunEvent(e.type)) return Status::Ok();  // a worker's event: in the global log only
  return txn_.Put(s_->run_events_, RunPrefix(e.subject) + keys::Seq(e.sequence), "");
}

Status RunStore::Batch::PutRun(const RunRow& r) {
  RECOMP_RETURN_IF_ERROR(s_->IndexFinished(txn_, r));
  return txn_.Put(s_->runs_, r.submission.run_id, proto::JsonBody(ToJson(r)));
}

Status RunStore::Batch::PutJob(const JobRow& j) {
  return PutEncodedJob(j.Key(), EncodeJobRow(j));
}

Status RunStore::Batch::PutEncodedJob(std::string_view key, std::string_view encoded) {
  return txn_.Put(s_->jobs_, key, encoded);
}

Status RunStore::Batch::PutCache(const StageResult& r) {
  assert(r.outcome == JobOutcome::kSucceeded && "failures are never cached");
  cache_.emplace_back(r.job_id, EncodeStageResult(r));
  return Status::Ok();
}

Status RunStore::Batch::Commit() {
  RECOMP_RETURN_IF_ERROR(txn_.Commit());
  s_->last_seq_ = last_;
  if (cache_.empty()) return Status::Ok();
  // After the batch: an entry is never visible before the event that reports its job.
  Status s = [&]() -> Status {
    RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*s_->cache_env_, /*write=*/true));
    for (const auto& [key, value] : cache_) RECOMP_RETURN_IF_ERROR(txn.Put(s_->cache_, key, value));
    return txn.Commit();
  }();
  if (!s.ok()) Log()->warn("action cache: {} entries not written: {}", cache_.size(), s.ToString());
  cache_.clear();
  return Status::Ok();
}

Result<uint64_t> RunStore::LastSequence() const {
  RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*env_, false));
  RECOMP_ASSIGN_OR_RETURN(auto last, txn.LastKey(events_));  // keys are big-endian sequences
  if (!last) return pruned_through_;
  if (last->size() != 8) return Status::Corruption("events: a key is not an 8-byte sequence");
  return std::max(keys::SeqFrom(*last), pruned_through_);
}

Result<std::optional<RunRow>> RunStore::GetRun(const std::string& run_id) const {
  RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*env_, false));
  RECOMP_ASSIGN_OR_RETURN(auto v, txn.Get(runs_, run_id));
  if (!v) return std::optional<RunRow>();
  RECOMP_ASSIGN_OR_RETURN(RunRow row, DecodeRow<RunRow>(*v, &RunRowFromJson, "run row"));
  return std::optional<RunRow>(std::move(row));
}

Result<std::vector<RunRow>> RunStore::ListRunsPage(const std::string& after, size_t limit) const {
  RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*env_, false));
  std::vector<RunRow> rows;
  static const Status kStop = Status::Cancelled("enough");
  auto visit = [&](std::string_view k, std::string_view v) {
    if (k == after) return Status::Ok();  // the cursor itself was on the previous page
    if (rows.size() >= limit) return kStop;
    RECOMP_ASSIGN_OR_RETURN(RunRow row, DecodeRow<RunRow>(v, &RunRowFromJson, "run row"));
    rows.push_back(std::move(row));
    return Status::Ok();
  };
  // LMDB refuses an empty key to seek to: the first page starts at the beginning.
  Status s = after.empty() ? txn.ForEach(runs_, visit) : txn.ForEachFrom(runs_, after, visit);
  if (!s.ok() && s.code() != Status::Code::kCancelled) return s;
  return rows;
}

Result<std::string> RunStore::ResolveRunId(const std::string& id) const {
  if (id.empty()) return Status::InvalidArgument("an empty run id");
  RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*env_, false));
  std::vector<std::string> matches;
  static const Status kStop = Status::Cancelled("enough");
  Status s = txn.ForEachFrom(runs_, id, [&](std::string_view k, std::string_view) {
    if (k.substr(0, id.size()) != id) return kStop;  // keys are sorted: past the prefix
    if (k.size() == id.size()) {                     // the exact id wins
      matches.assign(1, std::string(k));
      return kStop;
    }
    matches.emplace_back(k);
    return matches.size() > 3 ? kStop : Status::Ok();
  });
  if (!s.ok() && s.code() != Status::Code::kCancelled) return s;
  if (matches.empty()) return Status::NotFound("no run " + id);
  if (matches.size() == 1) return matches.front();
  std::string some;
  for (size_t i = 0; i < std::min<size_t>(3, matches.size()); ++i) some += " " + matches[i];
  return Status::InvalidArgument("run id prefix '" + id + "' is ambiguous:" + some +
                                 (matches.size() > 3 ? " ..." : ""));
}

Result<std::vector<RunRow>> RunStore::ListRuns() const {
  RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*env_, false));
  std::vector<RunRow> rows;
  RECOMP_RETURN_IF_ERROR(txn.ForEach(runs_, [&](std::string_view, std::string_view v) {
    RECOMP_ASSIGN_OR_RETURN(RunRow row, DecodeRow<RunRow>(v, &RunRowFromJson, "run row"));
    rows.push_back(std::move(row));
    return Status::Ok();
  }));
  return rows;
}

Result<std::vector<JobRow>> RunStore::GetJobs(const std::string& run_id) const {
  RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*env_, false));
  std::vector<JobRow> rows;
  std::string prefix = RunPrefix(run_id);
  static const Status kStop = Status::Cancelled("past the run");
  // Job keys start with the run's prefix: one range, not the whole table.
  Status st = txn.ForEachFrom(jobs_, prefix, [&](std::string_view k, std::string_view v) {
    if (k.substr(0, prefix.size()) != prefix) return kStop;
    RECOMP_ASSIGN_OR_RETURN(JobRow row, DecodeJobRow(v));
    rows.push_back(std::move(row));
    return Status::Ok();
  });
  if (!st.ok() && st.code() != Status::Code::kCancelled) return st;
  return rows;
}

Result<std::optional<JobRow>> RunStore::GetJob(const std::string& run_id, const std::string& stage,
                                               uint32_t shard) const {
  JobRow key;
  key.run_id = run_id;
  key.stage = stage;
  key.shard = shard;
  RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*env_, false));
  RECOMP_ASSIGN_OR_RETURN(auto v, txn.Get(jobs_, key.Key()));
  if (!v) return std::optional<JobRow>();
  RECOMP_ASSIGN_OR_RETURN(JobRow row, DecodeJobRow(*v));
  return std::optional<JobRow>(std::move(row));
}

Result<std::optional<StageResult>> RunStore::GetCache(const std::string& job_id) const {
  MutexLock lk(&cache_read_mu_);
  if (cache_read_ && !cache_read_->Renew().ok()) cache_read_.reset();  // Renew ended it
  if (!cache_read_) {
    RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*cache_env_, false));
    cache_read_.emplace(std::move(txn));
  }
  RECOMP_ASSIGN_OR_RETURN(auto v, cache_read_->Get(cache_, job_id));
  if (!v) return std::optional<StageResult>();
  auto r = DecodeStageResult(*v);
  if (!r.ok())
    return Status::Corruption("action cache entry " + job_id + ": " + r.status().message());
  return std::optional<StageResult>(std::move(r).value());
}

Result<std::vector<Event>> RunStore::ReadEvents(uint64_t after, size_t limit,
                                                const std::string& run_id, size_t max_bytes,
                                                bool* more) const {
  RECOMP_ASSIGN_OR_RETURN(store::Txn txn, store::Txn::Begin(*env_, false));
  std::vector<Event> out;
  if (more != nullptr) *more = false;
  size_t bytes = 0;
  static const Status kStop = Status::Cancelled("enough");
  // A page holds at least one event, and stops before the one that would exceed max_bytes.
  bool cut = false;
  auto full = [&](std::string_view v) {
    if (out.size() >= limit || (!out.empty() && bytes + v.size() > max_bytes)) {
      cut = true;  // there is a next event, and it did not fit
      return true;
    }
    bytes += v.size();
    return false;
  };
  auto take = [&](uint64_t seq) -> Status {
    RECOMP_ASSIGN_OR_RETURN(auto v, txn.Get(events_, keys::Seq(seq)));
    if (!v) return Status::Corruption("event " + std::to_string(seq) + " is indexed but missing");
    if (full(*v)) return kStop;
    auto e = DecodeEvent(*v);
    if (!e.ok())
      return Status::Corruption("event " + std::to_string(seq) + ": " + e.status().message());
    out.push_back(std::move(e).value());
    return Status::Ok();
  };
  // Both tables are seeked to the first wanted key (a B-tree descent), so a replay costs the
  // events it returns, not the log's length.
  if (after == UINT64_MAX) return out;
  const uint64_t first = after + 1;
  Status s;
  if (run_id.empty()) {
    s = txn.ForEachFrom(events_, keys::Seq(first),
                        [&](std::string_view k, std::string_view v) -> Status {
                          if (full(v)) return kStop;
                          auto e = DecodeEvent(v);
                          if (!e.ok())
                            return Status::Corruption("event " + std::to_string(keys::SeqFrom(k)) +
                                                      ": " + e.status().message());
                          out.push_back(std::move(e).value());
                          return Status::Ok();
                        });
  } else {
    const std::string prefix = RunPrefix(run_id);
    s = txn.ForEachFrom(run_events_, prefix + keys::Seq(first),
                        [&](std::string_view k, std::string_view) -> Status {
                          if (k.size() != prefix.size() + 8 || k.substr(0, prefix.size()) != prefix)
                            return kStop;  // past the run
                          return take(keys::SeqFrom(k));
                        });
  }
  if (!s.ok() && s.code() != Status::Code::kCancelled) return s;
  if (more != nullptr) *more = cut;
  return out;
}

}  // namespace recomp::coordinator
