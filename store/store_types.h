// Public value types of the artifact store API: options, pin states, gc policy and reports,
// verify reports. Plain values; thread-compatible. See docs/store.md for their meaning.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.h"
#include "base/digest.h"
#include "base/status.h"
#include "messages/artifact_record.h"
#include "messages/artifact_ref.h"

namespace recomp::store {

struct StoreOptions {
  // Create the layout when `root` has none; otherwise Open fails with NotFound.
  bool create_if_missing = true;
  // Generated blobs of at most this many bytes live inside the index (one fsync per commit
  // instead of three); 0 stores every blob as a file. External blobs are always files.
  size_t inline_max_bytes = 4096;
  // Durability: when true (default) a put returns only after the blob bytes (fdatasync),
  // their directory entry (fsync) and the index (LMDB commit, fdatasync) are on disk. false
  // skips all three syncs (MDB_NOSYNC): a crash may lose recent puts (never corrupts older
  // ones); for scratch stores and benchmarks only.
  bool durable = true;
  // Virtual size of the LMDB map (the file grows only as used).
  size_t map_size = size_t{256} << 30;
  // Temp files in tmp/ are removed (on Open and by Gc) when no live writer holds their
  // lock AND they are at least this old.
  std::chrono::seconds stale_temp_age = std::chrono::hours(1);
  // A put of bytes already stored records its time (`touched`, the "last put" that gc's
  // unpinned retention counts from) only when the recorded last put is older than this. So a
  // batch whose blobs are all stored and were put recently takes no writer lock and commits
  // nothing; gc may see a last put up to this much too early (keep unpinned retention
  // well above it; the default is 7 days).
  std::chrono::seconds touch_interval = std::chrono::hours(1);
};

// One page of index records (ArtifactStore::ListPage): `next` is the digest to list after for
// the following page, none on the last one.
struct RecordPage {
  std::vector<ArtifactRecord> records;
  std::optional<Digest> next;
};

struct PutOptions {
  ArtifactClass artifact_class = ArtifactClass::kGenerated;
  std::string media_type = "application/octet-stream";
  std::string producer;
};

// A run's pin: active runs' artifacts are never collected; terminal runs' artifacts are kept
// for a retention window after finished_at.
enum class RunPinState : uint8_t { kActive = 0, kSucceeded = 1, kFailed = 2 };
std::string_view ToString(RunPinState s);
Result<RunPinState> ParseRunPinState(std::string_view s);

struct RunPin {
  std::string run_id;
  RunPinState state = RunPinState::kActive;
  std::vector<Digest> refs;
  std::optional<SysTime> finished_at;  // set for terminal states
  SysTime updated_at;
};

struct GcPolicy {
  std::chrono::seconds failed_retention = std::chrono::days(90);
  std::chrono::seconds succeeded_retention = std::chrono::days(30);
  // Age (since the last put of the same bytes) after which an unpinned blob is collectable.
  std::chrono::seconds unpinned_retention = std::chrono::days(7);
  // "Now" for the retention arithmetic; the system clock when unset (tests set it).
  std::optional<SysTime> now;
};

struct GcReport {
  bool dry_run = false;
  std::vector<ArtifactRecord> removed;  // blobs removed (or that would be, on a dry run)
  uint64_t removed_bytes = 0;
  uint64_t kept = 0;                         // blobs examined and kept
  std::vector<std::string> expired_pins;     // run ids whose pins no longer protect anything
  std::vector<std::string> removed_orphans;  // refs of unindexed blob files removed
  std::vector<std::string> removed_temps;    // stale temp file names removed
};

enum class ProblemKind : uint8_t { kCorrupt = 0, kMissing = 1, kUnindexed = 2 };
std::string_view ToString(ProblemKind k);

struct VerifyProblem {
  std::string ref;  // artifact://<hex>, or a description of an unreadable index key
  ProblemKind kind = ProblemKind::kCorrupt;
  std::string detail;  // what was found (never blob content)
};

struct VerifyReport {
  uint64_t checked = 0;  // blobs re-hashed
  uint64_t bytes = 0;    // bytes re-hashed
  std::vector<VerifyProblem> problems;
  // True when nothing is corrupt or missing. Unindexed blob files (left by a writer killed
  // between publishing a blob and committing its index entry) are reported but harmless:
  // the next put of the same bytes adopts them and gc removes them.
  bool ok() const;
};

}  // namespace recomp::store
