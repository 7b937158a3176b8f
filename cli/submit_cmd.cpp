// `recomp submit`: stores the module files (as external), the pipeline's tools and the
// resolved config manifest, a module manifest and a provenance manifest in the store (the
// local one, or the coordinator's through its blob service from another machine),
// submits the v1 run submission, and with --wait follows the run's events to its end.
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "cli/blob_access.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/event_follower.h"
#include "coordinator/pipeline.h"
#include "messages/artifact_ref.h"
#include "messages/module_manifest.h"
#include "messages/protocol.h"
#include "messages/run_submission.h"

namespace recomp::cli {
namespace {

struct SubmitArgs {
  ClientFlags flags;
  std::vector<std::string> modules;
  std::string config, provenance, run_id, mode = "local", priority = "standard", store;
  bool wait = false;
};

Result<std::string> Put(BlobAccess& s, const std::string& path, ArtifactClass cls,
                        const std::string& media) {
  store::PutOptions o;
  o.artifact_class = cls;
  o.media_type = media;
  o.producer = "cli:submit";
  auto ref = s.PutFile(path, o);
  if (!ref.ok()) return ref.status().WithContext("storing " + path);
  return ref;
}

Result<std::string> PutText(BlobAccess& s, const std::string& text, const std::string& media) {
  store::PutOptions o;
  o.media_type = media;
  o.producer = "cli:submit";
  return s.PutBytes(text, o);
}

// An existing ref (checked present) or a file to store.
Result<std::string> RefOrFile(BlobAccess& s, const std::string& arg, ArtifactClass cls,
                              const std::string& media) {
  if (arg.rfind("artifact://", 0) == 0) {
    RECOMP_ASSIGN_OR_RETURN(Digest d, ParseArtifactRef(arg));
    RECOMP_ASSIGN_OR_RETURN(bool there, s.Contains(d));
    if (!there) return Status::NotFound(arg + " is not in the " + s.Where());
    return arg;
  }
  return Put(s, arg, cls, media);
}

// --module [NAME=]FILE|REF
Result<ModuleFile> StoreModule(BlobAccess& s, const std::string& arg) {
  std::string name, what = arg;
  size_t eq = arg.find('=');
  if (eq != std::string::npos && arg.rfind("artifact://", 0) != 0) {
    name = arg.substr(0, eq);
    what = arg.substr(eq + 1);
  }
  if (name.empty()) {
    name = what.rfind("artifact://", 0) == 0 ? what.substr(11)
                                             : std::filesystem::path(what).filename().string();
  }
  RECOMP_RETURN_IF_ERROR(ValidateModuleFileName(name).WithContext("--module " + arg));
  RECOMP_ASSIGN_OR_RETURN(std::string ref,
                          RefOrFile(s, what, ArtifactClass::kExternal, "application/octet-stream"));
  RECOMP_ASSIGN_OR_RETURN(Digest digest, ParseArtifactRef(ref));
  return ModuleFile{name, digest};
}

// The module manifest `arg` names when it is a bare ref to one (a JSON artifact that decodes
// as a ModuleManifest); nullopt for anything else (a file, NAME=REF, a ref to a ROM).
Result<std::optional<ModuleManifest>> ManifestAt(BlobAccess& s, const std::string& arg) {
  if (arg.rfind("artifact://", 0) != 0) return std::optional<ModuleManifest>();
  RECOMP_ASSIGN_OR_RETURN(Digest d, ParseArtifactRef(arg));
  RECOMP_ASSIGN_OR_RETURN(bool there, s.Contains(d));
  if (!there) return Status::NotFound(arg + " is not in the " + s.Where());
  RECOMP_ASSIGN_OR_RETURN(ArtifactRecord rec, s.Stat(d));
  // Whatever its media type (`artifact put` stores octet-stream): a ROM never decodes as one.
  if (rec.size > kMaxManifestBytes) return std::optional<ModuleManifest>();
  RECOMP_ASSIGN_OR_RETURN(std::string text, s.GetBytes(d, kMaxManifestBytes));
  auto m = DecodeModuleManifest(text);
  if (!m.ok()) return std::optional<ModuleManifest>();
  return std::optional<ModuleManifest>(std::move(m).value());
}

// --config FILE (tools stored, manifest resolved and stored) or REF (a resolved manifest).
Result<std::string> StoreConfig(BlobAccess& s, const std::string& arg) {
  if (arg.rfind("artifact://", 0) == 0) {
    RECOMP_ASSIGN_OR_RETURN(std::string ref, RefOrFile(s, arg, ArtifactClass::kGenerated, ""));
    RECOMP_ASSIGN_OR_RETURN(std::string text,
                            s.GetBytes(ParseArtifactRef(ref).value(), kMaxManifestBytes));
    RECOMP_RETURN_IF_ERROR(coordinator::ParseResolvedPipeline(text, arg).status());
    return ref;
  }
  RECOMP_ASSIGN_OR_RETURN(coordinator::PipelineFile pf, coordinator::LoadPipelineFile(arg));
  std::map<std::string, Digest> refs;
  for (const auto& t : pf.tools) {
    RECOMP_ASSIGN_OR_RETURN(std::string ref, Put(s, t.path.string(), ArtifactClass::kGenerated,
                                                 "application/octet-stream"));
    refs[t.basename] = ParseArtifactRef(ref).value();
  }
  RECOMP_ASSIGN_OR_RETURN(std::string resolved, coordinator::ResolveToolRefs(pf.text, refs));
  return PutText(s, resolved, "application/toml");
}

// A deterministic in-toto Statement naming the module files, used when --provenance is absent.
std::string DefaultProvenance(const ModuleManifest& m, const std::string& config_ref) {
  nlohmann::json subjects = nlohmann::json::array();
  for (const auto& f : m.files)
    subjects.push_back({{"name", f.name}, {"digest", {{"blake2b", f.digest.Hex()}}}});
  nlohmann::json j = {{"_type", "https://in-toto.io/Statement/v1"},
                      {"subject", subjects},
                      {"predicateType", "https://slsa.dev/provenance/v1"},
                      {"predicate",
                       {{"buildDefinition",
                         {{"buildType", "urn:recomp:pipeline:v1"},
                          {"externalParameters", {{"config_manifest", config_ref}}}}}}}};
  return j.dump(2) + "\n";
}

Result<RunSubmission> BuildSubmission(const SubmitArgs& a, BlobAccess& s) {
  if (a.modules.empty()) return Status::InvalidArgument("give at least one --module FILE|REF");
  ModuleManifest mm;
  for (const std::string& m : a.modules) {
    // A module manifest's files join the others (SPEC-250: the run's module is a manifest).
    RECOMP_ASSIGN_OR_RETURN(std::optional<ModuleManifest> given, ManifestAt(s, m));
    if (given) {
      mm.files.insert(mm.files.end(), given->files.begin(), given->files.end());
      continue;
    }
    RECOMP_ASSIGN_OR_RETURN(ModuleFile f, StoreModule(s, m));
    mm.files.push_back(std::move(f));
  }
  std::string text = EncodeModuleManifest(mm);
  RunSubmission sub;
  sub.run_id = a.run_id;
  if (!sub.run_id.empty())
    RECOMP_RETURN_IF_ERROR(ValidateRunId(sub.run_id).WithContext("--run-id"));
  RECOMP_ASSIGN_OR_RETURN(sub.execution_mode, ParseExecutionMode(a.mode));
  RECOMP_ASSIGN_OR_RETURN(sub.priority, ParsePriority(a.priority));
  RECOMP_RETURN_IF_ERROR(DecodeModuleManifest(text).status());  // names checked, duplicates refused
  RECOMP_ASSIGN_OR_RETURN(sub.module_manifest, PutText(s, text, "application/json"));
  RECOMP_ASSIGN_OR_RETURN(sub.config_manifest, StoreConfig(s, a.config));
  if (a.provenance.empty()) {
    RECOMP_ASSIGN_OR_RETURN(
        sub.provenance_manifest,
        PutText(s, DefaultProvenance(mm, sub.config_manifest), "application/json"));
  } else {
    RECOMP_ASSIGN_OR_RETURN(
        sub.provenance_manifest,
        RefOrFile(s, a.provenance, ArtifactClass::kGenerated, "application/json"));
  }
  sub.requested_by = Principal();
  return sub;
}

}  // namespace

void AddSubmitCommand(CLI::App& app) {
  auto a = std::make_shared<SubmitArgs>();
  CLI::App* cmd = app.add_subcommand("submit", "store inputs and submit a run; prints the run id");
  AddClientFlags(cmd, &a->flags, /*with_config=*/false);
  cmd->add_option("--module", a->modules,
                  "[NAME=]FILE|REF of the module (repeatable; stored as external); a REF to a "
                  "module manifest adds the files it lists")
      ->required();
  cmd->add_option("--config", a->config,
                  "pipeline config manifest FILE|REF (TOML, docs/pipeline.md)")
      ->required();
  cmd->add_option("--provenance", a->provenance,
                  "provenance manifest FILE|REF (default: a generated in-toto statement)");
  cmd->add_option(
      "--run-id", a->run_id,
      "run id (default: a new unique one); resubmitting the same content is idempotent");
  cmd->add_option("--mode", a->mode, "execution mode: local|cloud|hybrid (cloud/hybrid are gated)");
  cmd->add_option("--priority", a->priority, "low|standard|high");
  cmd->add_option("--store", a->store,
                  "artifact store (default <data>/store; with --api and no --store, the "
                  "coordinator's blob service)");
  cmd->add_flag("--wait", a->wait,
                "follow the run; exit 0 only if it succeeded (on failure: the failing job's "
                "log tail)");
  cmd->callback([a] {
    auto conn = Connect(a->flags);
    ExitIfError(conn.status());
    auto s = OpenBlobAccess(a->flags, a->store, &*conn);
    ExitIfError(s.status());
    auto sub = BuildSubmission(*a, **s);
    ExitIfError(sub.status());
    auto reply = conn->client->Api(std::string(proto::kSubmit), EncodeRunSubmission(*sub));
    ExitIfError(reply.status());
    auto st = DecodeRunStatus(*reply);
    ExitIfError(st.status());
    if (!a->wait) {
      if (a->flags.json)
        std::printf("%s\n", ToJson(*st).dump().c_str());
      else
        std::printf("%s\n", st->run_id.c_str());
      return;
    }
    if (!a->flags.json) {  // --json prints one JSON document: the final status
      std::printf("%s\n", st->run_id.c_str());
      std::fflush(stdout);
    }
    ExitWith(WaitForRun(*conn, s->get(), st->run_id, a->flags.json));
  });
}

}  // namespace recomp::cli
