// CURVE keys, allowlist and ZAP for the CLI's processes (see security.h).
#include "cli/security.h"

#include <unistd.h>

#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <fstream>

#include <spdlog/spdlog.h>

#include "base/digest.h"
#include "base/posix_file.h"
#include "base/signature.h"
#include "messages/dsse.h"

namespace recomp::cli {
namespace {

Result<net::CurveKeyPair> LoadOrCreateKey(const std::string& data, const std::string& name) {
  const std::string path = KeyPath(data, name);
  if (::access(path.c_str(), F_OK) != 0) {
    RECOMP_ASSIGN_OR_RETURN(net::CurveKeyPair pair, net::NewCurveKeyPair());
    RECOMP_RETURN_IF_ERROR(net::WriteKeyFiles(KeysDir(data), name, pair));
  }
  return net::ReadSecretKeyFile(path);
}

// The ZAP decision, logged when refused (the first 100 refusals, then every 1000th).
net::ZapDecision Decide(const AccessControl& access, const net::ZapRequest& r) {
  static std::atomic<uint64_t> refused{0};
  Admission a = access.Admit(r.domain, r.public_key);
  if (!a.allowed) {
    uint64_t n = refused.fetch_add(1) + 1;
    if (n <= 100 || n % 1000 == 0) {
      spdlog::warn("security: refused a CURVE client from {} at {}: {} ({} refused so far)",
                   r.address, r.domain, a.reason, n);
    }
  }
  return net::ZapDecision{a.allowed, a.name, a.reason};
}

// A 32-byte key's hex text: the one hex form the project has (a Digest's).
std::string Hex(std::string_view bytes32) {
  Digest d;
  std::memcpy(d.bytes.data(), bytes32.data(), d.bytes.size());
  return d.Hex();
}

Result<std::string> Unhex(std::string_view hex, const std::string& what) {
  Result<Digest> d = ParseDigestHex(hex);
  if (!d.ok()) return Status::InvalidArgument(what + ": expected 64 lowercase hex digits");
  return std::string(reinterpret_cast<const char*>(d->bytes.data()), d->bytes.size());
}

Result<std::string> FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return Status::NotFound("cannot read " + path);
  return line;
}

Status WriteText(const std::string& path, const std::string& text, mode_t mode) {
  RECOMP_ASSIGN_OR_RETURN(Fd fd, CreateExclusive(path, mode));
  RECOMP_RETURN_IF_ERROR(WriteAll(fd.get(), text.data(), text.size(), path));
  RECOMP_RETURN_IF_ERROR(SyncData(fd.get(), path));
  return fd.Close(path);
}

}  // namespace

std::string ProvenancePublicKeyPath(const std::string& data) {
  return KeysDir(data) + "/provenance.pub";
}

Result<coordinator::ProvenanceSigner> LoadProvenanceSigner(const std::string& data) {
  const std::string path = KeysDir(data) + "/provenance.key";
  constexpr std::string_view kPrefix = "ed25519-seed ";
  if (::access(path.c_str(), F_OK) != 0) {
    RECOMP_RETURN_IF_ERROR(MakeDirs(KeysDir(data), 0700));
    Ed25519KeyPair fresh = NewEd25519KeyPair();
    RECOMP_RETURN_IF_ERROR(WriteText(path, std::string(kPrefix) + Hex(fresh.seed) + "\n", 0600));
    ::unlink(ProvenancePublicKeyPath(data).c_str());
    RECOMP_RETURN_IF_ERROR(
        WriteText(ProvenancePublicKeyPath(data), Hex(fresh.public_key) + "\n", 0644));
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
  if ((st.st_mode & 077) != 0) {
    return Status::FailedPrecondition("provenance key " + path + " is readable by others");
  }
  RECOMP_ASSIGN_OR_RETURN(std::string line, FirstLine(path));
  if (line.rfind(kPrefix, 0) != 0) return Status::InvalidArgument(path + ": not an ed25519-seed");
  RECOMP_ASSIGN_OR_RETURN(std::string seed, Unhex(line.substr(kPrefix.size()), path));
  RECOMP_ASSIGN_OR_RETURN(Ed25519KeyPair key, Ed25519FromSeed(seed));
  coordinator::ProvenanceSigner signer;
  signer.keyid = Ed25519KeyId(key.public_key);
  signer.builder_id = "urn:recomp:coordinator:" + signer.keyid;
  signer.key = std::move(key);
  return signer;
}

Result<std::string> ReadProvenancePublicKey(const std::string& path_or_hex) {
  if (auto key = Unhex(path_or_hex, ""); key.ok()) return key;
  RECOMP_ASSIGN_OR_RETURN(std::string line, FirstLine(path_or_hex));
  return Unhex(line, path_or_hex);
}

std::string KeysDir(const std::string& data) {
  return data + "/keys";
}

std::string KeyPath(const std::string& data, const std::string& name) {
  return KeysDir(data) + "/" + name + ".key";
}

Result<CoordinatorSecurity> StartCoordinatorSecurity(zmq::context_t& ctx, const std::string& data,
                                                     const Config& cfg, bool curve) {
  CoordinatorSecurity sec;
  if (!curve && !cfg.Bool("security.curve", false)) return sec;
  if (!net::HasCurve()) return Status::FailedPrecondition("this libzmq has no CURVE");
  const std::string cancel = cfg.Str("security.cancel", "submitter");
  if (cancel != "submitter" && cancel != "own") {
    return Status::InvalidArgument("[security] cancel: '" + cancel +
                                   "' is neither \"submitter\" nor \"own\"");
  }
  sec.cancel = cancel == "own" ? CancelPolicy::kOwnRuns : CancelPolicy::kAnySubmitter;
  RECOMP_ASSIGN_OR_RETURN(sec.server, LoadOrCreateKey(data, kServerKeyName));
  std::vector<AllowedKey> own;
  for (auto [name, role] : {std::pair{kLocalClientKeyName, Role::kSubmitter},
                            std::pair{kLocalWorkerKeyName, Role::kWorker}}) {
    RECOMP_ASSIGN_OR_RETURN(net::CurveKeyPair pair, LoadOrCreateKey(data, name));
    own.push_back(AllowedKey{pair.public_key, name, role, {}});
  }
  std::string path = cfg.Str("security.allowlist", "");
  if (path.empty()) path = data + "/allowlist";
  RECOMP_ASSIGN_OR_RETURN(sec.access, AccessControl::Open(path, std::move(own)));
  const AccessControl* access = sec.access.get();
  RECOMP_ASSIGN_OR_RETURN(sec.zap, net::ZapHandler::Start(ctx, [access](const net::ZapRequest& r) {
                            return Decide(*access, r);
                          }));
  spdlog::info("security: CURVE on every endpoint; {} keys allowed ({} and the pool's own)",
               access->size(), path);
  return sec;
}

Result<std::string> ParseServerKey(const std::string& arg) {
  if (net::ValidateZ85Key(arg, "server key").ok()) return arg;
  if (::access(arg.c_str(), F_OK) != 0) {
    return Status::InvalidArgument("server key '" + arg.substr(0, 64) +
                                   "' is neither 40 characters of Z85 nor a key file");
  }
  return net::ReadPublicKeyFile(arg);
}

Result<net::CurveClient> ClientCurve(const std::string& server_key, const std::string& key_path,
                                     const std::string& default_key_path, std::string* key_name) {
  net::CurveClient c;
  if (server_key.empty()) {
    if (!key_path.empty()) {
      return Status::InvalidArgument(
          "a key was given but no server key: give --server-key "
          "(the coordinator's keys/coordinator.pub)");
    }
    return c;  // plain
  }
  RECOMP_ASSIGN_OR_RETURN(c.server_key, ParseServerKey(server_key));
  const std::string path = key_path.empty() ? default_key_path : key_path;
  if (path.empty() || ::access(path.c_str(), F_OK) != 0) {
    return Status::InvalidArgument(
        "the pool uses CURVE: give --key NAME.key (made by `recomp keys new`, listed in the "
        "pool's allowlist)" +
        (path.empty() ? std::string() : "; " + path + " does not exist"));
  }
  RECOMP_ASSIGN_OR_RETURN(net::CurveKeyPair pair, net::ReadSecretKeyFile(path));
  c.public_key = pair.public_key;
  c.secret_key = pair.secret_key;
  if (key_name != nullptr) *key_name = pair.name;
  return c;
}

}  // namespace recomp::cli
