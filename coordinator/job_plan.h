// Expanding one pipeline stage into its jobs: the working-dir layout of every input, the
// environment, and the job ID (docs/pipeline.md, "Working directory"). A pure function of its
// arguments, independent of container ordering: thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "coordinator/job_id.h"
#include "coordinator/pipeline.h"
#include "messages/artifact_ref.h"
#include "messages/module_manifest.h"
#include "messages/stage_job.h"

namespace recomp::coordinator {

// The most inputs one job may have (what one job message can carry).
inline constexpr size_t kMaxJobInputs = wire::kMaxList;
// Paths in a job's working dir follow messages/stage_job.h: recomp::ValidateRelativePath
// (path, what, allow_dir_slash), kMaxPath, kMaxPathComponent.
using recomp::kMaxPath;
using recomp::kMaxPathComponent;
using recomp::ValidateRelativePath;

// One finished shard's outputs: (path relative to its working dir, e.g. "out/f_0001.c", digest).
using ShardOutputs = std::vector<std::pair<std::string, Digest>>;
// Per stage name: one ShardOutputs per shard, indexed by shard (size = that stage's `shards`).
using StageOutputs = std::map<std::string, std::vector<ShardOutputs>>;

// One planned job. What the shards of a stage have in common (argv, the stage's env, outputs,
// and the inputs when every shard reads the same) is shared between them, not copied per shard:
// a stage may have kMaxShards shards and an env of kMaxStageEnvBytes.
struct PlannedJob {
  using Inputs = std::vector<std::pair<std::string, Digest>>;
  // The stage's part: env holds only the stage's own env; shard and inputs are left empty.
  std::shared_ptr<const JobSpec> stage_part;
  std::shared_ptr<const Inputs> inputs;  // sorted by path
  uint32_t shard = 0;
  Digest id;  // ComputeJobId(Spec())

  // The whole spec, built on each call: the stage's part, this shard, its inputs, and env plus
  // RECOMP_SHARD, RECOMP_SHARDS and RECOMP_STAGE.
  JobSpec Spec() const;
};

// Plans the jobs of `stage` (one per shard, in shard order). Job k reads
//   in/module/<name>                        every module file (unless the stage has module = false)
//   in/tools/<basename>                     every tool of the pipeline
//   in/<need>/<shard>/<output path>         every output file of every shard of every need, except
//                                           that with shard_inputs = "same", a need with the
//                                           stage's shard count gives only its shard k
// and gets env = the stage's env + RECOMP_SHARD, RECOMP_SHARDS, RECOMP_STAGE. Fewer inputs
// mean a job's ID (which hashes its exact inputs) only changes when what it reads changes.
// `outputs` must hold every stage in the stage's `needs` (other entries are ignored), each with
// exactly that stage's shard count, paths unique and inside that stage's declared outputs.
// Fails naming the stage, shard and path at fault.
Result<std::vector<PlannedJob>> PlanStageJobs(const ResolvedPipeline& pipeline,
                                              std::string_view stage,
                                              const std::vector<ModuleFile>& module,
                                              const StageOutputs& outputs);

}  // namespace recomp::coordinator
