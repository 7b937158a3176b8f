// LocalStoreBlobs (see local_store_blobs.h).
#include "worker/local_store_blobs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "base/posix_file.h"
#include "messages/tree.h"

namespace recomp::worker {

Status LocalStoreBlobs::Materialize(const Digest& digest, const std::string& dest_path,
                                    bool executable) {
  // No Contains() first: the store looks the blob up itself (NotFound when not indexed;
  // Corruption when its file is missing or its bytes do not match).
  Status st = executable ? store_.GetToFile(digest, dest_path)
                         : store_.LinkOrCopyTo(digest, dest_path).status();
  if (st.ok() && executable && ::chmod(dest_path.c_str(), 0555) != 0) {
    st = ErrnoStatus("chmod 0555", dest_path, errno);
  }
  if (!st.ok()) {
    ::unlink(dest_path.c_str());  // the contract: nothing is left at dest_path on error
    return st.WithContext("materialising " + digest.Ref());
  }
  return Status::Ok();
}

Result<std::vector<std::string>> LocalStoreBlobs::PutFiles(const std::vector<std::string>& paths,
                                                           const std::string& producer) {
  std::vector<std::string> refs;
  if (paths.empty()) return refs;
  store::PutBatch batch = store_.NewBatch();
  for (const std::string& p : paths) {
    store::PutOptions opts;
    opts.artifact_class = ArtifactClass::kGenerated;
    opts.media_type = OutputMediaType(p);
    opts.producer = producer;
    Result<ArtifactRecord> rec = batch.AddFile(p, opts);
    if (!rec.ok()) return rec.status().WithContext("storing " + p);
  }
  RECOMP_ASSIGN_OR_RETURN(std::vector<ArtifactRecord> records, batch.CommitRecords());
  if (records.size() != paths.size()) {
    return Status::Internal("store committed " + std::to_string(records.size()) + " blobs for " +
                            std::to_string(paths.size()) + " files");
  }
  refs.reserve(records.size());
  for (const ArtifactRecord& r : records) refs.push_back(r.ref);
  return refs;
}

}  // namespace recomp::worker
