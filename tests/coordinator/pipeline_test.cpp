// Pipeline manifest parsing: defaults, topological order, every refusal (each message must name
// the problem), the resolved tool_refs form, and the file loader.
#include "coordinator/pipeline.h"

#include <doctest/doctest.h>

#include <unistd.h>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>

using namespace recomp;
using namespace recomp::coordinator;

namespace {

constexpr std::string_view kStageA = R"(
[[stages]]
name = "a"
command = ["true"]
outputs = ["out/"]
)";

// The error message of parsing `text`, or "" if it parsed.
std::string ErrorOf(std::string_view text) {
  auto r = ParsePipeline(text, "p.toml");
  if (r.ok()) return "";
  CHECK(r.status().code() == Status::Code::kInvalidArgument);
  return r.status().message();
}

// A single stage "a" with `extra` lines appended to its table.
std::string StageWith(std::string_view extra) {
  return std::string(kStageA) + std::string(extra) + "\n";
}

#define CHECK_REFUSED(text, ...)                                                               \
  do {                                                                                         \
    std::string _msg = ErrorOf(text);                                                          \
    INFO("message: " << _msg);                                                                 \
    CHECK_FALSE(_msg.empty());                                                                 \
    for (std::string_view _part : {__VA_ARGS__}) CHECK(_msg.find(_part) != std::string::npos); \
  } while (0)

Digest D(uint8_t b) {
  Digest d;
  d.bytes.fill(b);
  return d;
}

}  // namespace

TEST_CASE("a minimal stage parses with documented defaults") {
  auto r = ParsePipeline(kStageA, "p.toml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  REQUIRE(r->stages.size() == 1);
  const Stage& s = r->stages[0];
  CHECK(s.name == "a");
  CHECK(s.needs.empty());
  CHECK(s.command == std::vector<std::string>{"true"});
  CHECK(s.outputs == std::vector<std::string>{"out/"});
  CHECK(s.shards == 1);
  CHECK(s.timeout_s == 600);
  CHECK(s.retries == 2);
  CHECK(s.env.empty());
  CHECK_FALSE(s.validation);
  CHECK(s.salt.empty());
  CHECK(s.module);
  CHECK(s.shard_inputs == ShardInputs::kAll);
  CHECK(r->tools.empty());
  CHECK(r->ValidationStage() == nullptr);
  CHECK(r->order == std::vector<std::string>{"a"});
}

TEST_CASE("every key is read") {
  auto r = ParsePipeline(R"(
tools = ["tools/lift.py", "runtime.c"]
[[stages]]
name = "analyze"
command = ["python3", "in/tools/lift.py", "--analyze"]
outputs = ["analysis.json"]
[[stages]]
name = "lift"
needs = ["analyze"]
command = ["python3", "in/tools/lift.py"]
outputs = ["out/", "log.txt"]
shards = 8
timeout_s = 1200
retries = 0
env = { LANG = "C", PYTHONHASHSEED = "0" }
validation = true
salt = "gcc-13"
)",
                         "p.toml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->tools == std::vector<std::string>{"tools/lift.py", "runtime.c"});
  CHECK(r->ToolBasenames() == std::vector<std::string>{"lift.py", "runtime.c"});
  const Stage* s = r->FindStage("lift");
  REQUIRE(s != nullptr);
  CHECK(s->needs == std::vector<std::string>{"analyze"});
  CHECK(s->outputs == std::vector<std::string>{"out/", "log.txt"});
  CHECK(s->shards == 8);
  CHECK(s->timeout_s == 1200);
  CHECK(s->retries == 0);
  CHECK(s->env == std::map<std::string, std::string>{{"LANG", "C"}, {"PYTHONHASHSEED", "0"}});
  CHECK(s->validation);
  CHECK(s->salt == "gcc-13");
  CHECK(r->ValidationStage() == s);
  CHECK(r->FindStage("nope") == nullptr);
}

TEST_CASE("topological order is stable by declaration order") {
  auto r = ParsePipeline(R"(
[[stages]]
name = "link"
needs = ["lift", "runtime"]
command = ["x"]
outputs = ["a"]
[[stages]]
name = "report"
needs = ["analyze"]
command = ["x"]
outputs = ["a"]
[[stages]]
name = "runtime"
command = ["x"]
outputs = ["a"]
[[stages]]
name = "lift"
needs = ["analyze"]
command = ["x"]
outputs = ["a"]
[[stages]]
name = "analyze"
command = ["x"]
outputs = ["a"]
)",
                         "p.toml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->order == std::vector<std::string>{"runtime", "analyze", "report", "lift", "link"});
}

TEST_CASE("TOML syntax errors name the file, line and column") {
  CHECK_REFUSED("[[stages]]\nname = \"a\"\ncommand = [\"x\"\n", "p.toml:", "TOML syntax error");
  CHECK_REFUSED("\n\nshards = = 3\n", "p.toml:3:", "TOML syntax error");
}

TEST_CASE("a pipeline without stages is refused") {
  CHECK_REFUSED("", "no stages");
  CHECK_REFUSED("stages = []\n", "no stages");
  CHECK_REFUSED("tools = []\n", "no stages");
  CHECK_REFUSED("stages = 3\n", "stages must be an array of tables", "an integer");
}

TEST_CASE("unknown keys are refused, naming the key") {
  CHECK_REFUSED(StageWith("shard = 8"), "stage 'a'", "unknown key 'shard'",
                "did you mean 'shards'");
  CHECK_REFUSED(StageWith("colour = 1"), "unknown key 'colour'", "allowed keys:");
  CHECK_REFUSED("tool = []\n" + std::string(kStageA), "unknown key 'tool'", "did you mean 'tools'");
  CHECK_REFUSED(StageWith("[stages.extra]\nx = 1"), "unknown key 'extra'");
}

TEST_CASE("stage errors carry the line of the offending value") {
  CHECK_REFUSED(StageWith("shards = 0"), "p.toml:6:", "shards = 0 is out of range 1..1024");
}

TEST_CASE("stage names are checked") {
  CHECK_REFUSED("[[stages]]\ncommand = [\"x\"]\noutputs = [\"o\"]\n",
                "missing required key 'name'");
  for (const char* bad : {"Lift", "a/b", "", "a b", "lift.py", "x\\\\y"}) {
    CHECK_REFUSED(
        "[[stages]]\nname = \"" + std::string(bad) + "\"\ncommand = [\"x\"]\noutputs = [\"o\"]\n",
        "stage name", "is invalid", "[a-z0-9_-]");
  }
  CHECK_REFUSED(
      "[[stages]]\nname = \"" + std::string(65, 'a') + "\"\ncommand = [\"x\"]\noutputs = [\"o\"]\n",
      "is invalid");
  CHECK_REFUSED("[[stages]]\nname = \"module\"\ncommand = [\"x\"]\noutputs = [\"o\"]\n",
                "'module' is reserved");
  CHECK_REFUSED("[[stages]]\nname = \"tools\"\ncommand = [\"x\"]\noutputs = [\"o\"]\n",
                "'tools' is reserved");
  CHECK_REFUSED("[[stages]]\nname = 3\ncommand = [\"x\"]\noutputs = [\"o\"]\n",
                "name must be a string");
  CHECK(ErrorOf("[[stages]]\nname = \"lift_2-x\"\ncommand = [\"x\"]\noutputs = [\"o\"]\n").empty());
}

TEST_CASE("duplicate stage names are refused") {
  CHECK_REFUSED(std::string(kStageA) + std::string(kStageA), "duplicate stage name 'a'");
}

TEST_CASE("needs must name known stages, once, without cycles") {
  CHECK_REFUSED(StageWith("needs = [\"analyse\"]"), "stage 'a' needs unknown stage 'analyse'");
  CHECK_REFUSED(StageWith("needs = \"b\""), "needs must be an array of strings");
  CHECK_REFUSED(StageWith("needs = [\"a\"]"), "dependency cycle", "a -> a");
  std::string three = R"(
[[stages]]
name = "x"
command = ["x"]
outputs = ["o"]
[[stages]]
name = "a"
needs = ["x", "b"]
command = ["x"]
outputs = ["o"]
[[stages]]
name = "b"
needs = ["c"]
command = ["x"]
outputs = ["o"]
[[stages]]
name = "c"
needs = ["a"]
command = ["x"]
outputs = ["o"]
)";
  CHECK_REFUSED(three, "dependency cycle in needs: a -> b -> c -> a");
  CHECK_REFUSED(std::string(kStageA) +
                    "[[stages]]\nname = \"b\"\nneeds = [\"a\", \"a\"]\ncommand = [\"x\"]\noutputs "
                    "= [\"o\"]\n",
                "lists 'a' twice");
}

TEST_CASE("command must be a non-empty argv without empty elements") {
  CHECK_REFUSED("[[stages]]\nname = \"a\"\noutputs = [\"o\"]\n", "stage 'a'",
                "missing required key 'command'");
  CHECK_REFUSED("[[stages]]\nname = \"a\"\ncommand = []\noutputs = [\"o\"]\n",
                "stage 'a': command is empty");
  CHECK_REFUSED("[[stages]]\nname = \"a\"\ncommand = [\"x\", \"\"]\noutputs = [\"o\"]\n",
                "command[1] is an empty string");
  CHECK_REFUSED("[[stages]]\nname = \"a\"\ncommand = \"make all\"\noutputs = [\"o\"]\n",
                "command must be an array of strings, got a string");
  CHECK_REFUSED("[[stages]]\nname = \"a\"\ncommand = [\"x\", 3]\noutputs = [\"o\"]\n",
                "command[1] must be a string, got an integer");
  CHECK_REFUSED("[[stages]]\nname = \"a\"\ncommand = [\"x\\u0000y\"]\noutputs = [\"o\"]\n", "NUL");
}

TEST_CASE("outputs must stay inside the working directory") {
  auto with_outputs = [](std::string_view outs) {
    return "[[stages]]\nname = \"a\"\ncommand = [\"x\"]\noutputs = " + std::string(outs) + "\n";
  };
  CHECK_REFUSED("[[stages]]\nname = \"a\"\ncommand = [\"x\"]\n", "missing required key 'outputs'");
  CHECK(ParsePipeline(with_outputs("[]"), "p.toml").ok());  // a check-only stage
  CHECK_REFUSED(with_outputs("[\"\"]"), "output ''", "is empty");
  CHECK_REFUSED(with_outputs("[\"/tmp/out\"]"), "'/tmp/out' is absolute");
  CHECK_REFUSED(with_outputs("[\"/\"]"), "is absolute");
  CHECK_REFUSED(with_outputs("[\"../out\"]"), "'../out' has a '..' component");
  CHECK_REFUSED(with_outputs("[\"out/../../x\"]"), "'..' component");
  CHECK_REFUSED(with_outputs("[\"./out\"]"), "'.' component");
  CHECK_REFUSED(with_outputs("[\"a//b\"]"), "empty path component");
  CHECK_REFUSED(with_outputs("[\"out//\"]"), "empty path component");
  CHECK_REFUSED(with_outputs("[\"in/x\"]"), "'in/x' is under in/");
  CHECK_REFUSED(with_outputs("[\"in/\"]"), "is under in/");
  CHECK_REFUSED(with_outputs("[\"out/\", \"out/a.c\"]"), "'out/' and 'out/a.c' overlap");
  CHECK_REFUSED(with_outputs("[\"out\", \"out/\"]"), "overlap");
  CHECK_REFUSED(with_outputs("[\"a\", \"a\"]"), "overlap");
  CHECK_REFUSED(with_outputs("\"out/\""), "outputs must be an array of strings");
  CHECK(ErrorOf(with_outputs("[\"out/\", \"output.txt\", \"in.txt\", \"deep/dir/f\"]")).empty());
}

TEST_CASE("integer keys are range- and type-checked") {
  CHECK_REFUSED(StageWith("shards = 0"), "shards = 0 is out of range 1..1024");
  CHECK_REFUSED(StageWith("shards = 1025"), "shards = 1025 is out of range 1..1024");
  CHECK_REFUSED(StageWith("shards = \"8\""), "stage 'a': shards must be an integer, got a string");
  CHECK_REFUSED(StageWith("shards = 8.0"), "shards must be an integer, got a float");
  CHECK_REFUSED(StageWith("timeout_s = 0"), "timeout_s = 0 is out of range");
  CHECK_REFUSED(StageWith("timeout_s = -5"), "timeout_s = -5 is out of range");
  CHECK_REFUSED(StageWith("timeout_s = 99999999999"), "timeout_s = 99999999999 is out of range");
  CHECK_REFUSED(StageWith("retries = -1"), "retries = -1 is out of range 0..10");
  CHECK_REFUSED(StageWith("retries = 11"), "retries = 11 is out of range 0..10");
  CHECK(ErrorOf(StageWith("shards = 1024\nretries = 10\ntimeout_s = 1")).empty());
}

TEST_CASE("other typed keys") {
  CHECK_REFUSED(StageWith("validation = \"yes\""), "validation must be a boolean, got a string");
  CHECK_REFUSED(StageWith("salt = 1"), "salt must be a string, got an integer");
  CHECK_REFUSED(StageWith("env = [\"A=1\"]"), "env must be a table of strings, got an array");
}

TEST_CASE("module and shard_inputs are read") {
  auto r = ParsePipeline(R"(
[[stages]]
name = "analyze"
command = ["true"]
outputs = ["a.json"]
[[stages]]
name = "split"
needs = ["analyze"]
command = ["true"]
outputs = ["out/"]
shards = 4
module = true
shard_inputs = "all"
[[stages]]
name = "lift"
needs = ["analyze", "split"]
command = ["true"]
outputs = ["out/"]
shards = 4
module = false
shard_inputs = "same"
)",
                         "p.toml");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->FindStage("analyze")->module);
  CHECK(r->FindStage("split")->module);
  CHECK(r->FindStage("split")->shard_inputs == ShardInputs::kAll);
  CHECK_FALSE(r->FindStage("lift")->module);
  CHECK(r->FindStage("lift")->shard_inputs == ShardInputs::kSame);
  // Equal shard counts of 1 pair up too (trivially the same as "all").
  CHECK(ErrorOf(R"(
[[stages]]
name = "a"
command = ["true"]
outputs = ["x"]
[[stages]]
name = "b"
needs = ["a"]
command = ["true"]
outputs = ["x"]
shard_inputs = "same"
)")
            .empty());
}

TEST_CASE("module and shard_inputs are checked") {
  CHECK_REFUSED(StageWith("module = \"no\""), "stage 'a': module must be a boolean, got a string");
  CHECK_REFUSED(StageWith("shard_inputs = 1"), "stage 'a': shard_inputs must be a string");
  CHECK_REFUSED(StageWith("shard_inputs = \"each\""),
                "stage 'a': shard_inputs must be \"all\" or \"same\", got \"each\"");
  CHECK_REFUSED(StageWith("shard_inputs = \"Same\""), "must be \"all\" or \"same\"");
  CHECK_REFUSED(StageWith("shard_input = \"same\""), "did you mean 'shard_inputs'");
  // "same" with no needs, or no need of the same shard count.
  CHECK_REFUSED(
      StageWith("shard_inputs = \"same\""),
      "stage 'a': shard_inputs = \"same\" but no stage in its needs has its shard count (1)");
  CHECK_REFUSED(std::string(kStageA) + R"(
[[stages]]
name = "b"
needs = ["a"]
command = ["true"]
outputs = ["x"]
shards = 8
shard_inputs = "same"
)",
                "stage 'b': shard_inputs = \"same\"", "shard count (8)", "p.toml:");
}

TEST_CASE("env is checked: names, RECOMP_ reserved, string values") {
  CHECK_REFUSED(StageWith("env = { RECOMP_SHARD = \"3\" }"), "'RECOMP_SHARD' is reserved");
  CHECK_REFUSED(StageWith("env = { RECOMP_ANYTHING = \"3\" }"), "'RECOMP_ANYTHING' is reserved");
  CHECK_REFUSED(StageWith("env = { \"A-B\" = \"1\" }"), "'A-B' is not a valid variable name");
  CHECK_REFUSED(StageWith("env = { \"1A\" = \"1\" }"), "'1A' is not a valid variable name");
  CHECK_REFUSED(StageWith("env = { \"A=B\" = \"1\" }"), "not a valid variable name");
  CHECK_REFUSED(StageWith("env = { JOBS = 4 }"), "env.JOBS must be a string, got an integer");
  CHECK(ErrorOf(StageWith("[stages.env]\nLANG = \"C\"\n_x1 = \"\"")).empty());
}

TEST_CASE("at most one validation stage") {
  std::string two =
      StageWith("validation = true") +
      "[[stages]]\nname = \"b\"\ncommand = [\"x\"]\noutputs = [\"o\"]\nvalidation = true\n";
  CHECK_REFUSED(two, "stages 'a' and 'b' both set validation = true");
}

TEST_CASE("tools: basenames must be file names and unique") {
  CHECK_REFUSED("tools = [\"a/lift.py\", \"b/lift.py\"]\n" + std::string(kStageA),
                "'a/lift.py' and 'b/lift.py' have the same basename 'lift.py'");
  CHECK_REFUSED("tools = [\"tools/\"]\n" + std::string(kStageA),
                "tool 'tools/' does not name a file");
  CHECK_REFUSED("tools = [\"..\"]\n" + std::string(kStageA), "does not name a file");
  CHECK_REFUSED("tools = [\"\"]\n" + std::string(kStageA), "does not name a file");
  CHECK_REFUSED("tools = \"lift.py\"\n" + std::string(kStageA),
                "tools must be an array of strings");
}

TEST_CASE("tool_refs is refused in a user-written manifest") {
  CHECK_REFUSED(std::string(kStageA) + "[tool_refs]\n", "tool_refs is written by `recomp submit`");
}

TEST_CASE("ResolveToolRefs appends a deterministic [tool_refs] table") {
  const std::string text = "tools = [\"t/z.py\", \"t/a b.c\", \"q\\\"x\"]" + std::string(kStageA);
  std::map<std::string, Digest> refs{{"z.py", D(1)}, {"a b.c", D(2)}, {"q\"x", D(3)}};
  auto out = ResolveToolRefs(text, refs);
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  CHECK(out->substr(0, text.size()) == text);  // the user's bytes are kept as they are
  std::string expected_tail =
      "\n[tool_refs]  # written by recomp submit: tool basename -> artifact\n"
      "\"a b.c\" = \"" +
      D(2).Ref() +
      "\"\n"
      "\"q\\\"x\" = \"" +
      D(3).Ref() +
      "\"\n"
      "\"z.py\" = \"" +
      D(1).Ref() + "\"\n";
  CHECK(out->substr(text.size()) == expected_tail);
  CHECK(*ResolveToolRefs(text, refs) == *out);

  auto rp = ParseResolvedPipeline(*out, "resolved.toml");
  REQUIRE_MESSAGE(rp.ok(), rp.status().ToString());
  REQUIRE(rp->tools.size() == 3);
  CHECK(rp->tools[0] == ToolRef{"a b.c", D(2)});
  CHECK(rp->tools[1] == ToolRef{"q\"x", D(3)});
  CHECK(rp->tools[2] == ToolRef{"z.py", D(1)});
  CHECK(rp->pipeline.stages.size() == 1);
}

TEST_CASE("ResolveToolRefs handles a manifest without a final newline or tools") {
  std::string text(kStageA);
  text.pop_back();
  auto out = ResolveToolRefs(text, {});
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  CHECK(out->substr(0, text.size() + 1) == text + "\n");
  auto rp = ParseResolvedPipeline(*out, "r.toml");
  REQUIRE_MESSAGE(rp.ok(), rp.status().ToString());
  CHECK(rp->tools.empty());
}

TEST_CASE("ResolveToolRefs refuses missing or extra refs and bad manifests") {
  const std::string text = "tools = [\"t/lift.py\"]" + std::string(kStageA);
  auto missing = ResolveToolRefs(text, {});
  CHECK(missing.status().message().find("tool_refs has no ref for tool 'lift.py'") !=
        std::string::npos);
  auto extra = ResolveToolRefs(text, {{"lift.py", D(1)}, {"other.c", D(2)}});
  CHECK(extra.status().message().find("'other.c', which is not a tool") != std::string::npos);
  auto bad = ResolveToolRefs("[[stages]]\n", {});
  CHECK(bad.status().message().find("missing required key 'name'") != std::string::npos);
}

TEST_CASE("ParseResolvedPipeline requires exactly one valid ref per tool") {
  const std::string text =
      "tools = [\"t/lift.py\", \"rt.c\"]" + std::string(kStageA) + "[tool_refs]\n";
  const std::string lift = "\"lift.py\" = \"" + D(1).Ref() + "\"\n";
  const std::string rt = "\"rt.c\" = \"" + D(2).Ref() + "\"\n";
  auto err = [](const std::string& t) {
    return ParseResolvedPipeline(t, "r.toml").status().message();
  };
  CHECK(err(text + lift).find("tool_refs has no ref for tool 'rt.c'") != std::string::npos);
  CHECK(err(text + lift + rt + "\"x.c\" = \"" + D(3).Ref() + "\"\n")
            .find("'x.c', which is not a tool") != std::string::npos);
  CHECK(err(text + lift + "\"rt.c\" = \"artifact://ABC\"\n")
            .find("tool_refs.rt.c: malformed artifact ref") != std::string::npos);
  CHECK(err(text + lift + "\"rt.c\" = 5\n").find("must be a string") != std::string::npos);
  CHECK(err("tools = [\"t/lift.py\"]" + std::string(kStageA)).find("no ref for tool 'lift.py'") !=
        std::string::npos);
  CHECK(ParseResolvedPipeline(text + lift + rt, "r.toml").ok());
}

TEST_CASE("LoadPipelineFile resolves tools relative to the manifest") {
  char tmpl[] = "/tmp/recomp-pipeline-test-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const std::filesystem::path dir(tmpl);
  std::filesystem::create_directories(dir / "cfg" / "tools");
  std::ofstream(dir / "cfg" / "tools" / "lift.py") << "print('hi')\n";
  std::ofstream(dir / "rt.c") << "int x;\n";
  const std::string text = "tools = [\"tools/lift.py\", \"../rt.c\"]" + std::string(kStageA);
  std::ofstream(dir / "cfg" / "pipeline.toml") << text;

  auto f = LoadPipelineFile(dir / "cfg" / "pipeline.toml");
  REQUIRE_MESSAGE(f.ok(), f.status().ToString());
  CHECK(f->text == text);
  REQUIRE(f->tools.size() == 2);
  CHECK(f->tools[0].basename == "lift.py");
  CHECK(std::filesystem::equivalent(f->tools[0].path, dir / "cfg" / "tools" / "lift.py"));
  CHECK(f->tools[1].basename == "rt.c");
  CHECK(std::filesystem::equivalent(f->tools[1].path, dir / "rt.c"));

  std::ofstream(dir / "cfg" / "bad.toml") << "tools = [\"tools/nope.py\"]" << kStageA;
  auto missing_tool = LoadPipelineFile(dir / "cfg" / "bad.toml");
  CHECK(missing_tool.status().code() == Status::Code::kNotFound);
  CHECK(missing_tool.status().message().find("tool 'tools/nope.py' not found") !=
        std::string::npos);

  auto missing = LoadPipelineFile(dir / "cfg" / "absent.toml");
  CHECK(missing.status().code() == Status::Code::kNotFound);
  CHECK(missing.status().message().find("absent.toml") != std::string::npos);

  std::ofstream(dir / "cfg" / "syntax.toml") << "x = \n";
  auto syntax = LoadPipelineFile(dir / "cfg" / "syntax.toml");
  CHECK(syntax.status().message().find("syntax.toml:1:") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("the repository's sample pipeline (config/pipelines/t32.toml) loads") {
  const char* src = std::getenv("RECOMP_SOURCE_DIR");
  if (src == nullptr) return;  // run outside CTest
  const auto path = std::filesystem::path(src) / "config" / "pipelines" / "t32.toml";
  if (!std::filesystem::exists(path)) return;
  auto f = LoadPipelineFile(path);
  REQUIRE_MESSAGE(f.ok(), f.status().ToString());
  CHECK_FALSE(f->pipeline.order.empty());
  CHECK(f->pipeline.ValidationStage() != nullptr);
  std::map<std::string, Digest> refs;
  for (const ToolFile& t : f->tools) refs[t.basename] = D(7);
  auto resolved = ResolveToolRefs(f->text, refs);
  REQUIRE_MESSAGE(resolved.ok(), resolved.status().ToString());
  CHECK(ParseResolvedPipeline(*resolved, path.string()).ok());
}

namespace {

// An inline env table of exactly `bytes` key and value bytes (values of at most 4000 bytes).
std::string Env(size_t bytes) {
  std::string out = "{ ";
  for (int i = 0; bytes > 0; ++i) {
    std::string key = "V" + std::to_string(1000 + i);  // 5 bytes
    size_t value = std::min<size_t>(bytes - key.size(), 4000);
    out += (i ? ", " : "") + key + " = \"" + std::string(value, 'x') + "\"";
    bytes -= key.size() + value;
    if (bytes > 0 && bytes <= key.size()) {  // too small for another variable: widen this one
      out.insert(out.size() - 1, std::string(bytes, 'x'));
      bytes = 0;
    }
  }
  return out + " }";
}

// A pipeline of `n` stages, each needing the previous one (a chain), with `shards` shards and
// `env_bytes` bytes of env each.
std::string Chain(size_t n, uint32_t shards = 1, size_t env_bytes = 0) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += "[[stages]]\nname = \"s" + std::to_string(i) + "\"\ncommand = [\"true\"]\n";
    out += "outputs = [\"o\"]\nshards = " + std::to_string(shards) + "\n";
    if (i > 0) out += "needs = [\"s" + std::to_string(i - 1) + "\"]\n";
    if (env_bytes > 0) out += "env = " + Env(env_bytes) + "\n";
  }
  return out;
}

Status RefusalOf(const std::string& text) {
  auto r = ParsePipeline(text, "p.toml");
  return r.ok() ? Status::Ok() : r.status();
}

}  // namespace

TEST_CASE("retry_exit_codes is read and checked") {
  auto ok = ParsePipeline(std::string(kStageA) + "retry_exit_codes = [75, 1, 255]\n", "p.toml");
  REQUIRE_MESSAGE(ok.ok(), ok.status().ToString());
  CHECK(ok->stages[0].retry_exit_codes == std::vector<int32_t>{75, 1, 255});
  CHECK(ParsePipeline(kStageA, "p.toml")->stages[0].retry_exit_codes.empty());
  CHECK(ErrorOf(std::string(kStageA) + "retry_exit_codes = [0]\n").find("1..255") !=
        std::string::npos);
  CHECK(ErrorOf(std::string(kStageA) + "retry_exit_codes = [256]\n").find("1..255") !=
        std::string::npos);
  CHECK(ErrorOf(std::string(kStageA) + "retry_exit_codes = [3, 3]\n").find("lists 3 twice") !=
        std::string::npos);
  CHECK(ErrorOf(std::string(kStageA) + "retry_exit_codes = 3\n").find("an array of integers") !=
        std::string::npos);
  std::string many = "retry_exit_codes = [";
  for (int i = 1; i <= 33; ++i) many += std::to_string(i) + (i < 33 ? ", " : "]\n");
  CHECK(ErrorOf(std::string(kStageA) + many).find("more than 32") != std::string::npos);
}

TEST_CASE("a run's plan is capped: stages, jobs, env bytes, and shards x (argv + env)") {
  CHECK(ParsePipeline(Chain(kMaxStages), "p.toml").ok());
  Status stages = RefusalOf(Chain(kMaxStages + 1));
  CHECK(stages.code() == Status::Code::kResourceExhausted);
  CHECK(stages.message().find("pipeline has 1001 stages, more than 1000") != std::string::npos);

  Status jobs = RefusalOf(Chain(98, kMaxShards));  // 98 x 1024 = 100,352 jobs
  CHECK(jobs.code() == Status::Code::kResourceExhausted);
  CHECK(jobs.message().find("plans 100352 jobs") != std::string::npos);

  Status env = RefusalOf(Chain(1, 1, kMaxStageEnvBytes + 1));
  CHECK(env.code() == Status::Code::kResourceExhausted);
  CHECK(env.message().find("p.toml:") == 0);  // the line of the stage
  CHECK(env.message().find("env is 65537 bytes, more than 65536") != std::string::npos);

  // 1024 shards x 16 KB of env = 16 MB: under the 16 MiB cap; two such stages exceed it.
  CHECK(ParsePipeline(Chain(1, kMaxShards, 16000), "p.toml").ok());
  Status plan = RefusalOf(Chain(2, kMaxShards, 16000));
  CHECK(plan.code() == Status::Code::kResourceExhausted);
  CHECK(plan.message().find("of command and environment") != std::string::npos);
  CHECK(plan.message().find("more than 16 MiB") != std::string::npos);
}

TEST_CASE("a long chain parses quickly, in order, with indexed lookups and dependents") {
  auto p = ParsePipeline(Chain(kMaxStages), "p.toml");
  REQUIRE(p.ok());
  REQUIRE(p->order.size() == kMaxStages);
  CHECK(p->order.front() == "s0");
  CHECK(p->order.back() == "s999");
  CHECK(p->FindStage("s500") == &p->stages[500]);
  CHECK(p->FindStage("nope") == nullptr);
  REQUIRE(p->dependents.size() == kMaxStages);
  CHECK(p->dependents[0] == std::vector<size_t>{1});
  CHECK(p->dependents.back().empty());
}

TEST_CASE("requires: labels the worker must have; malformed ones are refused") {
  auto r = ParsePipeline(StageWith("requires = { arch = \"aarch64\", gpu = \"1\" }"), "p.toml");
  REQUIRE(r.ok());
  CHECK(r->stages[0].requirements == Labels{{"arch", "aarch64"}, {"gpu", "1"}});
  CHECK(ParsePipeline(kStageA, "p.toml")->stages[0].requirements.empty());
  CHECK_REFUSED(StageWith("requires = \"gpu\""), "requires", "table");
  CHECK_REFUSED(StageWith("requires = { gpu = 1 }"), "requires.gpu");
  CHECK_REFUSED(StageWith("requires = { GPU = \"1\" }"), "label key 'GPU'");
  CHECK_REFUSED(StageWith("requires = { gpu = \"a b\" }"), "value");
}

TEST_CASE("stage tools: listed with the pipeline's, one basename one path") {
  auto ok = ParsePipeline(R"(
tools = ["t/common.sh"]
[[stages]]
name = "a"
command = ["sh"]
outputs = []
tools = ["t/a.sh", "t/common.sh"]
[[stages]]
name = "b"
command = ["sh"]
outputs = []
tools = ["t/b.sh", "t/a.sh"]
)",
                          "p.toml");
  REQUIRE_MESSAGE(ok.ok(), ok.status().ToString());
  CHECK(ok->AllTools() == std::vector<std::string>{"t/common.sh", "t/a.sh", "t/b.sh"});
  CHECK(ok->ToolBasenames() == std::vector<std::string>{"common.sh", "a.sh", "b.sh"});
  CHECK(ok->StageHasTool(*ok->FindStage("a"), "a.sh"));
  CHECK(ok->StageHasTool(*ok->FindStage("a"), "common.sh"));
  CHECK_FALSE(ok->StageHasTool(*ok->FindStage("a"), "b.sh"));

  auto clash = ParsePipeline(R"(
[[stages]]
name = "a"
command = ["sh"]
outputs = []
tools = ["x/run.sh"]
[[stages]]
name = "b"
command = ["sh"]
outputs = []
tools = ["y/run.sh"]
)",
                             "p.toml");
  REQUIRE_FALSE(clash.ok());
  CHECK(clash.status().message() ==
        "p.toml:7: stage 'b': tool 'y/run.sh' and tool 'x/run.sh' have the same basename "
        "'run.sh' (every job sees tools at in/tools/<basename>)");
  auto bad = ParsePipeline(
      "[[stages]]\nname = \"a\"\ncommand = [\"sh\"]\noutputs = []\n"
      "tools = [\"d/\"]\n",
      "p.toml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("tool 'd/' does not name a file") != std::string::npos);
  // A resolved manifest needs a ref for every stage's tool too.
  auto missing = ResolveToolRefs(R"(
[[stages]]
name = "a"
command = ["sh"]
outputs = []
tools = ["t/a.sh"]
)",
                                 {});
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("no ref for tool 'a.sh'") != std::string::npos);
}
