// `recomp provenance RUN` prints a succeeded run's signed provenance (the in-toto Statement);
// `recomp provenance verify RUN|FILE [--key PUB]` checks its signature with the coordinator's
// key and every subject's digest against the store (docs/provenance.md).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/blake2b.h"
#include "base/digest.h"
#include "cli/blob_access.h"
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/event_follower.h"
#include "cli/security.h"
#include "messages/artifact_ref.h"
#include "messages/dsse.h"
#include "messages/tree.h"

namespace recomp::cli {
namespace {

constexpr size_t kMaxBlob = kMaxEnvelopeBytes;

// The ref of `run_id`'s provenance, from its recomp.run.completed event.
Result<std::string> ProvenanceRef(Connection& c, const std::string& run_id) {
  std::string ref, state;
  EventFollower follower(c.client.get(), c.endpoints, run_id, 0);
  RECOMP_RETURN_IF_ERROR(follower.Run(
      false,
      [&](const Event& e) {
        if (e.type != EventType::kCompleted) return true;
        nlohmann::json d = e.DataJson();
        state = d.value("state", "");
        ref = d.value("provenance", "");
        return false;
      },
      nullptr));
  if (state.empty()) return Status::FailedPrecondition("run " + run_id + " has not completed");
  if (ref.empty()) {
    return Status::NotFound("run " + run_id + " (" + state +
                            ") has no provenance: only succeeded runs are signed");
  }
  return ref;
}

// The envelope of RUN (through the pool) or FILE (a path that exists).
Result<std::string> EnvelopeBytes(const std::string& what, const ClientFlags& f,
                                  std::unique_ptr<BlobAccess>* access) {
  if (::access(what.c_str(), F_OK) == 0) {
    std::ifstream in(what, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  RECOMP_ASSIGN_OR_RETURN(Connection c, Connect(f));
  RECOMP_ASSIGN_OR_RETURN(std::string ref, ProvenanceRef(c, what));
  RECOMP_ASSIGN_OR_RETURN(*access, OpenBlobAccess(f, "", &c));
  RECOMP_ASSIGN_OR_RETURN(Digest d, ParseArtifactRef(ref));
  return (*access)->GetBytes(d, kMaxBlob);
}

// The blob `d` is in the store and its bytes hash to `d` (fetched and hashed here); a tree's
// entries too. `name` names it in errors. Counts the blobs checked.
Status CheckBlob(BlobAccess& access, const Digest& d, const std::string& name, size_t* blobs) {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string path = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/recomp-verify-" +
                     d.Hex().substr(0, 16) + "-" + std::to_string(::getpid());
  Status got = access.GetToFile(d, path);
  if (!got.ok()) {
    ::unlink(path.c_str());
    return got.WithContext("subject " + name);
  }
  std::ifstream in(path, std::ios::binary);
  Blake2b256 h;
  std::string head;  // a tree is small: kept to decode it
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    h.Update(buf, static_cast<size_t>(in.gcount()));
    if (head.size() < kMaxTreeBytes) head.append(buf, static_cast<size_t>(in.gcount()));
  }
  ::unlink(path.c_str());
  if (h.Finish() != d) {
    return Status::Corruption("subject " + name + ": the store's bytes do not hash to " + d.Hex());
  }
  ++*blobs;
  RECOMP_ASSIGN_OR_RETURN(ArtifactRecord rec, access.Stat(d));
  if (rec.media_type != kTreeMediaType) return Status::Ok();
  RECOMP_ASSIGN_OR_RETURN(Tree tree, DecodeTree(head));
  for (const TreeEntry& e : tree.entries) {
    RECOMP_RETURN_IF_ERROR(CheckBlob(access, e.digest, name + e.path, blobs));
  }
  return Status::Ok();
}

// Every subject (and every file of a subject that is a directory) matches the store.
Status CheckSubjects(const nlohmann::json& statement, BlobAccess& access, size_t* count,
                     size_t* blobs) {
  if (!statement.contains("subject") || !statement["subject"].is_array()) {
    return Status::Corruption("the statement has no subject list");
  }
  for (const nlohmann::json& s : statement["subject"]) {
    std::string name = s.value("name", "?");
    std::string hex = s.contains("digest") ? s["digest"].value("blake2b256", "") : "";
    RECOMP_ASSIGN_OR_RETURN(Digest d, ParseDigestHex(hex));
    RECOMP_RETURN_IF_ERROR(CheckBlob(access, d, name, blobs));
    ++*count;
  }
  return Status::Ok();
}

void Verify(const ClientFlags& f, const std::string& what, const std::string& key_arg) {
  std::unique_ptr<BlobAccess> access;
  auto bytes = EnvelopeBytes(what, f, &access);
  ExitIfError(bytes.status());
  auto env = DecodeEnvelope(*bytes);
  ExitIfError(env.status());
  auto key =
      ReadProvenancePublicKey(key_arg.empty() ? ProvenancePublicKeyPath(DataDir(f.data)) : key_arg);
  ExitIfError(key.status().WithContext("the coordinator's provenance key (--key)"));
  ExitIfError(VerifyEnvelope(*env, *key));
  nlohmann::json statement = nlohmann::json::parse(env->payload, nullptr, false);
  if (statement.is_discarded()) ExitIfError(Status::Corruption("the payload is not JSON"));
  if (!access) {
    auto conn = Connect(f);
    ExitIfError(conn.status());
    auto opened = OpenBlobAccess(f, "", &*conn);
    ExitIfError(opened.status());
    access = std::move(opened).value();
  }
  size_t count = 0, blobs = 0;
  ExitIfError(CheckSubjects(statement, *access, &count, &blobs));
  std::printf("verified: signed by %s; %zu subjects (%zu blobs) match the store\n",
              Ed25519KeyId(*key).c_str(), count, blobs);
}

}  // namespace

void AddProvenanceCommands(CLI::App& app) {
  auto f = std::make_shared<ClientFlags>();
  struct Args {
    std::string run, what, key;
    bool envelope = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* p = app.add_subcommand("provenance", "a succeeded run's signed SLSA provenance");
  p->add_option("RUN", a->run, "run id");
  p->add_flag("--envelope", a->envelope, "print the signed DSSE envelope, not the statement");
  AddClientFlags(p, f.get());
  CLI::App* v = p->add_subcommand("verify", "check the signature and every subject digest");
  v->add_option("RUN_OR_FILE", a->what, "a run id, or an envelope file")->required();
  v->add_option("--key", a->key,
                "the coordinator's provenance.pub (or 64 hex digits); default "
                "<data>/keys/provenance.pub");
  AddClientFlags(v, f.get(), true, /*with_keys=*/false);
  v->add_option("--server-key", f->server_key, "the pool's CURVE public key (with --api)");
  v->callback([f, a] { Verify(*f, a->what, a->key); });
  p->callback([p, f, a] {
    if (p->got_subcommand("verify")) return;
    if (a->run.empty()) ExitIfError(Status::InvalidArgument("give a RUN (or `verify`)"));
    std::unique_ptr<BlobAccess> access;
    auto bytes = EnvelopeBytes(a->run, *f, &access);
    ExitIfError(bytes.status());
    auto env = DecodeEnvelope(*bytes);
    ExitIfError(env.status());
    if (a->envelope) {
      std::printf("%s\n", bytes->c_str());
      return;
    }
    nlohmann::json s = nlohmann::json::parse(env->payload, nullptr, false);
    std::printf("%s\n", s.is_discarded() ? env->payload.c_str() : s.dump(2).c_str());
  });
}

}  // namespace recomp::cli
