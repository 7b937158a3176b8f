// RunEngine's private per-run state, shared by run_engine.cpp and run_engine_jobs.cpp only.
// Not thread-safe (owned by the engine).
#pragma once

#include "coordinator/run_engine.h"

namespace recomp::coordinator {

struct RunEngine::ActiveRun {
  RunRow row;
  ResolvedPipeline pipeline;
  std::vector<ModuleFile> module;
  std::map<std::string, std::vector<JobRow>> jobs;         // stage -> one row per shard
  std::map<std::string, std::vector<PlannedJob>> planned;  // stage -> specs, once planned
  std::map<std::string, uint32_t> succeeded;               // stage -> shards succeeded
  size_t unfinished = 0;                                   // jobs not succeeded/failed
};

}  // namespace recomp::coordinator
