// Pipeline manifest parsing and validation (format: docs/pipeline.md).
#include "coordinator/pipeline.h"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "coordinator/job_plan.h"  // ValidateRelativePath: the working-dir path rules

namespace recomp::coordinator {
namespace {

constexpr std::string_view kStageKeys[] = {"name",       "needs",     "command", "outputs",
                                           "shards",     "timeout_s", "retries", "env",
                                           "validation", "salt",      "module",  "shard_inputs"};
constexpr std::string_view kTopKeys[] = {"tools", "stages", "tool_refs"};

// Where errors are reported: "<source>:<line>: <message>".
struct Ctx {
  std::string_view source;
  Status Error(const toml::node* at, const std::string& msg) const {
    std::string where(source);
    if (at != nullptr && at->source().begin.line > 0) {
      where += ":" + std::to_string(at->source().begin.line);
    }
    return Status::InvalidArgument(where + ": " + msg);
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

// Levenshtein distance, for "did you mean" hints on unknown keys.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

template <size_t N>
std::string UnknownKey(std::string_view key, const std::string_view (&known)[N]) {
  std::string msg = "unknown key '" + std::string(key) + "'";
  for (std::string_view k : known) {
    if (EditDistance(key, k) <= 2) return msg + " (did you mean '" + std::string(k) + "'?)";
  }
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
  if (key == "salt") return ReadString(c, v, what, &s->salt);
  if (key == "validation" || key == "module") {
    if (!v.is_boolean()) return c.WrongType(v, what, "a boolean");
    (key == "module" ? s->module : s->validation) = v.as_boolean()->get();
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

size_t IndexOf(const Pipeline& p, std::string_view name) {
  const Stage* s = p.FindStage(name);
  assert(s != nullptr && "needs are checked before ordering");
  return static_cast<size_t>(s - p.stages.data());
}

// Called when no unfinished stage is ready: every unfinished stage has an unfinished need, so
// following first unfinished needs from any of them must revisit a stage. Returns "a -> b -> a".
std::string DescribeCycle(const Pipeline& p, const std::vector<bool>& done) {
  std::vector<size_t> path;
  size_t i = static_cast<size_t>(std::find(done.begin(), done.end(), false) - done.begin());
  while (std::find(path.begin(), path.end(), i) == path.end()) {
    path.push_back(i);
    for (const std::string& n : p.stages[i].needs) {
      if (!done[IndexOf(p, n)]) {
        i = IndexOf(p, n);
        break;
      }
    }
  }
  std::string out;
  for (auto it = std::find(path.begin(), path.end(), i); it != path.end(); ++it) {
    out += p.stages[*it].name + " -> ";
  }
  return out + p.stages[i].name;
}

// Kahn's algorithm, always taking the earliest-declared ready stage; fails naming a cycle.
Status Order(const Ctx& c, Pipeline& p) {
  std::vector<bool> done(p.stages.size(), false);
  while (p.order.size() < p.stages.size()) {
    size_t next = 0;
    for (; next < p.stages.size(); ++next) {
      const auto& needs = p.stages[next].needs;
      if (!done[next] && std::all_of(needs.begin(), needs.end(),
                                     [&](const std::string& n) { return done[IndexOf(p, n)]; })) {
        break;
      }
    }
    if (next == p.stages.size()) {
      return c.Error(nullptr, "dependency cycle in needs: " + DescribeCycle(p, done));
    }
    done[next] = true;
    p.order.push_back(p.stages[next].name);
  }
  return Status::Ok();
}

// Cross-stage checks: unique names, known needs, no cycle, at most one validation stage.
Status CheckGraph(const Ctx& c, const toml::array& arr, Pipeline& p) {
  std::map<std::string, size_t> seen;
  const Stage* validation = nullptr;
  for (size_t i = 0; i < p.stages.size(); ++i) {
    const Stage& s = p.stages[i];
    if (!seen.emplace(s.name, i).second)
      return c.Error(arr.get(i), "duplicate stage name '" + s.name + "'");
    if (s.validation && validation != nullptr) {
      return c.Error(arr.get(i), "stages '" + validation->name + "' and '" + s.name +
                                     "' both set validation = true; at most one stage may");
    }
    if (s.validation) validation = &s;
  }
  for (size_t i = 0; i < p.stages.size(); ++i) {
    std::set<std::string> needs;
    for (const std::string& n : p.stages[i].needs) {
      if (!seen.count(n))
        return c.Error(arr.get(i),
                       "stage '" + p.stages[i].name + "' needs unknown stage '" + n + "'");
      if (!needs.insert(n).second)
        return c.Error(arr.get(i),
                       "stage '" + p.stages[i].name + "' lists '" + n + "' twice in needs");
    }
    const Stage& s = p.stages[i];
    if (s.shard_inputs == ShardInputs::kSame &&
        std::none_of(s.needs.begin(), s.needs.end(),
                     [&](const std::string& n) { return p.FindStage(n)->shards == s.shards; })) {
      return c.Error(arr.get(i), "stage '" + s.name +
                                     "': shard_inputs = \"same\" but no stage in its needs has "
                                     "its shard count (" +
                                     std::to_string(s.shards) + ")");
    }
  }
  return Order(c, p);
}

std::string Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

Status ReadTools(const Ctx& c, const toml::node& n, Pipeline& p) {
  RECOMP_RETURN_IF_ERROR(ReadStringList(c, n, "tools", &p.tools));
  std::map<std::string, std::string> by_base;
  for (const std::string& t : p.tools) {
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
  if (const toml::node* tools = root.get("tools")) RECOMP_RETURN_IF_ERROR(ReadTools(c, *tools, p));
  const toml::node* stages = root.get("stages");
  if (stages == nullptr) return c.Error(nullptr, "no stages: add at least one [[stages]] table");
  const toml::array* arr = stages->as_array();
  if (arr == nullptr) return c.WrongType(*stages, "stages", "an array of tables ([[stages]])");
  if (arr->empty()) return c.Error(stages, "no stages: add at least one [[stages]] table");
  for (size_t i = 0; i < arr->size(); ++i) {
    RECOMP_ASSIGN_OR_RETURN(Stage s, ReadStage(c, *arr->get(i), i));
    p.stages.push_back(std::move(s));
  }
  RECOMP_RETURN_IF_ERROR(CheckGraph(c, *arr, p));
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
  auto it =
      std::find_if(stages.begin(), stages.end(), [&](const Stage& s) { return s.name == name; });
  return it == stages.end() ? nullptr : &*it;
}

const Stage* Pipeline::ValidationStage() const {
  auto it = std::find_if(stages.begin(), stages.end(), [](const Stage& s) { return s.validation; });
  return it == stages.end() ? nullptr : &*it;
}

std::vector<std::string> Pipeline::ToolBasenames() const {
  std::vector<std::string> out;
  for (const std::string& t : tools) out.push_back(Basename(t));
  return out;
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

Result<PipelineFile> LoadPipelineFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::NotFound("pipeline manifest '" + path.string() +
                            "' not found (or not a regular file)");
  }
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::IOError("pipeline manifest '" + path.string() + "': " + ec.message());
  if (size > kMaxManifestBytes) {
    return Status::ResourceExhausted("pipeline manifest '" + path.string() + "' is larger than " +
                                     std::to_string(kMaxManifestBytes >> 20) + " MiB");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (!in.good() && !in.eof())
    return Status::IOError("pipeline manifest '" + path.string() + "': read failed");
  PipelineFile f{path, buf.str(), {}, {}};
  RECOMP_ASSIGN_OR_RETURN(f.pipeline, ParsePipeline(f.text, path.string()));
  const std::filesystem::path dir = path.parent_path();
  for (const std::string& t : f.pipeline.tools) {
    ToolFile tf{Basename(t), dir / t};
    if (!std::filesystem::is_regular_file(tf.path, ec)) {
      return Status::NotFound(path.string() + ": tool '" + t + "' not found at '" +
                              tf.path.string() + "' (or not a regular file)");
    }
    f.tools.push_back(std::move(tf));
  }
  return f;
}

}  // namespace recomp::coordinator
