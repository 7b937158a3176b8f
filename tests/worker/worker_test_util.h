// Helpers shared by the worker tests: a temporary directory removed with the worker's own
// RemoveTree (sandboxes hold read-only directories), and the "no sandbox left" check.
#pragma once

#include <stdlib.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

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

}  // namespace recomp::worker::testing
