// Read side of the store: locating blobs and streaming them verified (see store_core.h).
#include "store/store_core.h"

#include <memory>

#include "base/blake2b.h"
#include "base/log.h"
#include "store/staging.h"

namespace recomp::store {

Result<BlobLocation> Locate(const StoreCore& core, const Digest& d) {
  RECOMP_ASSIGN_OR_RETURN(Txn txn, core.catalog.Read());
  RECOMP_ASSIGN_OR_RETURN(auto rec, core.catalog.GetRecord(txn, d));
  if (!rec)
    return Status::NotFound("no artifact " + d.Ref() + " in store '" + core.layout.root() + "'");
  BlobLocation loc{d, std::move(*rec), std::nullopt, ""};
  RECOMP_ASSIGN_OR_RETURN(auto inl, core.catalog.GetInline(txn, d));
  if (inl) {
    loc.inline_bytes = std::string(*inl);
  } else {
    loc.path = core.layout.BlobPath(loc.record.artifact_class, d);
  }
  return loc;
}

Result<Fd> OpenBlob(const StoreCore& core, BlobLocation* loc) {
  for (int attempt = 0;; ++attempt) {
    auto fd = OpenForRead(loc->path);
    if (fd.ok() || fd.status().code() != Status::Code::kNotFound) return fd;
    // Gone: gc removed it, or it was promoted to external, or it is really missing.
    RECOMP_ASSIGN_OR_RETURN(BlobLocation now, Locate(core, loc->digest));
    if (attempt > 0 || (now.path == loc->path && !now.inline_bytes)) {
      return Status::Corruption("blob file of " + loc->digest.Ref() + " is missing: '" + loc->path +
                                "'");
    }
    *loc = std::move(now);
    if (loc->inline_bytes)
      return Status::Internal("blob of " + loc->digest.Ref() + " became inline");
  }
}

Status StreamVerified(const BlobLocation& loc, int src_fd, int dst_fd,
                      const std::string& dst_name) {
  std::unique_ptr<char[]> buf(new char[kCopyBufferBytes]);
  Blake2b256 hasher;
  uint64_t total = 0;
  AdviseSequential(src_fd);
  for (;;) {
    RECOMP_ASSIGN_OR_RETURN(size_t n, ReadSome(src_fd, buf.get(), kCopyBufferBytes, loc.path));
    if (n == 0) break;
    total += n;
    if (total > loc.record.size) break;  // longer than recorded: corrupt, stop early
    hasher.Update(buf.get(), n);
    if (dst_fd >= 0) RECOMP_RETURN_IF_ERROR(WriteAll(dst_fd, buf.get(), n, dst_name));
  }
  if (total != loc.record.size) {
    return Status::Corruption(
        "blob " + loc.digest.Ref() + " at '" + loc.path + "' is corrupt: size " +
        (total > loc.record.size ? "exceeds" : std::to_string(total) + " is not") +
        " the recorded " + std::to_string(loc.record.size));
  }
  Digest got = hasher.Finish();
  if (got != loc.digest) {
    return Status::Corruption("blob " + loc.digest.Ref() + " at '" + loc.path +
                              "' is corrupt: its bytes hash to " + got.Hex());
  }
  return Status::Ok();
}

Status CheckInline(const BlobLocation& loc) {
  const std::string& b = *loc.inline_bytes;
  if (b.size() != loc.record.size || Blake2b256::Of(b) != loc.digest) {
    return Status::Corruption("inline blob " + loc.digest.Ref() +
                              " in the index is corrupt: size or digest mismatch");
  }
  return Status::Ok();
}

Result<bool> BlobPresent(const StoreCore& core, const Txn& txn, const Digest& d,
                         const ArtifactRecord& rec) {
  RECOMP_ASSIGN_OR_RETURN(auto inl, core.catalog.GetInline(txn, d));
  if (inl) return true;
  auto st = StatPath(core.layout.BlobPath(rec.artifact_class, d));
  if (!st.ok()) {
    if (st.status().code() == Status::Code::kNotFound) return false;
    return st.status();
  }
  return S_ISREG(st->st_mode) && static_cast<uint64_t>(st->st_size) == rec.size;
}

Result<std::string> ReadBytes(const StoreCore& core, const Digest& d, size_t max_bytes) {
  RECOMP_ASSIGN_OR_RETURN(BlobLocation loc, Locate(core, d));
  if (loc.record.size > max_bytes) {
    return Status::ResourceExhausted(d.Ref() + " has " + std::to_string(loc.record.size) +
                                     " bytes, more than the " + std::to_string(max_bytes) +
                                     " asked for");
  }
  if (loc.inline_bytes) {
    RECOMP_RETURN_IF_ERROR(CheckInline(loc));
    return std::move(*loc.inline_bytes);
  }
  RECOMP_ASSIGN_OR_RETURN(Fd in, OpenBlob(core, &loc));
  std::string out(loc.record.size, '\0');
  size_t got = 0;
  while (got < out.size()) {
    RECOMP_ASSIGN_OR_RETURN(size_t n,
                            ReadSome(in.get(), out.data() + got, out.size() - got, loc.path));
    if (n == 0) break;
    got += n;
  }
  char extra;
  RECOMP_ASSIGN_OR_RETURN(size_t more, ReadSome(in.get(), &extra, 1, loc.path));
  out.resize(got);
  BlobLocation view{loc.digest, loc.record, out, ""};
  if (more != 0 || !CheckInline(view).ok()) {
    return Status::Corruption("blob " + d.Ref() + " at '" + loc.path +
                              "' is corrupt: size or digest mismatch");
  }
  return out;
}

}  // namespace recomp::store
