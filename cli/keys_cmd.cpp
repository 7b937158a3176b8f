// `recomp keys new NAME`: a CURVE keypair for a worker, a client or the coordinator
// (docs/security.md). Writes DIR/NAME.key (0600) and DIR/NAME.pub and prints the public key
// with the allowlist line that would admit it.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "net/curve_keys.h"

namespace recomp::cli {

void AddKeysCommands(CLI::App& app) {
  CLI::App* keys =
      app.add_subcommand("keys", "CURVE keys for workers, clients and the coordinator");
  keys->require_subcommand(1);
  struct Args {
    std::string name, dir, role = "worker";
  };
  auto a = std::make_shared<Args>();
  CLI::App* make = keys->add_subcommand(
      "new", "write a new keypair: DIR/NAME.key (secret, mode 0600) and DIR/NAME.pub");
  make->add_option("NAME", a->name, "the key's name (the identity the coordinator logs)")
      ->required();
  make->add_option("--dir", a->dir, "where to write (default $RECOMP_HOME/keys)");
  make->add_option("--role", a->role, "role shown in the suggested allowlist line")
      ->check(CLI::IsMember({"worker", "submitter", "reader"}));
  make->callback([a] {
    std::string dir = a->dir.empty() ? DefaultHome() + "/keys" : a->dir;
    auto pair = net::NewCurveKeyPair();
    ExitIfError(pair.status());
    ExitIfError(net::WriteKeyFiles(dir, a->name, *pair));
    std::printf("secret key: %s/%s.key (keep it; mode 0600)\npublic key: %s/%s.pub\n", dir.c_str(),
                a->name.c_str(), dir.c_str(), a->name.c_str());
    std::printf("allowlist line:\n%s %s %s\n", pair->public_key.c_str(), a->name.c_str(),
                a->role.c_str());
  });
}

}  // namespace recomp::cli
