// BlobReader: ranged reads of one stored blob, for a service that sends a blob in chunks (the
// blob service). It holds the blob file open, so a gc that runs meanwhile cannot take the
// bytes away from under a transfer. Reads are NOT verified: the receiver of a whole blob checks
// its digest (a corrupt store copy is caught there, and by `recomp artifact verify`).
// Thread-compatible: one thread reads at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/posix_file.h"
#include "base/status.h"
#include "messages/artifact_record.h"

namespace recomp::store {

class BlobReader {
 public:
  const ArtifactRecord& record() const { return record_; }
  uint64_t size() const { return record_.size; }
  // Appends to `out` the bytes [offset, offset + n) clipped to the blob's size (none when
  // offset >= size). IOError naming the file; Corruption when the file is shorter than its
  // record says.
  Status ReadAt(uint64_t offset, size_t n, std::string* out) const;

 private:
  friend class ArtifactStore;
  ArtifactRecord record_;
  std::optional<std::string> inline_bytes_;
  Fd fd_;
  std::string path_;
};

}  // namespace recomp::store
