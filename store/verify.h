// Verify: re-hashes stored blobs and reports every corrupt, missing or unindexed one.
// Reads only (never repairs); safe to run while other threads/processes put and gc.
#pragma once

#include <optional>

#include "store/store_core.h"

namespace recomp::store {

// Checks every indexed blob (or only `only`: NotFound when it is not indexed) against its
// digest and size, and (for a full run) lists blob files without an index record.
// Unreadable index records are reported as corrupt. Memory is bounded per blob.
Result<VerifyReport> VerifyStore(const StoreCore& core, std::optional<Digest> only);

}  // namespace recomp::store
