// PutBatch: stores several blobs with ONE durable index commit (what a worker uses for a
// job's outputs). Blobs are staged (hashed and written to tmp/) as they are added; Commit
// publishes them and the index entries in one LMDB write transaction.
// Not thread-safe: one thread per batch (the store itself is thread-safe).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "messages/artifact_record.h"
#include "store/lmdb_env.h"
#include "store/staging.h"
#include "store/store_types.h"

namespace recomp::store {

struct StoreCore;

class PutBatch {
 public:
  explicit PutBatch(std::shared_ptr<const StoreCore> core);
  PutBatch(PutBatch&&) noexcept;
  PutBatch& operator=(PutBatch&&) noexcept;
  ~PutBatch();  // discards what was not committed

  // Stages the file at `path` (regular file or pipe; not a directory). Returns the record
  // the blob has after Commit: the existing one when the same bytes are already stored.
  Result<ArtifactRecord> AddFile(const std::string& path, const PutOptions& opts = {});
  // Stages everything readable from `fd` (not closed). `name` is used in errors.
  Result<ArtifactRecord> AddFd(int fd, const PutOptions& opts = {}, const std::string& name = "fd");
  Result<ArtifactRecord> AddBytes(std::string_view bytes, const PutOptions& opts = {});
  // Adds a file already staged in this store's tmp/ (ArtifactStore::BeginUpload, appended and
  // finished): no second copy and no second hash. The batch owns it from now on.
  Result<ArtifactRecord> AddStaged(StagedFile file, const PutOptions& opts = {});
  // Makes every added blob durable and indexed, in one LMDB commit. On failure nothing of
  // the batch is indexed (published blob files become unindexed, harmless). The batch is
  // empty afterwards either way. When every blob is already indexed and present, and was put
  // within StoreOptions::touch_interval, nothing is written: no writer lock, no commit (the
  // blobs were made durable by the commit that indexed them).
  Status Commit();
  // Commit that returns the committed record of each added blob, in order.
  Result<std::vector<ArtifactRecord>> CommitRecords();
  size_t size() const { return items_.size(); }

 private:
  struct Item {
    Digest digest;
    ArtifactRecord record;             // as it will be stored when new
    std::optional<std::string> bytes;  // small blobs kept in memory
    std::optional<StagedFile> staged;  // others staged in tmp/
    bool likely_present = false;       // indexed when added: skip the early fsync
    bool sealed = false;
  };
  class Committer;
  Result<ArtifactRecord> Add(Item item, const PutOptions& opts);
  // A read snapshot reused across Adds (renewed when older than a few ms: one reader slot
  // and no allocation per Add).
  Result<Txn*> Snapshot(bool fresh);
  // The index records of all `items` when nothing needs writing (see Commit), else nullopt.
  Result<std::optional<std::vector<ArtifactRecord>>> AllKnown(const std::vector<Item>& items);
  std::shared_ptr<const StoreCore> core_;
  std::vector<Item> items_;
  Status DropPromotedCopies(const std::vector<Item>& items,
                            const std::vector<std::string>& leftovers);
  std::unique_ptr<Txn> read_;
  std::chrono::steady_clock::time_point read_at_{};
};

}  // namespace recomp::store
