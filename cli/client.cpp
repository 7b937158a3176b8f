// Shared client command helpers.
#include "cli/client.h"

#include <cstdio>
#include <cstdlib>

#include <unistd.h>

#include "cli/commands.h"
#include "cli/config.h"
#include "cli/security.h"
#include "messages/protocol.h"
#include "net/socket.h"

namespace recomp::cli {

void AddClientFlags(CLI::App* cmd, ClientFlags* f, bool with_config, bool with_keys) {
  cmd->add_option("--data", f->data,
                  "data directory holding endpoints.json (default $RECOMP_HOME, else ./.recomp)");
  cmd->add_option("--api", f->api, "coordinator API endpoint (overrides endpoints.json)");
  if (with_config)
    cmd->add_option("--config", f->config,
                    "config file ([client] keys; default $RECOMP_CONFIG, then "
                    "$XDG_CONFIG_HOME/recomp/recomp.toml, /etc/recomp/recomp.toml)");
  if (with_keys) AddKeyFlags(cmd, f);
  cmd->add_option("--timeout", f->timeout_ms,
                  "milliseconds to wait for each reply before giving up with exit code 3 "
                  "(default [client] timeout_ms, 5000)")
      ->check(CLI::Range(1, 3600000));
  cmd->add_flag("--json", f->json, "machine-readable JSON output (only JSON on stdout)");
}

void AddKeyFlags(CLI::App* cmd, ClientFlags* f) {
  cmd->add_option("--key", f->key,
                  "CURVE key file (NAME.key) to connect with (default [client] key, else "
                  "<data>/keys/local.key when the pool uses CURVE)");
  cmd->add_option("--server-key", f->server_key,
                  "the pool's CURVE public key: 40 Z85 characters or a .pub file (default "
                  "[client] server_key, else endpoints.json's)");
}

Result<Connection> Connect(const ClientFlags& f) {
  MarkPoolClient();
  RECOMP_ASSIGN_OR_RETURN(Config cfg, Config::Load(f.config));
  const std::string data = DataDir(f.data);
  RECOMP_ASSIGN_OR_RETURN(Endpoints ep, ResolveEndpoints(f.api, data));
  std::string server_key = f.server_key;
  if (server_key.empty()) server_key = cfg.Str("client.server_key", "");
  if (server_key.empty()) server_key = ep.server_key;
  RECOMP_ASSIGN_OR_RETURN(
      net::CurveClient curve,
      ClientCurve(server_key, !f.key.empty() ? f.key : cfg.Str("client.key", ""),
                  KeyPath(data, kLocalClientKeyName)));
  Connection c;
  const int timeout_ms =
      f.timeout_ms > 0 ? f.timeout_ms : static_cast<int>(cfg.Int("client.timeout_ms", 5000));
  c.client = std::make_unique<ApiClient>(ep.api, timeout_ms, curve);
  if (!f.api.empty()) {
    // Given only --api (another machine): the coordinator names its other endpoints. A pool
    // that does not answer this does not answer the command either: give up now.
    auto named = c.client->Api(std::string(proto::kEndpoints), proto::EmptyBody());
    if (!named.ok() && (named.status().code() == Status::Code::kUnavailable ||
                        named.status().code() == Status::Code::kPermissionDenied)) {
      return named.status();
    }
    if (named.ok()) {
      auto j = proto::BodyJson(*named, "endpoints");
      for (auto [key, field] : {std::pair{"events", &ep.events}, std::pair{"replay", &ep.replay},
                                std::pair{"workers", &ep.workers}, std::pair{"blobs", &ep.blobs}}) {
        if (j.ok() && j->contains(key) && (*j)[key].is_string()) {
          *field = net::ResolveWildcardHost((*j)[key].get<std::string>(), f.api);
        }
      }
    }
  }
  c.endpoints = std::move(ep);
  return c;
}

std::string Principal() {
  const char* u = std::getenv("USER");
  return (u && *u) ? std::string("local:") + u : "local:uid" + std::to_string(getuid());
}

std::string StatusLine(const RunStatus& s) {
  return StatusLine(s, s.artifacts.size());
}

std::string StatusLine(const RunStatus& s, size_t artifact_count) {
  std::string line = s.run_id + "  " + std::string(ToString(s.state));
  if (!s.current_stage.empty()) {
    line += "  stage=" + s.current_stage + " attempt=" + std::to_string(s.stage_attempt);
  }
  line += "  artifacts=" + std::to_string(artifact_count) + "  updated " + s.updated_at;
  return line;
}

void PrintStatus(const RunStatus& s, bool json) {
  if (json) {
    std::printf("%s\n", ToJson(s).dump().c_str());
    return;
  }
  std::printf("run        %s\nstate      %s\n", s.run_id.c_str(),
              std::string(ToString(s.state)).c_str());
  if (!s.current_stage.empty()) {
    std::printf("stage      %s (attempt %lld)\n", s.current_stage.c_str(),
                static_cast<long long>(s.stage_attempt));
  }
  std::printf("started    %s\nupdated    %s\n", s.started_at.c_str(), s.updated_at.c_str());
  if (!s.reason.empty()) std::printf("reason     %s\n", s.reason.c_str());
  for (const std::string& a : s.artifacts) std::printf("artifact   %s\n", a.c_str());
}

}  // namespace recomp::cli
