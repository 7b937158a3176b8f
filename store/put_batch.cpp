// PutBatch: staging and the single-commit publish of new blobs (see put_batch.h).
#include "store/put_batch.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include "base/blake2b.h"
#include "base/clock.h"
#include "store/store_core.h"

namespace recomp::store {
namespace {

Status ValidateOptions(const PutOptions& o) {
  if (o.media_type.empty() || o.media_type.size() > 255) {
    return Status::InvalidArgument("media type must be 1..255 characters");
  }
  for (unsigned char c : o.media_type) {
    if (c <= 0x20 || c >= 0x7f)
      return Status::InvalidArgument("media type has a non-printable or space character");
  }
  if (o.producer.size() > 4096)
    return Status::InvalidArgument("producer is longer than 4096 bytes");
  return Status::Ok();
}

// Reads a small regular file whole; nullopt when it turned out larger than `max`.
Result<std::optional<std::string>> ReadSmall(int fd, size_t max, const std::string& name) {
  std::string buf(max + 1, '\0');
  size_t got = 0;
  for (;;) {
    RECOMP_ASSIGN_OR_RETURN(size_t n, ReadSome(fd, buf.data() + got, buf.size() - got, name));
    if (n == 0) break;
    got += n;
    if (got > max) return std::optional<std::string>();
  }
  buf.resize(got);
  return std::optional<std::string>(std::move(buf));
}

// A snapshot older than this is renewed before use (Add is usually called in a burst).
constexpr auto kSnapshotMaxAge = std::chrono::milliseconds(20);

// Whether the last put of `d` (its touch time, else created_at) is within the touch interval
// of `now`: then a re-put need not record its time (see StoreOptions::touch_interval).
bool RecentlyPut(const StoreCore& core, const Txn& txn, const Digest& d, const ArtifactRecord& rec,
                 SysTime now) {
  auto touched = core.catalog.GetTouch(txn, d);
  if (!touched.ok()) return false;
  SysTime last;
  if (touched->has_value()) {
    last = **touched;
  } else {
    auto created = ParseRfc3339(rec.created_at);
    if (!created.ok()) return false;
    last = *created;
  }
  return now - last < core.options.touch_interval;
}

}  // namespace

// One LMDB write transaction publishing a batch's items.
class PutBatch::Committer {
 public:
  Committer(const StoreCore& core, Txn& txn)
      : core_(core), txn_(txn), now_(std::chrono::system_clock::now()) {}
  Result<ArtifactRecord> Store(Item& item);
  Status SyncDirs();
  std::vector<std::string> leftovers;  // generated files of blobs promoted to external

 private:
  Result<bool> Materialize(Item& item, const ArtifactRecord& rec);
  const StoreCore& core_;
  Txn& txn_;
  SysTime now_;
  uint64_t next_entry_ = 0;  // entry number cache for AddRecord (0 = look it up)
  std::set<std::string> dirs_;
};

Result<ArtifactRecord> PutBatch::Committer::Store(Item& item) {
  const Digest& d = item.digest;
  auto existing = core_.catalog.GetRecord(txn_, d);
  if (!existing.ok() && existing.status().code() != Status::Code::kCorruption)
    return existing.status();
  if (!existing.ok()) core_.log->warn("replacing unreadable index record of {}", d.Ref());
  ArtifactRecord rec = item.record;
  if (existing.ok() && existing->has_value()) {
    rec = **existing;
    RECOMP_ASSIGN_OR_RETURN(bool present, BlobPresent(core_, txn_, d, rec));
    bool promote = rec.artifact_class == ArtifactClass::kGenerated &&
                   item.record.artifact_class == ArtifactClass::kExternal;
    if (present && !promote) {  // deduplicated: at most the touch time is written
      if (!RecentlyPut(core_, txn_, d, rec, now_))
        RECOMP_RETURN_IF_ERROR(core_.catalog.Touch(txn_, d, now_));
      return rec;
    }
    if (promote) {
      rec.artifact_class = ArtifactClass::kExternal;
      RECOMP_ASSIGN_OR_RETURN(auto inl, core_.catalog.GetInline(txn_, d));
      if (inl) {
        RECOMP_RETURN_IF_ERROR(core_.catalog.DeleteInline(txn_, d));
      } else if (present) {
        leftovers.push_back(core_.layout.BlobPath(ArtifactClass::kGenerated, d));
      }
      core_.log->info("{} promoted from generated to external", d.Ref());
    } else {
      core_.log->warn("{} was indexed but its blob was missing; restored from this put", d.Ref());
    }
  }
  RECOMP_ASSIGN_OR_RETURN(bool as_inline, Materialize(item, rec));
  std::optional<std::string_view> inline_bytes;
  if (as_inline) inline_bytes = *item.bytes;
  if (existing.ok() && !existing->has_value()) {
    // New blob: one appended entry and one records pair.
    RECOMP_RETURN_IF_ERROR(core_.catalog.AddRecord(txn_, d, rec, inline_bytes, &next_entry_));
    return rec;
  }
  next_entry_ = 0;  // PutRecord may append an entry itself
  RECOMP_RETURN_IF_ERROR(core_.catalog.PutRecord(txn_, d, rec));
  if (inline_bytes) RECOMP_RETURN_IF_ERROR(core_.catalog.PutInline(txn_, d, *inline_bytes));
  // A new record's created_at is its last put; only re-puts write `touched` (one random
  // B-tree insert less per new blob).
  RECOMP_RETURN_IF_ERROR(core_.catalog.Touch(txn_, d, now_));
  return rec;
}

// Publishes the blob file of `item` (true: it is to be stored inline instead; nothing done).
Result<bool> PutBatch::Committer::Materialize(Item& item, const ArtifactRecord& rec) {
  const Digest& d = item.digest;
  if (item.bytes && rec.artifact_class == ArtifactClass::kGenerated &&
      rec.size <= core_.options.inline_max_bytes) {
    return true;
  }
  if (!item.staged) {
    RECOMP_ASSIGN_OR_RETURN(StagedFile f, StagedFile::FromBytes(core_.layout, *item.bytes));
    item.staged = std::move(f);
    item.sealed = false;
  }
  if (!item.sealed) RECOMP_RETURN_IF_ERROR(item.staged->Seal(core_.options.durable));
  item.sealed = true;
  RECOMP_RETURN_IF_ERROR(core_.layout.EnsureFanoutDir(rec.artifact_class, d));
  std::string path = core_.layout.BlobPath(rec.artifact_class, d);
  Status st = item.staged->Publish(path, /*replace=*/false);
  if (st.code() == Status::Code::kAlreadyExists) {
    // An unindexed (crash-left) or damaged file: we hold the writer lock, so no live writer
    // is publishing it; replace it with our verified bytes.
    st = item.staged->Publish(path, /*replace=*/true);
  }
  RECOMP_RETURN_IF_ERROR(st);
  item.staged.reset();
  dirs_.insert(core_.layout.FanoutDir(rec.artifact_class, d));
  return false;
}

Status PutBatch::Committer::SyncDirs() {
  if (!core_.options.durable) return Status::Ok();
  for (const std::string& dir : dirs_) RECOMP_RETURN_IF_ERROR(SyncDir(dir));
  return Status::Ok();
}

PutBatch::PutBatch(std::shared_ptr<const StoreCore> core) : core_(std::move(core)) {}
PutBatch::PutBatch(PutBatch&&) noexcept = default;
PutBatch& PutBatch::operator=(PutBatch&&) noexcept = default;
PutBatch::~PutBatch() = default;

Result<ArtifactRecord> PutBatch::AddFile(const std::string& path, const PutOptions& opts) {
  RECOMP_RETURN_IF_ERROR(ValidateOptions(opts));
  RECOMP_ASSIGN_OR_RETURN(Fd fd, OpenForRead(path));
  return AddFd(fd.get(), opts, path);
}

Result<ArtifactRecord> PutBatch::AddFd(int fd, const PutOptions& opts, const std::string& name) {
  RECOMP_RETURN_IF_ERROR(ValidateOptions(opts));
  RECOMP_ASSIGN_OR_RETURN(struct stat st, StatFd(fd, name));
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument("'" + name + "' is a directory");
  size_t max = core_->options.inline_max_bytes;
  if (S_ISREG(st.st_mode) && opts.artifact_class == ArtifactClass::kGenerated &&
      static_cast<uint64_t>(st.st_size) <= max) {
    off_t start = ::lseek(fd, 0, SEEK_CUR);
    RECOMP_ASSIGN_OR_RETURN(auto small, ReadSmall(fd, max, name));
    if (small) return AddBytes(*small, opts);
    if (start < 0 || ::lseek(fd, start, SEEK_SET) < 0) {  // grew meanwhile: stream it instead
      return ErrnoStatus("seek", name, errno);
    }
  }
  Item item;
  RECOMP_ASSIGN_OR_RETURN(StagedFile f,
                          StagedFile::CopyFrom(core_->layout, fd, name, core_->options.durable));
  item.digest = f.digest();
  item.staged = std::move(f);
  return Add(std::move(item), opts);
}

Result<ArtifactRecord> PutBatch::AddBytes(std::string_view bytes, const PutOptions& opts) {
  RECOMP_RETURN_IF_ERROR(ValidateOptions(opts));
  Item item;
  if (opts.artifact_class == ArtifactClass::kGenerated &&
      bytes.size() <= core_->options.inline_max_bytes) {
    item.digest = Blake2b256::Of(bytes);
    item.bytes = std::string(bytes);
  } else {
    RECOMP_ASSIGN_OR_RETURN(StagedFile f, StagedFile::FromBytes(core_->layout, bytes));
    item.digest = f.digest();
    item.staged = std::move(f);
  }
  return Add(std::move(item), opts);
}

Result<ArtifactRecord> PutBatch::AddStaged(StagedFile file, const PutOptions& opts) {
  RECOMP_RETURN_IF_ERROR(ValidateOptions(opts));
  if (opts.artifact_class == ArtifactClass::kGenerated &&
      file.size() <= core_->options.inline_max_bytes) {
    RECOMP_ASSIGN_OR_RETURN(Fd fd, OpenForRead(file.path()));
    RECOMP_ASSIGN_OR_RETURN(auto small, ReadSmall(fd.get(), file.size(), file.path()));
    if (!small || Blake2b256::Of(*small) != file.digest()) {
      return Status::Corruption("staged upload " + file.path() + " changed before its commit");
    }
    return AddBytes(*small, opts);
  }
  Item item;
  item.digest = file.digest();
  item.staged = std::move(file);
  return Add(std::move(item), opts);
}

Result<ArtifactRecord> PutBatch::Add(Item item, const PutOptions& opts) {
  uint64_t size = item.bytes ? item.bytes->size() : item.staged->size();
  item.record = ArtifactRecord{item.digest.Ref(), size,         opts.artifact_class,
                               opts.media_type,   NowRfc3339(), opts.producer};
  ArtifactRecord result = item.record;
  RECOMP_ASSIGN_OR_RETURN(Txn * txn, Snapshot(/*fresh=*/false));
  auto existing = core_->catalog.GetRecord(*txn, item.digest);
  if (existing.ok() && existing->has_value()) {
    result = **existing;
    auto present = BlobPresent(*core_, *txn, item.digest, result);
    item.likely_present = present.ok() && *present;
    if (opts.artifact_class == ArtifactClass::kExternal)
      result.artifact_class = ArtifactClass::kExternal;
  }
  items_.push_back(std::move(item));
  return result;
}

Result<Txn*> PutBatch::Snapshot(bool fresh) {
  auto now = std::chrono::steady_clock::now();
  if (!read_) {
    RECOMP_ASSIGN_OR_RETURN(Txn txn, core_->catalog.Read());
    read_ = std::make_unique<Txn>(std::move(txn));
  } else if (fresh || now - read_at_ > kSnapshotMaxAge) {
    if (Status st = read_->Renew(); !st.ok()) {
      read_.reset();
      return st;
    }
  } else {
    return read_.get();
  }
  read_at_ = now;
  return read_.get();
}

Result<std::optional<std::vector<ArtifactRecord>>> PutBatch::AllKnown(
    const std::vector<Item>& items) {
  using Out = std::optional<std::vector<ArtifactRecord>>;
  RECOMP_ASSIGN_OR_RETURN(Txn * txn, Snapshot(/*fresh=*/true));
  SysTime now = std::chrono::system_clock::now();
  std::vector<ArtifactRecord> out;
  out.reserve(items.size());
  for (const Item& item : items) {  // any doubt (error, absent, promotion, stale) -> write path
    auto rec = core_->catalog.GetRecord(*txn, item.digest);
    if (!rec.ok() || !rec->has_value()) return Out();
    ArtifactRecord& r = **rec;
    if (r.artifact_class == ArtifactClass::kGenerated &&
        item.record.artifact_class == ArtifactClass::kExternal) {
      return Out();
    }
    auto present = BlobPresent(*core_, *txn, item.digest, r);
    if (!present.ok() || !*present || !RecentlyPut(*core_, *txn, item.digest, r, now)) return Out();
    out.push_back(std::move(r));
  }
  // What the snapshot shows may be a commit still syncing (another process's, or one whose
  // durability this process has not seen yet): wait it out (the writer lock, no write).
  RECOMP_RETURN_IF_ERROR(core_->catalog.AwaitDurable(*txn));
  return Out(std::move(out));
}

Status PutBatch::Commit() {
  return CommitRecords().status();
}

Result<std::vector<ArtifactRecord>> PutBatch::CommitRecords() {
  std::vector<Item> items = std::move(items_);
  items_.clear();
  auto known = AllKnown(items);
  read_.reset();  // no snapshot held across the write (nor while the batch idles)
  if (!known.ok()) return known.status();
  if (*known) return std::move(**known);  // nothing new: no writer lock, no commit
  for (Item& item : items) {              // make new bytes durable before taking the writer lock
    if (item.staged && !item.likely_present) {
      RECOMP_RETURN_IF_ERROR(item.staged->Seal(core_->options.durable));
      item.sealed = true;
    }
  }
  std::vector<ArtifactRecord> out;
  std::vector<std::string> leftovers;
  {
    RECOMP_ASSIGN_OR_RETURN(Txn txn, core_->catalog.Write());
    Committer c(*core_, txn);
    out.reserve(items.size());
    for (Item& item : items) {
      RECOMP_ASSIGN_OR_RETURN(ArtifactRecord rec, c.Store(item));
      out.push_back(std::move(rec));
    }
    RECOMP_RETURN_IF_ERROR(c.SyncDirs());
    RECOMP_RETURN_IF_ERROR(txn.Commit());
    leftovers = std::move(c.leftovers);
  }
  if (!leftovers.empty()) RECOMP_RETURN_IF_ERROR(DropPromotedCopies(items, leftovers));
  return out;
}

// Under the writer lock, no put can be publishing these paths: drop the generated copies of
// promoted blobs (a crash here only leaves unindexed files for gc).
Status PutBatch::DropPromotedCopies(const std::vector<Item>& items,
                                    const std::vector<std::string>& leftovers) {
  RECOMP_ASSIGN_OR_RETURN(Txn txn, core_->catalog.Write());
  for (const Item& item : items) {
    std::string path = core_->layout.BlobPath(ArtifactClass::kGenerated, item.digest);
    if (std::find(leftovers.begin(), leftovers.end(), path) == leftovers.end()) continue;
    auto rec = core_->catalog.GetRecord(txn, item.digest);
    if (rec.ok() && rec->has_value() && (*rec)->artifact_class == ArtifactClass::kGenerated)
      continue;
    (void)Unlink(path);
  }
  return Status::Ok();
}

}  // namespace recomp::store
