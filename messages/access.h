// AccessControl: who may reach which endpoint of a CURVE pool and what each may do there
// (docs/security.md): the allowlist file, re-read when it changes, plus the pool's own keys.
// The ZAP handler asks it at every handshake; the services ask it on every request, since a
// key removed from the file must stop working on connections it already has.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "messages/allowlist.h"

namespace recomp {

// The endpoints of a pool; each CURVE server socket has the ZAP domain of its endpoint, so ZAP
// can refuse a key at an endpoint its role never uses (a submitter at the workers endpoint).
enum class Endpoint : uint8_t { kApi, kEvents, kReplay, kWorkers, kBlobs };
std::string_view ZapDomain(Endpoint e);  // "recomp-api", "recomp-events", ...
std::optional<Endpoint> EndpointOfZapDomain(std::string_view domain);
// Whether a key of `role` may connect to `e` at all: workers only to the workers and blobs
// endpoints, submitters and readers to every other.
bool MayConnect(Role role, Endpoint e);

enum class Permission : uint8_t {
  kRead,    // status, runs, workers, events, replay, generated blobs
  kSubmit,  // submit and cancel runs, upload inputs
  kWork,    // register as a worker, read the inputs of jobs it holds, store outputs
};
bool RoleAllows(Role role, Permission p);
std::string_view ToString(Permission p);

// Whether worker key `key` may register as `worker_id` with `labels`: the id is the key's name
// or starts with "<name>:"; each label other than os and arch must be granted by the key's
// entry (pool=default always is). PermissionDenied naming what is not granted.
Status CheckWorkerIdentity(const AllowedKey& key, std::string_view worker_id, const Labels& labels);

struct Admission {
  bool allowed = false;
  std::string name;    // the key's name when allowed
  std::string reason;  // why not, when refused
};

class AccessControl {
 public:
  // Reads `path` (a missing file lists no keys) and adds `own_keys` (the pool's own, e.g. the
  // local workers' key). InvalidArgument for a malformed file or a key or name listed twice.
  static Result<std::unique_ptr<AccessControl>> Open(std::string path,
                                                     std::vector<AllowedKey> own_keys);

  // The ZAP question: may `public_key` (Z85) connect to the endpoint of ZAP domain `domain`?
  Admission Admit(std::string_view domain, std::string_view public_key) const;
  // The entry of authenticated name `user_id`, if it is still listed.
  std::optional<AllowedKey> Lookup(std::string_view user_id) const;
  // OK when `user_id` is listed with a role allowing `p`; PermissionDenied naming the key, its
  // role and what it may not do otherwise (also when the key was removed since it connected).
  Status Authorize(std::string_view user_id, Permission p) const;

  // Re-reads the file when its size, mtime or inode changed. true when the list changed; an
  // unreadable or malformed file keeps the list in force and returns the error (once per
  // change of the file).
  Result<bool> ReloadIfChanged();
  // Incremented by every change ReloadIfChanged makes: holders of sessions recheck them.
  uint64_t generation() const { return generation_.load(); }
  const std::string& path() const { return path_; }
  size_t size() const;

 private:
  AccessControl(std::string path, std::vector<AllowedKey> own)
      : path_(std::move(path)), own_(std::move(own)) {}
  struct FileId {
    bool exists = false;
    int64_t size = 0, mtime_ns = 0, ino = 0;
    bool operator==(const FileId& o) const {
      return exists == o.exists && size == o.size && mtime_ns == o.mtime_ns && ino == o.ino;
    }
  };
  Result<FileId> Identify() const;
  // The file's entries plus own_, checked for duplicates.
  Result<std::shared_ptr<const Allowlist>> Build(const FileId& id) const;
  std::shared_ptr<const Allowlist> Current() const;

  const std::string path_;
  const std::vector<AllowedKey> own_;
  mutable Mutex mu_;
  std::shared_ptr<const Allowlist> list_ GUARDED_BY(mu_);
  FileId file_id_ GUARDED_BY(mu_);
  std::atomic<uint64_t> generation_{0};
};

}  // namespace recomp
