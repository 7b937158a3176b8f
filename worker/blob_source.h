// BlobSource / BlobSink: the seam through which a worker reads inputs from and writes outputs to
// the artifact store. A local worker backs them with store::ArtifactStore; a remote worker with a
// ZeroMQ transfer. Implementations document their own thread-safety; JobSandbox calls them from
// one thread.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "messages/artifact_ref.h"

namespace recomp::worker {

class BlobSource {
 public:
  virtual ~BlobSource() = default;

  // Creates `dest_path` (absolute; its parent exists; it does not exist yet) as a regular file
  // holding exactly the blob's bytes, with no write permission bits, and with execute bits
  // when `executable` (a tree entry that had them). It may be a hard link to the store's
  // immutable copy, so the caller must never write or chmod it beyond removing write bits.
  // NotFound when the store has no such blob; Corruption when the bytes do not match the
  // digest; other codes for I/O or transfer failures. On error nothing is left at dest_path.
  virtual Status Materialize(const Digest& digest, const std::string& dest_path,
                             bool executable) = 0;
  // Says which blobs the next Materialize calls will ask for, so a remote source can fetch the
  // small ones in a few round trips. Optional: errors are left to Materialize.
  virtual void Prefetch(const std::vector<Digest>& digests) { (void)digests; }
};

class BlobSink {
 public:
  virtual ~BlobSink() = default;

  // Stores every file in `paths` (absolute paths to regular files that do not change during
  // the call) as an immutable blob, attributing them to `producer` (e.g. "job <id> attempt
  // <n>"), and makes them durable in ONE commit: on OK all are stored, on error the caller
  // assumes none is referenced. Returns one "artifact://<hex>" ref per path, in the same order
  // (equal contents give equal refs). An empty `paths` returns an empty vector.
  virtual Result<std::vector<std::string>> PutFiles(const std::vector<std::string>& paths,
                                                    const std::string& producer) = 0;
};

// The media type a stored output gets (the BlobSink seam carries none, so it follows from
// where JobSandbox puts the file, next to its work/ dir): "text/plain" for a job log (job.log,
// job.log.tail), kTreeMediaType for a tree (*.tree.json), "application/octet-stream" otherwise.
std::string OutputMediaType(const std::string& path);

}  // namespace recomp::worker
