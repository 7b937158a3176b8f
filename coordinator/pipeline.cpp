// Pipeline manifest parsing and validation (format: docs/pipeline.md).
#include "coordinator/pipeline.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>

#include <toml++/toml.h>

namespace recomp::coordinator {
namespace {

constexpr size_t kMaxManifestBytes = 1u << 20;
constexpr std::string_view kStageKeys[] = {"name",     "needs", "command", "outputs",
                                           "shards",   "timeout_s", "retries", "env",
                                           "validation", "salt"};
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
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date/time";
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

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// Typed readers: each fails naming `what` and the type it got.
Status ReadString(const Ctx& c, const toml::node& n, const std::string& what, std::string* out) {
  const auto* s = n.as_string();
  if (s == nullptr) return c.Error(&n, what + " must be a string, got " + std::string(TypeName(n)));
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
  if (arr == nullptr) {
    return c.Error(&n, what + " must be an array of strings, got " + std::string(TypeName(n)));
  }
  out->clear();
  for (size_t i = 0; i < arr->size(); ++i) {
    std::string s;
    RECOMP_RETURN_IF_ERROR(ReadString(c, *arr->get(i), what + "[" + std::to_string(i) + "]", &s));
    out->push_back(std::move(s));
  }
  return Status::Ok();
}

Status ReadUint(const Ctx& c, const toml::node& n, const std::string& what, int64_t lo,
                int64_t hi, uint32_t* out) {
  const auto* v = n.as_integer();
  if (v == nullptr) return c.Error(&n, what + " must be an integer, got " + std::string(TypeName(n)));
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
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
  });
}

Status ReadEnv(const Ctx& c, const toml::node& n, const std::string& what,
               std::map<std::string, std::string>* out) {
  const auto* t = n.as_table();
  if (t == nullptr) return c.Error(&n, what + " must be a table of strings, got " + std::string(TypeName(n)));
  for (auto&& [key, value] : *t) {
    std::string k(key.str());
    if (!IsEnvName(k)) {
      return c.Error(&value, what + " key '" + k + "' is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
    }
    if (k.rfind("RECOMP_", 0) == 0) {
      return c.Error(&value, what + " key '" + k + "' is reserved: RECOMP_* variables are set by recomp");
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
  if (key == "validation") {
    if (!v.is_boolean()) return c.Error(&v, what + " must be a boolean, got " + std::string(TypeName(v)));
    s->validation = v.as_boolean()->get();
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
    return c.Error(&at, "stage name '" + name + "' is invalid: use 1-" + std::to_string(kMaxStageName) +
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
  if (s.outputs.empty()) return c.Error(&at, what + "s must list at least one path");
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
    if (!t.contains(req)) return c.Error(&t, "stage '" + s.name + "': missing required key '" + std::string(req) + "'");
  }
  if (s.command.empty()) return c.Error(t.get("command"), "stage '" + s.name + "': command is empty");
  for (size_t i = 0; i < s.command.size(); ++i) {
    if (s.command[i].empty()) {
      return c.Error(t.get("command"), "stage '" + s.name + "': command[" + std::to_string(i) + "] is an empty string");
    }
  }
  return CheckOutputs(c, *t.get("outputs"), s);
}

Result<Stage> ReadStage(const Ctx& c, const toml::node& n, size_t index) {
  const auto* t = n.as_table();
  if (t == nullptr) return c.Error(&n, "stages[" + std::to_string(index) + "] must be a table");
  Stage s;
  const toml::node* name = t->get("name");
  if (name == nullptr) return c.Error(t, "stages[" + std::to_string(index) + "]: missing required key 'name'");
  RECOMP_RETURN_IF_ERROR(ReadString(c, *name, "stages[" + std::to_string(index) + "].name", &s.name));
  RECOMP_RETURN_IF_ERROR(CheckStageName(c, *name, s.name));
  for (auto&& [key, value] : *t) RECOMP_RETURN_IF_ERROR(ReadStageKey(c, key.str(), value, &s));
  RECOMP_RETURN_IF_ERROR(CheckStage(c, *t, s));
  return s;
}

// Depth-first search for a cycle; on finding one, describes it as "a -> b -> a".
bool FindCycle(const Pipeline& p, size_t i, std::vector<int>& color, std::vector<size_t>& stack,
               std::string* cycle) {
  color[i] = 1;
  stack.push_back(i);
  for (const std::string& need : p.stages[i].needs) {
    size_t j = static_cast<size_t>(p.FindStage(need) - p.stages.data());
    if (color[j] == 1) {
      auto from = std::find(stack.begin(), stack.end(), j);
      for (auto it = from; it != stack.end(); ++it) *cycle += p.stages[*it].name + " -> ";
      *cycle += p.stages[j].name;
      return true;
    }
    if (color[j] == 0 && FindCycle(p, j, color, stack, cycle)) return true;
  }
  stack.pop_back();
  color[i] = 2;
  return false;
}

// Kahn's algorithm, always taking the earliest-declared ready stage. Requires an acyclic graph.
std::vector<std::string> TopologicalOrder(const Pipeline& p) {
  std::vector<std::string> order;
  std::vector<bool> done(p.stages.size(), false);
  while (order.size() < p.stages.size()) {
    size_t before = order.size();
    for (size_t i = 0; i < p.stages.size(); ++i) {
      if (done[i]) continue;
      const auto& needs = p.stages[i].needs;
      bool ready = std::all_of(needs.begin(), needs.end(), [&](const std::string& n) {
        return done[static_cast<size_t>(p.FindStage(n) - p.stages.data())];
      });
      if (!ready) continue;
      done[i] = true;
      order.push_back(p.stages[i].name);
      break;
    }
    assert(order.size() > before && "TopologicalOrder called on a cyclic pipeline");
    if (order.size() == before) break;
  }
  return order;
}

// Cross-stage checks: unique names, known needs, no cycle, at most one validation stage.
Status CheckGraph(const Ctx& c, const toml::array& arr, Pipeline& p) {
  std::map<std::string, size_t> seen;
  const Stage* validation = nullptr;
  for (size_t i = 0; i < p.stages.size(); ++i) {
    const Stage& s = p.stages[i];
    if (!seen.emplace(s.name, i).second) return c.Error(arr.get(i), "duplicate stage name '" + s.name + "'");
    if (s.validation && validation != nullptr) {
      return c.Error(arr.get(i), "stages '" + validation->name + "' and '" + s.name +
                                     "' both set validation = true; at most one stage may");
    }
    if (s.validation) validation = &s;
  }
  for (size_t i = 0; i < p.stages.size(); ++i) {
    std::set<std::string> needs;
    for (const std::string& n : p.stages[i].needs) {
      if (!seen.count(n)) return c.Error(arr.get(i), "stage '" + p.stages[i].name + "' needs unknown stage '" + n + "'");
      if (!needs.insert(n).second) return c.Error(arr.get(i), "stage '" + p.stages[i].name + "' lists '" + n + "' twice in needs");
    }
  }
  std::vector<int> color(p.stages.size(), 0);
  for (size_t i = 0; i < p.stages.size(); ++i) {
    std::vector<size_t> stack;
    std::string cycle;
    if (color[i] == 0 && FindCycle(p, i, color, stack, &cycle)) {
      return c.Error(nullptr, "dependency cycle in needs: " + cycle);
    }
  }
  p.order = TopologicalOrder(p);
  return Status::Ok();
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
    if (base.empty() || base == "." || base == "..") {
      return c.Error(&n, "tool '" + t + "' does not name a file (tools are placed by basename in in/tools/)");
    }
    auto [it, fresh] = by_base.emplace(base, t);
    if (!fresh) {
      return c.Error(&n, "tools '" + it->second + "' and '" + t + "' have the same basename '" + base +
                             "' (tools are placed flat by basename in in/tools/)");
    }
  }
  return Status::Ok();
}

Result<std::vector<ToolRef>> ReadToolRefs(const Ctx& c, const toml::table& root, const Pipeline& p) {
  const toml::node* n = root.get("tool_refs");
  const toml::table* t = n != nullptr ? n->as_table() : nullptr;
  if (n != nullptr && t == nullptr) return c.Error(n, "tool_refs must be a table, got " + std::string(TypeName(*n)));
  std::vector<ToolRef> refs;
  for (const std::string& base : p.ToolBasenames()) {
    const toml::node* v = t != nullptr ? t->get(base) : nullptr;
    if (v == nullptr) return c.Error(t, "tool_refs has no ref for tool '" + base + "'");
    std::string text;
    RECOMP_RETURN_IF_ERROR(ReadString(c, *v, "tool_refs." + base, &text));
    auto d = ParseArtifactRef(text);
    if (!d.ok()) return c.Error(v, "tool_refs." + base + ": " + d.status().message());
    refs.push_back({base, *d});
  }
  if (t != nullptr && t->size() != refs.size()) {
    for (auto&& [key, value] : *t) {
      auto same = [&](const ToolRef& r) { return r.basename == key.str(); };
      if (std::none_of(refs.begin(), refs.end(), same)) {
        return c.Error(&value, "tool_refs has '" + std::string(key.str()) + "', which is not a tool");
      }
    }
  }
  std::sort(refs.begin(), refs.end(), [](const ToolRef& a, const ToolRef& b) { return a.basename < b.basename; });
  return refs;
}

Result<Pipeline> ParseRoot(const Ctx& c, const toml::table& root, bool resolved) {
  for (auto&& [key, value] : root) {
    if (key.str() == "tool_refs" && !resolved) {
      return c.Error(&value, "tool_refs is written by `recomp submit` and must not appear in a pipeline you write");
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
  if (arr == nullptr) return c.Error(stages, "stages must be an array of tables ([[stages]]), got " + std::string(TypeName(*stages)));
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
  for (const Stage& s : stages) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const Stage* Pipeline::ValidationStage() const {
  for (const Stage& s : stages) {
    if (s.validation) return &s;
  }
  return nullptr;
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

Result<ResolvedPipeline> ParseResolvedPipeline(std::string_view toml_text, std::string_view source_name) {
  Ctx c{source_name};
  RECOMP_ASSIGN_OR_RETURN(toml::table root, ParseToml(toml_text, source_name));
  ResolvedPipeline r;
  RECOMP_ASSIGN_OR_RETURN(r.pipeline, ParseRoot(c, root, /*resolved=*/true));
  RECOMP_ASSIGN_OR_RETURN(r.tools, ReadToolRefs(c, root, r.pipeline));
  return r;
}

Result<std::string> ResolveToolRefs(std::string_view toml_text, const std::map<std::string, Digest>& refs) {
  RECOMP_ASSIGN_OR_RETURN(Pipeline p, ParsePipeline(toml_text, "pipeline"));
  std::vector<std::string> bases = p.ToolBasenames();
  std::sort(bases.begin(), bases.end());
  for (const std::string& b : bases) {
    if (!refs.count(b)) return Status::InvalidArgument("pipeline: no artifact ref given for tool '" + b + "'");
  }
  for (const auto& [b, d] : refs) {
    if (!std::binary_search(bases.begin(), bases.end(), b)) {
      return Status::InvalidArgument("pipeline: artifact ref given for '" + b + "', which is not a tool");
    }
  }
  std::string out(toml_text);
  if (!out.empty() && out.back() != '\n') out += '\n';
  out += "\n[tool_refs]  # written by recomp submit: tool basename -> artifact\n";
  for (const auto& [b, d] : refs) out += TomlQuote(b) + " = \"" + d.Ref() + "\"\n";
  auto check = ParseResolvedPipeline(out, "resolved pipeline");
  if (!check.ok()) return Status::Internal("ResolveToolRefs produced an invalid manifest: " + check.status().message());
  return out;
}

Result<PipelineFile> LoadPipelineFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return Status::NotFound("pipeline manifest '" + path.string() + "' not found (or not a regular file)");
  }
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::IOError("pipeline manifest '" + path.string() + "': " + ec.message());
  if (size > kMaxManifestBytes) {
    return Status::ResourceExhausted("pipeline manifest '" + path.string() + "' is larger than 1 MiB");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (!in.good() && !in.eof()) return Status::IOError("pipeline manifest '" + path.string() + "': read failed");
  PipelineFile f{path, buf.str(), {}, {}};
  RECOMP_ASSIGN_OR_RETURN(f.pipeline, ParsePipeline(f.text, path.string()));
  const std::filesystem::path dir = path.parent_path();
  for (const std::string& t : f.pipeline.tools) {
    ToolFile tf{Basename(t), dir / t};
    if (!std::filesystem::is_regular_file(tf.path, ec)) {
      return Status::NotFound(path.string() + ": tool '" + t + "' not found at '" + tf.path.string() +
                              "' (or not a regular file)");
    }
    f.tools.push_back(std::move(tf));
  }
  return f;
}

Status ValidateRelativePath(std::string_view path, std::string_view what, bool allow_dir_slash) {
  const std::string w(what);
  if (path.empty()) return Status::InvalidArgument(w + " is empty");
  if (path.size() > kMaxString) return Status::InvalidArgument(w + " is longer than " + std::to_string(kMaxString) + " bytes");
  if (HasNul(path)) return Status::InvalidArgument(w + " contains a NUL character");
  if (path.front() == '/') return Status::InvalidArgument(w + " is absolute; it must be relative to the working directory");
  std::string_view rest = path;
  if (allow_dir_slash && rest.back() == '/') rest.remove_suffix(1);
  while (true) {
    size_t slash = rest.find('/');
    std::string_view comp = rest.substr(0, slash);
    if (comp.empty()) return Status::InvalidArgument(w + " has an empty path component ('//' or a trailing '/')");
    if (comp == "." || comp == "..") {
      return Status::InvalidArgument(w + " has a '" + std::string(comp) + "' component; it must stay inside the working directory");
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return Status::Ok();
}

}  // namespace recomp::coordinator
