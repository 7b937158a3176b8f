// `recomp artifact ...`: a thin CLI over store::ArtifactStore (see docs/store.md).
// Exit codes: 0 ok, 1 runtime failure (missing file, corrupt blob, full disk), 2 usage
// (malformed ref, bad flag value).
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "base/posix_file.h"
#include "cli/blob_access.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "messages/artifact_ref.h"
#include "messages/tree.h"
#include "store/artifact_store.h"

namespace recomp::cli {
namespace {

using store::ArtifactStore;

constexpr int kUsage = 2;

[[noreturn]] void Usage(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
  throw CLI::RuntimeError(kUsage);
}

Digest ParseRefOrUsage(const std::string& text) {
  auto d = ParseArtifactRef(text);
  if (!d.ok()) Usage(d.status());
  return *d;
}

std::unique_ptr<ArtifactStore> OpenStore(const std::string& dir, bool create) {
  store::StoreOptions opts;
  opts.create_if_missing = create;
  auto s = ArtifactStore::Open(dir, opts);
  ExitIfError(s.status());
  return std::move(s).value();
}

struct Common {
  std::string store_dir = DefaultHome() + "/store";
  std::string api;              // put/get/stat: the coordinator whose blob service to use
  std::string key, server_key;  // with --api to a CURVE pool (docs/security.md)
};

CLI::App* Sub(CLI::App* parent, const std::string& name, const std::string& help, Common* c,
              bool remote = false) {
  CLI::App* sub = parent->add_subcommand(name, help);
  CLI::Option* store =
      sub->add_option("--store", c->store_dir, "store directory (default $RECOMP_HOME/store)");
  sub->add_option_function<std::string>(
      "--data",
      [c, store](const std::string& dir) {
        if (store->count() == 0) c->store_dir = dir + "/store";  // --store wins
      },
      "data directory: use its store/ (like the other commands)");
  if (remote) {
    sub->add_option("--api", c->api,
                    "a coordinator's API endpoint: use its blob service (from another machine)")
        ->excludes(store);
    sub->add_option("--key", c->key, "with --api: CURVE key file (NAME.key)");
    sub->add_option("--server-key", c->server_key,
                    "with --api: the pool's CURVE public key (40 Z85 characters or a .pub file)");
  }
  return sub;
}

// The store (or with --api the coordinator's blob service) for put/get/stat.
std::unique_ptr<BlobAccess> Access(Common* c, bool create) {
  if (c->api.empty()) return LocalBlobAccess(OpenStore(c->store_dir, create));
  ClientFlags f;
  f.api = c->api;
  f.key = c->key;
  f.server_key = c->server_key;
  auto conn = Connect(f);
  ExitIfError(conn.status());
  auto access = OpenBlobAccess(f, "", &*conn);
  ExitIfError(access.status());
  return std::move(access).value();
}

void AddPut(CLI::App* art, Common* c) {
  struct Args {
    std::string file;
    bool external = false;
    std::string media = "application/octet-stream";
    std::string producer = "cli";
  };
  auto a = std::make_shared<Args>();
  CLI::App* put =
      Sub(art, "put", "store a file ('-' = stdin); prints its ref on the last line", c, true);
  put->add_option("FILE", a->file, "file to store")->required();
  put->add_flag("--external", a->external, "user input (ROM, asset): kept apart, never exported");
  put->add_option("--media-type", a->media, "media type recorded with the blob");
  put->add_option("--producer", a->producer, "who produced it (recorded)");
  put->callback([a, c] {
    auto s = Access(c, /*create=*/true);
    store::PutOptions o;
    o.artifact_class = a->external ? ArtifactClass::kExternal : ArtifactClass::kGenerated;
    o.media_type = a->media;
    o.producer = a->producer;
    auto ref = a->file == "-" ? s->PutFd(STDIN_FILENO, o, "stdin") : s->PutFile(a->file, o);
    if (ref.status().code() == Status::Code::kInvalidArgument && a->file != "-" &&
        ref.status().message().find("is a directory") == std::string::npos) {
      Usage(ref.status());
    }
    ExitIfError(ref.status().WithContext("put into " + s->Where()));
    std::printf("%s\n", ref->c_str());
  });
}

// Writes the entries of tree `d` under `dir` (created when missing), or only the
// entry `only` to the file `dir`, with their exec bits.
Status ExtractTree(BlobAccess& s, const Digest& d, const std::string& dir,
                   const std::string& only) {
  RECOMP_ASSIGN_OR_RETURN(std::string text, s.GetBytes(d, kMaxTreeBytes));
  RECOMP_ASSIGN_OR_RETURN(Tree tree, DecodeTree(text));
  bool found = false;
  if (only.empty()) RECOMP_RETURN_IF_ERROR(MakeDirs(dir, 0755));
  for (const TreeEntry& e : tree.entries) {
    if (!only.empty() && e.path != only) continue;
    found = true;
    const std::string dest = only.empty() ? dir + "/" + e.path : dir;
    if (only.empty()) RECOMP_RETURN_IF_ERROR(MakeDirs(DirName(dest), 0755));
    RECOMP_RETURN_IF_ERROR(s.GetToFile(e.digest, dest));
    if (::chmod(dest.c_str(), e.executable ? 0755 : 0644) != 0) {
      return ErrnoStatus("chmod", dest, errno);
    }
  }
  if (!only.empty() && !found) {
    return Status::NotFound("tree " + d.Ref() + " has no entry '" + only + "'");
  }
  return Status::Ok();
}

void AddGet(CLI::App* art, Common* c) {
  struct Args {
    std::string ref, out, entry;
    bool raw = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* get = Sub(art, "get",
                      "write a blob's verified bytes to -o FILE or stdout; a tree (a directory "
                      "output) to -o DIR",
                      c, true);
  get->add_option("REF", a->ref, "artifact://<hex>")->required();
  get->add_option("-o,--output", a->out,
                  "output file (replaced atomically); for a tree, a new directory");
  get->add_option("--entry", a->entry, "of a tree: only this file (path inside the directory)");
  get->add_flag("--raw", a->raw, "a tree's own bytes (its JSON listing), not its files");
  get->callback([a, c] {
    Digest d = ParseRefOrUsage(a->ref);
    auto s = Access(c, false);
    auto rec = s->Stat(d);
    ExitIfError(rec.status());
    if (rec->media_type == kTreeMediaType && !a->raw) {
      if (a->out.empty()) Usage(Status::InvalidArgument(a->ref + " is a tree: give -o DIR"));
      ExitIfError(ExtractTree(*s, d, a->out, a->entry));
      return;
    }
    if (!a->entry.empty()) Usage(Status::InvalidArgument(a->ref + " is not a tree: no --entry"));
    if (a->out.empty()) {
      std::fflush(stdout);
      ExitIfError(s->GetToFd(d, STDOUT_FILENO));
    } else {
      ExitIfError(s->GetToFile(d, a->out));
    }
  });
}

void AddStat(CLI::App* art, Common* c) {
  auto ref = std::make_shared<std::string>();
  CLI::App* st = Sub(art, "stat", "print a blob's index record as JSON", c, true);
  st->add_option("REF", *ref, "artifact://<hex>")->required();
  st->callback([ref, c] {
    Digest d = ParseRefOrUsage(*ref);
    auto s = Access(c, false);
    auto rec = s->Stat(d);
    ExitIfError(rec.status());
    std::printf("%s\n", ToJson(*rec).dump(2).c_str());
  });
}

void AddLs(CLI::App* art, Common* c) {
  struct Args {
    std::string cls;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* ls = Sub(art, "ls", "list stored blobs: ref class size media_type created_at", c, true);
  ls->add_option("--class", a->cls, "external|generated");
  ls->add_flag("--json", a->json, "one JSON array of records");
  ls->callback([a, c] {
    std::optional<ArtifactClass> cls;
    if (!a->cls.empty()) {
      auto p = ParseArtifactClass(a->cls);
      if (!p.ok()) Usage(p.status());
      cls = *p;
    }
    auto s = Access(c, false);
    nlohmann::json arr = nlohmann::json::array();
    ExitIfError(s->ForEachRecord(cls, [&](const ArtifactRecord& r) {
      if (a->json) {
        arr.push_back(ToJson(r));
      } else {
        std::printf(
            "%s %s %llu %s %s\n", r.ref.c_str(), std::string(ToString(r.artifact_class)).c_str(),
            static_cast<unsigned long long>(r.size), r.media_type.c_str(), r.created_at.c_str());
      }
      return Status::Ok();
    }));
    if (a->json) std::printf("%s\n", arr.dump(2).c_str());
  });
}

void AddVerify(CLI::App* art, Common* c) {
  auto ref = std::make_shared<std::string>();
  CLI::App* v =
      Sub(art, "verify", "re-hash all blobs (or REF); exit 1 if any is corrupt or missing", c);
  CLI::Option* ref_opt = v->add_option("REF", *ref, "only this artifact");
  v->callback([ref, ref_opt, c] {
    std::optional<Digest> only;
    if (ref_opt->count() > 0) only = ParseRefOrUsage(*ref);
    auto s = OpenStore(c->store_dir, false);
    auto rep = s->Verify(only);
    ExitIfError(rep.status());
    for (const auto& p : rep->problems) {
      std::printf("%s %s: %s\n", std::string(store::ToString(p.kind)).c_str(), p.ref.c_str(),
                  p.detail.c_str());
    }
    std::printf("verified %llu blob(s), %llu bytes, %zu problem(s)\n",
                static_cast<unsigned long long>(rep->checked),
                static_cast<unsigned long long>(rep->bytes), rep->problems.size());
    std::fflush(stdout);
    if (!rep->ok()) ExitWith(1);
  });
}

void PrintGc(const store::GcReport& rep) {
  const char* verb = rep.dry_run ? "would remove" : "removed";
  for (const auto& r : rep.removed) {
    std::printf("%s %s %s %llu\n", verb, r.ref.c_str(),
                std::string(ToString(r.artifact_class)).c_str(),
                static_cast<unsigned long long>(r.size));
  }
  for (const auto& o : rep.removed_orphans) std::printf("%s unindexed %s\n", verb, o.c_str());
  for (const auto& t : rep.removed_temps) std::printf("%s temp %s\n", verb, t.c_str());
  for (const auto& p : rep.expired_pins) std::printf("%s pin %s\n", verb, p.c_str());
  std::printf("%s %zu blob(s), %llu bytes; kept %llu\n", verb, rep.removed.size(),
              static_cast<unsigned long long>(rep.removed_bytes),
              static_cast<unsigned long long>(rep.kept));
}

void AddGc(CLI::App* art, Common* c) {
  struct Args {
    bool dry = false, external = false;
    std::string config;
    int older = -1;
    int temp_age = -1;
  };
  auto a = std::make_shared<Args>();
  CLI::App* gc = Sub(art, "gc", "remove unpinned generated blobs past retention", c);
  gc->add_flag("--dry-run", a->dry, "list what would be removed; remove nothing");
  gc->add_flag("--external", a->external, "also collect external blobs (user inputs)");
  gc->add_option("--config", a->config,
                 "config file whose [store.retention] failed_days/succeeded_days/unpinned_days "
                 "apply (default $RECOMP_CONFIG, then $XDG_CONFIG_HOME/recomp/recomp.toml, "
                 "/etc/recomp/recomp.toml)");
  gc->add_option("--older-than-days", a->older, "override every retention window (days)")
      ->check(CLI::NonNegativeNumber);
  gc->add_option("--stale-temp-seconds", a->temp_age, "age after which unlocked temp files go")
      ->check(CLI::NonNegativeNumber)
      ->group("");
  gc->callback([a, c] {
    // The windows the coordinator prunes its runs by: the same config, found the same way.
    auto cfg = Config::Load(a->config);
    ExitIfError(cfg.status());
    auto days = RetentionFrom(*cfg);
    ExitIfError(days.status());
    store::GcPolicy policy;
    policy.failed_retention = days->failed;
    policy.succeeded_retention = days->succeeded;
    policy.unpinned_retention = days->unpinned;
    if (a->older >= 0) {
      policy.failed_retention = policy.succeeded_retention = policy.unpinned_retention =
          std::chrono::days(a->older);
    }
    store::StoreOptions opts;
    opts.create_if_missing = false;
    if (a->temp_age >= 0) opts.stale_temp_age = std::chrono::seconds(a->temp_age);
    auto s = ArtifactStore::Open(c->store_dir, opts);
    ExitIfError(s.status());
    auto rep = (*s)->Gc(policy, a->dry, a->external);
    ExitIfError(rep.status());
    PrintGc(*rep);
  });
}

void AddPin(CLI::App* art, Common* c) {
  struct Args {
    std::string run, state;
    std::vector<std::string> refs;
  };
  auto a = std::make_shared<Args>();
  CLI::App* pin =
      Sub(art, "pin", "(plumbing) pin refs for a run: --state active|succeeded|failed", c);
  pin->group("");  // hidden: the coordinator calls ArtifactStore::PinRun directly
  pin->add_option("RUN", a->run, "run id")->required();
  pin->add_option("--state", a->state, "active|succeeded|failed")->required();
  pin->add_option("REF", a->refs, "artifact refs");
  pin->callback([a, c] {
    auto state = store::ParseRunPinState(a->state);
    if (!state.ok()) Usage(state.status());
    std::vector<Digest> refs;
    for (const auto& r : a->refs) refs.push_back(ParseRefOrUsage(r));
    auto s = OpenStore(c->store_dir, true);
    ExitIfError(s->PinRun(a->run, *state, refs, std::chrono::system_clock::now()));
  });
}

void AddExport(CLI::App* art, Common* c) {
  struct Args {
    std::string dir;
    std::vector<std::string> refs;
  };
  auto a = std::make_shared<Args>();
  CLI::App* ex = Sub(art, "export", "copy generated blobs to DIR/<hex>; refuses external ones", c);
  ex->add_option("DIR", a->dir, "destination directory")->required();
  ex->add_option("REF", a->refs, "artifact refs")->required();
  ex->callback([a, c] {
    std::vector<Digest> refs;
    for (const auto& r : a->refs) refs.push_back(ParseRefOrUsage(r));
    auto s = OpenStore(c->store_dir, false);
    ExitIfError(s->ExportTo(a->dir, refs));
  });
}

}  // namespace

void AddArtifactCommands(CLI::App& app) {
  static Common common;  // option storage outlives parsing
  CLI::App* art = app.add_subcommand("artifact", "content-addressed artifact store");
  art->require_subcommand(1);
  AddPut(art, &common);
  AddGet(art, &common);
  AddStat(art, &common);
  AddLs(art, &common);
  AddVerify(art, &common);
  AddGc(art, &common);
  AddPin(art, &common);
  AddExport(art, &common);
}

}  // namespace recomp::cli
