// AccessControl (see access.h).
#include "messages/access.h"

#include <sys/stat.h>

#include <array>
#include <fstream>
#include <iterator>

#include "base/posix_file.h"

namespace recomp {
namespace {

constexpr std::array<std::string_view, 5> kDomains = {
    "recomp-api", "recomp-events", "recomp-replay", "recomp-workers", "recomp-blobs"};

Result<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot read allowlist " + path);
  std::string text;
  text.resize(kMaxAllowlistBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return Status::IOError("cannot read allowlist " + path);
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

}  // namespace

std::string_view ZapDomain(Endpoint e) {
  return kDomains[static_cast<size_t>(e)];
}

std::optional<Endpoint> EndpointOfZapDomain(std::string_view domain) {
  for (size_t i = 0; i < kDomains.size(); ++i) {
    if (kDomains[i] == domain) return static_cast<Endpoint>(i);
  }
  return std::nullopt;
}

bool MayConnect(Role role, Endpoint e) {
  if (role == Role::kWorker) return e == Endpoint::kWorkers || e == Endpoint::kBlobs;
  return e != Endpoint::kWorkers;
}

bool RoleAllows(Role role, Permission p) {
  switch (p) {
    case Permission::kRead:
      return role == Role::kReader || role == Role::kSubmitter;
    case Permission::kSubmit:
      return role == Role::kSubmitter;
    case Permission::kWork:
      return role == Role::kWorker;
  }
  return false;
}

std::string_view ToString(Permission p) {
  switch (p) {
    case Permission::kRead:
      return "read";
    case Permission::kSubmit:
      return "submit or cancel";
    case Permission::kWork:
      return "work";
  }
  return "?";
}

Status CheckWorkerIdentity(const AllowedKey& key, std::string_view worker_id,
                           const Labels& labels) {
  if (key.role != Role::kWorker) {
    return Status::PermissionDenied("key " + key.name + " is a " + std::string(ToString(key.role)) +
                                    " key, not a worker key");
  }
  if (worker_id != key.name && worker_id.rfind(key.name + ":", 0) != 0) {
    return Status::PermissionDenied("worker id '" + std::string(worker_id.substr(0, 128)) +
                                    "' is not key " + key.name + "'s: use '" + key.name + "' or '" +
                                    key.name + ":<suffix>'");
  }
  for (const auto& [k, v] : labels) {
    if (k == "os" || k == "arch" || (k == "pool" && v == "default" && !key.labels.count(k))) {
      continue;
    }
    auto it = key.labels.find(k);
    if (it == key.labels.end() || it->second != v) {
      return Status::PermissionDenied("label " + k + "=" + v + " is not granted to key " +
                                      key.name + " (the allowlist grants: " +
                                      (key.labels.empty() ? "none" : LabelsText(key.labels)) + ")");
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<AccessControl>> AccessControl::Open(std::string path,
                                                           std::vector<AllowedKey> own_keys) {
  std::unique_ptr<AccessControl> ac(new AccessControl(std::move(path), std::move(own_keys)));
  RECOMP_ASSIGN_OR_RETURN(FileId id, ac->Identify());
  RECOMP_ASSIGN_OR_RETURN(auto list, ac->Build(id));
  MutexLock l(&ac->mu_);
  ac->list_ = std::move(list);
  ac->file_id_ = id;
  return ac;
}

Result<AccessControl::FileId> AccessControl::Identify() const {
  FileId id;
  if (path_.empty()) return id;
  Result<struct stat> st = StatPath(path_);
  if (!st.ok()) {
    if (st.status().code() == Status::Code::kNotFound) return id;
    return st.status();
  }
  id.exists = true;
  id.size = st->st_size;
  id.mtime_ns = int64_t{st->st_mtim.tv_sec} * 1000000000 + st->st_mtim.tv_nsec;
  id.ino = static_cast<int64_t>(st->st_ino);
  return id;
}

Result<std::shared_ptr<const Allowlist>> AccessControl::Build(const FileId& id) const {
  Allowlist list;
  if (id.exists) {
    RECOMP_ASSIGN_OR_RETURN(std::string text, ReadText(path_));
    RECOMP_ASSIGN_OR_RETURN(list, Allowlist::Parse(text, path_));
  }
  for (const AllowedKey& k : own_) {
    RECOMP_RETURN_IF_ERROR(list.Add(k).WithContext(path_ + " and the pool's own keys"));
  }
  return std::make_shared<const Allowlist>(std::move(list));
}

std::shared_ptr<const Allowlist> AccessControl::Current() const {
  MutexLock l(&mu_);
  return list_;
}

size_t AccessControl::size() const {
  return Current()->entries().size();
}

Admission AccessControl::Admit(std::string_view domain, std::string_view public_key) const {
  std::optional<Endpoint> e = EndpointOfZapDomain(domain);
  if (!e) return {false, "", "unknown ZAP domain"};
  auto list = Current();
  const AllowedKey* k = list->Find(public_key);
  if (k == nullptr) return {false, "", "key " + std::string(public_key) + " is not allowed"};
  if (!MayConnect(k->role, *e)) {
    return {false, "",
            "key " + k->name + " (" + std::string(ToString(k->role)) + ") may not use the " +
                std::string(domain) + " endpoint"};
  }
  return {true, k->name, ""};
}

std::optional<AllowedKey> AccessControl::Lookup(std::string_view user_id) const {
  auto list = Current();
  const AllowedKey* k = list->FindName(user_id);
  if (k == nullptr) return std::nullopt;
  return *k;
}

Status AccessControl::Authorize(std::string_view user_id, Permission p) const {
  std::optional<AllowedKey> k = Lookup(user_id);
  if (!k) {
    return Status::PermissionDenied("key '" + std::string(user_id.substr(0, 64)) +
                                    "' is no longer allowed");
  }
  if (!RoleAllows(k->role, p)) {
    return Status::PermissionDenied("key " + k->name + " is a " + std::string(ToString(k->role)) +
                                    " and may not " + std::string(ToString(p)));
  }
  return Status::Ok();
}

Result<bool> AccessControl::ReloadIfChanged() {
  RECOMP_ASSIGN_OR_RETURN(FileId id, Identify());
  {
    MutexLock l(&mu_);
    if (id == file_id_) return false;
  }
  Result<std::shared_ptr<const Allowlist>> list = Build(id);
  MutexLock l(&mu_);
  file_id_ = id;  // a bad file is reported once, not at every check until it changes
  if (!list.ok()) return list.status().WithContext("allowlist not reloaded (the old one stays)");
  list_ = std::move(list).value();
  generation_.fetch_add(1);
  return true;
}

}  // namespace recomp
