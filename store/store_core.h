// StoreCore: the private state shared by the store's components (layout, index, options,
// logger), and the read side: locating a blob and streaming its bytes verified.
// Internal header (not part of the API). Thread-safe: all members are immutable after Open.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/log.h"
#include "base/posix_file.h"
#include "store/catalog.h"
#include "store/layout.h"
#include "store/store_types.h"

namespace recomp::store {

// The "store" logger (stderr unless the host registered one named "store" first).
// Logs refs, sizes, paths and counts; never blob content.
inline const PackageLogger StoreLogger("store");

struct StoreCore {
  Layout layout;
  Catalog catalog;
  StoreOptions options;
  spdlog::logger* log;  // StoreLogger()
};

// Where the bytes of one indexed blob are.
struct BlobLocation {
  Digest digest;
  ArtifactRecord record;
  std::optional<std::string> inline_bytes;  // set for inline blobs
  std::string path;                         // the blob file otherwise
};

// NotFound (naming the ref and the store) when `d` is not indexed; Corruption when its
// index record is unreadable.
Result<BlobLocation> Locate(const StoreCore& core, const Digest& d);
// Opens the blob file of `loc` (following a concurrent promotion to external). A missing
// file is Corruption ("missing"), unless gc removed the record meanwhile (NotFound).
Result<Fd> OpenBlob(const StoreCore& core, BlobLocation* loc);
// Reads `src` to its end with bounded memory, writing to `dst_fd` unless it is -1, and checks
// size and digest against `loc`. Corruption (naming ref and path) on any mismatch.
Status StreamVerified(const BlobLocation& loc, int src_fd, int dst_fd, const std::string& dst_name);
// The whole blob `d`, verified; ResourceExhausted when it has more than `max_bytes`.
Result<std::string> ReadBytes(const StoreCore& core, const Digest& d, size_t max_bytes);
// Checks the inline bytes of `loc` against its digest and size.
Status CheckInline(const BlobLocation& loc);
// Whether the blob of `rec` is present as of `txn` (inline entry, or a regular file of the
// recorded size at its class's path).
Result<bool> BlobPresent(const StoreCore& core, const Txn& txn, const Digest& d,
                         const ArtifactRecord& rec);

}  // namespace recomp::store
