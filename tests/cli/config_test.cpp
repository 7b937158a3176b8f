// cli::Config: the documented config/recomp.toml loads and documents every accepted key;
// unknown keys, wrong types, TOML syntax errors and missing files are refused with a message
// naming the file and the problem; lookups fall back to the caller's defaults.
#include "cli/config.h"

#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace recomp::cli {
namespace {

namespace fs = std::filesystem;

std::string SourceDir() {
  const char* s = std::getenv("RECOMP_SOURCE_DIR");
  REQUIRE_MESSAGE(s != nullptr, "RECOMP_SOURCE_DIR is set by CTest");
  return s;
}

// A config file with `text` in a fresh temp dir (removed at scope end).
struct TempConfig {
  explicit TempConfig(const std::string& text) {
    char tmpl[] = "/tmp/recomp-config-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    path = dir + "/recomp.toml";
    std::ofstream(path) << text;
  }
  ~TempConfig() { fs::remove_all(dir); }
  std::string dir, path;
};

Status LoadStatus(const std::string& text) {
  TempConfig c(text);
  return Config::Load(c.path).status();
}

}  // namespace

TEST_CASE("config/recomp.toml loads and documents every accepted key") {
  std::string path = SourceDir() + "/config/recomp.toml";
  auto c = Config::Load(path);
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  // Each "section.key" appears as `key = ` under its `[section]` header.
  std::set<std::string> documented;
  std::string section, line;
  std::istringstream lines(text.str());
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') {
      section = line.substr(1, line.find(']') - 1);
    } else if (auto eq = line.find(" = "); eq != std::string::npos) {
      documented.insert(section + "." + line.substr(0, eq));
    }
  }
  for (const std::string& key : Config::Keys()) CHECK_MESSAGE(documented.count(key) == 1, key);
  CHECK(documented.size() == Config::Keys().size());
  // A few documented defaults, read back typed.
  CHECK(c->Int("coordinator.max_inflight", -1) == 10000);
  CHECK(c->Bool("coordinator.durable", false) == true);
  CHECK(c->Double("coordinator.retry_coefficient", 0) == doctest::Approx(2.0));
}

TEST_CASE("no config file: every lookup gives the caller's default") {
  auto c = Config::Load("");
  REQUIRE(c.ok());
  CHECK(c->Str("coordinator.api", "tcp://x:1") == "tcp://x:1");
  CHECK(c->Int("worker.slots", 7) == 7);
  CHECK(c->Bool("coordinator.cloud_gate", true) == true);
}

TEST_CASE("values in the file win over defaults; an integer is accepted where a number is asked") {
  TempConfig t("[worker]\nslots = 3\n[coordinator]\nretry_coefficient = 3\ndurable = false\n");
  auto c = Config::Load(t.path);
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  CHECK(c->Int("worker.slots", 1) == 3);
  CHECK(c->Double("coordinator.retry_coefficient", 2.0) == doctest::Approx(3.0));
  CHECK(c->Bool("coordinator.durable", true) == false);
  CHECK(c->Str("coordinator.api", "default") == "default");  // absent: the default
}

TEST_CASE("bad config files are refused with a message naming the file and the problem") {
  Status unknown = LoadStatus("[worker]\n\nslotz = 3\n");
  CHECK(unknown.code() == Status::Code::kInvalidArgument);
  CHECK(unknown.message().find("line 3: unknown key 'worker.slotz'; did you mean "
                               "'worker.slots'?") != std::string::npos);
  CHECK(unknown.message().find("recomp.toml") != std::string::npos);

  Status section = LoadStatus("[wroker]\nslots = 3\n");
  CHECK(section.message().find("'wroker.slots'") != std::string::npos);

  Status type = LoadStatus("[worker]\nslots = \"three\"\n");
  CHECK(type.code() == Status::Code::kInvalidArgument);
  CHECK(type.message().find("line 2: 'worker.slots' must be an integer, not a string") !=
        std::string::npos);
  Status flag = LoadStatus("[security]\ncurve = 1\n");
  CHECK(flag.message().find("'security.curve' must be true or false, not an integer") !=
        std::string::npos);

  Status syntax = LoadStatus("[worker]\nslots = 3\nthis is not toml\n");
  CHECK(syntax.code() == Status::Code::kInvalidArgument);
  CHECK(syntax.message().find("line 3") != std::string::npos);

  Status missing = Config::Load("/nonexistent/recomp.toml").status();
  CHECK(missing.code() == Status::Code::kNotFound);
  CHECK(missing.message().find("'/nonexistent/recomp.toml' not found") != std::string::npos);

  CHECK_FALSE(LoadStatus(std::string("[worker]\nslots = 1\n\xff\xfe\n")).ok());  // not UTF-8
}

// Sets an environment variable for the scope, restoring the old value (or its absence).
struct ScopedEnv {
  ScopedEnv(const char* name, const std::string& value) : name(name) {
    const char* old = std::getenv(name);
    had = old != nullptr;
    if (had) saved = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { had ? (void)::setenv(name, saved.c_str(), 1) : (void)::unsetenv(name); }
  const char* name;
  bool had = false;
  std::string saved;
};

TEST_CASE("the config search path: --config, $RECOMP_CONFIG, $XDG_CONFIG_HOME, /etc") {
  TempConfig xdg("[worker]\nslots = 7\n");
  fs::create_directories(xdg.dir + "/recomp");
  fs::rename(xdg.path, xdg.dir + "/recomp/recomp.toml");
  ScopedEnv x("XDG_CONFIG_HOME", xdg.dir);
  ::unsetenv("RECOMP_CONFIG");
  CHECK(Config::SearchPath().front() == xdg.dir + "/recomp/recomp.toml");
  CHECK(Config::SearchPath().back() == "/etc/recomp/recomp.toml");
  CHECK(Config::Locate("") == xdg.dir + "/recomp/recomp.toml");
  auto found = Config::Load("");
  REQUIRE(found.ok());
  CHECK(found->Int("worker.slots", 1) == 7);
  {
    ScopedEnv env("RECOMP_CONFIG", "/nonexistent/env.toml");
    CHECK(Config::Locate("") == "/nonexistent/env.toml");
    CHECK(Config::Locate("/flag.toml") == "/flag.toml");                 // the flag wins
    CHECK(Config::Load("").status().code() == Status::Code::kNotFound);  // named, so must exist
  }
  ::unsetenv("RECOMP_CONFIG");
  fs::remove_all(xdg.dir + "/recomp");
  // Nothing in the user's directory: /etc's file when this machine has one, else defaults.
  const bool etc = fs::exists("/etc/recomp/recomp.toml");
  CHECK(Config::Locate("") == (etc ? "/etc/recomp/recomp.toml" : ""));
}

TEST_CASE("retention windows: defaults, values, and a negative or huge one refused") {
  auto none = RetentionFrom(Config());
  REQUIRE(none.ok());
  CHECK(none->failed == std::chrono::days(90));
  CHECK(none->succeeded == std::chrono::days(30));
  CHECK(none->unpinned == std::chrono::days(7));
  TempConfig ok("[store.retention]\nsucceeded_days = 0\nfailed_days = 365\n");
  auto days = RetentionFrom(*Config::Load(ok.path));
  REQUIRE(days.ok());
  CHECK(days->succeeded == std::chrono::seconds(0));
  CHECK(days->failed == std::chrono::days(365));
  for (const char* bad : {"succeeded_days = -1", "failed_days = 36501"}) {
    TempConfig c(std::string("[store.retention]\n") + bad + "\n");
    Status s = RetentionFrom(*Config::Load(c.path)).status();
    CHECK(s.code() == Status::Code::kInvalidArgument);
    CHECK(s.message().find("must be a number of days in 0..36500") != std::string::npos);
  }
}

TEST_CASE("DataDir: the flag, else $RECOMP_HOME, else ./.recomp") {
  const char* old = std::getenv("RECOMP_HOME");
  std::string saved = old ? old : "";
  ::setenv("RECOMP_HOME", "/srv/recomp", 1);
  CHECK(DataDir("") == "/srv/recomp");
  CHECK(DataDir("/data") == "/data");
  ::setenv("RECOMP_HOME", "", 1);
  CHECK(DataDir("") == "./.recomp");
  ::unsetenv("RECOMP_HOME");
  CHECK(DefaultHome() == "./.recomp");
  if (old) ::setenv("RECOMP_HOME", saved.c_str(), 1);
}

}  // namespace recomp::cli
