// StagedFile (see staging.h).
#include "store/staging.h"

#include <memory>
#include <utility>

#include "store/blake2b.h"

namespace recomp::store {
namespace {
constexpr uint64_t kWritebackChunk = 8u << 20;  // start writeback every 8 MiB
}  // namespace

Result<StagedFile> StagedFile::Create(const Layout& layout) {
  StagedFile f;
  f.path_ = layout.NewTempPath("put");
  RECOMP_ASSIGN_OR_RETURN(f.fd_, CreateExclusive(f.path_, 0600));
  RECOMP_ASSIGN_OR_RETURN(bool locked, LockExclusive(f.fd_.get(), /*wait=*/true, f.path_));
  (void)locked;
  return f;
}

Result<StagedFile> StagedFile::CopyFrom(const Layout& layout, int src_fd, const std::string& src_name,
                                        bool durable) {
  RECOMP_ASSIGN_OR_RETURN(StagedFile f, Create(layout));
  AdviseSequential(src_fd);
  std::unique_ptr<char[]> buf(new char[kCopyBufferBytes]);
  Blake2b256 hasher;
  uint64_t flushed = 0;
  for (;;) {
    RECOMP_ASSIGN_OR_RETURN(size_t n, ReadSome(src_fd, buf.get(), kCopyBufferBytes, src_name));
    if (n == 0) break;
    hasher.Update(buf.get(), n);
    RECOMP_RETURN_IF_ERROR(WriteAll(f.fd_.get(), buf.get(), n, f.path_));
    f.size_ += n;
    if (durable && f.size_ - flushed >= kWritebackChunk) {
      RECOMP_RETURN_IF_ERROR(StartWriteback(f.fd_.get(), flushed, f.size_ - flushed, f.path_));
      flushed = f.size_;
    }
  }
  f.digest_ = hasher.Finish();
  return f;
}

Result<StagedFile> StagedFile::FromBytes(const Layout& layout, std::string_view bytes) {
  RECOMP_ASSIGN_OR_RETURN(StagedFile f, Create(layout));
  RECOMP_RETURN_IF_ERROR(WriteAll(f.fd_.get(), bytes.data(), bytes.size(), f.path_));
  f.size_ = bytes.size();
  f.digest_ = Blake2b256::Of(bytes);
  return f;
}

StagedFile::StagedFile(StagedFile&& o) noexcept
    : fd_(std::move(o.fd_)), path_(std::exchange(o.path_, {})), digest_(o.digest_), size_(o.size_) {}

StagedFile& StagedFile::operator=(StagedFile&& o) noexcept {
  if (this != &o) {
    Discard();
    fd_ = std::move(o.fd_);
    path_ = std::exchange(o.path_, {});
    digest_ = o.digest_;
    size_ = o.size_;
  }
  return *this;
}

StagedFile::~StagedFile() { Discard(); }

Status StagedFile::Seal(bool durable) {
  if (durable) RECOMP_RETURN_IF_ERROR(SyncData(fd_.get(), path_));
  return ChmodFd(fd_.get(), 0444, path_);
}

Status StagedFile::Publish(const std::string& dest, bool replace) {
  RECOMP_RETURN_IF_ERROR(replace ? RenameReplace(path_, dest) : RenameNoReplace(path_, dest));
  path_.clear();
  return fd_.Close(dest);
}

void StagedFile::Discard() {
  if (!path_.empty()) {
    (void)Unlink(path_);
    path_.clear();
  }
  (void)fd_.Close("");
}

}  // namespace recomp::store
