// RemoteBlobs (see remote_blobs.h).
#include "worker/remote_blobs.h"

#include "base/posix_file.h"
#include "messages/artifact_ref.h"

namespace recomp::worker {

class RemoteBlobs::Lease {
 public:
  Lease(RemoteBlobs& owner, std::unique_ptr<transfer::BlobClient> c)
      : owner_(owner), client_(std::move(c)) {}
  ~Lease() { owner_.Return(std::move(client_)); }
  transfer::BlobClient* operator->() { return client_.get(); }

 private:
  RemoteBlobs& owner_;
  std::unique_ptr<transfer::BlobClient> client_;
};

Result<std::unique_ptr<transfer::BlobClient>> RemoteBlobs::Borrow() {
  transfer::BlobClientOptions opt;
  {
    MutexLock l(&mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    opt = client_opt_;
  }
  if (opt.endpoint.empty()) {
    return Status::Unavailable(
        "no blob service endpoint: the broker has not named one (give "
        "the worker --blobs ENDPOINT)");
  }
  return transfer::BlobClient::Create(ctx_, opt);
}

void RemoteBlobs::SetEndpoint(const std::string& endpoint) {
  MutexLock l(&mu_);
  if (client_opt_.endpoint == endpoint) return;
  client_opt_.endpoint = endpoint;
  idle_.clear();  // clients of the old endpoint
}

void RemoteBlobs::Return(std::unique_ptr<transfer::BlobClient> c) {
  if (!c) return;
  MutexLock l(&mu_);
  idle_.push_back(std::move(c));
}

transfer::TransferCounters RemoteBlobs::counters() const {
  MutexLock l(&mu_);
  transfer::TransferCounters sum;
  for (const auto& c : idle_) {
    sum.bytes_down += c->counters().bytes_down;
    sum.bytes_up += c->counters().bytes_up;
    sum.round_trips += c->counters().round_trips;
  }
  return sum;
}

Status RemoteBlobs::Materialize(const Digest& digest, const std::string& dest_path,
                                bool executable) {
  auto claim = cache_.Acquire(digest, [&](const std::string& tmp) -> Result<bool> {
    RECOMP_ASSIGN_OR_RETURN(auto c, Borrow());
    Lease client(*this, std::move(c));
    RECOMP_ASSIGN_OR_RETURN(Fd fd, CreateExclusive(tmp, 0600));
    RECOMP_ASSIGN_OR_RETURN(blobproto::BlobInfo info, client->Download(digest, fd.get(), tmp));
    RECOMP_RETURN_IF_ERROR(fd.Close(tmp));
    return info.artifact_class != ArtifactClass::kExternal;  // user input: never kept
  });
  if (!claim.ok()) return claim.status().WithContext("fetching " + digest.Ref());
  return BlobCache::Place(*claim, dest_path, executable);
}

void RemoteBlobs::Prefetch(const std::vector<Digest>& digests) {
  std::vector<Digest> want;
  for (const Digest& d : digests) {
    if (!cache_.Contains(d)) want.push_back(d);
  }
  if (want.size() < 2) return;  // one blob: Materialize's download is as quick
  auto c = Borrow();
  if (!c.ok()) return;
  Lease client(*this, std::move(c).value());
  // Errors are left to Materialize, which fetches whatever is still missing.
  (void)client->GetSmall(want, [&](const blobproto::BlobInfo& info, std::string_view bytes) {
    if (info.artifact_class == ArtifactClass::kExternal) return Status::Ok();
    return cache_.AddBytes(info.digest, bytes);
  });
}

Result<std::vector<std::string>> RemoteBlobs::PutFiles(const std::vector<std::string>& paths,
                                                       const std::string& producer) {
  if (paths.empty()) return std::vector<std::string>{};
  std::vector<transfer::UploadFile> files;
  files.reserve(paths.size());
  for (const std::string& p : paths) {
    files.push_back({p, ArtifactClass::kGenerated, OutputMediaType(p), producer});
  }
  RECOMP_ASSIGN_OR_RETURN(auto c, Borrow());
  Lease client(*this, std::move(c));
  RECOMP_ASSIGN_OR_RETURN(std::vector<std::string> refs, client->Upload(files));
  for (size_t i = 0; i < refs.size(); ++i) {
    // A later job on this worker reads it from the cache; a failed copy only costs a download.
    (void)cache_.AddCopy(ParseArtifactRef(refs[i]).value(), paths[i]);
  }
  return refs;
}

}  // namespace recomp::worker
