// Helpers shared by the worker tests: a temporary directory removed with the worker's own
// RemoveTree (sandboxes hold read-only directories), and the "no sandbox left" check.
#pragma once

#include <stdlib.h>

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "base/blake2b.h"
#include "messages/tree.h"
#include "worker/blob_source.h"
#include "worker/job_sandbox.h"

namespace recomp::worker::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& tag = "worker") {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / ("recomp-" + tag + "-XXXXXX")).string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() { (void)RemoveTree(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Nothing of any sandbox is left under `root`: at most the directory recycler's pool
// (".spare.*") holding empty directories for the next jobs.
inline bool NoSandboxLeft(const std::string& root) {
  namespace fs = std::filesystem;
  if (!fs::exists(root)) return true;
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.path().filename().string().rfind(".spare.", 0) != 0) return false;
    // Spares are empty directories, or trees of them (a recycled sandbox's skeleton).
    for (const auto& spare : fs::recursive_directory_iterator(e.path())) {
      if (!spare.is_directory() || spare.is_symlink()) return false;
    }
  }
  return true;
}

// Writes blobs as fresh files (like a store copy would), left writable on purpose.
class FakeSource : public BlobSource {
 public:
  std::map<Digest, std::string> blobs;
  int calls = 0;
  Status Materialize(const Digest& digest, const std::string& dest, bool executable) override {
    ++calls;
    auto it = blobs.find(digest);
    if (it == blobs.end()) return Status::NotFound("no blob " + digest.Ref());
    int fd =
        ::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, executable ? 0755 : 0644);
    if (fd < 0) return Status::IOError("create " + dest);
    bool ok = ::write(fd, it->second.data(), it->second.size()) ==
              static_cast<ssize_t>(it->second.size());
    ::close(fd);
    return ok ? Status::Ok() : Status::IOError("write " + dest);
  }
};

// Content-addressed in memory: equal bytes give equal refs. Records each commit.
class MemorySink : public BlobSink {
 public:
  std::map<std::string, std::string> blobs;  // ref -> bytes
  std::vector<std::vector<std::string>> commits;
  std::vector<std::string> producers;
  Result<std::vector<std::string>> PutFiles(const std::vector<std::string>& paths,
                                            const std::string& producer) override {
    commits.push_back(paths);
    producers.push_back(producer);
    std::vector<std::string> refs;
    for (const auto& p : paths) {
      std::ifstream in(p, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), {});
      char hex[17];
      std::snprintf(hex, sizeof hex, "%016zx", std::hash<std::string>{}(bytes));
      std::string ref = "artifact://" + std::string(hex) + hex + hex + hex;
      blobs[ref] = bytes;
      refs.push_back(ref);
    }
    return refs;
  }
  std::string Bytes(const std::string& ref) { return blobs.at(ref); }
  // The tree stored under `ref`, each entry as (path, bytes).
  std::vector<std::pair<std::string, std::string>> TreeFiles(const std::string& ref) {
    auto tree = DecodeTree(Bytes(ref));
    REQUIRE_MESSAGE(tree.ok(), tree.status().ToString());
    std::vector<std::pair<std::string, std::string>> out;
    for (const TreeEntry& e : tree->entries) out.emplace_back(e.path, ByDigest(e.digest));
    return out;
  }

 private:
  std::string ByDigest(const Digest& d) {
    for (const auto& [ref, bytes] : blobs) {
      if (Blake2b256::Of(bytes) == d) return bytes;
    }
    FAIL("no stored blob has digest " << d.Hex());
    return "";
  }
};

}  // namespace recomp::worker::testing
