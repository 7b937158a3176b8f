// Pipeline manifest parsing and validation (format: docs/pipeline.md).
#include "coordinator/pipeline.h"

#include <toml++/toml.h>

#include <algorithm>
#include <set>
#include <system_error>

#include "base/edit_distance.h"
#include "coordinator/job_plan.h"
#include "coordinator/pipeline_graph.h"  // ValidateRelativePath: the working-dir path rules

namespace recomp::coordinator {
namespace {

constexpr std::string_view kStageKeys[] = {
    "name",    "needs",      "command", "outputs", "shards",       "timeout_s",        "retries",
    "env",     "validation", "salt",    "module",  "shard_inputs", "retry_exit_codes", "requires",
    "network", "tools"};
constexpr std::string_view kTopKeys[] = {"tools", "stages", "tool_refs"};

// Where errors are reported: "<source>:<line>: <message>".
struct Ctx {
  std::string_view source;
  Status Error(const toml::node* at, const std::string& msg,
               Status::Code code = Status::Code::kInvalidArgument) const {
    std::string where(source);
    if (at != nullptr && at->source().begin.line > 0) {
      where += ":" + std::to_string(at->source().begin.line);
    }
    return Status(code, where + ": " + msg);
  }
  Status WrongType(const toml::node& n, const std::string& what, std::string_view want) const;
};

// The one place toml++ exceptions are caught and turned into a Status.
Result<toml::table> ParseToml(std::string_view text, std::string_view source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& pos = e.source().begin;
    return Status::InvalidArgument(std::string(source) + ":" + std::to_string(pos.line) + ":" +
                                   std::to_string(pos.column) +
                                   ": TOML syntax error: " + std::string(e.description()));
  }
}

std::string_view TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date/time";
  }
}

template <size_t N>
std::string UnknownKey(std::string_view key, const std::string_view (&known)[N]) {
  std::string msg = "unknown key '" + std::string(key) + "'";
  if (std::string k = Closest(key, known, 2); !k.empty())
    return msg + " (did you mean '" + k + "'?)";
  msg += "; allowed keys:";
  for (std::string_view k : known) msg += " " + std::string(k);
  return msg;
}

Status Ctx::WrongType(const toml::node& n, const std::string& what, std::string_view want) const {
  return Error(&n, what + " must be " + std::string(want) + ", got " + std::string(TypeName(n)));
}

bool HasNul(std::string_view s) {
  return s.find('\0') != std::string_view::npos;
}

// Typed readers: each fails naming `what` and the type it got.
Status ReadString(const Ctx& c, const toml::node& n, const std::string& what, std::string* out) {
  const auto* s = n.as_string();
  if (s == nullptr) return c.WrongType(n, what, "a string");
  if (HasNul(s->get())) return c.Error(&n, what + " must not contain a NUL character");
  if (s->get().size() > kMaxString) {
    return c.Error(&n, what + " is longer than " + std::to_string(kMaxString) + " bytes");
  }
  *out = s->get();
  return Status::Ok();
}

Status ReadStringList(const Ctx& c, const toml::node& n, const std::string& what,
                      std::vector<std::string>* out) {
  const auto* arr = n.as_array();
  if (arr == nullptr) return c.WrongType(n, what, "an array of strings");
  out->clear();
  for (size_t i = 0; i < arr->size(); ++i) {
    std::string s;
    RECOMP_RETURN_IF_ERROR(ReadString(c, *arr->get(i), what + "[" + std::to_string(i) + "]", &s));
    out->push_back(std::move(s));
  }
  return Status::Ok();
}

Status ReadUint(const Ctx& c, const toml::node& n, const std::string& what, int64_t lo, int64_t hi,
                uint32_t* out) {
  const auto* v = n.as_integer();
  if (v == nullptr) return c.WrongType(n, what, "an integer");
  if (v->get() < lo || v->get() > hi) {
    return c.Error(&n, what + " = " + std::to_string(v->get()) + " is out of range " +
                           std::to_string(lo) + ".." + std::to_string(hi));
  }
  *out = static_cast<uint32_t>(v->get());
  return Status::Ok();
}

bool IsEnvName(std::string_view k) {
  if (k.empty() || (k[0] >= '0' && k[0] <= '9')) return false;
  return std::all_of(k.begin(), k.end(), [](char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
  });
}

Status ReadEnv(const Ctx& c, const toml::node& n, const std::string& what,
               std::map<std::string, std::string>* out) {
  const auto* t = n.as_table();
  if (t == nullptr) return c.WrongType(n, what, "a table of strings");
  for (auto&& [key, value] : *t) {
    std::string k(key.str());
    if (!IsEnvName(k)) {
      return c.Error(
          &value, what + " key '" + k + "' is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
    }
    if (k.rfind("RECOMP_", 0) == 0) {
      return c.Error(&value,
                     what + " key '" + k + "' is reserved: RECOMP_* variables are set by recomp");
    }
    RECOMP_RETURN_IF_ERROR(ReadString(c, value, what + "." + k, &(*out)[k]));
  }
  return Status::Ok();
}

// A list of distinct exit codes 1..255, at most kMaxRetryExitCodes.
Status ReadExitCodes(const Ctx& c, const toml::node& n, const std::string& what,
                     std::vector<int32_t>* out) {
  const auto* arr = n.as_array();
  if (arr == nullptr) return c.WrongType(n, what, "an array of integers");
  if (arr->size() > kMaxRetryExitCodes) {
    return c.Error(&n, what + " lists more than " + std::to_string(kMaxRetryExitCodes) + " codes");
  }
  for (const toml::node& e : *arr) {
    const auto* i = e.as_integer();
    if (i == nullptr) return c.WrongType(e, what + " element", "an integer");
    int64_t code = i->get();
    if (code < 1 || code > 255) {
      return c.Error(&e, what + " element " + std::to_string(code) + " is not an exit code 1..255");
    }
    if (std::find(out->begin(), out->end(), code) != out->end()) {
      return c.Error(&e, what + " lists " + std::to_string(code) + " twice");
    }
    out->push_back(static_cast<int32_t>(code));
  }
  return Status::Ok();
}

// `requires = { key = "value" }`: labels the worker must have (messages/stage_job.h's rules).
Status ReadRequires(const Ctx& c, const toml::node& n, const std::string& what, Labels* out) {
  const auto* t = n.as_table();
  if (t == nullptr) return c.WrongType(n, what, "a table of strings");
  for (auto&& [key, value] : *t) {
    RECOMP_RETURN_IF_ERROR(
        ReadString(c, value, what + "." + std::string(key.str()), &(*out)[std::string(key.str())]));
  }
  if (Status st = ValidateLabels(*out, what); !st.ok()) return c.Error(&n, st.message());
  return Status::Ok();
}

std::string Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// A list of tool paths (`what` names it): each names a file, no basename twice.
Status ReadToolList(const Ctx& c, const toml::node& n, const std::string& what,
                    std::vector<std::string>* out) {
  RECOMP_RETURN_IF_ERROR(ReadStringList(c, n, what, out));
  std::map<std::string, std::string> by_base;
  for (const std::string& t : *out) {
    std::string base = Basename(t);
    if (base.empty() || base == "." || base == ".." || base.size() > kMaxPathComponent) {
      return c.Error(
          &n, "tool '" + t + "' does not name a file (tools are placed by basename in in/tools/)");
    }
    auto [it, fresh] = by_base.emplace(base, t);
    if (!fresh) {
      return c.Error(&n, "tools '" + it->second + "' and '" + t + "' have the same basename '" +
                             base + "' (tools are placed flat by basename in in/tools/)");
    }
  }
  return Status::Ok();
}

// Reads one key of a [[stages]] entry into `s`.
Status ReadStageKey(const Ctx& c, std::string_view key, const toml::node& v, Stage* s) {
  const std::string what = "stage '" + s->name + "': " + std::string(key);
  if (key == "name") return Status::Ok();  // read first, by ReadStage
  if (key == "needs") return ReadStringList(c, v, what, &s->needs);
  if (key == "command") return ReadStringList(c, v, what, &s->command);
  if (key == "outputs") return ReadStringList(c, v, what, &s->outputs);
  if (key == "shards") return ReadUint(c, v, what, 1, kMaxShards, &s->shards);
  if (key == "timeout_s") return ReadUint(c, v, what, 1, kMaxTimeoutS, &s->timeout_s);
  if (key == "retries") return ReadUint(c, v, what, 0, kMaxRetries, &s->retries);
  if (key == "env") return ReadEnv(c, v, what, &s->env);
  if (key == "retry_exit_codes") return ReadExitCodes(c, v, what, &s->retry_exit_codes);
  if (key == "salt") return ReadString(c, v, what, &s->salt);
  if (key == "requires") return ReadRequires(c, v, what, &s->requirements);
  if (key == "tools") return ReadToolList(c, v, what, &s->tools);
  if (key == "validation" || key == "module" || key == "network") {
    if (!v.is_boolean()) return c.WrongType(v, what, "a boolean");
    (key == "module"    ? s->module
     : key == "network" ? s->network
                        : s->validation) = v.as_boolean()->get();
    return Status::Ok();
  }
  if (key == "shard_inputs") {
    std::string mode;
    RECOMP_RETURN_IF_ERROR(ReadString(c, v, what, &mode));
    if (mode == "all") {
      s->shard_inputs = ShardInputs::kAll;
    } else if (mode == "same") {
      s->shard_inputs = ShardInputs::kSame;
    } else {
      return c.Error(&v, what + " must be \"all\" or \"same\", got \"" + mode + "\"");
    }
    return Status::Ok();
  }
  return c.Error(&v, "stage '" + s->name + "': " + UnknownKey(key, kStageKeys));
}

Status CheckStageName(const Ctx& c, const toml::node& at, const std::string& name) {
  bool ok = !name.empty() && name.size() <= kMaxStageName &&
            std::all_of(name.begin(), name.end(), [](char ch) {
              return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
            });
  if (!ok) {
    return c.Error(&at, "stage name '" + name + "' is invalid: use 1-" +
                            std::to_string(kMaxStageName) +
                            " characters of [a-z0-9_-] (it becomes the directory in/<stage>/)");
  }
  if (name == "module" || name == "tools") {
    return c.Error(&at, "stage name '" + name + "' is reserved (in/" + name + "/ holds the job's " +
                            (name == "module" ? "module files" : "tools") + ")");
  }
  return Status::Ok();
}

// Outputs: valid relative paths, not under in/, unique and not nested in one another.
Status CheckOutputs(const Ctx& c, const toml::node& at, const Stage& s) {
  const std::string what = "stage '" + s.name + "': output";
  // An empty list is allowed: a stage that only checks something (its exit status is the result).
  std::vector<std::string> bare;
  for (const std::string& o : s.outputs) {
    Status st = ValidateRelativePath(o, what + " '" + o + "'", /*allow_dir_slash=*/true);
    if (!st.ok()) return c.Error(&at, st.message());
    std::string b = o.back() == '/' ? o.substr(0, o.size() - 1) : o;
    if (b == "in" || b.rfind("in/", 0) == 0) {
      return c.Error(&at, what + " '" + o + "' is under in/, which holds the job's inputs");
    }
    for (size_t i = 0; i < bare.size(); ++i) {
      const std::string& p = bare[i];
      if (p == b || b.rfind(p + "/", 0) == 0 || p.rfind(b + "/", 0) == 0) {
        return c.Error(&at, what + "s '" + s.outputs[i] + "' and '" + o + "' overlap");
      }
    }
    bare.push_back(std::move(b));
  }
  return Status::Ok();
}

Status CheckStage(const Ctx& c, const toml::table& t, const Stage& s) {
  size_t env_bytes = 0;
  for (const auto& [k, v] : s.env) env_bytes += k.size() + v.size();
  if (env_bytes > kMaxStageEnvBytes) {
    return c.Error(t.get("env"),
                   "stage '" + s.name + "': env is " + std::to_string(env_bytes) +
                       " bytes, more than " + std::to_string(kMaxStageEnvBytes) +
                       ": pass large data as a tool or module file instead",
                   Status::Code::kResourceExhausted);
  }
  for (std::string_view req : {"command", "outputs"}) {
    if (!t.contains(req))
      return c.Error(&t, "stage '" + s.name + "': missing required key '" + std::string(req) + "'");
  }
  if (s.command.empty())
    return c.Error(t.get("command"), "stage '" + s.name + "': command is empty");
  for (size_t i = 0; i < s.command.size(); ++i) {
    if (s.command[i].empty()) {
      return c.Error(t.get("command"), "stage '" + s.name + "': command[" + std::to_string(i) +
                                           "] is an empty string");
    }
  }
  return CheckOutputs(c, *t.get("outputs"), s);
}

Result<Stage> ReadStage(const Ctx& c, const toml::node& n, size_t index) {
  const auto* t = n.as_table();
  if (t == nullptr) return c.Error(&n, "stages[" + std::to_string(index) + "] must be a table");
  Stage s;
  const toml::node* name = t->get("name");
  if (name == nullptr)
    return c.Error(t, "stages[" + std::to_string(index) + "]: missing required key 'name'");
  RECOMP_RETURN_IF_ERROR(
      ReadString(c, *name, "stages[" + std::to_string(index) + "].name", &s.name));
  RECOMP_RETURN_IF_ERROR(CheckStageName(c, *name, s.name));
  for (auto&& [key, value] : *t) RECOMP_RETURN_IF_ERROR(ReadStageKey(c, key.str(), value, &s));
  RECOMP_RETURN_IF_ERROR(CheckStage(c, *t, s));
  return s;
}

// Across the pipeline's and the stages' tools, one basename names one path.
Status CheckToolBasenames(const Ctx& c, const toml::node* stages, const Pipeline& p) {
  std::map<std::string, std::string> by_base;
  for (const std::string& t : p.tools) by_base.emplace(Basename(t), t);
  for (size_t i = 0; i < p.stages.size(); ++i) {
    for (const std::string& t : p.stages[i].tools) {
      auto [it, fresh] = by_base.emplace(Basename(t), t);
      if (!fresh && it->second != t) {
        const toml::node* at = stages ? stages->as_array()->get(i) : nullptr;
        return c.Error(at, "stage '" + p.stages[i].name + "': tool '" + t + "' and tool '" +
                               it->second + "' have the same basename '" + it->first +
                               "' (every job sees tools at in/tools/<basename>)");
      }
    }
  }
  return Status::Ok();
}

Result<std::vector<ToolRef>> ReadToolRefs(const Ctx& c, const toml::table& root,
                                          const Pipeline& p) {
  const toml::node* n = root.get("tool_refs");
  const toml::table* t = n != nullptr ? n->as_table() : nullptr;
  if (n != nullptr && t == nullptr) return c.WrongType(*n, "tool_refs", "a table");
  const toml::table empty;
  if (t == nullptr) t = &empty;
  const std::vector<std::string> bases = p.ToolBasenames();
  for (auto&& [key, value] : *t) {
    if (std::find(bases.begin(), bases.end(), key.str()) == bases.end()) {
      return c.Error(&value, "tool_refs has '" + std::string(key.str()) + "', which is not a tool");
    }
  }
  std::vector<ToolRef> refs;
  for (const std::string& base : bases) {
    const toml::node* v = t->get(base);
    if (v == nullptr) return c.Error(n, "tool_refs has no ref for tool '" + base + "'");
    std::string text;
    RECOMP_RETURN_IF_ERROR(ReadString(c, *v, "tool_refs." + base, &text));
    auto d = ParseArtifactRef(text);
    if (!d.ok()) return c.Error(v, "tool_refs." + base + ": " + d.status().message());
    refs.push_back({base, *d});
  }
  std::sort(refs.begin(), refs.end(),
            [](const ToolRef& a, const ToolRef& b) { return a.basename < b.basename; });
  return refs;
}

Result<Pipeline> ParseRoot(const Ctx& c, const toml::table& root, bool resolved) {
  for (auto&& [key, value] : root) {
    if (key.str() == "tool_refs" && !resolved) {
      return c.Error(
          &value,
          "tool_refs is written by `recomp submit` and must not appear in a pipeline you write");
    }
    if (std::find(std::begin(kTopKeys), std::end(kTopKeys), key.str()) == std::end(kTopKeys)) {
      return c.Error(&value, UnknownKey(key.str(), kTopKeys));
    }
  }
  Pipeline p;
  if (const toml::node* tools = root.get("tools"))
    RECOMP_RETURN_IF_ERROR(ReadToolList(c, *tools, "tools", &p.tools));
  const toml::node* stages = root.get("stages");
  if (stages == nullptr) return c.Error(nullptr, "no stages: add at least one [[stages]] table");
  const toml::array* arr = stages->as_array();
  if (arr == nullptr) return c.WrongType(*stages, "stages", "an array of tables ([[stages]])");
  if (arr->empty()) return c.Error(stages, "no stages: add at least one [[stages]] table");
  for (size_t i = 0; i < arr->size(); ++i) {
    RECOMP_ASSIGN_OR_RETURN(Stage s, ReadStage(c, *arr->get(i), i));
    p.stages.push_back(std::move(s));
  }
  RECOMP_RETURN_IF_ERROR(CheckToolBasenames(c, stages, p));
  if (auto problem = BuildGraph(&p)) {
    return c.Error(problem->stage ? arr->get(*problem->stage) : nullptr, problem->status.message(),
                   problem->status.code());
  }
  return p;
}

// A TOML basic string: quotes, backslashes and control characters escaped.
std::string TomlQuote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    unsigned char u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", u);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

}  // namespace

const Stage* Pipeline::FindStage(std::string_view name) const {
  auto it = index.find(name);
  return it == index.end() ? nullptr : &stages[it->second];
}

const Stage* Pipeline::ValidationStage() const {
  auto it = std::find_if(stages.begin(), stages.end(), [](const Stage& s) { return s.validation; });
  return it == stages.end() ? nullptr : &*it;
}

std::vector<std::string> Pipeline::AllTools() const {
  std::vector<std::string> out = tools;
  for (const Stage& s : stages) {
    for (const std::string& t : s.tools)
      if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  return out;
}

std::vector<std::string> Pipeline::ToolBasenames() const {
  std::vector<std::string> out;
  for (const std::string& t : AllTools()) out.push_back(Basename(t));
  return out;
}

bool Pipeline::StageHasTool(const Stage& stage, std::string_view basename) const {
  auto named = [&](const std::string& t) { return Basename(t) == basename; };
  return std::any_of(tools.begin(), tools.end(), named) ||
         std::any_of(stage.tools.begin(), stage.tools.end(), named);
}

Result<Pipeline> ParsePipeline(std::string_view toml_text, std::string_view source_name) {
  Ctx c{source_name};
  RECOMP_ASSIGN_OR_RETURN(toml::table root, ParseToml(toml_text, source_name));
  return ParseRoot(c, root, /*resolved=*/false);
}

Result<ResolvedPipeline> ParseResolvedPipeline(std::string_view toml_text,
                                               std::string_view source_name) {
  Ctx c{source_name};
  RECOMP_ASSIGN_OR_RETURN(toml::table root, ParseToml(toml_text, source_name));
  ResolvedPipeline r;
  RECOMP_ASSIGN_OR_RETURN(r.pipeline, ParseRoot(c, root, /*resolved=*/true));
  RECOMP_ASSIGN_OR_RETURN(r.tools, ReadToolRefs(c, root, r.pipeline));
  return r;
}

Result<std::string> ResolveToolRefs(std::string_view toml_text,
                                    const std::map<std::string, Digest>& refs) {
  // Validates the text as user-written; ParseResolvedPipeline below checks `refs` against it.
  RECOMP_RETURN_IF_ERROR(ParsePipeline(toml_text, "pipeline").status());
  std::string out(toml_text);
  if (!out.empty() && out.back() != '\n') out += '\n';
  out += "\n[tool_refs]  # written by recomp submit: tool basename -> artifact\n";
  for (const auto& [b, d] : refs) out += TomlQuote(b) + " = \"" + d.Ref() + "\"\n";
  RECOMP_RETURN_IF_ERROR(ParseResolvedPipeline(out, "resolved pipeline").status());
  return out;
}

}  // namespace recomp::coordinator
