// StagedFile: one blob being written into the store's tmp/ directory: a new temp file, held
// under an exclusive flock for its whole life (so temp cleaning never removes a live one),
// filled and hashed in a single pass (all at once, or appended piece by piece as an upload
// arrives), then sealed (fdatasync, 0400) and published by a no-replace rename. The temp file
// is removed on destruction unless published.
// Thread-compatible: one thread uses a StagedFile at a time.
#pragma once

#include <string>
#include <string_view>

#include <memory>

#include "base/blake2b.h"
#include "base/posix_file.h"
#include "messages/artifact_ref.h"
#include "store/layout.h"

namespace recomp::store {

inline constexpr size_t kCopyBufferBytes = 1u << 20;

class StagedFile {
 public:
  // Copies everything readable from `src_fd` (file, pipe, socket) into a new temp file while
  // hashing it. Beyond the first kCopyBufferBytes, a second thread hashes each chunk while
  // this one reads the next and writes it (base/stream_hasher.h; a few MiB of buffers in all,
  // reused, whatever the size).
  // `src_name` names the source in errors. With `durable`, writeback starts every 8 MiB
  // (overlapping the disk with hashing, bounding dirty pages); without, the bytes stay in
  // the page cache.
  static Result<StagedFile> CopyFrom(const Layout& layout, int src_fd, const std::string& src_name,
                                     bool durable = true);
  // Writes `bytes` to a new temp file.
  static Result<StagedFile> FromBytes(const Layout& layout, std::string_view bytes);
  // An empty temp file to fill with Append (hashed as it grows) and close with FinishAppend.
  static Result<StagedFile> ForAppend(const Layout& layout);

  StagedFile(StagedFile&& o) noexcept;
  StagedFile& operator=(StagedFile&& o) noexcept;
  ~StagedFile();

  const Digest& digest() const { return digest_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Appends `bytes` (only on a ForAppend file, before FinishAppend). IOError naming the file.
  Status Append(std::string_view bytes);
  // Ends appending: digest() is then the hash of everything appended.
  void FinishAppend();

  // Makes the bytes durable (fdatasync, unless `durable` is false) and read-only (0400).
  Status Seal(bool durable = true);
  // Renames the temp file to `dest`. Without `replace`, an existing `dest` is AlreadyExists
  // and the temp file stays staged.
  Status Publish(const std::string& dest, bool replace);
  // Removes the temp file now.
  void Discard();

 private:
  StagedFile() = default;
  static Result<StagedFile> Create(const Layout& layout);
  Fd fd_;
  std::string path_;
  Digest digest_;
  uint64_t size_ = 0;
  std::unique_ptr<Blake2b256> appending_;  // set between ForAppend and FinishAppend
  uint64_t flushed_ = 0;                   // Append: bytes whose writeback was started
};

}  // namespace recomp::store
