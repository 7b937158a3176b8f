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

  Status Materialize(const Digest& digest, const std::string& dest_path) override;
  // Stored as generated blobs with `producer`. Media type: "text/plain" for a job log (a file
  // named job.log or job.log.tail directly in a JobSandbox dir, i.e. next to its work/ dir: the
  // BlobSink seam carries no media type), "application/octet-stream" otherwise.
  Result<std::vector<std::string>> PutFiles(const std::vector<std::string>& paths,
                                            const std::string& producer) override;

  static std::string MediaTypeFor(const std::string& path);

 private:
  store::ArtifactStore& store_;
};

}  // namespace recomp::worker
