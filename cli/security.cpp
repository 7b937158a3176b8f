// CURVE keys, allowlist and ZAP for the CLI's processes (see security.h).
#include "cli/security.h"

#include <unistd.h>

#include <atomic>

#include <spdlog/spdlog.h>

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

}  // namespace

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
