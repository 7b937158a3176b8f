// BlobAccess: how a client command reads and writes blobs: the store directory on the
// coordinator's machine, or the coordinator's blob service from anywhere else (only --api, or
// an endpoints file, given). Single-threaded CLI code.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "base/digest.h"
#include "base/status.h"
#include "cli/client.h"
#include "messages/artifact_record.h"
#include "store/store_types.h"

namespace recomp::store {
class ArtifactStore;
}

namespace recomp::cli {

class BlobAccess {
 public:
  virtual ~BlobAccess() = default;
  // Stores a file / bytes; returns its ref.
  virtual Result<std::string> PutFile(const std::string& path, const store::PutOptions& o) = 0;
  virtual Result<std::string> PutBytes(std::string_view bytes, const store::PutOptions& o) = 0;
  // Everything readable from `fd` (stdin); `name` is used in errors.
  virtual Result<std::string> PutFd(int fd, const store::PutOptions& o,
                                    const std::string& name) = 0;
  virtual Result<bool> Contains(const Digest& d) = 0;
  // The record's size, class and media type (remote: created_at and producer are empty).
  virtual Result<ArtifactRecord> Stat(const Digest& d) = 0;
  // The verified bytes; ResourceExhausted past `max_bytes`.
  virtual Result<std::string> GetBytes(const Digest& d, size_t max_bytes) = 0;
  // Writes the verified bytes to `path` atomically (a temp file beside it, renamed).
  virtual Status GetToFile(const Digest& d, const std::string& path) = 0;
  // Writes the verified bytes to `fd` (stdout): nothing is written on a digest mismatch.
  virtual Status GetToFd(const Digest& d, int fd) = 0;
  // Every record (of one class when given) in digest order, a page at a time; stops at the
  // first error `fn` returns.
  virtual Status ForEachRecord(std::optional<ArtifactClass> cls,
                               const std::function<Status(const ArtifactRecord&)>& fn) = 0;
  // "store DIR" or "blob service EP", for messages.
  virtual std::string Where() const = 0;
};

// Access through an open store.
std::unique_ptr<BlobAccess> LocalBlobAccess(std::unique_ptr<store::ArtifactStore> s);

// --store DIR: that store. Otherwise the store under the data dir when it exists and no --api
// was given (the coordinator's machine); else the blob service the coordinator names (its
// ENDPOINTS reply via `conn`, or endpoints.json).
Result<std::unique_ptr<BlobAccess>> OpenBlobAccess(const ClientFlags& flags,
                                                   const std::string& store_flag,
                                                   const Connection* conn);

}  // namespace recomp::cli
