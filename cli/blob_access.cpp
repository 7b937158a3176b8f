// BlobAccess over the local store or the blob service (see blob_access.h).
#include "cli/blob_access.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "base/posix_file.h"
#include "cli/config.h"
#include "messages/artifact_ref.h"
#include "net/socket.h"
#include "store/artifact_store.h"
#include "transfer/blob_client.h"

namespace recomp::cli {
namespace {

class LocalAccess : public BlobAccess {
 public:
  explicit LocalAccess(std::unique_ptr<store::ArtifactStore> s) : s_(std::move(s)) {}
  Result<std::string> PutFile(const std::string& path, const store::PutOptions& o) override {
    RECOMP_ASSIGN_OR_RETURN(ArtifactRecord rec, s_->PutFile(path, o));
    return rec.ref;
  }
  Result<std::string> PutBytes(std::string_view bytes, const store::PutOptions& o) override {
    RECOMP_ASSIGN_OR_RETURN(ArtifactRecord rec, s_->PutBytes(bytes, o));
    return rec.ref;
  }
  Result<std::string> PutFd(int fd, const store::PutOptions& o, const std::string& name) override {
    RECOMP_ASSIGN_OR_RETURN(ArtifactRecord rec, s_->PutFd(fd, o, name));
    return rec.ref;
  }
  Result<bool> Contains(const Digest& d) override { return s_->Contains(d); }
  Result<ArtifactRecord> Stat(const Digest& d) override { return s_->Stat(d); }
  Result<std::string> GetBytes(const Digest& d, size_t max) override {
    return s_->GetBytes(d, max);
  }
  Status GetToFile(const Digest& d, const std::string& path) override {
    return s_->GetToFile(d, path);
  }
  Status GetToFd(const Digest& d, int fd) override { return s_->GetToFd(d, fd); }
  Status ForEachRecord(std::optional<ArtifactClass> cls,
                       const std::function<Status(const ArtifactRecord&)>& fn) override {
    std::optional<Digest> after;
    do {
      RECOMP_ASSIGN_OR_RETURN(store::RecordPage page,
                              s_->ListPage(after, blobproto::kMaxListPage, cls));
      for (const ArtifactRecord& r : page.records) RECOMP_RETURN_IF_ERROR(fn(r));
      after = page.next;
    } while (after);
    return Status::Ok();
  }
  std::string Where() const override { return "store '" + s_->root() + "'"; }

 private:
  std::unique_ptr<store::ArtifactStore> s_;
};

class RemoteAccess : public BlobAccess {
 public:
  static Result<std::unique_ptr<BlobAccess>> Create(const std::string& endpoint,
                                                    const net::CurveClient& curve) {
    auto r = std::unique_ptr<RemoteAccess>(new RemoteAccess(endpoint));
    transfer::BlobClientOptions o;
    o.endpoint = endpoint;
    o.curve = curve;
    RECOMP_ASSIGN_OR_RETURN(r->client_, transfer::BlobClient::Create(r->ctx_, o));
    return std::unique_ptr<BlobAccess>(std::move(r));
  }
  Result<std::string> PutFile(const std::string& path, const store::PutOptions& o) override {
    RECOMP_ASSIGN_OR_RETURN(auto refs,
                            client_->Upload({{path, o.artifact_class, o.media_type, o.producer}}));
    return refs.front();
  }
  Result<std::string> PutBytes(std::string_view bytes, const store::PutOptions& o) override {
    RECOMP_ASSIGN_OR_RETURN(TempFile t, TempFile::Make());
    RECOMP_RETURN_IF_ERROR(WriteAll(t.fd.get(), bytes.data(), bytes.size(), t.path));
    return PutFile(t.path, o);
  }
  Result<std::string> PutFd(int fd, const store::PutOptions& o, const std::string& name) override {
    RECOMP_ASSIGN_OR_RETURN(TempFile t, TempFile::Make());
    std::string buf(1 << 20, '\0');
    for (;;) {
      RECOMP_ASSIGN_OR_RETURN(size_t n, ReadSome(fd, buf.data(), buf.size(), name));
      if (n == 0) break;
      RECOMP_RETURN_IF_ERROR(WriteAll(t.fd.get(), buf.data(), n, t.path));
    }
    return PutFile(t.path, o);
  }
  Result<bool> Contains(const Digest& d) override {
    RECOMP_ASSIGN_OR_RETURN(auto missing, client_->FindMissing({d}));
    return missing.empty();
  }
  Result<ArtifactRecord> Stat(const Digest& d) override {
    RECOMP_ASSIGN_OR_RETURN(auto infos, client_->Stat({d}));
    if (infos.front().state != blobproto::BlobInfo::State::kPresent) {
      return Status::NotFound("no artifact " + d.Ref() + " at the " + Where());
    }
    ArtifactRecord r;
    r.ref = d.Ref();
    r.size = infos.front().size;
    r.artifact_class = infos.front().artifact_class;
    r.media_type = infos.front().media_type;
    return r;
  }
  Result<std::string> GetBytes(const Digest& d, size_t max) override {
    RECOMP_ASSIGN_OR_RETURN(ArtifactRecord rec, Stat(d));
    if (rec.size > max) {
      return Status::ResourceExhausted(d.Ref() + " has " + std::to_string(rec.size) +
                                       " bytes, more than " + std::to_string(max));
    }
    RECOMP_ASSIGN_OR_RETURN(TempFile t, TempFile::Make());
    RECOMP_RETURN_IF_ERROR(Download(d, t.fd.get(), t.path));
    std::string out(static_cast<size_t>(rec.size), '\0');
    if (::pread(t.fd.get(), out.data(), out.size(), 0) != static_cast<ssize_t>(out.size())) {
      return ErrnoStatus("read back", t.path, errno);
    }
    return out;
  }
  Status GetToFile(const Digest& d, const std::string& path) override {
    std::string tmp = DirName(path) + "/." + BaseName(path) + ".recomp-" + UniqueToken() + ".tmp";
    RECOMP_ASSIGN_OR_RETURN(Fd fd, CreateExclusive(tmp, 0644));
    Status st = Download(d, fd.get(), tmp);
    if (st.ok()) st = fd.Close(tmp);
    if (st.ok()) st = RenameReplace(tmp, path);
    if (!st.ok()) (void)Unlink(tmp);
    return st;
  }
  Status GetToFd(const Digest& d, int fd) override {
    // Verified before a byte reaches `fd`: downloaded to a temp file first.
    RECOMP_ASSIGN_OR_RETURN(TempFile t, TempFile::Make());
    RECOMP_RETURN_IF_ERROR(Download(d, t.fd.get(), t.path));
    if (::lseek(t.fd.get(), 0, SEEK_SET) != 0) return ErrnoStatus("seek", t.path, errno);
    std::string buf(1 << 20, '\0');
    for (;;) {
      RECOMP_ASSIGN_OR_RETURN(size_t n, ReadSome(t.fd.get(), buf.data(), buf.size(), t.path));
      if (n == 0) return Status::Ok();
      RECOMP_RETURN_IF_ERROR(WriteAll(fd, buf.data(), n, "output"));
    }
  }
  Status ForEachRecord(std::optional<ArtifactClass> cls,
                       const std::function<Status(const ArtifactRecord&)>& fn) override {
    blobproto::ListRequest q;
    q.artifact_class = cls;
    for (;;) {
      RECOMP_ASSIGN_OR_RETURN(blobproto::ListPage page, client_->List(q));
      for (const ArtifactRecord& r : page.records) RECOMP_RETURN_IF_ERROR(fn(r));
      if (!page.next) return Status::Ok();
      q.after = page.next;
    }
  }
  std::string Where() const override { return "blob service " + endpoint_; }

 private:
  // An unlinked-on-destruction temp file.
  struct TempFile {
    Fd fd;
    std::string path;
    static Result<TempFile> Make() {
      const char* t = std::getenv("TMPDIR");
      std::string path = std::string(t && *t ? t : "/tmp") + "/recomp-cli-XXXXXX";
      int fd = ::mkstemp(path.data());
      if (fd < 0) return ErrnoStatus("mkstemp", path, errno);
      return TempFile{Fd(fd), path};
    }
    TempFile(Fd f, std::string p) : fd(std::move(f)), path(std::move(p)) {}
    TempFile(TempFile&&) = default;
    ~TempFile() {
      if (!path.empty()) (void)Unlink(path);
    }
  };
  explicit RemoteAccess(std::string endpoint) : endpoint_(std::move(endpoint)) {}
  Status Download(const Digest& d, int fd, const std::string& name) {
    return client_->Download(d, fd, name).status().WithContext("from the " + Where());
  }
  std::string endpoint_;
  zmq::context_t ctx_;
  std::unique_ptr<transfer::BlobClient> client_;
};

}  // namespace

std::unique_ptr<BlobAccess> LocalBlobAccess(std::unique_ptr<store::ArtifactStore> s) {
  return std::make_unique<LocalAccess>(std::move(s));
}

Result<std::unique_ptr<BlobAccess>> OpenBlobAccess(const ClientFlags& flags,
                                                   const std::string& store_flag,
                                                   const Connection* conn) {
  if (!store_flag.empty()) {
    store::StoreOptions o;
    o.create_if_missing = false;
    RECOMP_ASSIGN_OR_RETURN(auto s, store::ArtifactStore::Open(store_flag, o));
    return LocalBlobAccess(std::move(s));
  }
  const std::string dir = DataDir(flags.data) + "/store";
  struct stat st;
  if (flags.api.empty() && ::stat((dir + "/FORMAT").c_str(), &st) == 0) {
    RECOMP_ASSIGN_OR_RETURN(auto s, store::ArtifactStore::Open(dir));
    return LocalBlobAccess(std::move(s));
  }
  std::string blobs = conn ? conn->endpoints.blobs : "";
  if (blobs.empty()) {
    return Status::NotFound(
        "no store at " + dir +
        " and no blob service known: give --api ENDPOINT of a "
        "coordinator (it names its blob service), or --store DIR on its machine");
  }
  return RemoteAccess::Create(blobs, conn->client->curve());
}

}  // namespace recomp::cli
