// The `recomp` configuration file (config/recomp.toml documents every key and default):
// loading, strict validation (unknown sections or keys are refused, naming them), and typed
// lookups. Values given by flags override the file. Not thread-safe; used at startup.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "base/status.h"

namespace recomp::cli {

class Config {
 public:
  // The config file to use: `flag` when given, else $RECOMP_CONFIG when set, else the first
  // of SearchPath() that exists; "" (the built-in defaults) when none does.
  static std::string Locate(const std::string& flag);
  // $XDG_CONFIG_HOME/recomp/recomp.toml ($HOME/.config when XDG_CONFIG_HOME is unset), then
  // /etc/recomp/recomp.toml.
  static std::vector<std::string> SearchPath();
  // LoadFile(Locate(flag)): a file named by the flag or $RECOMP_CONFIG must exist.
  static Result<Config> Load(const std::string& flag);
  // Loads and validates `path`; an empty path gives the built-in defaults. NotFound ("not
  // found") when the file cannot be opened; errors name the line, the key and the expected type.
  static Result<Config> LoadFile(const std::string& path);
  // Validates `text` as a config file; `source` names it in errors.
  static Result<Config> Parse(std::string_view text, const std::string& source);

  // The value at "section.key", or `def` when absent. Type mismatches were refused by Load.
  std::string Str(const std::string& dotted, const std::string& def) const;
  int64_t Int(const std::string& dotted, int64_t def) const;
  double Double(const std::string& dotted, double def) const;
  bool Bool(const std::string& dotted, bool def) const;
  const std::string& path() const { return path_; }
  // Every accepted key as "section.key" (config/recomp.toml documents each), sorted.
  static std::vector<std::string> Keys();

 private:
  toml::table table_;
  std::string path_;
};

// [store.retention]: how long the store's gc keeps blobs and the coordinator keeps runs.
struct RetentionDays {
  std::chrono::seconds failed{std::chrono::days(90)};
  std::chrono::seconds succeeded{std::chrono::days(30)};
  std::chrono::seconds unpinned{std::chrono::days(7)};
};
// The config's windows; InvalidArgument naming the key when one is outside 0..36500 days (a
// negative window would remove everything at once).
Result<RetentionDays> RetentionFrom(const Config& c);

// $RECOMP_HOME when set and non-empty, else ./.recomp.
std::string DefaultHome();
// Resolves the data directory: the flag, else DefaultHome().
std::string DataDir(const std::string& flag);
// Creates the data directory (and missing parents) with mode 0700, and takes group and other
// access away from an existing one we own: it holds the store (ROMs, outputs) and the run log.
Status PrepareDataDir(const std::string& dir);

}  // namespace recomp::cli
