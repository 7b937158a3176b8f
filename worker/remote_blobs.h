// RemoteBlobs: BlobSource + BlobSink for a worker with no store directory: inputs come from the
// coordinator's blob service through a BlobCache (one download per digest, hard links into the
// sandbox; small blobs prefetched in batches), outputs are uploaded through it in one commit
// and copied into the cache for later jobs on this worker. External blobs are downloaded for
// the one job that names them and never cached.
// Thread-safe: job threads share it; each call borrows a BlobClient (its own socket) from a pool.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "base/mutex.h"
#include "transfer/blob_client.h"
#include "worker/blob_cache.h"
#include "worker/blob_source.h"

namespace recomp::worker {

class RemoteBlobs : public BlobSource, public BlobSink {
 public:
  // `ctx` and `cache` must outlive this. `client` names the service and the worker id.
  RemoteBlobs(zmq::context_t& ctx, transfer::BlobClientOptions client, BlobCache& cache)
      : ctx_(ctx), cache_(cache), client_opt_(std::move(client)) {}

  Status Materialize(const Digest& digest, const std::string& dest_path, bool executable) override;
  // Fetches the small blobs among `digests` that are not cached in GETs of up to 4 MiB.
  void Prefetch(const std::vector<Digest>& digests) override;
  Result<std::vector<std::string>> PutFiles(const std::vector<std::string>& paths,
                                            const std::string& producer) override;

  // Points later transfers at `endpoint` (the broker's WELCOME may name it after start-up).
  void SetEndpoint(const std::string& endpoint) EXCLUDES(mu_);

  // Bytes moved so far by the clients not in use right now.
  transfer::TransferCounters counters() const;

 private:
  // A client from the pool (a new one when all are in use), returned on destruction.
  class Lease;
  Result<std::unique_ptr<transfer::BlobClient>> Borrow();
  void Return(std::unique_ptr<transfer::BlobClient> c);

  zmq::context_t& ctx_;
  BlobCache& cache_;
  mutable Mutex mu_;
  transfer::BlobClientOptions client_opt_ GUARDED_BY(mu_);
  std::vector<std::unique_ptr<transfer::BlobClient>> idle_ GUARDED_BY(mu_);
};

}  // namespace recomp::worker
