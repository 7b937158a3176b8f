// Shared pieces of the client subcommands (submit, status, runs, ...): the common flags, the
// connection to the coordinator, and printing of status records. Single-threaded CLI code.
#pragma once

#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "base/status.h"
#include "cli/api_client.h"
#include "messages/run_status.h"

namespace recomp::cli {

struct ClientFlags {
  std::string data, api, config;
  std::string key, server_key;  // CURVE: own key file, the pool's public key (or its file)
  bool json = false;
  int timeout_ms = 0;  // --timeout; 0 = [client] timeout_ms
};

// Adds --data, --api, --key, --server-key (unless `with_keys` is false: the command's own --key
// means something else; [client] key then applies), --json and (unless the command uses
// --config itself) --config to `cmd`. Without --config, $RECOMP_CONFIG names the settings file.
void AddClientFlags(CLI::App* cmd, ClientFlags* f, bool with_config = true, bool with_keys = true);
// The CURVE flags alone (--key, --server-key).
void AddKeyFlags(CLI::App* cmd, ClientFlags* f);

struct Connection {
  Endpoints endpoints;
  std::unique_ptr<ApiClient> client;
};
// Connects to the pool: endpoints from --api or endpoints.json; with CURVE (a server key from
// --server-key, [client] server_key or endpoints.json) the key from --key, [client] key, else
// <data>/keys/local.key.
Result<Connection> Connect(const ClientFlags& f);

// Who submits without CURVE: "local:<$USER>" (or "local:uid<N>"). With CURVE the coordinator
// records the key's name instead.
std::string Principal();

// One line: "<run_id>  <state>  stage=<s> attempt=<n>  artifacts=<k>  updated <t>".
std::string StatusLine(const RunStatus& s);
// The same with the artifact count given (a LIST entry carries the count, not the list).
std::string StatusLine(const RunStatus& s, size_t artifact_count);
// Prints the status as pretty JSON (--json) or as a few human lines.
void PrintStatus(const RunStatus& s, bool json);

}  // namespace recomp::cli
