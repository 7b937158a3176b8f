// Tree v1 encoding (see tree.h).
#include "messages/tree.h"

#include <algorithm>
#include <cassert>

#include <nlohmann/json.hpp>

#include "messages/stage_job.h"

namespace recomp {
namespace {

Status BadEntry(size_t i, const std::string& why) {
  return Status::InvalidArgument("tree: entries[" + std::to_string(i) + "]: " + why);
}

}  // namespace

Status ValidateTree(const Tree& tree) {
  if (tree.entries.size() > kMaxTreeEntries) {
    return Status::ResourceExhausted("tree: " + std::to_string(tree.entries.size()) +
                                     " entries, more than " + std::to_string(kMaxTreeEntries));
  }
  for (size_t i = 0; i < tree.entries.size(); ++i) {
    const std::string& p = tree.entries[i].path;
    RECOMP_RETURN_IF_ERROR(ValidateRelativePath(
        p, "tree: entries[" + std::to_string(i) + "].path '" + p.substr(0, 128) + "'", false));
    if (i == 0) continue;
    const std::string& prev = tree.entries[i - 1].path;
    if (!(prev < p)) return BadEntry(i, "paths are not sorted and unique at '" + p + "'");
    if (p.size() > prev.size() && p.compare(0, prev.size(), prev) == 0 && p[prev.size()] == '/') {
      return BadEntry(i, "'" + prev + "' is a file and a directory");
    }
  }
  return Status::Ok();
}

std::string EncodeTree(Tree tree) {
  std::sort(tree.entries.begin(), tree.entries.end(),
            [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
  assert(ValidateTree(tree).ok());
  // Written by hand so the key order is fixed (schema_version, entries; path, executable,
  // size, digest) and the bytes are canonical.
  std::string out = "{\"schema_version\":1,\"entries\":[";
  for (size_t i = 0; i < tree.entries.size(); ++i) {
    const TreeEntry& e = tree.entries[i];
    if (i > 0) out += ',';
    out += "{\"path\":" + nlohmann::json(e.path).dump() +
           ",\"executable\":" + (e.executable ? "true" : "false") +
           ",\"size\":" + std::to_string(e.size) + ",\"digest\":\"" + e.digest.Hex() + "\"}";
  }
  return out + "]}\n";
}

Result<Tree> DecodeTree(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("tree: not a JSON object");
  if (!j.contains("schema_version") || j["schema_version"] != Tree::kSchemaVersion) {
    return Status::InvalidArgument("tree: schema_version must be 1");
  }
  if (!j.contains("entries") || !j["entries"].is_array()) {
    return Status::InvalidArgument("tree: entries must be an array");
  }
  if (j["entries"].size() > kMaxTreeEntries) {
    return Status::ResourceExhausted("tree: more than " + std::to_string(kMaxTreeEntries) +
                                     " entries");
  }
  Tree tree;
  tree.entries.reserve(j["entries"].size());
  for (size_t i = 0; i < j["entries"].size(); ++i) {
    const nlohmann::json& e = j["entries"][i];
    if (!e.is_object() || !e.contains("path") || !e["path"].is_string() ||
        !e.contains("executable") || !e["executable"].is_boolean() || !e.contains("size") ||
        !e["size"].is_number_unsigned() || !e.contains("digest") || !e["digest"].is_string()) {
      return BadEntry(i, "needs path (string), executable (boolean), size (unsigned), digest");
    }
    TreeEntry entry;
    entry.path = e["path"].get<std::string>();
    entry.executable = e["executable"].get<bool>();
    entry.size = e["size"].get<uint64_t>();
    auto d = ParseDigestHex(e["digest"].get<std::string>());
    if (!d.ok()) return BadEntry(i, d.status().message());
    entry.digest = *d;
    tree.entries.push_back(std::move(entry));
  }
  RECOMP_RETURN_IF_ERROR(ValidateTree(tree));
  return tree;
}

}  // namespace recomp
