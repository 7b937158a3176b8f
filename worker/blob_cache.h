// BlobCache: a remote worker's local content-addressed cache of downloaded blobs: files named
// by their digest, read-only, on the same file system as the sandboxes (so a job's input is a
// hard link, not a copy), evicted least-recently-used under a byte cap and a file cap, emptied
// when opened (a worker keeps nothing across restarts). One fetch per digest at a time: other
// jobs wanting it wait for that fetch. A pinned entry (a job linking it) is never evicted.
// Blobs the fetch says must not be kept (external ones) are handed to the caller, not cached.
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/digest.h"
#include "base/mutex.h"
#include "base/status.h"

namespace recomp::worker {

struct BlobCacheOptions {
  std::string dir;                          // created if missing; emptied on Open
  uint64_t max_bytes = uint64_t{10} << 30;  // evict past this many bytes ...
  uint64_t max_files = 100000;              // ... or this many files
};

struct BlobCacheStats {
  uint64_t hits = 0, misses = 0, evictions = 0, waits = 0;
  uint64_t bytes = 0, files = 0;
};

class BlobCache {
 public:
  static Result<std::unique_ptr<BlobCache>> Open(BlobCacheOptions options);
  ~BlobCache();

  // Writes the blob's verified bytes into the new file `tmp` and says whether it may be kept
  // (false for an external blob). On error the cache removes `tmp`.
  using Fetch = std::function<Result<bool>(const std::string& tmp)>;

  // A claim on one file: a pinned cache entry (never evicted while the Claim lives), or a
  // fetched blob that may not be cached, whose file the holder owns (it is removed with the
  // Claim unless taken).
  class Claim {
   public:
    Claim(Claim&& o) noexcept;
    Claim& operator=(Claim&&) = delete;
    ~Claim();
    const std::string& path() const { return path_; }
    bool cached() const { return cached_; }

   private:
    friend class BlobCache;
    Claim(BlobCache* cache, Digest d, std::string path, bool cached)
        : cache_(cache), digest_(d), path_(std::move(path)), cached_(cached) {}
    BlobCache* cache_;
    Digest digest_;
    std::string path_;
    bool cached_;
  };

  // The entry of `d`, fetched with `fetch` when absent (one fetch per digest at a time).
  Result<Claim> Acquire(const Digest& d, const Fetch& fetch);
  // The entry of `d` if cached (a hit), else nullopt. Never fetches.
  std::optional<Claim> Lookup(const Digest& d);
  // Puts a copy of the file `path` (whose digest is `d`, a blob just stored) in the cache
  // unless it is there: a copy, never a link, so a job cannot change the cached bytes later.
  Status AddCopy(const Digest& d, const std::string& path);
  // Puts `bytes` (verified to hash to `d` by the caller) in the cache unless it is there.
  Status AddBytes(const Digest& d, std::string_view bytes);
  // Whether `d` is cached (no pin, no statistics).
  bool Contains(const Digest& d) const;
  // Places the claimed file at `dest` read-only: a hard link to the cache entry (a copy on
  // EMLINK/EXDEV), a copy when `executable` (mode 0555; the entry is shared and stays 0444),
  // or a rename when the claim is not cached.
  static Status Place(Claim& claim, const std::string& dest, bool executable);

  BlobCacheStats stats() const;
  const std::string& dir() const { return opt_.dir; }

 private:
  struct Entry {
    uint64_t size = 0;
    uint32_t pins = 0;
    bool ready = false;  // false while its one fetch runs
    std::list<Digest>::iterator lru;
  };
  explicit BlobCache(BlobCacheOptions o) : opt_(std::move(o)) {}
  std::string PathOf(const Digest& d) const;
  void Release(const Digest& d) EXCLUDES(mu_);
  // Makes the fetching entry of `d` ready with `size` and `pins`; evicts what the caps need.
  void ReadyLocked(const Digest& d, uint64_t size, uint32_t pins) REQUIRES(mu_);
  // Forgets the fetching entry of `d` (its fetch failed or was not cacheable).
  void AbandonLocked(const Digest& d) REQUIRES(mu_);
  void EvictLocked() REQUIRES(mu_);
  Claim PinLocked(const Digest& d, Entry& e) REQUIRES(mu_);
  Result<Claim> FetchAs(const Digest& d, const Fetch& fetch) EXCLUDES(mu_);
  // Adds `d` unless present, its file written by `write(tmp)`.
  Status AddWith(const Digest& d, const std::function<Status(const std::string&)>& write)
      EXCLUDES(mu_);

  BlobCacheOptions opt_;
  mutable Mutex mu_;
  CondVar fetched_;
  std::map<Digest, Entry> entries_ GUARDED_BY(mu_);
  std::list<Digest> lru_ GUARDED_BY(mu_);  // front = least recently used
  BlobCacheStats stats_ GUARDED_BY(mu_);
};

}  // namespace recomp::worker
