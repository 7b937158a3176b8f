// Catalog: the store's LMDB index, typed. Tables (named sub-databases):
//   records: digest(32 bytes) -> u64 big-endian entry number     -- what exists (small, random)
//   entries: u64 big-endian entry number -> entry (see below)    -- append-only
//   touched: digest -> u64 big-endian unix ms of the last put     -- gc age, dedup safety
//   pins:    run_id -> pin record (msgpack)                       -- retention roots
// An entry is the record (digest, class, size, created_at, media type, producer; compact
// binary, catalog.cpp) followed, for an inline blob, by the blob's bytes. New entries get the
// next number (appended: pages are written once, full), so the only randomly keyed insert of
// a new blob is its 40-byte `records` pair (see docs/store.md, Performance).
// Thread-safe (LMDB); each Txn is used by one thread at a time.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "messages/artifact_record.h"
#include "messages/artifact_ref.h"
#include "store/lmdb_env.h"
#include "store/store_types.h"

namespace recomp::store {

class Catalog {
 public:
  // Opens (creating) the index in existing directory `dir`.
  static Result<Catalog> Open(const std::string& dir, const EnvOptions& opts);

  Result<Txn> Read() const { return Txn::Begin(*env_, false); }
  Result<Txn> Write() const { return Txn::Begin(*env_, true); }
  // See Env::AwaitDurable: the snapshot `read`'s commit is on disk when this returns OK.
  Status AwaitDurable(const Txn& read) const { return env_->AwaitDurable(read.id()); }
  const std::string& path() const { return env_->path(); }

  // nullopt when absent; Corruption (naming the ref) when the stored value is unreadable or
  // belongs to another digest.
  Result<std::optional<ArtifactRecord>> GetRecord(const Txn& txn, const Digest& d) const;
  // Stores `r` under `d`: a new entry (appended) when `d` has none, else rewrites it keeping
  // its inline bytes.
  Status PutRecord(Txn& txn, const Digest& d, const ArtifactRecord& r) const;
  // Indexes a blob `d` that has no record yet: `r`, with `inline_bytes` for an inline blob.
  // AlreadyExists when `d` has a record.
  Status AddRecord(Txn& txn, const Digest& d, const ArtifactRecord& r,
                   std::optional<std::string_view> inline_bytes) const;
  // Same, for many new blobs in one txn: `*next_entry` caches the next entry number (0 =
  // unknown: looked up once). Valid only while nothing else appends entries in `txn`.
  Status AddRecord(Txn& txn, const Digest& d, const ArtifactRecord& r,
                   std::optional<std::string_view> inline_bytes, uint64_t* next_entry) const;
  // The inline bytes of `d`, nullopt when it is a file blob (or absent). Valid until the txn
  // ends or writes.
  Result<std::optional<std::string_view>> GetInline(const Txn& txn, const Digest& d) const;
  // Sets / drops the inline bytes of the record of `d` (NotFound when `d` has no record).
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
  // With `from`, starts at the first digest >= *from (a seek, not a scan).
  Status ForEachRecord(const Txn& txn, const RecordFn& fn,
                       std::optional<Digest> from = std::nullopt) const;

  Result<std::optional<RunPin>> GetPin(const Txn& txn, const std::string& run_id) const;
  Status PutPin(Txn& txn, const RunPin& pin) const;
  Result<bool> DeletePin(Txn& txn, const std::string& run_id) const;
  Status ForEachPin(const Txn& txn, const std::function<Status(const RunPin&)>& fn) const;

 private:
  struct Entry;
  // The entry number and raw entry of `d`; nullopt when `d` has no record. Corruption when
  // the records value or the entry is unreadable or names another digest.
  Result<std::optional<Entry>> GetEntry(const Txn& txn, const Digest& d) const;
  Status WriteEntry(Txn& txn, std::string_view seq_key, const ArtifactRecord& r,
                    std::optional<std::string_view> inline_bytes, bool append) const;

  std::shared_ptr<Env> env_;
  MDB_dbi records_ = 0, entries_ = 0, touched_ = 0, pins_ = 0;
};

// Exposed for tests: the pin value encoding and the entry encoding.
std::string EncodePin(const RunPin& pin);
Result<RunPin> DecodePin(std::string_view run_id, std::string_view bytes);
// Entry = record header + strings + inline bytes (when `inline_bytes`). InvalidArgument when
// r.ref is not a ref or a string is too long.
Result<std::string> EncodeEntry(const ArtifactRecord& r,
                                std::optional<std::string_view> inline_bytes);
struct DecodedEntry {
  ArtifactRecord record;
  std::optional<std::string_view> inline_bytes;  // a view into the decoded bytes
};
Result<DecodedEntry> DecodeEntry(std::string_view bytes);

}  // namespace recomp::store
