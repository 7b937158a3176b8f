// Config loading. The schema (section -> key -> type) lives here and in config/recomp.toml.
#include "cli/config.h"

#include "base/edit_distance.h"
#include "base/posix_file.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>

namespace recomp::cli {
namespace {

enum class T { kStr, kInt, kNum, kBool };

// Every accepted key. Keep in step with config/recomp.toml (tests/cli/config_test.cpp
// checks that the file loads and documents every key).
const std::map<std::string, T>& Schema() {
  static const std::map<std::string, T> k = {
      {"coordinator.api", T::kStr},
      {"coordinator.events", T::kStr},
      {"coordinator.replay", T::kStr},
      {"coordinator.blobs", T::kStr},
      {"coordinator.metrics", T::kStr},
      {"worker.metrics", T::kStr},
      {"blobs.staging_bytes", T::kInt},
      {"blobs.upload_idle_s", T::kInt},
      {"coordinator.max_inflight", T::kInt},
      {"coordinator.lost_cap", T::kInt},
      {"coordinator.retry_initial_ms", T::kInt},
      {"coordinator.retry_coefficient", T::kNum},
      {"coordinator.retry_max_ms", T::kInt},
      {"coordinator.cloud_gate", T::kBool},
      {"coordinator.job_started_events", T::kBool},
      {"coordinator.events_hwm", T::kInt},
      {"coordinator.durable", T::kBool},
      {"coordinator.retention_interval_ms", T::kInt},
      {"coordinator.retention_grace_ms", T::kInt},
      {"broker.workers", T::kStr},
      {"broker.link", T::kStr},
      {"broker.heartbeat_ms", T::kInt},
      {"broker.max_queue", T::kInt},
      {"broker.no_worker_timeout_s", T::kInt},
      {"broker.max_heartbeats_per_s", T::kInt},
      {"worker.slots", T::kInt},
      {"worker.connect", T::kStr},
      {"worker.heartbeat_ms", T::kInt},
      {"worker.liveness", T::kInt},
      {"worker.work_dir", T::kStr},
      {"worker.executor", T::kStr},
      {"worker.reconnect_min_ms", T::kInt},
      {"worker.confine", T::kStr},
      {"worker.job_user", T::kStr},
      {"worker.cgroups", T::kBool},
      {"up.workers", T::kInt},
      {"up.restart_delay_ms", T::kInt},
      {"up.restart_max_delay_ms", T::kInt},
      {"up.restart_healthy_s", T::kInt},
      {"up.max_quick_failures", T::kInt},
      {"up.stop_grace_ms", T::kInt},
      {"store.retention.failed_days", T::kInt},
      {"store.retention.succeeded_days", T::kInt},
      {"store.retention.unpinned_days", T::kInt},
      {"client.timeout_ms", T::kInt},
      {"client.key", T::kStr},
      {"client.server_key", T::kStr},
      {"security.curve", T::kBool},
      {"security.allowlist", T::kStr},
      {"security.cancel", T::kStr},
  };
  return k;
}

bool TypeOk(const toml::node& n, T t) {
  switch (t) {
    case T::kStr:
      return n.is_string();
    case T::kInt:
      return n.is_integer();
    case T::kNum:
      return n.is_integer() || n.is_floating_point();
    case T::kBool:
      return n.is_boolean();
  }
  return false;
}

std::string_view Expected(T t) {
  switch (t) {
    case T::kStr:
      return "a string";
    case T::kInt:
      return "an integer";
    case T::kNum:
      return "a number";
    case T::kBool:
      return "true or false";
  }
  return "?";
}

std::string_view Got(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date or time";
  }
}

// "; did you mean 'x.y'?" for the accepted key nearest to `key` (2 edits at most), else "".
std::string DidYouMean(const std::string& key) {
  std::vector<std::string_view> keys;
  for (const auto& [k, t] : Schema()) keys.push_back(k);
  std::string best = Closest(key, keys, 2);
  return best.empty() ? best : "; did you mean '" + best + "'?";
}

std::string Where(const std::string& file, const toml::node& n) {
  return "config '" + file + "' line " + std::to_string(n.source().begin.line) + ": ";
}

Status Check(const toml::table& t, const std::string& prefix, const std::string& file) {
  for (const auto& [k, v] : t) {
    std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* sub = v.as_table()) {
      RECOMP_RETURN_IF_ERROR(Check(*sub, key, file));
      continue;
    }
    auto it = Schema().find(key);
    if (it == Schema().end()) {
      return Status::InvalidArgument(Where(file, v) + "unknown key '" + key + "'" +
                                     DidYouMean(key) +
                                     " (config/recomp.toml lists the accepted keys)");
    }
    if (!TypeOk(v, it->second)) {
      return Status::InvalidArgument(Where(file, v) + "'" + key + "' must be " +
                                     std::string(Expected(it->second)) + ", not " +
                                     std::string(Got(v)));
    }
  }
  return Status::Ok();
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

}  // namespace

std::vector<std::string> Config::SearchPath() {
  std::vector<std::string> paths;
  std::string xdg = Env("XDG_CONFIG_HOME");
  if (xdg.empty() && !Env("HOME").empty()) xdg = Env("HOME") + "/.config";
  if (!xdg.empty()) paths.push_back(xdg + "/recomp/recomp.toml");
  paths.push_back("/etc/recomp/recomp.toml");
  return paths;
}

std::string Config::Locate(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (std::string env = Env("RECOMP_CONFIG"); !env.empty()) return env;
  for (const std::string& p : SearchPath()) {
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) return p;
  }
  return std::string();
}

Result<Config> Config::Load(const std::string& flag) {
  return LoadFile(Locate(flag));
}

Result<Config> Config::LoadFile(const std::string& path) {
  if (path.empty()) return Config();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("config '" + path + "' not found (or not readable)");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::IOError("config '" + path + "': read failed");
  return Parse(text, path);
}

Result<Config> Config::Parse(std::string_view text, const std::string& source) {
  Config c;
  c.path_ = source;
  try {
    c.table_ = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    return Status::InvalidArgument("config '" + source + "' line " +
                                   std::to_string(src.begin.line) + ": " +
                                   std::string(e.description()));
  } catch (const std::exception& e) {
    return Status::InvalidArgument("config '" + source + "': " + e.what());
  }
  RECOMP_RETURN_IF_ERROR(Check(c.table_, "", source));
  return c;
}

std::string Config::Str(const std::string& dotted, const std::string& def) const {
  return table_.at_path(dotted).value_or(def);
}
int64_t Config::Int(const std::string& dotted, int64_t def) const {
  return table_.at_path(dotted).value_or(def);
}
double Config::Double(const std::string& dotted, double def) const {
  return table_.at_path(dotted).value_or(def);
}
bool Config::Bool(const std::string& dotted, bool def) const {
  return table_.at_path(dotted).value_or(def);
}

std::vector<std::string> Config::Keys() {
  std::vector<std::string> keys;
  for (const auto& [k, t] : Schema()) keys.push_back(k);
  return keys;
}

Result<RetentionDays> RetentionFrom(const Config& c) {
  RetentionDays d;
  struct Field {
    const char* key;
    std::chrono::seconds* out;
  };
  for (Field f : {Field{"store.retention.failed_days", &d.failed},
                  Field{"store.retention.succeeded_days", &d.succeeded},
                  Field{"store.retention.unpinned_days", &d.unpinned}}) {
    const int64_t days =
        c.Int(f.key, std::chrono::duration_cast<std::chrono::days>(*f.out).count());
    if (days < 0 || days > 36500) {
      return Status::InvalidArgument("config '" + c.path() + "': " + f.key +
                                     " must be a number of days in 0..36500, not " +
                                     std::to_string(days));
    }
    *f.out = std::chrono::days(days);
  }
  return d;
}

std::string DefaultHome() {
  const char* home = std::getenv("RECOMP_HOME");
  return (home != nullptr && *home != '\0') ? std::string(home) : std::string("./.recomp");
}

std::string DataDir(const std::string& flag) {
  return flag.empty() ? DefaultHome() : flag;
}

Status PrepareDataDir(const std::string& dir) {
  RECOMP_RETURN_IF_ERROR(MakeDirs(dir, 0700).WithContext("data dir"));
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus("stat data dir", dir, errno);
  if (st.st_uid == ::geteuid() && (st.st_mode & 077) != 0 &&
      ::chmod(dir.c_str(), st.st_mode & 0700) != 0) {
    return ErrnoStatus("chmod 0700 data dir", dir, errno);
  }
  return Status::Ok();
}

}  // namespace recomp::cli
