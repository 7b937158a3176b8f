// ArtifactStore: the public API, thin over StoreCore, PutBatch, verify and gc.
#include "store/artifact_store.h"

#include <algorithm>
#include <cassert>
#include <cstdint>

#include "base/posix_file.h"
#include "store/gc.h"
#include "store/store_core.h"
#include "store/verify.h"

namespace recomp::store {
namespace {

Result<ArtifactRecord> Single(PutBatch& batch, const Result<ArtifactRecord>& added) {
  if (!added.ok()) return added.status();
  RECOMP_ASSIGN_OR_RETURN(auto recs, batch.CommitRecords());
  return recs.front();
}

// A temp name beside `dest` (same directory, so the final rename is atomic).
std::string TempBeside(const std::string& dest) {
  return DirName(dest) + "/." + BaseName(dest) + ".recomp-" + UniqueToken() + ".tmp";
}

// Writes the verified bytes of `loc` into a new file `tmp` with `mode`.
Status WriteVerified(const StoreCore& core, BlobLocation& loc, const std::string& tmp,
                     mode_t mode) {
  RECOMP_ASSIGN_OR_RETURN(Fd out, CreateExclusive(tmp, mode));
  if (loc.inline_bytes) {
    RECOMP_RETURN_IF_ERROR(CheckInline(loc));
    RECOMP_RETURN_IF_ERROR(
        WriteAll(out.get(), loc.inline_bytes->data(), loc.inline_bytes->size(), tmp));
  } else {
    RECOMP_ASSIGN_OR_RETURN(Fd in, OpenBlob(core, &loc));
    RECOMP_RETURN_IF_ERROR(StreamVerified(loc, in.get(), out.get(), tmp));
  }
  return out.Close(tmp);
}

// Runs `fn(tmp)` then renames tmp over `dest`; removes tmp on any failure.
Status ViaTemp(const std::string& dest, const std::function<Status(const std::string&)>& fn) {
  std::string tmp = TempBeside(dest);
  Status st = fn(tmp);
  if (st.ok()) st = RenameReplace(tmp, dest);
  if (!st.ok()) (void)Unlink(tmp);
  return st;
}

}  // namespace

ArtifactStore::ArtifactStore(std::shared_ptr<StoreCore> core) : core_(std::move(core)) {}
ArtifactStore::~ArtifactStore() = default;
const std::string& ArtifactStore::root() const {
  return core_->layout.root();
}

Result<std::unique_ptr<ArtifactStore>> ArtifactStore::Open(const std::string& root,
                                                           const StoreOptions& options) {
  RECOMP_ASSIGN_OR_RETURN(Layout layout, Layout::Open(root, options.create_if_missing));
  EnvOptions env;
  env.map_size = options.map_size;
  env.no_sync = !options.durable;
  RECOMP_ASSIGN_OR_RETURN(Catalog catalog, Catalog::Open(layout.IndexDir(), env));
  auto core = std::make_shared<StoreCore>(
      StoreCore{std::move(layout), std::move(catalog), options, StoreLogger()});
  auto temps = core->layout.CleanStaleTemps(options.stale_temp_age, /*dry_run=*/false);
  if (!temps.ok()) {
    core->log->warn("cleaning stale temp files in {}: {}", core->layout.TmpDir(),
                    temps.status().ToString());
  } else if (!temps->empty()) {
    core->log->info("removed {} stale temp file(s) from {}", temps->size(), core->layout.TmpDir());
  }
  return std::unique_ptr<ArtifactStore>(new ArtifactStore(std::move(core)));
}

PutBatch ArtifactStore::NewBatch() {
  return PutBatch(core_);
}

Result<StagedFile> ArtifactStore::BeginUpload() {
  return StagedFile::ForAppend(core_->layout);
}

Result<BlobReader> ArtifactStore::OpenReader(const Digest& d) {
  RECOMP_ASSIGN_OR_RETURN(BlobLocation loc, Locate(*core_, d));
  BlobReader r;
  if (loc.inline_bytes) {
    RECOMP_RETURN_IF_ERROR(CheckInline(loc));
    r.inline_bytes_ = std::move(loc.inline_bytes);
  } else {
    RECOMP_ASSIGN_OR_RETURN(r.fd_, OpenBlob(*core_, &loc));
    r.path_ = loc.path;
  }
  r.record_ = std::move(loc.record);
  return r;
}

Result<ArtifactRecord> ArtifactStore::PutFile(const std::string& path, const PutOptions& opts) {
  PutBatch b = NewBatch();
  return Single(b, b.AddFile(path, opts));
}

Result<ArtifactRecord> ArtifactStore::PutFd(int fd, const PutOptions& opts,
                                            const std::string& name) {
  PutBatch b = NewBatch();
  return Single(b, b.AddFd(fd, opts, name));
}

Result<ArtifactRecord> ArtifactStore::PutBytes(std::string_view bytes, const PutOptions& opts) {
  PutBatch b = NewBatch();
  return Single(b, b.AddBytes(bytes, opts));
}

Result<ArtifactRecord> ArtifactStore::Stat(const Digest& d) {
  RECOMP_ASSIGN_OR_RETURN(BlobLocation loc, Locate(*core_, d));
  return loc.record;
}

bool ArtifactStore::Contains(const Digest& d) {
  auto txn = core_->catalog.Read();
  if (!txn.ok()) return false;
  auto rec = core_->catalog.GetRecord(*txn, d);
  if (!rec.ok() || !rec->has_value()) return false;
  auto present = BlobPresent(*core_, *txn, d, **rec);
  return present.ok() && *present;
}

Status ArtifactStore::GetToFile(const Digest& d, const std::string& path) {
  RECOMP_ASSIGN_OR_RETURN(BlobLocation loc, Locate(*core_, d));
  return ViaTemp(path,
                 [&](const std::string& tmp) { return WriteVerified(*core_, loc, tmp, 0644); });
}

Status ArtifactStore::GetToFd(const Digest& d, int fd) {
  RECOMP_ASSIGN_OR_RETURN(BlobLocation loc, Locate(*core_, d));
  if (loc.inline_bytes) {
    RECOMP_RETURN_IF_ERROR(CheckInline(loc));
    return WriteAll(fd, loc.inline_bytes->data(), loc.inline_bytes->size(), "output");
  }
  RECOMP_ASSIGN_OR_RETURN(Fd in, OpenBlob(*core_, &loc));
  RECOMP_RETURN_IF_ERROR(StreamVerified(loc, in.get(), -1, ""));
  if (::lseek(in.get(), 0, SEEK_SET) != 0) return ErrnoStatus("seek", loc.path, errno);
  return StreamVerified(loc, in.get(), fd, "output");
}

Result<std::string> ArtifactStore::GetBytes(const Digest& d, size_t max_bytes) {
  return ReadBytes(*core_, d, max_bytes);
}

Result<std::string> ArtifactStore::LinkOrCopyTo(const Digest& d, const std::string& dest) {
  RECOMP_ASSIGN_OR_RETURN(BlobLocation loc, Locate(*core_, d));
  if (!loc.inline_bytes) {
    RECOMP_ASSIGN_OR_RETURN(Fd in, OpenBlob(*core_, &loc));
    RECOMP_RETURN_IF_ERROR(StreamVerified(loc, in.get(), -1, ""));
    bool cross_device = false;
    Status st = ViaTemp(dest, [&](const std::string& tmp) {
      Status l = HardLink(loc.path, tmp);
      cross_device = l.code() == Status::Code::kUnavailable;
      return l;
    });
    if (st.ok()) return std::string("hardlink");
    if (!cross_device) return st;
  }
  RECOMP_RETURN_IF_ERROR(
      ViaTemp(dest, [&](const std::string& tmp) { return WriteVerified(*core_, loc, tmp, 0400); }));
  return std::string("copy");
}

Status ArtifactStore::ExportTo(const std::string& dir, const std::vector<Digest>& refs) {
  for (const Digest& d : refs) {
    RECOMP_ASSIGN_OR_RETURN(ArtifactRecord rec, Stat(d));
    if (rec.artifact_class == ArtifactClass::kExternal) {
      return Status::FailedPrecondition(
          "refusing to export " + d.Ref() +
          ": it is an external artifact (user input), never exported");
    }
  }
  RECOMP_RETURN_IF_ERROR(MakeDirs(dir, 0755));
  for (const Digest& d : refs) RECOMP_RETURN_IF_ERROR(GetToFile(d, dir + "/" + d.Hex()));
  return Status::Ok();
}

Result<std::vector<ArtifactRecord>> ArtifactStore::List(std::optional<ArtifactClass> cls) {
  RECOMP_ASSIGN_OR_RETURN(RecordPage all, ListPage(std::nullopt, SIZE_MAX, cls));
  return std::move(all.records);
}

Result<RecordPage> ArtifactStore::ListPage(std::optional<Digest> after, size_t limit,
                                           std::optional<ArtifactClass> cls) {
  assert(limit > 0);
  RecordPage page;
  RECOMP_ASSIGN_OR_RETURN(Txn txn, core_->catalog.Read());
  Digest last;
  bool full = false;
  Status st = core_->catalog.ForEachRecord(
      txn,
      [&](bool key_ok, std::string_view, const Digest& d, const Result<ArtifactRecord>& rec) {
        if (!key_ok || !rec.ok()) {
          core_->log->warn("skipping unreadable index record {}", key_ok ? d.Ref() : "(bad key)");
          return Status::Ok();
        }
        if ((after && d == *after) || (cls && rec->artifact_class != *cls)) return Status::Ok();
        if (page.records.size() == limit) {
          full = true;
          return Status::Cancelled("page full");  // stops the walk; not an error
        }
        page.records.push_back(*rec);
        last = d;
        return Status::Ok();
      },
      after);
  if (full) {
    page.next = last;
  } else if (!st.ok()) {
    return st;
  }
  return page;
}

Result<VerifyReport> ArtifactStore::Verify(std::optional<Digest> d) {
  return VerifyStore(*core_, d);
}

Status ArtifactStore::PinRun(const std::string& run_id, RunPinState state,
                             const std::vector<Digest>& refs, SysTime at) {
  return PinRuns({PinUpdate{run_id, state, refs}}, at);
}

Status ArtifactStore::PinRuns(const std::vector<PinUpdate>& updates, SysTime at) {
  for (const PinUpdate& u : updates) {
    if (u.run_id.empty() || u.run_id.size() > 256)
      return Status::InvalidArgument("run id must be 1..256 bytes");
  }
  if (updates.empty()) return Status::Ok();
  RECOMP_ASSIGN_OR_RETURN(Txn txn, core_->catalog.Write());
  for (const PinUpdate& u : updates) {  // in order: a later update of a run sees the earlier one
    RECOMP_ASSIGN_OR_RETURN(auto existing, core_->catalog.GetPin(txn, u.run_id));
    RunPin pin = existing.value_or(RunPin{u.run_id, u.state, {}, std::nullopt, at});
    pin.state = u.state;
    pin.updated_at = at;
    pin.finished_at = u.state == RunPinState::kActive ? std::nullopt : std::optional<SysTime>(at);
    pin.refs.insert(pin.refs.end(), u.refs.begin(), u.refs.end());
    std::sort(pin.refs.begin(), pin.refs.end());
    pin.refs.erase(std::unique(pin.refs.begin(), pin.refs.end()), pin.refs.end());
    RECOMP_RETURN_IF_ERROR(core_->catalog.PutPin(txn, pin));
  }
  return txn.Commit();
}

Result<std::vector<RunPin>> ArtifactStore::ListPins() {
  std::vector<RunPin> out;
  RECOMP_ASSIGN_OR_RETURN(Txn txn, core_->catalog.Read());
  RECOMP_RETURN_IF_ERROR(core_->catalog.ForEachPin(txn, [&](const RunPin& p) {
    out.push_back(p);
    return Status::Ok();
  }));
  return out;
}

Result<GcReport> ArtifactStore::Gc(const GcPolicy& policy, bool dry_run, bool include_external) {
  return RunGc(*core_, policy, dry_run, include_external);
}

}  // namespace recomp::store
