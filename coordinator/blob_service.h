// BlobService: the blob endpoint (docs/blob-protocol.md) through which workers and clients on
// other machines find, read and upload blobs of the coordinator's artifact store. It runs on a
// thread of its own that owns its ROUTER socket, so a gigabyte transfer never stalls the API or
// the broker. External blobs (user inputs) are served only to a worker that holds a job naming
// them (`may_read_external`, which the broker answers).
// Thread-safety: Run() on one thread; Stop() and stats() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "base/digest.h"
#include "base/status.h"
#include "coordinator/blob_uploads.h"
#include "messages/access.h"
#include "store/artifact_store.h"

namespace recomp::coordinator {

struct BlobServiceOptions {
  std::string endpoint = "tcp://127.0.0.1:7424";
  UploadLimits uploads;
  // Whether worker `worker` holds a job naming `digest` right now. Called from the service's
  // thread; must be thread-safe. Unset: no external blob is served to anyone.
  std::function<bool(const std::string& worker, const Digest& digest)> may_read_external;
  // CURVE (docs/security.md): with `access` set (it must outlive the service), the endpoint is
  // a CURVE server with secret key `curve_secret`, and each request is checked against the key
  // it came with: writes need a submitter or worker key, LIST a reader or submitter key, an
  // external blob a worker key whose worker holds a job naming it.
  std::string curve_secret;
  const AccessControl* access = nullptr;
  // Test hook: flips one byte of every n-th blob payload sent and of every n-th CHUNK received
  // (0 = never), so tests can show that a corrupted transfer is caught by digests.
  uint32_t flip_byte_every = 0;
};

// Counters of what crossed the endpoint (STATS reports them; tests and benches read them).
struct BlobServiceStats {
  std::atomic<uint64_t> bytes_sent{0};      // blob bytes in GET replies and DATA
  std::atomic<uint64_t> bytes_received{0};  // blob bytes in PUT and CHUNK
  std::atomic<uint64_t> blobs_committed{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> refused{0};  // requests answered with ERROR
  std::atomic<uint64_t> uploads_expired{0};
};

class BlobService {
 public:
  // Binds the endpoint (tcp port 0 resolved). `store` must outlive the service.
  static Result<std::unique_ptr<BlobService>> Create(zmq::context_t& ctx,
                                                     BlobServiceOptions options,
                                                     store::ArtifactStore* store);
  ~BlobService();
  // Serves until Stop(); returns OK then, or the transport error that ended it.
  Status Run();
  void Stop() { stop_.store(true); }
  const std::string& endpoint() const { return endpoint_; }
  const BlobServiceStats& stats() const { return stats_; }

 private:
  BlobService() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> stop_{false};
  std::string endpoint_;
  BlobServiceStats stats_;
};

}  // namespace recomp::coordinator
