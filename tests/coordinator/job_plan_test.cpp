// Job planning: the working-dir layout of inputs, env, fan-out to shards, fan-in from a sharded
// stage, refusals, and independence from ordering and from fields that must not matter.
#include "coordinator/job_plan.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

using namespace recomp;
using namespace recomp::coordinator;

namespace {

Digest D(uint8_t b) {
  Digest d;
  d.bytes.fill(b);
  return d;
}

constexpr std::string_view kPipeline = R"(
tools = ["tools/lift.py", "tools/runtime.c"]
[[stages]]
name = "analyze"
command = ["python3", "in/tools/lift.py", "--analyze"]
outputs = ["analysis.json"]
[[stages]]
name = "lift"
needs = ["analyze"]
command = ["python3", "in/tools/lift.py"]
outputs = ["out/", "lift.log"]
shards = 8
env = { LANG = "C" }
[[stages]]
name = "link"
needs = ["lift", "analyze"]
command = ["cc", "-o", "game", "in/tools/runtime.c"]
outputs = ["game"]
timeout_s = 900
)";

ResolvedPipeline Resolve(std::string_view text) {
  auto resolved = ResolveToolRefs(text, {{"lift.py", D(0xa1)}, {"runtime.c", D(0xa2)}});
  REQUIRE_MESSAGE(resolved.ok(), resolved.status().ToString());
  auto rp = ParseResolvedPipeline(*resolved, "pipeline.toml");
  REQUIRE_MESSAGE(rp.ok(), rp.status().ToString());
  return *rp;
}

const std::vector<ModuleFile> kModule = {{"game.z64", D(0x01)}, {"symbols.toml", D(0x02)}};

StageOutputs Outputs() {
  StageOutputs o;
  o["analyze"] = {{{"analysis.json", D(0x10)}}};
  for (uint8_t i = 0; i < 8; ++i) {
    o["lift"].push_back(
        {{"out/f_" + std::to_string(i) + ".c", D(0x20 + i)}, {"lift.log", D(0x30 + i)}});
  }
  return o;
}

bool HasInput(const JobSpec& s, const std::string& path, const Digest& d) {
  return std::find(s.inputs.begin(), s.inputs.end(), std::make_pair(path, d)) != s.inputs.end();
}

std::vector<Digest> Ids(const std::vector<PlannedJob>& jobs) {
  std::vector<Digest> ids;
  for (const auto& j : jobs) ids.push_back(j.id);
  return ids;
}

}  // namespace

TEST_CASE("an unsharded first stage reads the module and the tools") {
  auto jobs = PlanStageJobs(Resolve(kPipeline), "analyze", kModule, {});
  REQUIRE_MESSAGE(jobs.ok(), jobs.status().ToString());
  REQUIRE(jobs->size() == 1);
  const JobSpec s = (*jobs)[0].Spec();
  CHECK(s.stage == "analyze");
  CHECK(s.argv == std::vector<std::string>{"python3", "in/tools/lift.py", "--analyze"});
  CHECK(s.inputs == std::vector<std::pair<std::string, Digest>>{{"in/module/game.z64", D(0x01)},
                                                                {"in/module/symbols.toml", D(0x02)},
                                                                {"in/tools/lift.py", D(0xa1)},
                                                                {"in/tools/runtime.c", D(0xa2)}});
  CHECK(s.env == std::map<std::string, std::string>{
                     {"RECOMP_SHARD", "0"}, {"RECOMP_SHARDS", "1"}, {"RECOMP_STAGE", "analyze"}});
  CHECK(s.shard == 0);
  CHECK(s.shards == 1);
  CHECK(s.outputs == std::vector<std::string>{"analysis.json"});
  CHECK(s.timeout_s == 600);
  CHECK((*jobs)[0].id == ComputeJobId(s));
}

TEST_CASE("a stage with 8 shards fans out to 8 jobs") {
  auto jobs = PlanStageJobs(Resolve(kPipeline), "lift", kModule, Outputs());
  REQUIRE_MESSAGE(jobs.ok(), jobs.status().ToString());
  REQUIRE(jobs->size() == 8);
  for (uint32_t i = 0; i < 8; ++i) {
    const JobSpec s = (*jobs)[i].Spec();
    CHECK(s.shard == i);
    CHECK(s.shards == 8);
    CHECK(s.env == std::map<std::string, std::string>{{"LANG", "C"},
                                                      {"RECOMP_SHARD", std::to_string(i)},
                                                      {"RECOMP_SHARDS", "8"},
                                                      {"RECOMP_STAGE", "lift"}});
    CHECK(s.inputs.size() == 5);
    CHECK(HasInput(s, "in/analyze/0/analysis.json", D(0x10)));
    CHECK(HasInput(s, "in/tools/runtime.c", D(0xa2)));
    CHECK(s.outputs == std::vector<std::string>{"out/", "lift.log"});
  }
  auto ids = Ids(*jobs);
  std::sort(ids.begin(), ids.end());
  CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
}

TEST_CASE("an unsharded stage reads every shard of a sharded need") {
  auto jobs = PlanStageJobs(Resolve(kPipeline), "link", kModule, Outputs());
  REQUIRE_MESSAGE(jobs.ok(), jobs.status().ToString());
  REQUIRE(jobs->size() == 1);
  const JobSpec s = (*jobs)[0].Spec();
  CHECK(s.inputs.size() == 2 + 2 + 1 + 16);
  for (uint8_t i = 0; i < 8; ++i) {
    const std::string dir = "in/lift/" + std::to_string(i) + "/";
    CHECK(HasInput(s, dir + "out/f_" + std::to_string(i) + ".c", D(0x20 + i)));
    CHECK(HasInput(s, dir + "lift.log", D(0x30 + i)));
  }
  CHECK(HasInput(s, "in/analyze/0/analysis.json", D(0x10)));
  CHECK(std::is_sorted(s.inputs.begin(), s.inputs.end()));
  CHECK(s.timeout_s == 900);
}

TEST_CASE("plans are independent of input ordering") {
  const ResolvedPipeline rp = Resolve(kPipeline);
  auto a = PlanStageJobs(rp, "link", kModule, Outputs());
  std::vector<ModuleFile> module(kModule.rbegin(), kModule.rend());
  StageOutputs outputs = Outputs();
  for (auto& shard : outputs["lift"]) std::reverse(shard.begin(), shard.end());
  auto b = PlanStageJobs(rp, "link", module, outputs);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(Ids(*a) == Ids(*b));
  // The needs' order and unrelated stages' outputs do not matter either.
  std::string swapped(kPipeline);
  swapped.replace(swapped.find("[\"lift\", \"analyze\"]"), 19, "[\"analyze\", \"lift\"]");
  outputs["unrelated"] = {{{"x", D(9)}}};
  auto c = PlanStageJobs(Resolve(swapped), "link", kModule, outputs);
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  CHECK(Ids(*a) == Ids(*c));
}

TEST_CASE("retries and validation do not change job IDs; salt and timeout do") {
  auto ids_of = [](const std::string& extra) {
    std::string text(kPipeline);
    text += extra;
    auto jobs = PlanStageJobs(Resolve(text), "link", kModule, Outputs());
    REQUIRE_MESSAGE(jobs.ok(), jobs.status().ToString());
    return Ids(*jobs);
  };
  const auto base = ids_of("");
  CHECK(ids_of("retries = 7\n") == base);
  CHECK(ids_of("validation = true\n") == base);
  CHECK(ids_of("salt = \"x\"\n") != base);
  CHECK(ids_of("env = { CC = \"gcc\" }\n") != base);
}

TEST_CASE("a changed tool, module file or upstream output changes the job ID") {
  const ResolvedPipeline rp = Resolve(kPipeline);
  const auto base = Ids(*PlanStageJobs(rp, "link", kModule, Outputs()));
  ResolvedPipeline tool = rp;
  tool.tools[0].digest = D(0xee);
  CHECK(Ids(*PlanStageJobs(tool, "link", kModule, Outputs())) != base);
  std::vector<ModuleFile> module = kModule;
  module[1].digest = D(0xee);
  CHECK(Ids(*PlanStageJobs(rp, "link", module, Outputs())) != base);
  StageOutputs outputs = Outputs();
  outputs["lift"][5][0].second = D(0xee);
  CHECK(Ids(*PlanStageJobs(rp, "link", kModule, outputs)) != base);
}

TEST_CASE("planning refuses bad module names, missing or malformed need outputs") {
  const ResolvedPipeline rp = Resolve(kPipeline);
  auto msg = [&](std::string_view stage, const std::vector<ModuleFile>& m, const StageOutputs& o) {
    auto r = PlanStageJobs(rp, stage, m, o);
    CHECK_FALSE(r.ok());
    return r.status().message();
  };
  auto has = [](const std::string& m, std::string_view part) {
    INFO("message: " << m);
    CHECK(m.find(part) != std::string::npos);
  };
  has(msg("nope", kModule, {}), "pipeline has no stage 'nope'");
  has(msg("analyze", {{"a/b", D(1)}}, {}), "module file name 'a/b' is invalid");
  has(msg("analyze", {{"..", D(1)}}, {}), "module file name '..' is invalid");
  has(msg("analyze", {{"", D(1)}}, {}), "module file name is empty");
  has(msg("analyze", {{"x", D(1)}, {"x", D(2)}}, {}), "module file name 'x' is given twice");
  has(msg("lift", kModule, {}), "stage 'lift' needs 'analyze', whose outputs were not given");
  StageOutputs o = Outputs();
  o["lift"].pop_back();
  has(msg("link", kModule, o), "stage 'link' needs 'lift': got outputs of 7 shards, expected 8");
  o = Outputs();
  o["lift"][3].push_back({"other.txt", D(1)});
  has(msg("link", kModule, o),
      "shard 3 output 'other.txt' is not inside the stage's declared outputs");
  o = Outputs();
  o["lift"][3].push_back({"out/../../etc/passwd", D(1)});
  has(msg("link", kModule, o), "'..' component");
  o = Outputs();
  o["lift"][3].push_back({"out//", D(1)});
  has(msg("link", kModule, o), "empty path component");
  o = Outputs();
  o["lift"][3].push_back({"out/", D(1)});  // the tree of out/, beside files under out/
  has(msg("link", kModule, o), "shard 3 lists 'out/' both as a tree and as files under it");
  o = Outputs();
  o["lift"][2].push_back(o["lift"][2][0]);
  has(msg("link", kModule, o), "shard 2 output 'out/f_2.c' is listed twice");
  o = Outputs();
  o["lift"][0].push_back({"lift.log/x", D(1)});
  has(msg("link", kModule, o), "not inside the stage's declared outputs");
  o = Outputs();
  std::string deep = "out";
  for (int i = 0; i < 5; ++i) deep += "/" + std::string(199, 'd');
  deep += "/" + std::string(15, 'f');  // 1019 bytes: valid, but "in/lift/0/" + it is 1029
  REQUIRE(ValidateRelativePath(deep, "p", false).ok());
  o["lift"][0].push_back({deep, D(1)});
  has(msg("link", kModule, o), "input path 'in/lift/0/out/ddd");
  has(msg("link", kModule, o), "is longer than 1024 bytes");
  has(msg("analyze", {{std::string(256, 'm'), D(1)}}, {}), "is invalid");
}

TEST_CASE("ValidateRelativePath: the working-dir path rules") {
  CHECK(ValidateRelativePath("a/b.c", "p", false).ok());
  CHECK(ValidateRelativePath("a/", "p", true).ok());
  CHECK_FALSE(ValidateRelativePath("a/", "p", false).ok());
  CHECK(ValidateRelativePath("..x/y..", "p", false).ok());
  CHECK(ValidateRelativePath(std::string("a\0b", 3), "p", false).message() ==
        "p contains a NUL character");
  CHECK(
      ValidateRelativePath(std::string(1025, 'a'), "p", false).message().find("longer than 1024") !=
      std::string::npos);
  CHECK(ValidateRelativePath(std::string(256, 'a'), "p", false)
            .message()
            .find("component longer than 255") != std::string::npos);
  CHECK(ValidateRelativePath(std::string(255, 'a') + "/" + std::string(255, 'b'), "p", false).ok());
}

namespace {

// A split/lift pair as in config/pipelines/t32.toml: lift reads only its own split shard, plus
// all of the unsharded analyze, and not the module.
constexpr std::string_view kSamePipeline = R"(
tools = ["tools/lift.py", "tools/runtime.c"]
[[stages]]
name = "analyze"
command = ["analyze"]
outputs = ["analysis.json"]
[[stages]]
name = "split"
needs = ["analyze"]
command = ["split"]
outputs = ["out/"]
shards = 8
[[stages]]
name = "lift"
needs = ["split", "analyze"]
command = ["lift"]
outputs = ["out/"]
shards = 8
module = false
shard_inputs = "same"
[[stages]]
name = "nomodule"
needs = ["split"]
command = ["x"]
outputs = ["y"]
shards = 8
module = false
)";

StageOutputs SplitOutputs() {
  StageOutputs o;
  o["analyze"] = {{{"analysis.json", D(0x10)}}};
  for (uint8_t i = 0; i < 8; ++i) {
    o["split"].push_back(
        {{"out/slice.json", D(0x40 + i)}, {"out/extra/" + std::to_string(i), D(0x50 + i)}});
  }
  return o;
}

}  // namespace

TEST_CASE("module = false: no module files, tools still given") {
  auto jobs = PlanStageJobs(Resolve(kSamePipeline), "nomodule", kModule, SplitOutputs());
  REQUIRE_MESSAGE(jobs.ok(), jobs.status().ToString());
  REQUIRE(jobs->size() == 8);
  for (const PlannedJob& j : *jobs) {
    CHECK(j.Spec().inputs.size() == 2 + 16);  // tools + every shard of split ("all" by default)
    CHECK(HasInput(j.Spec(), "in/tools/lift.py", D(0xa1)));
    CHECK(HasInput(j.Spec(), "in/split/7/out/slice.json", D(0x47)));
    for (const auto& [path, d] : j.Spec().inputs) CHECK(path.rfind("in/module/", 0) != 0);
    // Shards that read the same share their inputs and their stage's part (argv, env).
    CHECK(j.inputs == jobs->front().inputs);
    CHECK(j.stage_part == jobs->front().stage_part);
  }
  // The module does not reach the job IDs.
  CHECK(Ids(*jobs) == Ids(*PlanStageJobs(Resolve(kSamePipeline), "nomodule", {}, SplitOutputs())));
  // The default (module = true) stage still gets it.
  auto split = PlanStageJobs(Resolve(kSamePipeline), "split", kModule, SplitOutputs());
  REQUIRE(split.ok());
  CHECK(HasInput((*split)[3].Spec(), "in/module/game.z64", D(0x01)));
}

TEST_CASE("shard_inputs = same: job k reads shard k of a same-count need, all of the others") {
  const ResolvedPipeline rp = Resolve(kSamePipeline);
  auto jobs = PlanStageJobs(rp, "lift", kModule, SplitOutputs());
  REQUIRE_MESSAGE(jobs.ok(), jobs.status().ToString());
  REQUIRE(jobs->size() == 8);
  for (uint8_t k = 0; k < 8; ++k) {
    const JobSpec s = (*jobs)[k].Spec();
    const std::string dir = "in/split/" + std::to_string(k) + "/";
    CHECK(s.inputs == std::vector<std::pair<std::string, Digest>>{
                          {"in/analyze/0/analysis.json", D(0x10)},
                          {dir + "out/extra/" + std::to_string(k), D(0x50 + k)},
                          {dir + "out/slice.json", D(0x40 + k)},
                          {"in/tools/lift.py", D(0xa1)},
                          {"in/tools/runtime.c", D(0xa2)}});
    CHECK(s.env.at("RECOMP_SHARD") == std::to_string(k));
  }
  const auto base = Ids(*jobs);
  // One split shard's output changes: exactly that lift job's ID changes.
  StageOutputs o = SplitOutputs();
  o["split"][5][0].second = D(0xee);
  const auto edited = Ids(*PlanStageJobs(rp, "lift", kModule, o));
  for (size_t k = 0; k < 8; ++k) CHECK((edited[k] != base[k]) == (k == 5));
  // A change in the fully-provided (1-shard) need changes every job; the module changes none.
  o = SplitOutputs();
  o["analyze"][0][0].second = D(0xef);
  const auto all = Ids(*PlanStageJobs(rp, "lift", kModule, o));
  for (size_t k = 0; k < 8; ++k) CHECK(all[k] != base[k]);
  CHECK(Ids(*PlanStageJobs(rp, "lift", {{"other.rom", D(9)}}, SplitOutputs())) == base);
  // Identical slices in different shards still give different jobs (RECOMP_SHARD, shard differ).
  o = SplitOutputs();
  o["split"][1] = o["split"][0];
  auto same = PlanStageJobs(rp, "lift", kModule, o);
  REQUIRE(same.ok());
  CHECK((*same)[0].id != (*same)[1].id);
}

TEST_CASE("shard_inputs = same still checks every shard of the need") {
  const ResolvedPipeline rp = Resolve(kSamePipeline);
  StageOutputs o = SplitOutputs();
  o["split"].pop_back();
  auto r = PlanStageJobs(rp, "lift", kModule, o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find(
            "stage 'lift' needs 'split': got outputs of 7 shards, expected 8") !=
        std::string::npos);
  o = SplitOutputs();
  o["split"][6].push_back({"elsewhere.txt", D(1)});
  r = PlanStageJobs(rp, "lift", kModule, o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("shard 6 output 'elsewhere.txt' is not inside") !=
        std::string::npos);
  o = SplitOutputs();
  o.erase("analyze");
  r = PlanStageJobs(rp, "lift", kModule, o);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("needs 'analyze', whose outputs were not given") !=
        std::string::npos);
}

TEST_CASE("a stage's own tools reach only its jobs: editing one leaves other stages' IDs") {
  constexpr std::string_view kStageTools = R"(
tools = ["tools/common.sh"]
[[stages]]
name = "split"
command = ["sh", "in/tools/split.sh"]
outputs = ["out/"]
tools = ["tools/split.sh"]
[[stages]]
name = "build"
needs = ["split"]
command = ["sh", "in/tools/build.sh"]
outputs = ["game"]
tools = ["tools/build.sh", "tools/common.sh"]
)";
  auto plan = [&](uint8_t split_tool) {
    auto resolved = ResolveToolRefs(
        kStageTools, {{"common.sh", D(0xc0)}, {"split.sh", D(split_tool)}, {"build.sh", D(0xb0)}});
    REQUIRE_MESSAGE(resolved.ok(), resolved.status().ToString());
    auto rp = ParseResolvedPipeline(*resolved, "pipeline.toml");
    REQUIRE_MESSAGE(rp.ok(), rp.status().ToString());
    StageOutputs o;
    o["split"] = {{{"out/a.c", D(0x10)}}};
    auto split = PlanStageJobs(*rp, "split", kModule, {});
    auto build = PlanStageJobs(*rp, "build", kModule, o);
    REQUIRE(split.ok());
    REQUIRE(build.ok());
    return std::make_pair((*split)[0], (*build)[0]);
  };
  auto [split, build] = plan(0x51);
  using Inputs = std::vector<std::pair<std::string, Digest>>;
  CHECK(split.Spec().inputs == Inputs{{"in/module/game.z64", D(0x01)},
                                      {"in/module/symbols.toml", D(0x02)},
                                      {"in/tools/common.sh", D(0xc0)},
                                      {"in/tools/split.sh", D(0x51)}});
  CHECK(build.Spec().inputs == Inputs{{"in/module/game.z64", D(0x01)},
                                      {"in/module/symbols.toml", D(0x02)},
                                      {"in/split/0/out/a.c", D(0x10)},
                                      {"in/tools/build.sh", D(0xb0)},
                                      {"in/tools/common.sh", D(0xc0)}});
  auto [split2, build2] = plan(0x52);  // split.sh edited
  CHECK(split2.id != split.id);
  CHECK(build2.id == build.id);  // same split outputs: build's cache entry still serves
}
