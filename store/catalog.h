// Catalog: the store's LMDB index, typed. Tables (named sub-databases):
//   records: digest(32 bytes) -> ArtifactRecord v1 (msgpack)   -- what exists
//   inline:  digest -> blob bytes (small generated blobs only)  -- see docs/store.md
//   touched: digest -> u64 big-endian unix ms of the last put   -- gc age, dedup safety
//   pins:    run_id -> pin record (msgpack)                      -- retention roots
// Thread-safe (LMDB); each Txn is used by one thread at a time.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "messages/artifact_record.h"
#include "messages/artifact_ref.h"
#include "messages/clock.h"
#include "store/lmdb_env.h"
#include "store/store_types.h"

namespace recomp::store {

class Catalog {
 public:
  // Opens (creating) the index in existing directory `dir`.
  static Result<Catalog> Open(const std::string& dir, const EnvOptions& opts);

  Result<Txn> Read() const { return Txn::Begin(*env_, false); }
  Result<Txn> Write() const { return Txn::Begin(*env_, true); }
  const std::string& path() const { return env_->path(); }

  // nullopt when absent; Corruption (naming the ref) when the stored value is unreadable or
  // belongs to another digest.
  Result<std::optional<ArtifactRecord>> GetRecord(const Txn& txn, const Digest& d) const;
  Status PutRecord(Txn& txn, const Digest& d, const ArtifactRecord& r) const;
  // The inline bytes of `d`, nullopt when it is a file blob. Valid until the txn ends.
  Result<std::optional<std::string_view>> GetInline(const Txn& txn, const Digest& d) const;
  Status PutInline(Txn& txn, const Digest& d, std::string_view bytes) const;
  Status DeleteInline(Txn& txn, const Digest& d) const;
  Status Touch(Txn& txn, const Digest& d, SysTime t) const;
  Result<std::optional<SysTime>> GetTouch(const Txn& txn, const Digest& d) const;
  // Removes the record, inline bytes and touch time of `d` (absent parts are fine).
  Status Remove(Txn& txn, const Digest& d) const;

  // Visits every record in digest order. `key_ok` is false when the key is not a 32-byte
  // digest (then `d` is zero); `rec` carries the decode error of an unreadable value.
  using RecordFn = std::function<Status(bool key_ok, std::string_view raw_key, const Digest& d,
                                        const Result<ArtifactRecord>& rec)>;
  Status ForEachRecord(const Txn& txn, const RecordFn& fn) const;

  Result<std::optional<RunPin>> GetPin(const Txn& txn, const std::string& run_id) const;
  Status PutPin(Txn& txn, const RunPin& pin) const;
  Result<bool> DeletePin(Txn& txn, const std::string& run_id) const;
  Status ForEachPin(const Txn& txn, const std::function<Status(const RunPin&)>& fn) const;

 private:
  std::shared_ptr<Env> env_;
  MDB_dbi records_ = 0, inline_ = 0, touched_ = 0, pins_ = 0;
};

// Exposed for tests: the pin value encoding.
std::string EncodePin(const RunPin& pin);
Result<RunPin> DecodePin(std::string_view run_id, std::string_view bytes);

}  // namespace recomp::store
