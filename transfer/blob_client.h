// BlobClient: one DEALER connection to a blob service and the transfers over it: find-missing,
// stat, batch gets of small blobs, downloads of large ones as pipelined ranged reads (a window
// of chunks in flight, the ZeroMQ Guide's credit-based file transfer), and uploads that send
// only what the service lacks and land in one commit. Every download is hashed as it arrives
// and refused on a digest mismatch. A request unanswered for `timeout` gets a new socket and is
// resumed from the bytes already received, `retries` times.
// Thread-compatible: one thread uses a client (it owns the socket); make one per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "base/digest.h"
#include "base/status.h"
#include "messages/blob_protocol.h"
#include "net/socket.h"

namespace recomp::transfer {

struct BlobClientOptions {
  std::string endpoint;  // the blob service, e.g. tcp://build-server:7424
  std::string worker;    // the worker id to ask as (external blobs); "" for clients
  size_t chunk_bytes = blobproto::kDefaultChunk;
  uint32_t window = blobproto::kDefaultWindow;
  std::chrono::milliseconds timeout{30000};
  uint32_t retries = 3;
  net::CurveClient curve;  // the pool's CURVE server key and our keypair; unset = plain
};

// What a client moved (for tests, benches and logs).
struct TransferCounters {
  uint64_t bytes_down = 0;
  uint64_t bytes_up = 0;
  uint64_t round_trips = 0;  // request/reply exchanges (a window of chunks counts each chunk)
};

// A file to upload and how to record it.
struct UploadFile {
  std::string path;
  ArtifactClass artifact_class = ArtifactClass::kGenerated;
  std::string media_type = "application/octet-stream";
  std::string producer;
};

class BlobClient {
 public:
  // Connects (asynchronously: a missing service shows as Unavailable on the first request).
  static Result<std::unique_ptr<BlobClient>> Create(zmq::context_t& ctx, BlobClientOptions opt);
  ~BlobClient();

  // The digests the service's store does not have (batches of blobproto::kMaxDigests).
  Result<std::vector<Digest>> FindMissing(const std::vector<Digest>& digests);
  // Size, class and media type of each digest (state kMissing when absent).
  Result<std::vector<blobproto::BlobInfo>> Stat(const std::vector<Digest>& digests);
  // Fetches small blobs in as few GETs as the 4 MiB reply cap allows, hashing each: `on_blob`
  // gets every present blob's verified bytes. Returns the final state of every digest (in
  // order): kPresent (delivered), kMissing, kDenied, or kTooLarge (use Download). Corruption
  // when bytes do not match their digest (none of that blob is delivered).
  Result<std::vector<blobproto::BlobInfo>> GetSmall(
      const std::vector<Digest>& digests,
      const std::function<Status(const blobproto::BlobInfo&, std::string_view)>& on_blob);
  // Streams the blob into `fd` (written sequentially from its current position) and checks its
  // digest at the end: Corruption on a mismatch (the caller discards what was written);
  // NotFound; FailedPrecondition for an external blob not granted. Returns its info.
  Result<blobproto::BlobInfo> Download(const Digest& digest, int fd, const std::string& name);
  // Uploads `files` (each hashed first; FIND_MISSING, then only what the service lacks is
  // sent: small ones with the PUT, larger ones in pipelined CHUNKs) and commits them in ONE
  // store batch. Returns one ref per file, in order.
  Result<std::vector<std::string>> Upload(const std::vector<UploadFile>& files);
  // One page of the store's records (LIST); page.next names where the next one starts.
  Result<blobproto::ListPage> List(const blobproto::ListRequest& q);
  // The service's counters (STATS), as JSON text.
  Result<std::string> ServiceStats();

  const TransferCounters& counters() const { return counters_; }

 private:
  struct Impl;
  explicit BlobClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  TransferCounters counters_;
};

}  // namespace recomp::transfer
