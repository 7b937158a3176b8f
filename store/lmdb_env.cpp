// LMDB adapter (see lmdb_env.h).
#include "store/lmdb_env.h"

#include "base/posix_file.h"

#include <sys/stat.h>

#include <cassert>
#include <cstring>
#include <map>
#include <utility>

namespace recomp::store {
namespace {

const char* MdbCodeName(int rc) {
  switch (rc) {
    case MDB_KEYEXIST:
      return "MDB_KEYEXIST";
    case MDB_NOTFOUND:
      return "MDB_NOTFOUND";
    case MDB_PAGE_NOTFOUND:
      return "MDB_PAGE_NOTFOUND";
    case MDB_CORRUPTED:
      return "MDB_CORRUPTED";
    case MDB_PANIC:
      return "MDB_PANIC";
    case MDB_VERSION_MISMATCH:
      return "MDB_VERSION_MISMATCH";
    case MDB_INVALID:
      return "MDB_INVALID";
    case MDB_MAP_FULL:
      return "MDB_MAP_FULL";
    case MDB_DBS_FULL:
      return "MDB_DBS_FULL";
    case MDB_READERS_FULL:
      return "MDB_READERS_FULL";
    case MDB_TLS_FULL:
      return "MDB_TLS_FULL";
    case MDB_TXN_FULL:
      return "MDB_TXN_FULL";
    case MDB_CURSOR_FULL:
      return "MDB_CURSOR_FULL";
    case MDB_PAGE_FULL:
      return "MDB_PAGE_FULL";
    case MDB_MAP_RESIZED:
      return "MDB_MAP_RESIZED";
    case MDB_INCOMPATIBLE:
      return "MDB_INCOMPATIBLE";
    case MDB_BAD_RSLOT:
      return "MDB_BAD_RSLOT";
    case MDB_BAD_TXN:
      return "MDB_BAD_TXN";
    case MDB_BAD_VALSIZE:
      return "MDB_BAD_VALSIZE";
    case MDB_BAD_DBI:
      return "MDB_BAD_DBI";
    case ENOSPC:
      return "ENOSPC";
    case EACCES:
      return "EACCES";
    case ENOENT:
      return "ENOENT";
    case EIO:
      return "EIO";
    case ENOMEM:
      return "ENOMEM";
    case EINVAL:
      return "EINVAL";
    default:
      return "errno/other";
  }
}

MDB_val Val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
std::string_view View(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

// Process-wide registry of open environments keyed by the directory's device and inode.
Mutex g_envs_mu;
std::map<std::pair<dev_t, ino_t>, std::weak_ptr<Env>> g_envs GUARDED_BY(g_envs_mu);

}  // namespace

Status LmdbStatus(int rc, std::string_view op, const std::string& where) {
  if (rc == MDB_SUCCESS) return Status::Ok();
  std::string msg =
      std::string(op) + " (" + where + "): " + MdbCodeName(rc) + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_NOTFOUND:
      return Status::NotFound(std::move(msg));
    case MDB_KEYEXIST:
      return Status::AlreadyExists(std::move(msg));
    case MDB_MAP_FULL:
      return Status::ResourceExhausted(
          msg + " (the index reached its map size; raise StoreOptions.map_size)");
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_PANIC:
      return Status::Corruption(std::move(msg));
    case MDB_READERS_FULL:
    case MDB_TXN_FULL:
    case MDB_DBS_FULL:
      return Status::ResourceExhausted(std::move(msg));
    default:
      return Status::IOError(std::move(msg));
  }
}

Result<std::shared_ptr<Env>> Env::OpenShared(const std::string& dir, const EnvOptions& opts) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return ErrnoStatus("open index", dir, errno);
  }
  MutexLock lock(&g_envs_mu);
  auto key = std::make_pair(st.st_dev, st.st_ino);
  if (auto it = g_envs.find(key); it != g_envs.end()) {
    if (auto env = it->second.lock()) return env;
  }
  MDB_env* raw = nullptr;
  int rc = mdb_env_create(&raw);
  if (rc != 0) return LmdbStatus(rc, "mdb_env_create", dir);
  std::shared_ptr<Env> env(new Env(raw, dir, opts.no_sync));
  if ((rc = mdb_env_set_mapsize(raw, opts.map_size)) != 0)
    return LmdbStatus(rc, "mdb_env_set_mapsize", dir);
  if ((rc = mdb_env_set_maxreaders(raw, opts.max_readers)) != 0)
    return LmdbStatus(rc, "mdb_env_set_maxreaders", dir);
  if ((rc = mdb_env_set_maxdbs(raw, opts.max_dbs)) != 0)
    return LmdbStatus(rc, "mdb_env_set_maxdbs", dir);
  // MDB_NOTLS: read txns are not tied to threads (several stores/threads per process).
  unsigned flags = MDB_NOTLS | (opts.no_sync ? MDB_NOSYNC : 0);
  if ((rc = mdb_env_open(raw, dir.c_str(), flags, 0600)) != 0)
    return LmdbStatus(rc, "mdb_env_open", dir);
  int dead = 0;
  if ((rc = mdb_reader_check(raw, &dead)) != 0) return LmdbStatus(rc, "mdb_reader_check", dir);
  g_envs[key] = env;
  return env;
}

Env::~Env() {
  mdb_env_close(env_);
}

Result<MDB_dbi> Env::OpenDbi(const std::string& name) {
  MutexLock lock(&dbi_mu_);
  if (auto it = dbis_.find(name); it != dbis_.end()) return it->second;
  RECOMP_ASSIGN_OR_RETURN(Txn txn, Txn::Begin(*this, /*write=*/true));
  MDB_dbi dbi;
  int rc = mdb_dbi_open(txn.txn_, name.c_str(), MDB_CREATE, &dbi);
  if (rc != 0) return LmdbStatus(rc, "mdb_dbi_open " + name, path_);
  RECOMP_RETURN_IF_ERROR(txn.Commit());
  dbis_[name] = dbi;
  return dbi;
}

void Env::NoteDurable(size_t txn_id) {
  size_t known = durable_txn_.load();
  while (known < txn_id && !durable_txn_.compare_exchange_weak(known, txn_id)) {
  }
}

Status Env::AwaitDurable(size_t txn_id) {
  if (no_sync_ || txn_id <= durable_txn_.load()) return Status::Ok();
  // Holding the writer lock, every earlier commit has finished, meta page synced included.
  RECOMP_ASSIGN_OR_RETURN(Txn txn, Txn::Begin(*this, /*write=*/true));
  NoteDurable(txn.id() - 1);
  return Status::Ok();  // txn aborts: nothing written
}

Result<Txn> Txn::Begin(Env& env, bool write) {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env.get(), nullptr, write ? 0 : MDB_RDONLY, &txn);
  if (rc == MDB_MAP_RESIZED) {
    // Another process grew the map: adopt its size (no txn of ours is active here).
    mdb_env_set_mapsize(env.get(), 0);
    rc = mdb_txn_begin(env.get(), nullptr, write ? 0 : MDB_RDONLY, &txn);
  }
  if (rc != 0) return LmdbStatus(rc, write ? "begin write txn" : "begin read txn", env.path());
  return Txn(txn, &env, write);
}

Txn::Txn(Txn&& o) noexcept : txn_(std::exchange(o.txn_, nullptr)), env_(o.env_), write_(o.write_) {}

Txn::~Txn() {
  Abort();
}

void Txn::Abort() {
  if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
}

Status Txn::Renew() {
  assert(txn_ != nullptr && !write_);
  mdb_txn_reset(txn_);
  int rc = mdb_txn_renew(txn_);
  if (rc == MDB_MAP_RESIZED) {  // another process grew the map (see Begin)
    mdb_txn_abort(std::exchange(txn_, nullptr));
    mdb_env_set_mapsize(env_->get(), 0);
    rc = mdb_txn_begin(env_->get(), nullptr, MDB_RDONLY, &txn_);
  }
  if (rc != 0) {
    if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
    return LmdbStatus(rc, "renew read txn", env_->path());
  }
  return Status::Ok();
}

Status Txn::Commit() {
  assert(txn_ != nullptr);
  size_t id = mdb_txn_id(txn_);
  int rc = mdb_txn_commit(std::exchange(txn_, nullptr));
  // Everything before this txn is on disk (we held the writer lock). This txn's own id is not
  // noted: an empty txn commits nothing, and another process may then commit that id.
  if (rc == 0 && write_) env_->NoteDurable(id - 1);
  return LmdbStatus(rc, "commit", env_->path());
}

Result<std::optional<std::string_view>> Txn::Get(MDB_dbi dbi, std::string_view key) const {
  assert(txn_ != nullptr);
  MDB_val k = Val(key), v;
  int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  if (rc != 0) return LmdbStatus(rc, "get", env_->path());
  return std::optional<std::string_view>(View(v));
}

Status Txn::Put(MDB_dbi dbi, std::string_view key, std::string_view value, bool no_overwrite) {
  assert(txn_ != nullptr && write_);
  MDB_val k = Val(key), v = Val(value);
  return LmdbStatus(mdb_put(txn_, dbi, &k, &v, no_overwrite ? MDB_NOOVERWRITE : 0), "put",
                    env_->path());
}

Status Txn::Append(MDB_dbi dbi, std::string_view key, std::string_view value) {
  assert(txn_ != nullptr && write_);
  MDB_val k = Val(key), v = Val(value);
  return LmdbStatus(mdb_put(txn_, dbi, &k, &v, MDB_APPEND), "append", env_->path());
}

Result<std::optional<std::string_view>> Txn::LastKey(MDB_dbi dbi) const {
  assert(txn_ != nullptr);
  MDB_cursor* cur = nullptr;
  int rc = mdb_cursor_open(txn_, dbi, &cur);
  if (rc != 0) return LmdbStatus(rc, "cursor open", env_->path());
  MDB_val k, v;
  rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
  mdb_cursor_close(cur);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  if (rc != 0) return LmdbStatus(rc, "cursor last", env_->path());
  return std::optional<std::string_view>(View(k));
}

Result<bool> Txn::Del(MDB_dbi dbi, std::string_view key) {
  assert(txn_ != nullptr && write_);
  MDB_val k = Val(key);
  int rc = mdb_del(txn_, dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) return LmdbStatus(rc, "delete", env_->path());
  return true;
}

Status Txn::ForEach(MDB_dbi dbi,
                    const std::function<Status(std::string_view, std::string_view)>& fn) const {
  return ForEachFrom(dbi, std::string_view(), fn);
}

Status Txn::ForEachFrom(MDB_dbi dbi, std::string_view from,
                        const std::function<Status(std::string_view, std::string_view)>& fn) const {
  assert(txn_ != nullptr);
  MDB_cursor* cur = nullptr;
  int rc = mdb_cursor_open(txn_, dbi, &cur);
  if (rc != 0) return LmdbStatus(rc, "cursor open", env_->path());
  MDB_val k = Val(from), v;
  Status st;
  rc = from.empty() ? mdb_cursor_get(cur, &k, &v, MDB_FIRST)
                    : mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    st = fn(View(k), View(v));
    if (!st.ok()) break;
  }
  mdb_cursor_close(cur);
  if (st.ok() && rc != MDB_NOTFOUND) st = LmdbStatus(rc, "cursor next", env_->path());
  return st;
}

}  // namespace recomp::store
