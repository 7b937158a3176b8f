// StagedFile (see staging.h).
#include "store/staging.h"

#include <cassert>
#include <memory>
#include <thread>
#include <utility>

#include "base/blake2b.h"
#include "base/stream_hasher.h"

namespace recomp::store {
namespace {
constexpr uint64_t kWritebackChunk = 8u << 20;  // start writeback every 8 MiB
constexpr size_t kHashSlots = 4;  // chunks of kCopyBufferBytes waiting for the hash thread

}  // namespace

Result<StagedFile> StagedFile::Create(const Layout& layout) {
  StagedFile f;
  f.path_ = layout.NewTempPath("put");
  RECOMP_ASSIGN_OR_RETURN(f.fd_, CreateExclusive(f.path_, 0600));
  RECOMP_ASSIGN_OR_RETURN(bool locked, LockExclusive(f.fd_.get(), /*wait=*/true, f.path_));
  (void)locked;
  return f;
}

Result<StagedFile> StagedFile::CopyFrom(const Layout& layout, int src_fd,
                                        const std::string& src_name, bool durable) {
  RECOMP_ASSIGN_OR_RETURN(StagedFile f, Create(layout));
  AdviseSequential(src_fd);
  uint64_t flushed = 0;
  auto write = [&](const char* data, size_t n) -> Status {
    RECOMP_RETURN_IF_ERROR(WriteAll(f.fd_.get(), data, n, f.path_));
    f.size_ += n;
    if (durable && f.size_ - flushed >= kWritebackChunk) {
      RECOMP_RETURN_IF_ERROR(StartWriteback(f.fd_.get(), flushed, f.size_ - flushed, f.path_));
      flushed = f.size_;
    }
    return Status::Ok();
  };
  // The first chunk on this thread: most blobs fit in one and need no second thread.
  std::string buf(kCopyBufferBytes, '\0');
  size_t first = 0;
  while (first < kCopyBufferBytes) {
    RECOMP_ASSIGN_OR_RETURN(
        size_t n, ReadSome(src_fd, buf.data() + first, kCopyBufferBytes - first, src_name));
    if (n == 0) break;
    first += n;
  }
  if (first < kCopyBufferBytes) {
    buf.resize(first);
    RECOMP_RETURN_IF_ERROR(write(buf.data(), first));
    f.digest_ = Blake2b256::Of(buf);
    return f;
  }
  // Larger: hash on a second thread while this one reads and writes the next chunk; the
  // hashed buffers come back for reuse, so memory stays a few buffers whatever the size.
  StreamHasher hasher(kHashSlots);
  RECOMP_RETURN_IF_ERROR(write(buf.data(), first));
  hasher.Add(std::move(buf));
  for (;;) {
    std::string next = hasher.TakeSpare();
    next.resize(kCopyBufferBytes);
    RECOMP_ASSIGN_OR_RETURN(size_t n, ReadSome(src_fd, next.data(), kCopyBufferBytes, src_name));
    if (n == 0) break;
    next.resize(n);
    RECOMP_RETURN_IF_ERROR(write(next.data(), n));
    hasher.Add(std::move(next));
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

Result<StagedFile> StagedFile::ForAppend(const Layout& layout) {
  RECOMP_ASSIGN_OR_RETURN(StagedFile f, Create(layout));
  f.appending_ = std::make_unique<Blake2b256>();
  return f;
}

Status StagedFile::Append(std::string_view bytes) {
  assert(appending_ && "Append on a StagedFile that is not appending");
  RECOMP_RETURN_IF_ERROR(WriteAll(fd_.get(), bytes.data(), bytes.size(), path_));
  appending_->Update(bytes);
  size_ += bytes.size();
  // As CopyFrom does: start writeback as the file grows, so the final fdatasync has little
  // left to do and dirty pages stay bounded.
  if (size_ - flushed_ >= kWritebackChunk) {
    RECOMP_RETURN_IF_ERROR(StartWriteback(fd_.get(), flushed_, size_ - flushed_, path_));
    flushed_ = size_;
  }
  return Status::Ok();
}

void StagedFile::FinishAppend() {
  assert(appending_ && "FinishAppend on a StagedFile that is not appending");
  digest_ = appending_->Finish();
  appending_.reset();
}

StagedFile::StagedFile(StagedFile&& o) noexcept
    : fd_(std::move(o.fd_)),
      path_(std::exchange(o.path_, {})),
      digest_(o.digest_),
      size_(o.size_),
      appending_(std::move(o.appending_)),
      flushed_(o.flushed_) {}

StagedFile& StagedFile::operator=(StagedFile&& o) noexcept {
  if (this != &o) {
    Discard();
    fd_ = std::move(o.fd_);
    path_ = std::exchange(o.path_, {});
    digest_ = o.digest_;
    size_ = o.size_;
    appending_ = std::move(o.appending_);
    flushed_ = o.flushed_;
  }
  return *this;
}

StagedFile::~StagedFile() {
  Discard();
}

Status StagedFile::Seal(bool durable) {
  if (durable) RECOMP_RETURN_IF_ERROR(SyncData(fd_.get(), path_));
  return ChmodFd(fd_.get(), 0400, path_);
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
