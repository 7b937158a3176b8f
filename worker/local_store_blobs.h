// LocalStoreBlobs: BlobSource + BlobSink over an ArtifactStore on the same machine (the
// worker's store directory is the coordinator's, or a shared one). Materialize hard-links (or
// copies) the verified blob; PutFiles stages every file into ONE PutBatch commit.
// Thread-safe: ArtifactStore is, and each PutFiles uses its own batch.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "store/artifact_store.h"
#include "worker/blob_source.h"

namespace recomp::worker {

class LocalStoreBlobs : public BlobSource, public BlobSink {
 public:
  // `store` must outlive this adapter.
  explicit LocalStoreBlobs(store::ArtifactStore& store) : store_(store) {}

  // An executable file is a verified copy (mode 0555): the store's own copy is 0444 and a hard
  // link shares its mode.
  Status Materialize(const Digest& digest, const std::string& dest_path, bool executable) override;
  // Stored as generated blobs with `producer` and OutputMediaType.
  Result<std::vector<std::string>> PutFiles(const std::vector<std::string>& paths,
                                            const std::string& producer) override;

 private:
  store::ArtifactStore& store_;
};

}  // namespace recomp::worker
