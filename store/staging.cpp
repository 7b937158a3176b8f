// StagedFile (see staging.h).
#include "store/staging.h"

#include <cassert>
#include <memory>
#include <thread>
#include <utility>

#include "base/blake2b.h"
#include "base/mutex.h"

namespace recomp::store {
namespace {
constexpr uint64_t kWritebackChunk = 8u << 20;  // start writeback every 8 MiB
constexpr size_t kRingSlots = 4;                // buffers of kCopyBufferBytes in flight

// Hashes chunks of a ring of buffers on its own thread, in order, while the caller reads the
// next chunk and writes the current one (both only read a buffer being hashed). The caller
// reuses a slot only after its chunk was hashed (Wait). Joins on destruction.
class RingHasher {
 public:
  RingHasher() : thread_([this] { Run(); }) {}
  ~RingHasher() {
    {
      MutexLock l(&mu_);
      stop_ = true;
    }
    cv_.SignalAll();
    thread_.join();
  }
  // Queues chunk number `produced_` (the caller filled it in slot produced_ % kRingSlots).
  void Push(const char* data, size_t n) EXCLUDES(mu_) {
    {
      MutexLock l(&mu_);
      chunks_[produced_ % kRingSlots] = {data, n};
      ++produced_;
    }
    cv_.SignalAll();
  }
  // Waits until at least `count` chunks were hashed.
  void Wait(uint64_t count) EXCLUDES(mu_) {
    MutexLock l(&mu_);
    while (hashed_ < count) cv_.Wait(&mu_);
  }
  Digest Finish() {
    Wait(produced());
    return hasher_.Finish();
  }
  uint64_t produced() EXCLUDES(mu_) {
    MutexLock l(&mu_);
    return produced_;
  }

 private:
  void Run() EXCLUDES(mu_) {
    mu_.Lock();
    for (;;) {
      while (!stop_ && hashed_ >= produced_) cv_.Wait(&mu_);
      if (hashed_ == produced_) break;  // stopping, nothing left
      auto [data, n] = chunks_[hashed_ % kRingSlots];
      mu_.Unlock();
      hasher_.Update(data, n);  // only this thread touches hasher_ until Finish's Wait
      mu_.Lock();
      ++hashed_;
      cv_.SignalAll();
    }
    mu_.Unlock();
  }
  Mutex mu_;
  CondVar cv_;
  std::pair<const char*, size_t> chunks_[kRingSlots] GUARDED_BY(mu_);
  uint64_t produced_ GUARDED_BY(mu_) = 0;
  uint64_t hashed_ GUARDED_BY(mu_) = 0;
  bool stop_ GUARDED_BY(mu_) = false;
  Blake2b256 hasher_;
  std::thread thread_;
};

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
  std::unique_ptr<char[]> ring(new char[kCopyBufferBytes * kRingSlots]);
  size_t first = 0;
  while (first < kCopyBufferBytes) {
    RECOMP_ASSIGN_OR_RETURN(
        size_t n, ReadSome(src_fd, ring.get() + first, kCopyBufferBytes - first, src_name));
    if (n == 0) break;
    first += n;
  }
  if (first < kCopyBufferBytes) {
    Blake2b256 hasher;
    hasher.Update(ring.get(), first);
    RECOMP_RETURN_IF_ERROR(write(ring.get(), first));
    f.digest_ = hasher.Finish();
    return f;
  }
  // Larger: hash on a second thread while this one reads and writes (memory stays
  // kRingSlots buffers whatever the size).
  RingHasher hasher;
  hasher.Push(ring.get(), first);
  RECOMP_RETURN_IF_ERROR(write(ring.get(), first));
  for (uint64_t chunk = 1;; ++chunk) {
    char* buf = ring.get() + (chunk % kRingSlots) * kCopyBufferBytes;
    if (chunk >= kRingSlots) hasher.Wait(chunk - kRingSlots + 1);  // its slot was hashed
    RECOMP_ASSIGN_OR_RETURN(size_t n, ReadSome(src_fd, buf, kCopyBufferBytes, src_name));
    if (n == 0) break;
    hasher.Push(buf, n);
    RECOMP_RETURN_IF_ERROR(write(buf, n));
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
