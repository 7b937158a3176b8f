// LMDB adapter: RAII environment, transactions that abort unless committed, and the one place
// where MDB_* return codes become Status (each code named in the message).
// Env is shared process-wide per directory (LMDB forbids opening one environment twice in a
// process: closing either would drop the other's locks; cf. py-lmdb#66, heed#180), and is
// thread-safe. A Txn belongs to one thread at a time (MDB_NOTLS: it may move between threads).
#pragma once

#include <lmdb.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/mutex.h"
#include "base/status.h"

namespace recomp::store {

// Converts an LMDB return code (or an errno it passed through) into a Status whose message
// is "<op> (<where>): <MDB_NAME>: <mdb_strerror>". MDB_NOTFOUND -> NotFound,
// MDB_KEYEXIST -> AlreadyExists, MDB_MAP_FULL -> ResourceExhausted, MDB_CORRUPTED /
// MDB_PAGE_NOTFOUND / MDB_INVALID / MDB_VERSION_MISMATCH -> Corruption, others -> IOError.
Status LmdbStatus(int rc, std::string_view op, const std::string& where);

struct EnvOptions {
  size_t map_size = size_t{256} << 30;  // virtual; the file grows only as used
  unsigned max_readers = 1024;          // reader slots shared by all processes
  unsigned max_dbs = 16;
  bool no_sync = false;  // MDB_NOSYNC: commits do not fsync (not durable)
};

class Env {
 public:
  // Opens (creating files if needed) the environment in existing directory `dir`. Returns the
  // already-open Env when this process has `dir` (same device+inode) open. Clears reader
  // slots left by dead processes.
  static Result<std::shared_ptr<Env>> OpenShared(const std::string& dir, const EnvOptions& opts);
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  MDB_env* get() const { return env_; }
  const std::string& path() const { return path_; }
  // Opens (creating) the named sub-database. Call before concurrent use; serialised here.
  Result<MDB_dbi> OpenDbi(const std::string& name);
  // Returns once the commit with id `txn_id` (a read snapshot's id()) is on disk. A commit
  // becomes visible to readers while its writer is still syncing the meta page, and the
  // writer holds the writer lock until that is done: so unless this process already knows
  // `txn_id` is durable (it held the writer lock after that commit: a later commit of its
  // own, or an earlier wait), this takes the writer lock and releases it at once (no write,
  // no fsync). At once with MDB_NOSYNC.
  Status AwaitDurable(size_t txn_id);

 private:
  friend class Txn;  // Commit notes what it made durable
  Env(MDB_env* env, std::string path, bool no_sync)
      : env_(env), path_(std::move(path)), no_sync_(no_sync) {}
  void NoteDurable(size_t txn_id);
  MDB_env* env_;
  std::string path_;
  bool no_sync_;
  std::atomic<size_t> durable_txn_{0};  // every commit up to this id is on disk
  Mutex dbi_mu_;                        // also serialises mdb_dbi_open
  std::map<std::string, MDB_dbi> dbis_ GUARDED_BY(dbi_mu_);
};

class Txn {
 public:
  // Begins a read-only or read-write transaction. A write transaction waits for the
  // environment's single writer lock (shared across processes).
  static Result<Txn> Begin(Env& env, bool write);
  Txn(Txn&& o) noexcept;
  Txn& operator=(Txn&&) = delete;
  Txn(const Txn&) = delete;
  ~Txn();  // aborts when not committed

  // Commits (durable: LMDB fsyncs the data file). The Txn is finished afterwards.
  Status Commit();
  void Abort();
  // Read txns only: moves this read txn to the newest committed snapshot (mdb_txn_reset +
  // mdb_txn_renew: no allocation, keeps the reader slot). Views from before are invalid.
  Status Renew();
  // The snapshot's transaction id (mdb_txn_id): a read txn sees the id of the last commit,
  // so an unchanged id means nothing was committed in between (tests use it).
  size_t id() const { return mdb_txn_id(txn_); }

  // The value under `key`, nullopt when absent. The view is valid until the txn ends or
  // the same txn writes to `dbi`.
  Result<std::optional<std::string_view>> Get(MDB_dbi dbi, std::string_view key) const;
  // With `no_overwrite`, an existing key is AlreadyExists.
  Status Put(MDB_dbi dbi, std::string_view key, std::string_view value, bool no_overwrite = false);
  // Puts a key greater than every key of `dbi` (MDB_APPEND: no search, pages filled
  // completely). A key that is not the greatest is AlreadyExists (MDB_KEYEXIST).
  Status Append(MDB_dbi dbi, std::string_view key, std::string_view value);
  // The greatest key of `dbi`, nullopt when it is empty. Valid like Get's views.
  Result<std::optional<std::string_view>> LastKey(MDB_dbi dbi) const;
  // Deletes `key`; returns false when it was absent.
  Result<bool> Del(MDB_dbi dbi, std::string_view key);
  // Visits every entry in key order; stops at the first non-OK status and returns it.
  Status ForEach(
      MDB_dbi dbi,
      const std::function<Status(std::string_view key, std::string_view value)>& fn) const;
  // The same, starting at the first key >= `from` (a B-tree seek: MDB_SET_RANGE).
  Status ForEachFrom(
      MDB_dbi dbi, std::string_view from,
      const std::function<Status(std::string_view key, std::string_view value)>& fn) const;
  bool is_write() const { return write_; }

 private:
  friend class Env;
  Txn(MDB_txn* txn, Env* env, bool write) : txn_(txn), env_(env), write_(write) {}
  MDB_txn* txn_;
  Env* env_;
  bool write_;
};

}  // namespace recomp::store
