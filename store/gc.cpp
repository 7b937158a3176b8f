// Gc (see gc.h). Phases: plan under a read txn (nothing to do -> no writer lock), then
// txn 1 removes the index entries (re-checked) and commits, then txn 2 -- holding the
// writer lock so no put can be publishing the same path -- unlinks blob files that are
// still unindexed. A crash between the two leaves only unindexed files (removed next time).
#include "store/gc.h"

#include <set>

#include "messages/tree.h"

namespace recomp::store {
namespace {

struct Candidate {
  Digest digest;
  ArtifactClass cls;
  std::string path;  // blob file to unlink; empty for inline blobs
};

bool Allowed(ArtifactClass c, bool include_external) {
  return c == ArtifactClass::kGenerated || include_external;
}

// Whether `rec` is collectable now, as of `txn`.
Result<bool> Collectable(const StoreCore& core, const Txn& txn, const PinKeeper& pins,
                         const GcPolicy& policy, SysTime now, const Digest& d,
                         const ArtifactRecord& rec) {
  RECOMP_ASSIGN_OR_RETURN(auto touched, core.catalog.GetTouch(txn, d));
  SysTime base;
  if (touched) {
    base = *touched;
  } else {
    RECOMP_ASSIGN_OR_RETURN(base, ParseRfc3339(rec.created_at));
  }
  SysTime keep = std::max(base + policy.unpinned_retention, pins.KeepUntil(d));
  return now >= keep;
}

// Blob files not (or differently) indexed as of `txn`.
Status FindOrphans(const StoreCore& core, const Txn& txn, bool include_external,
                   std::vector<Candidate>* out) {
  for (ArtifactClass c : {ArtifactClass::kGenerated, ArtifactClass::kExternal}) {
    if (!Allowed(c, include_external)) continue;
    RECOMP_RETURN_IF_ERROR(
        core.layout.ForEachBlobFile(c, [&](const Digest& d, const std::string& path) {
          RECOMP_ASSIGN_OR_RETURN(auto rec, core.catalog.GetRecord(txn, d));
          RECOMP_ASSIGN_OR_RETURN(auto inl, core.catalog.GetInline(txn, d));
          if (!rec || (*rec).artifact_class != c || inl) out->push_back({d, c, path});
          return Status::Ok();
        }));
  }
  return Status::Ok();
}

// Raises the keep time of every entry of every tree to the tree's own, so a tree that is kept
// never names a blob that is gone (a cache hit checks only the tree). A tree that cannot be
// read is logged; its entries then follow their own windows.
Status KeepTreeEntries(const StoreCore& core, const Txn& txn, const GcPolicy& policy, SysTime now,
                       PinKeeper* pins) {
  std::vector<std::pair<Digest, SysTime>> trees;
  RECOMP_RETURN_IF_ERROR(core.catalog.ForEachRecord(
      txn,
      [&](bool key_ok, std::string_view, const Digest& d,
          const Result<ArtifactRecord>& rec) -> Status {
        if (!key_ok || !rec.ok() || rec->media_type != kTreeMediaType) return Status::Ok();
        RECOMP_ASSIGN_OR_RETURN(auto touched, core.catalog.GetTouch(txn, d));
        SysTime base;
        if (touched) {
          base = *touched;
        } else {
          RECOMP_ASSIGN_OR_RETURN(base, ParseRfc3339(rec->created_at));
        }
        SysTime keep = std::max(base + policy.unpinned_retention, pins->KeepUntil(d));
        if (keep > now) trees.emplace_back(d, keep);
        return Status::Ok();
      }));
  for (const auto& [d, keep] : trees) {
    Result<std::string> bytes = ReadBytes(core, d, kMaxTreeBytes);
    Result<Tree> tree = bytes.ok() ? DecodeTree(*bytes) : Result<Tree>(bytes.status());
    if (!tree.ok()) {
      core.log->warn("gc: tree {} unreadable, its entries keep their own windows: {}", d.Ref(),
                     tree.status().ToString());
      continue;
    }
    for (const TreeEntry& e : tree->entries) pins->Raise(e.digest, keep);
  }
  return Status::Ok();
}

struct Plan {
  std::vector<Candidate> blobs;
  std::vector<Candidate> orphans;
};

Status MakePlan(const StoreCore& core, const GcPolicy& policy, SysTime now, bool include_external,
                Plan* plan, GcReport* report) {
  RECOMP_ASSIGN_OR_RETURN(Txn txn, core.catalog.Read());
  PinKeeper pins;
  RECOMP_RETURN_IF_ERROR(pins.Load(core.catalog, txn, policy, now));
  RECOMP_RETURN_IF_ERROR(KeepTreeEntries(core, txn, policy, now, &pins));
  report->expired_pins = pins.expired();
  RECOMP_RETURN_IF_ERROR(core.catalog.ForEachRecord(
      txn,
      [&](bool key_ok, std::string_view, const Digest& d,
          const Result<ArtifactRecord>& rec) -> Status {
        if (!key_ok || !rec.ok() || !Allowed(rec->artifact_class, include_external))
          return Status::Ok();
        RECOMP_ASSIGN_OR_RETURN(bool collect, Collectable(core, txn, pins, policy, now, d, *rec));
        if (!collect) {
          report->kept++;
          return Status::Ok();
        }
        report->removed.push_back(*rec);
        report->removed_bytes += rec->size;
        plan->blobs.push_back(
            {d, rec->artifact_class, core.layout.BlobPath(rec->artifact_class, d)});
        return Status::Ok();
      }));
  RECOMP_RETURN_IF_ERROR(FindOrphans(core, txn, include_external, &plan->orphans));
  for (const Candidate& o : plan->orphans) report->removed_orphans.push_back(o.digest.Ref());
  return Status::Ok();
}

// Txn 1: removes the index entries that are still collectable and the expired pins.
Status RemoveEntries(const StoreCore& core, const GcPolicy& policy, SysTime now,
                     bool include_external, Plan* plan, GcReport* report) {
  RECOMP_ASSIGN_OR_RETURN(Txn txn, core.catalog.Write());
  PinKeeper pins;
  RECOMP_RETURN_IF_ERROR(pins.Load(core.catalog, txn, policy, now));
  RECOMP_RETURN_IF_ERROR(KeepTreeEntries(core, txn, policy, now, &pins));
  std::vector<Candidate> removed;
  report->removed.clear();
  report->removed_bytes = 0;
  for (Candidate& c : plan->blobs) {
    RECOMP_ASSIGN_OR_RETURN(auto rec, core.catalog.GetRecord(txn, c.digest));
    if (!rec || !Allowed(rec->artifact_class, include_external)) continue;
    RECOMP_ASSIGN_OR_RETURN(bool collect,
                            Collectable(core, txn, pins, policy, now, c.digest, *rec));
    if (!collect) {
      report->kept++;
      continue;
    }
    RECOMP_ASSIGN_OR_RETURN(auto inl, core.catalog.GetInline(txn, c.digest));
    RECOMP_RETURN_IF_ERROR(core.catalog.Remove(txn, c.digest));
    report->removed.push_back(*rec);
    report->removed_bytes += rec->size;
    removed.push_back({c.digest, rec->artifact_class,
                       inl ? "" : core.layout.BlobPath(rec->artifact_class, c.digest)});
  }
  for (const std::string& run : pins.expired())
    RECOMP_RETURN_IF_ERROR(core.catalog.DeletePin(txn, run).status());
  report->expired_pins = pins.expired();
  RECOMP_RETURN_IF_ERROR(txn.Commit());
  plan->blobs = std::move(removed);
  return Status::Ok();
}

// Txn 2 (writer lock held, nothing written): unlinks files that are still unindexed.
Status UnlinkFiles(const StoreCore& core, const Plan& plan) {
  RECOMP_ASSIGN_OR_RETURN(Txn txn, core.catalog.Write());
  std::set<std::string> dirs;
  for (const auto* list : {&plan.blobs, &plan.orphans}) {
    for (const Candidate& c : *list) {
      if (c.path.empty()) continue;
      RECOMP_ASSIGN_OR_RETURN(auto rec, core.catalog.GetRecord(txn, c.digest));
      RECOMP_ASSIGN_OR_RETURN(auto inl, core.catalog.GetInline(txn, c.digest));
      if (rec && rec->artifact_class == c.cls && !inl) continue;  // re-put meanwhile: keep
      Status st = Unlink(c.path);
      if (!st.ok() && st.code() != Status::Code::kNotFound) return st;
      dirs.insert(DirName(c.path));
    }
  }
  for (const std::string& dir : dirs) RECOMP_RETURN_IF_ERROR(SyncDir(dir));
  return Status::Ok();
}

}  // namespace

Status PinKeeper::Load(const Catalog& catalog, const Txn& txn, const GcPolicy& policy,
                       SysTime now) {
  keep_.clear();
  expired_.clear();
  return catalog.ForEachPin(txn, [&](const RunPin& pin) {
    SysTime until = SysTime::max();
    if (pin.state != RunPinState::kActive) {
      auto window =
          pin.state == RunPinState::kFailed ? policy.failed_retention : policy.succeeded_retention;
      until = pin.finished_at.value_or(pin.updated_at) + window;
      if (now >= until) expired_.push_back(pin.run_id);
    }
    for (const Digest& d : pin.refs) {
      auto [it, inserted] = keep_.emplace(d, until);
      if (!inserted) it->second = std::max(it->second, until);
    }
    return Status::Ok();
  });
}

void PinKeeper::Raise(const Digest& d, SysTime until) {
  auto [it, inserted] = keep_.emplace(d, until);
  if (!inserted) it->second = std::max(it->second, until);
}

SysTime PinKeeper::KeepUntil(const Digest& d) const {
  auto it = keep_.find(d);
  return it == keep_.end() ? SysTime::min() : it->second;
}

Result<GcReport> RunGc(const StoreCore& core, const GcPolicy& policy, bool dry_run,
                       bool include_external) {
  GcReport report;
  report.dry_run = dry_run;
  SysTime now = policy.now.value_or(std::chrono::system_clock::now());
  RECOMP_ASSIGN_OR_RETURN(report.removed_temps,
                          core.layout.CleanStaleTemps(core.options.stale_temp_age, dry_run));
  Plan plan;
  RECOMP_RETURN_IF_ERROR(MakePlan(core, policy, now, include_external, &plan, &report));
  if (dry_run) return report;
  if (!plan.blobs.empty() || !report.expired_pins.empty()) {
    RECOMP_RETURN_IF_ERROR(RemoveEntries(core, policy, now, include_external, &plan, &report));
  }
  if (!plan.blobs.empty() || !plan.orphans.empty()) RECOMP_RETURN_IF_ERROR(UnlinkFiles(core, plan));
  for (const ArtifactRecord& r : report.removed) {
    core.log->info("gc removed {} ({} bytes, {})", r.ref, r.size, ToString(r.artifact_class));
  }
  return report;
}

}  // namespace recomp::store
