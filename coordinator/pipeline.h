// The pipeline config manifest (TOML, docs/pipeline.md): stages, their commands, outputs, fan-out
// and dependencies, plus the tool files every job receives. Parsing validates everything and
// refuses a bad manifest with a message naming the problem. Pure functions on values: thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "messages/artifact_ref.h"
#include "messages/codec.h"
#include "messages/stage_job.h"

namespace recomp::coordinator {

// Defaults and limits (documented in docs/pipeline.md).
inline constexpr uint32_t kDefaultShards = 1;
inline constexpr uint32_t kMaxShards = 1024;
inline constexpr uint32_t kDefaultTimeoutS = 600;
inline constexpr uint32_t kMaxTimeoutS = 7 * 24 * 3600;
inline constexpr uint32_t kDefaultRetries = 2;
inline constexpr uint32_t kMaxRetries = 10;
inline constexpr size_t kMaxStageName = 64;
inline constexpr size_t kMaxStages = 1000;              // stages of one pipeline
inline constexpr uint64_t kMaxRunJobs = 100000;         // jobs of one run (its stages' shards)
inline constexpr size_t kMaxStageEnvBytes = 64u << 10;  // one stage's env, keys and values
inline constexpr uint64_t kMaxPlanBytes = 16u << 20;    // shards x (argv + env), all stages
inline constexpr size_t kMaxRetryExitCodes = 32;
inline constexpr size_t kMaxString = wire::kMaxString;  // one argv element or env value

// Which shards of a need a job of this stage receives (stage key `shard_inputs`).
enum class ShardInputs {
  kAll,   // "all": every shard of every need (the default)
  kSame,  // "same": for a need with this stage's shard count, only the job's own shard
};

struct Stage {
  std::string name;                       // [a-z0-9_-]+, not "module" or "tools"
  std::vector<std::string> needs;         // stages whose outputs this one reads
  std::vector<std::string> command;       // argv, non-empty, no empty element
  std::vector<std::string> outputs;       // relative paths; trailing '/' = a directory
  uint32_t shards = kDefaultShards;       // 1..kMaxShards
  uint32_t timeout_s = kDefaultTimeoutS;  // 1..kMaxTimeoutS, one attempt
  uint32_t retries = kDefaultRetries;     // 0..kMaxRetries, extra attempts after a failure
  // Exit codes (1..255) after which a failed attempt is retried. Timeouts, lost workers and
  // worker errors are always retried; any other non-zero exit is final.
  std::vector<int32_t> retry_exit_codes;
  std::map<std::string, std::string> env;  // no RECOMP_* keys
  bool validation = false;                 // this stage's result is the run's verdict
  std::string salt;                        // part of the job ID; change it to drop cached results
  bool module = true;                      // jobs receive the module files under in/module/
  ShardInputs shard_inputs = ShardInputs::kAll;  // kSame needs a need with the same shard count
  Labels requirements;  // `requires`: labels the worker must have (part of the job ID)
  // `network = true`: the job may use the network (a confined job has none otherwise; part of
  // the job ID: a job that downloads is different work from one that cannot).
  bool network = false;
  // `tools`: this stage's own tool paths (as written). Its jobs receive them beside the
  // pipeline's `tools`, and only its jobs do: editing one changes only this stage's job IDs.
  std::vector<std::string> tools;
};

struct Pipeline {
  // Paths as written, relative to the manifest's directory: tools every stage's jobs receive.
  std::vector<std::string> tools;
  std::vector<Stage> stages;       // declaration order
  std::vector<std::string> order;  // topological order, ties broken by declaration order
  // Built by the parser (pipeline_graph.h): stage name -> index in `stages`, and for each
  // stage the indexes of the stages that need it.
  std::map<std::string, size_t, std::less<>> index;
  std::vector<std::vector<size_t>> dependents;

  // nullptr when no stage has that name. O(log stages).
  const Stage* FindStage(std::string_view name) const;
  // The stage with validation = true, or nullptr.
  const Stage* ValidationStage() const;
  // Every distinct tool path: `tools`, then each stage's own in declaration order (a path
  // listed twice counts once). These are the files `recomp submit` stores.
  std::vector<std::string> AllTools() const;
  // Basenames of AllTools(), in that order (unique: the parser guarantees it).
  std::vector<std::string> ToolBasenames() const;
  // Whether jobs of `stage` receive the tool with this basename (a pipeline tool or its own).
  bool StageHasTool(const Stage& stage, std::string_view basename) const;
};

// A tool as the coordinator sees it: placed at in/tools/<basename>, bytes = the artifact `digest`.
struct ToolRef {
  std::string basename;
  Digest digest;
  bool operator==(const ToolRef&) const = default;
};

// A pipeline whose tools are bound to artifacts (the form the coordinator receives).
struct ResolvedPipeline {
  Pipeline pipeline;
  std::vector<ToolRef> tools;  // one per pipeline.AllTools() entry, sorted by basename
};

// Parses and validates a user-written manifest. A `[tool_refs]` table is refused here (only
// ResolveToolRefs writes it). `source_name` (e.g. the file path) prefixes every error message.
Result<Pipeline> ParsePipeline(std::string_view toml_text, std::string_view source_name);

// Parses a resolved manifest (ResolveToolRefs' output): as ParsePipeline, plus a `[tool_refs]`
// table mapping every tool basename, and nothing else, to an "artifact://<hex>" ref.
Result<ResolvedPipeline> ParseResolvedPipeline(std::string_view toml_text,
                                               std::string_view source_name);

// Returns the resolved manifest: `toml_text` byte for byte, a newline if it lacked one, then a
// `[tool_refs]` table with one line per tool, sorted by basename. Deterministic. Fails if the
// text is not a valid user-written manifest or `refs` is not exactly the tools' basenames.
Result<std::string> ResolveToolRefs(std::string_view toml_text,
                                    const std::map<std::string, Digest>& refs);

// A tool file on the submitter's disk.
struct ToolFile {
  std::string basename;        // its name under in/tools/
  std::filesystem::path path;  // the manifest's directory / the path as written
};

struct PipelineFile {
  std::filesystem::path path;  // the manifest file
  std::string text;            // its exact bytes
  Pipeline pipeline;
  std::vector<ToolFile> tools;  // pipeline.AllTools() order
};

// Reads and parses a manifest file, resolving tool paths relative to its directory. Fails
// (NotFound / IOError / InvalidArgument) naming the manifest or the tool that is missing or
// not a regular file.
Result<PipelineFile> LoadPipelineFile(const std::filesystem::path& path);

}  // namespace recomp::coordinator
