// The CURVE side of the CLI (docs/security.md): the coordinator's keypair, allowlist and ZAP
// handler, and the keys a client or a worker connects with. Single-threaded CLI code.
#pragma once

#include <memory>
#include <string>

#include <zmq.hpp>

#include "base/status.h"
#include "cli/config.h"
#include "coordinator/provenance.h"
#include "messages/access.h"
#include "net/curve_keys.h"
#include "net/socket.h"
#include "net/zap_handler.h"

namespace recomp::cli {

// The pool's own keys under <data>/keys, made by the coordinator at its first CURVE start: its
// server keypair, a submitter key for clients on this machine and a key for `up`'s workers.
inline constexpr const char* kServerKeyName = "coordinator";
inline constexpr const char* kLocalClientKeyName = "local";
inline constexpr const char* kLocalWorkerKeyName = "local-worker";
std::string KeysDir(const std::string& data);
std::string KeyPath(const std::string& data, const std::string& name);  // <data>/keys/NAME.key

// Who may cancel a run ([security] cancel).
enum class CancelPolicy { kAnySubmitter, kOwnRuns };

struct CoordinatorSecurity {
  net::CurveKeyPair server;  // empty when CURVE is off
  std::unique_ptr<AccessControl> access;
  std::unique_ptr<net::ZapHandler> zap;  // started before any CURVE socket binds
  CancelPolicy cancel = CancelPolicy::kAnySubmitter;
  bool curve() const { return access != nullptr; }
};
// With `curve` (the flag or [security] curve): loads or makes the pool's own keys, opens the
// allowlist ([security] allowlist, default <data>/allowlist) and starts the ZAP handler in
// `ctx`. Without: an empty CoordinatorSecurity. Fails on a malformed allowlist or policy.
Result<CoordinatorSecurity> StartCoordinatorSecurity(zmq::context_t& ctx, const std::string& data,
                                                     const Config& cfg, bool curve);

// The coordinator's provenance signing key (docs/provenance.md): <data>/keys/provenance.key
// ("ed25519-seed <64 hex>", 0600, made at the first start) and provenance.pub (the public key
// as 64 hex digits). Refuses a .key that group or others may read.
Result<coordinator::ProvenanceSigner> LoadProvenanceSigner(const std::string& data);
std::string ProvenancePublicKeyPath(const std::string& data);
// The 32-byte public key in a provenance.pub file (or given as 64 hex digits).
Result<std::string> ReadProvenancePublicKey(const std::string& path_or_hex);

// A server public key given as 40 characters of Z85 or as the path of a .pub or .key file.
Result<std::string> ParseServerKey(const std::string& arg);

// The CURVE settings of a client or worker socket. `server_key` (flag or config, else the one
// endpoints.json names) decides: none known = plain. The own key is `key_path`, else
// `default_key_path` (which must then exist). InvalidArgument naming what is missing.
// `*key_name` (if given) gets the name in the key file.
Result<net::CurveClient> ClientCurve(const std::string& server_key, const std::string& key_path,
                                     const std::string& default_key_path,
                                     std::string* key_name = nullptr);

}  // namespace recomp::cli
