// Pipeline graph (see pipeline_graph.h).
#include "coordinator/pipeline_graph.h"

#include <algorithm>
#include <queue>
#include <set>
#include <string>
#include <vector>

namespace recomp::coordinator {
namespace {

std::string MiB(uint64_t bytes) {
  return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB";
}

// Called when no remaining stage is ready: every remaining stage has a remaining need, so
// following first remaining needs from any of them must revisit a stage. "a -> b -> a".
std::string DescribeCycle(const Pipeline& p, const std::vector<uint32_t>& pending) {
  std::vector<size_t> path;
  size_t i = static_cast<size_t>(
      std::find_if(pending.begin(), pending.end(), [](uint32_t n) { return n > 0; }) -
      pending.begin());
  while (std::find(path.begin(), path.end(), i) == path.end()) {
    path.push_back(i);
    for (const std::string& n : p.stages[i].needs) {
      size_t need = p.index.at(n);
      if (pending[need] > 0) {
        i = need;
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

// Kahn's algorithm, always taking the earliest-declared ready stage.
std::optional<GraphProblem> Order(Pipeline* p) {
  const size_t n = p->stages.size();
  std::vector<uint32_t> pending(n);
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < n; ++i) {
    pending[i] = static_cast<uint32_t>(p->stages[i].needs.size());
    if (pending[i] == 0) ready.push(i);
  }
  p->order.clear();
  while (!ready.empty()) {
    size_t i = ready.top();
    ready.pop();
    p->order.push_back(p->stages[i].name);
    for (size_t d : p->dependents[i]) {
      if (--pending[d] == 0) ready.push(d);
    }
  }
  if (p->order.size() < n) {
    return GraphProblem{
        Status::InvalidArgument("dependency cycle in needs: " + DescribeCycle(*p, pending)),
        std::nullopt};
  }
  return std::nullopt;
}

std::optional<GraphProblem> CheckStage(const Pipeline& p, size_t i) {
  const Stage& s = p.stages[i];
  std::set<std::string_view> needs;
  for (const std::string& n : s.needs) {
    if (p.index.count(n) == 0) {
      return GraphProblem{
          Status::InvalidArgument("stage '" + s.name + "' needs unknown stage '" + n + "'"), i};
    }
    if (!needs.insert(n).second) {
      return GraphProblem{
          Status::InvalidArgument("stage '" + s.name + "' lists '" + n + "' twice in needs"), i};
    }
  }
  if (s.shard_inputs == ShardInputs::kSame &&
      std::none_of(s.needs.begin(), s.needs.end(), [&](const std::string& n) {
        return p.stages[p.index.at(n)].shards == s.shards;
      })) {
    return GraphProblem{Status::InvalidArgument("stage '" + s.name +
                                                "': shard_inputs = \"same\" but no stage in its "
                                                "needs has its shard count (" +
                                                std::to_string(s.shards) + ")"),
                        i};
  }
  return std::nullopt;
}

std::optional<GraphProblem> CheckSize(const Pipeline& p) {
  if (p.stages.size() > kMaxStages) {
    return GraphProblem{
        Status::ResourceExhausted("pipeline has " + std::to_string(p.stages.size()) +
                                  " stages, more than " + std::to_string(kMaxStages)),
        std::nullopt};
  }
  PlanSize size = SizeOfPlan(p);
  if (size.jobs > kMaxRunJobs) {
    return GraphProblem{
        Status::ResourceExhausted("pipeline plans " + std::to_string(size.jobs) +
                                  " jobs (the sum of its stages' shards), more than " +
                                  std::to_string(kMaxRunJobs)),
        std::nullopt};
  }
  if (size.bytes > kMaxPlanBytes) {
    return GraphProblem{
        Status::ResourceExhausted(
            "pipeline's jobs would carry " + MiB(size.bytes) +
            " of command and environment (each stage's shards x its argv and env bytes), more "
            "than " +
            MiB(kMaxPlanBytes) + ": pass large data as a tool or module file instead"),
        std::nullopt};
  }
  return std::nullopt;
}

}  // namespace

PlanSize SizeOfPlan(const Pipeline& p) {
  PlanSize size;
  for (const Stage& s : p.stages) {
    uint64_t per_job = 0;
    for (const std::string& a : s.command) per_job += a.size();
    for (const auto& [k, v] : s.env) per_job += k.size() + v.size();
    size.jobs += s.shards;
    size.bytes += per_job * s.shards;
  }
  return size;
}

std::optional<GraphProblem> BuildGraph(Pipeline* p) {
  if (auto problem = CheckSize(*p)) return problem;
  p->index.clear();
  const Stage* validation = nullptr;
  for (size_t i = 0; i < p->stages.size(); ++i) {
    const Stage& s = p->stages[i];
    if (!p->index.emplace(s.name, i).second) {
      return GraphProblem{Status::InvalidArgument("duplicate stage name '" + s.name + "'"), i};
    }
    if (s.validation && validation != nullptr) {
      return GraphProblem{
          Status::InvalidArgument("stages '" + validation->name + "' and '" + s.name +
                                  "' both set validation = true; at most one "
                                  "stage may"),
          i};
    }
    if (s.validation) validation = &s;
  }
  p->dependents.assign(p->stages.size(), {});
  for (size_t i = 0; i < p->stages.size(); ++i) {
    if (auto problem = CheckStage(*p, i)) return problem;
    for (const std::string& n : p->stages[i].needs) p->dependents[p->index.at(n)].push_back(i);
  }
  return Order(p);
}

Result<std::vector<std::string>> StageAndDependents(const Pipeline& p, const std::string& stage) {
  auto it = p.index.find(stage);
  if (it == p.index.end()) {
    std::string names;
    for (const std::string& s : p.order) names += (names.empty() ? "" : ", ") + s;
    return Status::InvalidArgument("the pipeline has no stage '" + stage + "' (stages: " + names +
                                   ")");
  }
  std::vector<bool> seen(p.stages.size(), false);
  std::vector<size_t> todo = {it->second};
  seen[it->second] = true;
  while (!todo.empty()) {  // each stage enters once: O(stages + edges)
    size_t i = todo.back();
    todo.pop_back();
    for (size_t d : p.dependents[i]) {
      if (!seen[d]) {
        seen[d] = true;
        todo.push_back(d);
      }
    }
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < seen.size(); ++i) {
    if (seen[i]) out.push_back(p.stages[i].name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace recomp::coordinator
