// The stages of a pipeline as a graph: an index by name, each stage's dependents, a topological
// order, the checks that span stages (unique names, known needs listed once, no cycle, at most
// one validation stage, shard_inputs = "same" satisfiable) and the caps on a run's plan (stage
// count, job count, bytes of command and environment carried by its jobs). Pure functions;
// thread-safe.
#pragma once

#include <cstddef>
#include <optional>

#include "base/status.h"
#include "coordinator/pipeline.h"

namespace recomp::coordinator {

// A problem found by BuildGraph, and the stage it is about (for the caller's line numbers;
// nullopt for the pipeline as a whole).
struct GraphProblem {
  Status status;
  std::optional<size_t> stage;
};

// Fills p->index, p->dependents and p->order from p->stages, in O(edges log stages).
std::optional<GraphProblem> BuildGraph(Pipeline* p);

// The plan of one run of `p`: jobs (the sum of shards) and the bytes of command and
// environment its jobs carry (each job carries its stage's argv and env).
struct PlanSize {
  uint64_t jobs = 0;
  uint64_t bytes = 0;
};
PlanSize SizeOfPlan(const Pipeline& p);

// `stage` and every stage that needs it, directly or not, sorted by name (what a rerun from
// `stage` re-executes). InvalidArgument naming the stages when `p` has no such stage.
// Requires BuildGraph to have run.
Result<std::vector<std::string>> StageAndDependents(const Pipeline& p, const std::string& stage);

}  // namespace recomp::coordinator
