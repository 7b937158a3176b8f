// Stage → jobs expansion (layout: docs/pipeline.md, "Working directory").
#include "coordinator/job_plan.h"

#include "messages/tree.h"

#include <algorithm>
#include <cassert>
#include <set>

namespace recomp::coordinator {
namespace {

// True if `path` is a declared output of `s` (a directory output by its tree, "out/"), or a file
// under one of its directory outputs.
bool IsDeclaredOutput(const Stage& s, std::string_view path) {
  if (IsTreePath(path)) {
    return std::find(s.outputs.begin(), s.outputs.end(), path) != s.outputs.end();
  }
  for (const std::string& o : s.outputs) {
    if (o.back() == '/' ? path.substr(0, o.size()) == o && path.size() > o.size() : path == o) {
      return true;
    }
  }
  return false;
}

using Inputs = std::vector<std::pair<std::string, Digest>>;

// Checks every shard's outputs of `need` (count, paths inside its declared outputs, unique).
Status CheckNeedOutputs(const Stage& stage, const Stage& need,
                        const std::vector<ShardOutputs>& shards) {
  const std::string ctx = "stage '" + stage.name + "' needs '" + need.name + "'";
  if (shards.size() != need.shards) {
    return Status::InvalidArgument(ctx + ": got outputs of " + std::to_string(shards.size()) +
                                   " shards, expected " + std::to_string(need.shards));
  }
  for (uint32_t i = 0; i < need.shards; ++i) {
    std::set<std::string_view> seen;
    for (const auto& [path, digest] : shards[i]) {
      const std::string what = ctx + ": shard " + std::to_string(i) + " output '" + path + "'";
      RECOMP_RETURN_IF_ERROR(ValidateRelativePath(path, what, /*allow_dir_slash=*/true));
      if (!IsDeclaredOutput(need, path)) {
        return Status::InvalidArgument(what + " is not inside the stage's declared outputs");
      }
      if (!seen.insert(path).second) return Status::InvalidArgument(what + " is listed twice");
    }
    // A directory output is either one tree or its files, never both.
    for (std::string_view path : seen) {
      if (!IsTreePath(path)) continue;
      auto next = seen.upper_bound(path);
      if (next != seen.end() && next->substr(0, path.size()) == path) {
        return Status::InvalidArgument(ctx + ": shard " + std::to_string(i) + " lists '" +
                                       std::string(path) +
                                       "' both as a tree and as files under it");
      }
    }
  }
  return Status::Ok();
}

// Appends in/<need>/<i>/<path> for every output of shard i of `need`.
void AddShard(const Stage& need, uint32_t i, const ShardOutputs& outputs, Inputs* inputs) {
  const std::string prefix = "in/" + need.name + "/" + std::to_string(i) + "/";
  for (const auto& [path, digest] : outputs) inputs->emplace_back(prefix + path, digest);
}

// True if jobs of `stage` receive only their own shard of `need` (shard_inputs = "same" and
// equal shard counts); otherwise they receive every shard.
bool SameShardOnly(const Stage& stage, const Stage& need) {
  return stage.shard_inputs == ShardInputs::kSame && need.shards == stage.shards;
}

// The sorted inputs of job `shard` of `stage`: module files (if stage.module), tools, and the
// needs' outputs (all shards, or only `shard` for a same-shard need). Checks the limits.
Result<Inputs> JobInputs(const ResolvedPipeline& rp, const Stage& stage, uint32_t shard,
                         const std::vector<ModuleFile>& module, const StageOutputs& outputs) {
  Inputs inputs;
  if (stage.module) {
    for (const ModuleFile& m : module) inputs.emplace_back("in/module/" + m.name, m.digest);
  }
  for (const ToolRef& t : rp.tools) {
    if (rp.pipeline.StageHasTool(stage, t.basename))
      inputs.emplace_back("in/tools/" + t.basename, t.digest);
  }
  for (const std::string& need_name : stage.needs) {
    const Stage* need = rp.pipeline.FindStage(need_name);
    const std::vector<ShardOutputs>& shards = outputs.at(need_name);  // checked by the caller
    if (SameShardOnly(stage, *need)) {
      AddShard(*need, shard, shards[shard], &inputs);
    } else {
      for (uint32_t i = 0; i < need->shards; ++i) AddShard(*need, i, shards[i], &inputs);
    }
  }
  if (inputs.size() > kMaxJobInputs) {
    return Status::ResourceExhausted("stage '" + stage.name + "': a job would read " +
                                     std::to_string(inputs.size()) + " input files, more than " +
                                     std::to_string(kMaxJobInputs));
  }
  for (const auto& [path, digest] : inputs) {
    if (path.size() > kMaxPath) {
      return Status::InvalidArgument("stage '" + stage.name + "': input path '" +
                                     path.substr(0, 128) + "...' is longer than " +
                                     std::to_string(kMaxPath) + " bytes");
    }
  }
  std::sort(inputs.begin(), inputs.end());
  return inputs;
}

// Checks that `outputs` holds every need of `stage`, each well-formed.
Status CheckNeeds(const ResolvedPipeline& rp, const Stage& stage, const StageOutputs& outputs) {
  for (const std::string& need_name : stage.needs) {
    const Stage* need = rp.pipeline.FindStage(need_name);
    assert(need != nullptr && "a parsed pipeline's needs are known stages");
    auto it = outputs.find(need_name);
    if (it == outputs.end()) {
      return Status::FailedPrecondition("stage '" + stage.name + "' needs '" + need_name +
                                        "', whose outputs were not given (is it complete?)");
    }
    RECOMP_RETURN_IF_ERROR(CheckNeedOutputs(stage, *need, it->second));
  }
  return Status::Ok();
}

}  // namespace

JobSpec PlannedJob::Spec() const {
  JobSpec s = *stage_part;
  s.shard = shard;
  s.inputs = *inputs;
  s.env["RECOMP_SHARD"] = std::to_string(shard);
  s.env["RECOMP_SHARDS"] = std::to_string(s.shards);
  s.env["RECOMP_STAGE"] = s.stage;
  return s;
}

Result<std::vector<PlannedJob>> PlanStageJobs(const ResolvedPipeline& pipeline,
                                              std::string_view stage_name,
                                              const std::vector<ModuleFile>& module,
                                              const StageOutputs& outputs) {
  const Stage* stage = pipeline.pipeline.FindStage(stage_name);
  if (stage == nullptr) {
    return Status::NotFound("pipeline has no stage '" + std::string(stage_name) + "'");
  }
  RECOMP_RETURN_IF_ERROR(ValidateModuleFiles(module));
  RECOMP_RETURN_IF_ERROR(CheckNeeds(pipeline, *stage, outputs));
  // Without a same-shard need every job reads the same inputs: build them once.
  const bool per_shard = std::any_of(stage->needs.begin(), stage->needs.end(), [&](const auto& n) {
    return SameShardOnly(*stage, *pipeline.pipeline.FindStage(n));
  });
  auto part = std::make_shared<JobSpec>();
  part->stage = stage->name;
  part->argv = stage->command;
  part->env = stage->env;
  part->shards = stage->shards;
  part->outputs = stage->outputs;
  part->timeout_s = stage->timeout_s;
  part->salt = stage->salt;
  part->requirements = stage->requirements;
  part->network = stage->network;
  std::shared_ptr<const Inputs> shared;
  if (!per_shard) {
    RECOMP_ASSIGN_OR_RETURN(Inputs all, JobInputs(pipeline, *stage, 0, module, outputs));
    shared = std::make_shared<const Inputs>(std::move(all));
  }
  std::vector<PlannedJob> jobs;
  jobs.reserve(stage->shards);
  for (uint32_t shard = 0; shard < stage->shards; ++shard) {
    PlannedJob job;
    job.stage_part = part;
    job.shard = shard;
    job.inputs = shared;
    if (per_shard) {
      RECOMP_ASSIGN_OR_RETURN(Inputs own, JobInputs(pipeline, *stage, shard, module, outputs));
      job.inputs = std::make_shared<const Inputs>(std::move(own));
    }
    job.id = ComputeJobId(job.Spec());
    jobs.push_back(std::move(job));
  }
  return jobs;
}

}  // namespace recomp::coordinator
