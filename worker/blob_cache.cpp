// BlobCache (see blob_cache.h).
#include "worker/blob_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "base/posix_file.h"

namespace recomp::worker {
namespace {

// Copies `src` into the new file `dest` with `mode`.
Status CopyInto(const std::string& src, const std::string& dest, mode_t mode) {
  RECOMP_ASSIGN_OR_RETURN(Fd in, OpenForRead(src));
  RECOMP_ASSIGN_OR_RETURN(Fd out, CreateExclusive(dest, mode));
  std::string buf(1 << 20, '\0');
  for (;;) {
    auto n = ReadSome(in.get(), buf.data(), buf.size(), src);
    Status st = n.status();
    if (st.ok() && *n == 0) break;
    if (st.ok()) st = WriteAll(out.get(), buf.data(), *n, dest);
    if (!st.ok()) {
      (void)Unlink(dest);
      return st;
    }
  }
  if (Status st = ChmodFd(out.get(), mode, dest); !st.ok()) {  // umask may have narrowed it
    (void)Unlink(dest);
    return st;
  }
  return out.Close(dest);
}

}  // namespace

BlobCache::Claim::Claim(Claim&& o) noexcept
    : cache_(std::exchange(o.cache_, nullptr)),
      digest_(o.digest_),
      path_(std::move(o.path_)),
      cached_(o.cached_) {}

BlobCache::Claim::~Claim() {
  if (!cache_) return;
  if (cached_) {
    cache_->Release(digest_);
  } else if (!path_.empty()) {
    (void)Unlink(path_);
  }
}

Result<std::unique_ptr<BlobCache>> BlobCache::Open(BlobCacheOptions options) {
  if (options.dir.empty()) return Status::InvalidArgument("blob cache: no directory");
  RECOMP_RETURN_IF_ERROR(MakeDirs(options.dir, 0700));
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options.dir, ec)) {
    std::filesystem::remove_all(entry.path(), ec);
    if (ec) {
      return Status::IOError("emptying the blob cache " + options.dir + ": " + ec.message());
    }
  }
  if (ec) return Status::IOError("reading the blob cache " + options.dir + ": " + ec.message());
  return std::unique_ptr<BlobCache>(new BlobCache(std::move(options)));
}

BlobCache::~BlobCache() = default;

std::string BlobCache::PathOf(const Digest& d) const {
  return opt_.dir + "/" + d.Hex();
}

BlobCache::Claim BlobCache::PinLocked(const Digest& d, Entry& e) {
  ++e.pins;
  lru_.splice(lru_.end(), lru_, e.lru);  // most recently used
  return Claim(this, d, PathOf(d), true);
}

void BlobCache::ReadyLocked(const Digest& d, uint64_t size, uint32_t pins) {
  Entry& e = entries_.at(d);
  e.size = size;
  e.pins = pins;
  e.ready = true;
  e.lru = lru_.insert(lru_.end(), d);
  stats_.bytes += size;
  ++stats_.files;
  EvictLocked();
  fetched_.SignalAll();
}

void BlobCache::AbandonLocked(const Digest& d) {
  entries_.erase(d);
  fetched_.SignalAll();
}

void BlobCache::EvictLocked() {
  auto it = lru_.begin();
  while ((stats_.bytes > opt_.max_bytes || stats_.files > opt_.max_files) && it != lru_.end()) {
    Entry& e = entries_.at(*it);
    if (e.pins > 0) {  // a job is linking it
      ++it;
      continue;
    }
    (void)Unlink(PathOf(*it));
    stats_.bytes -= e.size;
    --stats_.files;
    ++stats_.evictions;
    entries_.erase(*it);
    it = lru_.erase(it);
  }
}

void BlobCache::Release(const Digest& d) {
  MutexLock l(&mu_);
  auto it = entries_.find(d);
  if (it == entries_.end() || it->second.pins == 0) return;
  if (--it->second.pins == 0) EvictLocked();
}

std::optional<BlobCache::Claim> BlobCache::Lookup(const Digest& d) {
  MutexLock l(&mu_);
  auto it = entries_.find(d);
  if (it == entries_.end() || !it->second.ready) return std::nullopt;
  ++stats_.hits;
  return PinLocked(d, it->second);
}

Result<BlobCache::Claim> BlobCache::Acquire(const Digest& d, const Fetch& fetch) {
  {
    MutexLock l(&mu_);
    for (;;) {
      auto it = entries_.find(d);
      if (it == entries_.end()) {
        entries_.emplace(d, Entry{});  // ours to fetch
        ++stats_.misses;
        break;
      }
      if (it->second.ready) {
        ++stats_.hits;
        return PinLocked(d, it->second);
      }
      ++stats_.waits;
      fetched_.Wait(&mu_);  // another job fetches it
    }
  }
  return FetchAs(d, fetch);
}

Result<BlobCache::Claim> BlobCache::FetchAs(const Digest& d, const Fetch& fetch) {
  std::string tmp = opt_.dir + "/fetch-" + UniqueToken() + ".tmp";
  Result<bool> keep = fetch(tmp);
  Status st = keep.status();
  struct stat info {};
  if (st.ok() && *keep) {
    st = ::chmod(tmp.c_str(), 0444) == 0 && ::stat(tmp.c_str(), &info) == 0
             ? RenameReplace(tmp, PathOf(d))
             : ErrnoStatus("chmod", tmp, errno);
  }
  MutexLock l(&mu_);
  if (!st.ok()) {
    (void)Unlink(tmp);
    AbandonLocked(d);
    return st;
  }
  if (!*keep) {
    AbandonLocked(d);
    return Claim(this, d, tmp, false);
  }
  ReadyLocked(d, static_cast<uint64_t>(info.st_size), 1);
  return Claim(this, d, PathOf(d), true);
}

Status BlobCache::AddCopy(const Digest& d, const std::string& path) {
  return AddWith(d, [&](const std::string& tmp) { return CopyInto(path, tmp, 0444); });
}

Status BlobCache::AddBytes(const Digest& d, std::string_view bytes) {
  return AddWith(d, [&](const std::string& tmp) -> Status {
    RECOMP_ASSIGN_OR_RETURN(Fd out, CreateExclusive(tmp, 0444));
    RECOMP_RETURN_IF_ERROR(WriteAll(out.get(), bytes.data(), bytes.size(), tmp));
    return out.Close(tmp);
  });
}

bool BlobCache::Contains(const Digest& d) const {
  MutexLock l(&mu_);
  auto it = entries_.find(d);
  return it != entries_.end() && it->second.ready;
}

Status BlobCache::AddWith(const Digest& d, const std::function<Status(const std::string&)>& write) {
  {
    MutexLock l(&mu_);
    if (entries_.count(d)) return Status::Ok();
    entries_.emplace(d, Entry{});
  }
  std::string tmp = opt_.dir + "/add-" + UniqueToken() + ".tmp";
  Status st = write(tmp);
  struct stat info {};
  if (st.ok()) {
    st = ::stat(tmp.c_str(), &info) == 0 ? RenameReplace(tmp, PathOf(d))
                                         : ErrnoStatus("stat", tmp, errno);
  }
  MutexLock l(&mu_);
  if (!st.ok()) {
    (void)Unlink(tmp);
    AbandonLocked(d);
    return st;
  }
  ReadyLocked(d, static_cast<uint64_t>(info.st_size), 0);
  return Status::Ok();
}

Status BlobCache::Place(Claim& claim, const std::string& dest, bool executable) {
  mode_t mode = executable ? 0555 : 0444;
  if (!claim.cached_) {
    if (::chmod(claim.path_.c_str(), mode) != 0) return ErrnoStatus("chmod", claim.path_, errno);
    if (!RenameNoReplace(claim.path_, dest).ok()) {  // another file system: copy
      RECOMP_RETURN_IF_ERROR(CopyInto(claim.path_, dest, mode));
      (void)Unlink(claim.path_);
    }
    claim.path_.clear();  // taken
    return Status::Ok();
  }
  if (!executable) {
    if (::link(claim.path_.c_str(), dest.c_str()) == 0) return Status::Ok();
    if (errno != EMLINK && errno != EXDEV) return ErrnoStatus("link", dest, errno);
  }
  return CopyInto(claim.path_, dest, mode);
}

BlobCacheStats BlobCache::stats() const {
  MutexLock l(&mu_);
  return stats_;
}

}  // namespace recomp::worker
