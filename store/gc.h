// Gc: retention-based garbage collection of blobs (generated; external only when asked).
// A blob is kept while any active run pins it, until finished_at + the failed/succeeded
// window of every terminal run pinning it, and until last put + the unpinned window; the
// entries of a tree (messages/tree.h) are kept at least as long as the tree.
// Deletion runs under LMDB's writer lock with everything re-checked, so it is safe against
// concurrent puts (deduplicating or not) and pins from other threads and processes.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "store/store_core.h"

namespace recomp::store {

Result<GcReport> RunGc(const StoreCore& core, const GcPolicy& policy, bool dry_run,
                       bool include_external);

// Exposed for tests: the time until which pins keep `d` (min() when no pin does).
class PinKeeper {
 public:
  Status Load(const Catalog& catalog, const Txn& txn, const GcPolicy& policy, SysTime now);
  SysTime KeepUntil(const Digest& d) const;
  // Keeps `d` at least until `until` (a tree's entries for as long as the tree is kept).
  void Raise(const Digest& d, SysTime until);
  const std::vector<std::string>& expired() const { return expired_; }

 private:
  std::map<Digest, SysTime> keep_;
  std::vector<std::string> expired_;  // terminal pins past their window
};

}  // namespace recomp::store
