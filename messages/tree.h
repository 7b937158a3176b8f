// Tree v1: the listing of a directory output (REAPI's Tree, flattened): one entry per regular
// file under the directory, by path relative to it, with its executable bit, size and digest.
// Stored as one blob (media type kTreeMediaType) whose ref stands for the whole directory in
// results, events, job inputs and pins; its entries are stored with it. Canonical JSON
// (docs/store.md, "Trees"), so equal directories give equal refs. Pure values; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/digest.h"
#include "base/status.h"

namespace recomp {

inline constexpr std::string_view kTreeMediaType = "application/vnd.recomp.tree+json";
inline constexpr size_t kMaxTreeEntries = 1000000;
inline constexpr size_t kMaxTreeBytes = size_t{256} << 20;  // of its encoding

struct TreeEntry {
  std::string path;  // relative to the directory: ValidateRelativePath, no trailing '/'
  bool executable = false;
  uint64_t size = 0;
  Digest digest;
  bool operator==(const TreeEntry&) const = default;
};

struct Tree {
  static constexpr int kSchemaVersion = 1;
  std::vector<TreeEntry> entries;  // sorted by path bytes, unique, no path a prefix dir of another
};

// Canonical JSON: keys in a fixed order, entries sorted by path, one line and a newline.
// Requires (asserts) entries that ValidateTree accepts once sorted.
std::string EncodeTree(Tree tree);
// Strict: the exact v1 shape, at most kMaxTreeEntries entries, each path valid, sorted and
// unique, no file also a directory of another entry. InvalidArgument naming the entry.
Result<Tree> DecodeTree(std::string_view json_text);
// The checks DecodeTree applies to its entries.
Status ValidateTree(const Tree& tree);

// A directory output or input is named by a path with a trailing '/' ("out/"); its ref is a
// tree's. A path without one names a file.
inline bool IsTreePath(std::string_view path) {
  return !path.empty() && path.back() == '/';
}

}  // namespace recomp
