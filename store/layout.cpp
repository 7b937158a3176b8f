// Layout of a store directory (see layout.h and docs/store.md).
#include "store/layout.h"

#include <sys/stat.h>

#include "base/posix_file.h"

namespace recomp::store {
namespace {

Result<std::string> ReadSmallFile(const std::string& path) {
  RECOMP_ASSIGN_OR_RETURN(Fd fd, OpenForRead(path));
  std::string out(256, '\0');
  RECOMP_ASSIGN_OR_RETURN(size_t n, ReadSome(fd.get(), out.data(), out.size(), path));
  out.resize(n);
  return out;
}

}  // namespace

Result<Layout> Layout::Open(const std::string& root, bool create) {
  if (root.empty()) return Status::InvalidArgument("store root is empty");
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  Layout layout(r);
  auto st = StatPath(layout.root_ + "/FORMAT");
  if (!st.ok() && st.status().code() == Status::Code::kNotFound) {
    if (!create) return Status::NotFound("no artifact store at '" + r + "' (no FORMAT file)");
    RECOMP_RETURN_IF_ERROR(layout.Create());
  } else if (!st.ok()) {
    return st.status();
  }
  RECOMP_RETURN_IF_ERROR(layout.CheckFormat());
  return layout;
}

Status Layout::Create() const {
  for (const std::string& d : {root_, IndexDir(), TmpDir(), ClassDir(ArtifactClass::kGenerated),
                               ClassDir(ArtifactClass::kExternal)}) {
    RECOMP_RETURN_IF_ERROR(MakeDirs(d, 0700));
  }
  // Write FORMAT last and atomically: its presence means the layout is complete.
  std::string tmp = NewTempPath("format");
  {
    RECOMP_ASSIGN_OR_RETURN(Fd fd, CreateExclusive(tmp, 0400));
    std::string line = std::string(kFormatLine) + "\n";
    RECOMP_RETURN_IF_ERROR(WriteAll(fd.get(), line.data(), line.size(), tmp));
    RECOMP_RETURN_IF_ERROR(SyncData(fd.get(), tmp));
  }
  Status st = RenameNoReplace(tmp, root_ + "/FORMAT");
  if (st.code() == Status::Code::kAlreadyExists) {  // a concurrent creator won; fine
    (void)Unlink(tmp);
    return Status::Ok();
  }
  RECOMP_RETURN_IF_ERROR(st);
  RECOMP_RETURN_IF_ERROR(SyncDir(root_ + "/blobs"));
  return SyncDir(root_);
}

Status Layout::CheckFormat() const {
  RECOMP_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(root_ + "/FORMAT"));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text != kFormatLine) {
    return Status::FailedPrecondition("'" + root_ + "/FORMAT' says '" + text.substr(0, 64) +
                                      "'; this recomp understands '" + std::string(kFormatLine) +
                                      "'");
  }
  for (const std::string& d : {IndexDir(), TmpDir(), ClassDir(ArtifactClass::kGenerated),
                               ClassDir(ArtifactClass::kExternal)}) {
    RECOMP_RETURN_IF_ERROR(MakeDirs(d, 0700));  // repair a missing (empty) directory
  }
  return Status::Ok();
}

std::string Layout::ClassDir(ArtifactClass c) const {
  return root_ + "/blobs/" + std::string(ToString(c));
}

std::string Layout::FanoutDir(ArtifactClass c, const Digest& d) const {
  return ClassDir(c) + "/" + d.Hex().substr(0, 2);
}

std::string Layout::BlobPath(ArtifactClass c, const Digest& d) const {
  std::string hex = d.Hex();
  return ClassDir(c) + "/" + hex.substr(0, 2) + "/" + hex;
}

std::string Layout::NewTempPath(std::string_view kind) const {
  return TmpDir() + "/" + std::string(kind) + "-" + UniqueToken() + ".tmp";
}

Status Layout::EnsureFanoutDir(ArtifactClass c, const Digest& d) const {
  std::string dir = FanoutDir(c, d);
  if (::mkdir(dir.c_str(), 0700) == 0) return SyncDir(ClassDir(c));
  auto st = StatPath(dir);
  if (st.ok() && S_ISDIR(st->st_mode)) return Status::Ok();
  return st.ok() ? Status::IOError("'" + dir + "' is not a directory") : st.status();
}

Status Layout::ForEachBlobFile(
    ArtifactClass c, const std::function<Status(const Digest&, const std::string&)>& fn) const {
  std::string top = ClassDir(c);
  return ListDir(top, [&](const std::string& sub) -> Status {
    if (sub.size() != 2) return Status::Ok();
    std::string dir = top + "/" + sub;
    Status st = ListDir(dir, [&](const std::string& name) -> Status {
      auto d = ParseDigestHex(name);
      if (!d.ok() || name.compare(0, 2, sub) != 0) return Status::Ok();
      return fn(*d, dir + "/" + name);
    });
    return st.code() == Status::Code::kNotFound ? Status::Ok() : st;  // not a directory
  });
}

Result<std::vector<std::string>> Layout::CleanStaleTemps(std::chrono::seconds min_age,
                                                         bool dry_run) const {
  std::vector<std::string> removed;
  const auto now = std::chrono::system_clock::now();
  Status st = ListDir(TmpDir(), [&](const std::string& name) -> Status {
    std::string path = TmpDir() + "/" + name;
    auto fd = OpenForRead(path);
    if (!fd.ok()) return Status::Ok();  // vanished (renamed by its writer) or a directory
    auto sb = StatFd(fd->get(), path);
    if (!sb.ok() || !S_ISREG(sb->st_mode)) return Status::Ok();
    auto mtime = std::chrono::system_clock::from_time_t(sb->st_mtim.tv_sec);
    if (now - mtime < min_age) return Status::Ok();
    auto locked = LockExclusive(fd->get(), /*wait=*/false, path);
    if (!locked.ok() || !*locked) return Status::Ok();  // a live writer holds it
    if (!dry_run) {
      Status u = Unlink(path);
      if (!u.ok() && u.code() != Status::Code::kNotFound) return u;
    }
    removed.push_back(name);
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return removed;
}

}  // namespace recomp::store
