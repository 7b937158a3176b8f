// Layout: where a store keeps things under its root directory (format "recomp-store 2"):
//   FORMAT                     "recomp-store 2\n"; Open refuses other formats
//   index/                     LMDB environment (data.mdb, lock.mdb): see catalog.h
//   blobs/generated/<hh>/<hex> generated blobs, read-only (0400); <hh> = first 2 hex digits
//   blobs/external/<hh>/<hex>  external blobs (user inputs), kept apart, never exported
//   tmp/                       temp files of in-flight puts, each flock()ed by its writer
// Immutable after Open; thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "messages/artifact_record.h"
#include "messages/artifact_ref.h"

namespace recomp::store {

inline constexpr std::string_view kFormatLine = "recomp-store 2";

class Layout {
 public:
  // Checks (or, with `create`, creates) the layout under `root`. NotFound when `root` has no
  // store and `create` is false; FailedPrecondition for an unknown FORMAT.
  static Result<Layout> Open(const std::string& root, bool create);

  const std::string& root() const { return root_; }
  std::string IndexDir() const { return root_ + "/index"; }
  std::string TmpDir() const { return root_ + "/tmp"; }
  std::string ClassDir(ArtifactClass c) const;
  std::string FanoutDir(ArtifactClass c, const Digest& d) const;
  std::string BlobPath(ArtifactClass c, const Digest& d) const;
  // A fresh temp file name in tmp/ (not created).
  std::string NewTempPath(std::string_view kind) const;

  // Creates the fan-out directory of `d` if needed (fsyncing its parent when created).
  Status EnsureFanoutDir(ArtifactClass c, const Digest& d) const;
  // Visits every blob file of class `c` whose name is a digest (other names are skipped).
  Status ForEachBlobFile(
      ArtifactClass c,
      const std::function<Status(const Digest&, const std::string& path)>& fn) const;
  // Removes temp files no live writer holds (flock) that are at least `min_age` old.
  // Returns the names removed (or that would be, with `dry_run`).
  Result<std::vector<std::string>> CleanStaleTemps(std::chrono::seconds min_age,
                                                   bool dry_run) const;

 private:
  explicit Layout(std::string root) : root_(std::move(root)) {}
  Status Create() const;
  Status CheckFormat() const;
  std::string root_;
};

}  // namespace recomp::store
