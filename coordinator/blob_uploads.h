// BlobUploads: the uploads in progress at the blob service (docs/blob-protocol.md): what each
// peer announced, the bytes received so far (small blobs in memory, others in a staged file
// hashed as it grows), and the bounds: uploads per peer, bytes reserved for staging across all
// peers (counted at the announced size, before any byte arrives), and expiry of uploads left
// idle. Commit lands a peer's finished uploads in ONE store batch.
// Thread-compatible: owned by the blob service's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "messages/blob_protocol.h"
#include "store/artifact_store.h"

namespace recomp::coordinator {

struct UploadLimits {
  uint64_t max_staging_bytes = uint64_t{16} << 30;  // announced bytes of all open uploads
  uint32_t max_uploads_per_peer = 100000;           // = blobproto::kMaxCommitIds: one job's outputs
  // Inline (small) uploads are held in memory up to this many bytes over all peers, and staged
  // in files past it.
  uint64_t max_inline_memory = uint64_t{256} << 20;
  std::chrono::milliseconds idle_timeout{60000};  // an upload untouched this long is dropped
};

class BlobUploads {
 public:
  using Clock = std::chrono::steady_clock;
  // `store` must outlive this table.
  BlobUploads(store::ArtifactStore& store, UploadLimits limits) : store_(store), limits_(limits) {}

  // Answers one PUT of `peer`: "have" for blobs the store has; for the others an upload
  // (resuming this peer's open upload of the same digest), "staged" when its inline bytes
  // (taken from `data` in item order) arrived whole and hash to the digest. All or nothing:
  // InvalidArgument (inline bytes that do not add up, a digest mismatch), ResourceExhausted
  // (a bound above) leave no new upload behind.
  Result<std::vector<blobproto::PutAnswer>> Put(std::string_view peer,
                                                const std::vector<blobproto::PutItem>& items,
                                                std::string_view data, Clock::time_point now);
  // Appends one CHUNK. The offset must be what was received so far; the last byte checks size
  // and digest, and a mismatch drops the upload (Corruption). NotFound for an upload that is
  // not this peer's (or expired).
  Result<blobproto::ChunkAck> Chunk(std::string_view peer, const blobproto::ChunkHeader& h,
                                    std::string_view bytes, Clock::time_point now);
  // Stores the finished uploads `ids` of `peer` in one durable batch and forgets them; returns
  // their refs in order. FailedPrecondition (naming it) for an upload still missing bytes.
  Result<std::vector<std::string>> Commit(std::string_view peer, const std::vector<uint64_t>& ids);
  // Drops uploads of `peer` (ids not found are ignored).
  void Abort(std::string_view peer, const std::vector<uint64_t>& ids);
  // Drops uploads idle for longer than the timeout; returns how many.
  size_t Expire(Clock::time_point now);

  size_t open_uploads() const { return uploads_.size(); }
  uint64_t reserved_bytes() const { return reserved_; }
  uint64_t received_bytes() const { return received_total_; }

 private:
  struct Upload {
    std::string peer;
    blobproto::PutItem item;
    std::string bytes;  // inline blobs held in memory
    bool in_memory = false;
    std::optional<store::StagedFile> staged;  // the others
    uint64_t received = 0;
    bool complete = false;
    Clock::time_point touched;
  };
  Result<uint64_t> Open(std::string_view peer, const blobproto::PutItem& item,
                        Clock::time_point now);
  Status Finish(uint64_t id, Upload& u);
  void Drop(uint64_t id);
  Upload* Find(std::string_view peer, uint64_t id);

  store::ArtifactStore& store_;
  UploadLimits limits_;
  std::map<uint64_t, Upload> uploads_;
  // Each peer's open uploads by digest: the per-peer bound and the resume lookup.
  std::map<std::string, std::map<Digest, uint64_t>, std::less<>> by_peer_;
  uint64_t reserved_ = 0;
  uint64_t inline_memory_ = 0;
  uint64_t received_total_ = 0;
  uint64_t next_id_ = 1;
};

}  // namespace recomp::coordinator
