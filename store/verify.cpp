// Verify (see verify.h).
#include "store/verify.h"

#include <vector>

namespace recomp::store {
namespace {

std::string HexOf(std::string_view raw) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw.substr(0, 64)) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// Re-hashes one indexed blob; appends a problem when it is bad.
Status CheckOne(const StoreCore& core, const Digest& d, VerifyReport* report) {
  auto loc = Locate(core, d);
  if (!loc.ok()) {
    if (loc.status().code() == Status::Code::kNotFound) return Status::Ok();  // gc'd meanwhile
    if (loc.status().code() != Status::Code::kCorruption) return loc.status();
    report->problems.push_back({d.Ref(), ProblemKind::kCorrupt, loc.status().message()});
    return Status::Ok();
  }
  Status st;
  if (loc->inline_bytes) {
    st = CheckInline(*loc);
  } else {
    auto fd = OpenBlob(core, &*loc);
    if (!fd.ok() && fd.status().code() == Status::Code::kNotFound) return Status::Ok();
    st = fd.ok() ? StreamVerified(*loc, fd->get(), -1, "") : fd.status();
    if (!fd.ok() && st.code() == Status::Code::kCorruption) {
      report->problems.push_back({d.Ref(), ProblemKind::kMissing, st.message()});
      return Status::Ok();
    }
  }
  report->checked++;
  if (st.ok()) {
    report->bytes += loc->record.size;
  } else {
    report->problems.push_back({d.Ref(), ProblemKind::kCorrupt, st.message()});
  }
  return Status::Ok();
}

// Blob files whose digest has no record, a record of the other class, or an inline copy.
Status FindUnindexed(const StoreCore& core, VerifyReport* report) {
  RECOMP_ASSIGN_OR_RETURN(Txn txn, core.catalog.Read());
  for (ArtifactClass c : {ArtifactClass::kGenerated, ArtifactClass::kExternal}) {
    RECOMP_RETURN_IF_ERROR(core.layout.ForEachBlobFile(c, [&](const Digest& d,
                                                              const std::string& path) {
      auto rec = core.catalog.GetRecord(txn, d);
      if (!rec.ok()) return Status::Ok();  // reported as corrupt already
      auto inl = core.catalog.GetInline(txn, d);
      bool indexed =
          rec->has_value() && (*rec)->artifact_class == c && inl.ok() && !inl->has_value();
      if (!indexed) {
        report->problems.push_back(
            {d.Ref(), ProblemKind::kUnindexed,
             "blob file '" + path + "' has no index record (left by an interrupted put or gc)"});
      }
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

}  // namespace

Result<VerifyReport> VerifyStore(const StoreCore& core, std::optional<Digest> only) {
  VerifyReport report;
  if (only) {
    RECOMP_ASSIGN_OR_RETURN(Txn txn, core.catalog.Read());
    auto rec = core.catalog.GetRecord(txn, *only);
    if (rec.ok() && !rec->has_value()) {
      return Status::NotFound("no artifact " + only->Ref() + " in store '" + core.layout.root() +
                              "'");
    }
    txn.Abort();
    RECOMP_RETURN_IF_ERROR(CheckOne(core, *only, &report));
    return report;
  }
  std::vector<Digest> digests;
  {
    RECOMP_ASSIGN_OR_RETURN(Txn txn, core.catalog.Read());
    RECOMP_RETURN_IF_ERROR(core.catalog.ForEachRecord(
        txn,
        [&](bool key_ok, std::string_view raw, const Digest& d, const Result<ArtifactRecord>& rec) {
          if (!key_ok) {
            report.problems.push_back({"index-key:" + HexOf(raw), ProblemKind::kCorrupt,
                                       "index key is not a 32-byte digest"});
          } else if (!rec.ok()) {
            report.problems.push_back({d.Ref(), ProblemKind::kCorrupt,
                                       "index record is unreadable: " + rec.status().message()});
          } else {
            digests.push_back(d);
          }
          return Status::Ok();
        }));
  }
  for (const Digest& d : digests) RECOMP_RETURN_IF_ERROR(CheckOne(core, d, &report));
  RECOMP_RETURN_IF_ERROR(FindUnindexed(core, &report));
  for (const auto& p : report.problems) {
    if (p.kind != ProblemKind::kUnindexed)
      core.log->warn("verify: {} is {}: {}", p.ref, ToString(p.kind), p.detail);
  }
  return report;
}

}  // namespace recomp::store
