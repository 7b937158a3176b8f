// Helpers for the store's doctest suites: a temp directory removed on destruction, file I/O.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace recomp::store::testing {

class TempDir {
 public:
  TempDir() {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/recomp-store-test-XXXXXX";
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    // blobs are 0400 inside 0700 dirs: removable by the owner.
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Overwrites byte `offset` of a (read-only) file with its complement.
inline void FlipByte(const std::string& path, size_t offset) {
  ::chmod(path.c_str(), 0644);
  std::string b = ReadFile(path);
  b[offset] = static_cast<char>(~b[offset]);
  WriteFile(path, b);
}

inline std::string BlobFile(const std::string& root, const std::string& cls,
                            const std::string& hex) {
  return root + "/blobs/" + cls + "/" + hex.substr(0, 2) + "/" + hex;
}

}  // namespace recomp::store::testing
