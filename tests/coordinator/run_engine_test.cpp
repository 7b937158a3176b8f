// RunEngine driven without sockets over a real ArtifactStore and RunStore in a temp dir:
// submit -> tick -> dispatch -> results -> events, the action cache (and a cache entry whose
// blob is gone), retries with backoff, worker-loss re-offers and their cap, stale results,
// cancel, the cloud gate, refused submissions, and resuming after a crash. Every Effects value
// is persisted through a RunStore batch exactly as CoordinatorService::Flush does.
#include "coordinator/run_engine.h"
#include "base/blake2b.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "coordinator/job_id.h"
#include "coordinator/pipeline.h"
#include "coordinator/run_reducer.h"
#include "messages/module_manifest.h"
#include "tests/store/store_test_util.h"

using namespace recomp;
using namespace recomp::coordinator;
using recomp::store::testing::TempDir;

namespace {

constexpr std::string_view kPipelineToml = R"(# two shards, then a validation stage reading both
tools = ["tools/run.sh"]

[[stages]]
name = "a"
command = ["/bin/sh", "in/tools/run.sh", "a"]
outputs = ["out/"]
shards = 2
retries = 1
retry_exit_codes = [2]
env = { LANG = "C" }

[[stages]]
name = "check"
needs = ["a"]
command = ["/bin/sh", "in/tools/run.sh", "check"]
outputs = ["report.json"]
retries = 0
validation = true
)";

constexpr int64_t kT0 = 1'000'000;

bool Has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<std::string> Types(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const Event& e : events) out.emplace_back(ToString(e.type));
  return out;
}

const std::string kRequested = "recomp.run.requested", kStarted = "recomp.run.started",
                  kStage = "recomp.run.stage.completed",
                  kValidation = "recomp.run.validation.completed",
                  kCompleted = "recomp.run.completed", kRetry = "recomp.job.retry_scheduled",
                  kJobStarted = "recomp.job.started";

// A coordinator without sockets: the engine plus the persistence step of the service.
struct Pool {
  TempDir dir;
  EngineOptions opts;
  std::unique_ptr<store::ArtifactStore> store;
  std::unique_ptr<RunStore> runs;
  std::unique_ptr<RunEngine> engine;
  std::vector<Event> log;  // every persisted event, in order
  Digest tool, rom;
  std::string config_ref, module_ref, provenance_ref;

  explicit Pool(EngineOptions o = {}) : opts(std::move(o)) {
    store::StoreOptions so;
    so.inline_max_bytes = 0;  // every blob is a file (a test deletes one)
    so.durable = false;
    auto s = store::ArtifactStore::Open(dir / "store", so);
    REQUIRE_MESSAGE(s.ok(), s.status().ToString());
    store = std::move(s).value();
    auto r = RunStore::Open(dir / "state");
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    runs = std::move(r).value();
    NewEngine();
    tool = Put("#!/bin/sh\necho \"$1\"\n");
    rom = Put("ROM bytes", ArtifactClass::kExternal);
    config_ref = Put(Resolved(kPipelineToml, tool)).Ref();
    module_ref = Put(Module({{"game.rom", rom.Ref()}})).Ref();
    provenance_ref = Put("{\"source\":\"test\"}\n").Ref();
  }

  static std::string Resolved(std::string_view toml, const Digest& tool_digest) {
    auto text = ResolveToolRefs(toml, {{"run.sh", tool_digest}});
    REQUIRE_MESSAGE(text.ok(), text.status().ToString());
    return *text;
  }
  static std::string Module(std::vector<std::pair<std::string, std::string>> files) {
    ModuleManifest m;
    for (auto& [name, ref] : files) m.files.push_back({name, ParseArtifactRef(ref).value()});
    return EncodeModuleManifest(m);
  }

  // The "crash": a fresh engine over the same stores, at the stored head.
  void NewEngine() {
    engine.reset();
    engine =
        std::make_unique<RunEngine>(opts, runs.get(), store.get(), runs->LastSequence().value());
  }

  Digest Put(std::string_view bytes, ArtifactClass cls = ArtifactClass::kGenerated) {
    store::PutOptions po;
    po.artifact_class = cls;
    po.producer = "test";
    auto rec = store->PutBytes(bytes, po);
    REQUIRE_MESSAGE(rec.ok(), rec.status().ToString());
    return ParseArtifactRef(rec->ref).value();
  }

  // What CoordinatorService::Impl::Flush does before announcing anything: the engine's one
  // batch commit, then (off the path, in the service) the pins.
  void Persist(Effects& fx) {
    Status s = engine->Commit(&fx);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    REQUIRE(fx.encoded_events.size() == fx.events.size());
    for (const auto& pin : fx.pins) {
      REQUIRE(
          store->PinRun(pin.run_id, pin.state, pin.refs, std::chrono::system_clock::now()).ok());
    }
    log.insert(log.end(), fx.events.begin(), fx.events.end());
  }

  Effects Step(const std::function<void(Effects*)>& call) {
    Effects fx;
    call(&fx);
    Persist(fx);
    return fx;
  }

  RunSubmission Sub(const std::string& run_id) const {
    return {run_id,  ExecutionMode::kLocal, module_ref, config_ref, provenance_ref,
            "alice", Priority::kStandard};
  }

  Result<RunStatus> Submit(const RunSubmission& sub, Effects* out = nullptr) {
    Effects fx;
    auto st = engine->Submit(sub, &fx);
    Persist(fx);
    if (out) *out = fx;
    return st;
  }

  Effects Tick(int64_t now) {
    return Step([&](Effects* fx) { engine->Tick(now, fx); });
  }
  Effects Deliver(const StageResult& r) {
    return Step([&](Effects* fx) { engine->OnResult(r, fx); });
  }

  // A worker's success: outputs stored in the store, a log, attempt of the job.
  StageResult Success(const StageJob& j,
                      const std::vector<std::pair<std::string, std::string>>& files) {
    StageResult r = Report(j, JobOutcome::kSucceeded);
    r.exit_code = 0;
    for (const auto& [path, bytes] : files) r.outputs.push_back({path, Put(bytes).Ref()});
    std::sort(r.outputs.begin(), r.outputs.end());
    return r;
  }
  StageResult Report(const StageJob& j, JobOutcome outcome) {
    StageResult r;
    r.job_id = j.job_id;
    r.run_id = j.run_id;
    r.stage = j.stage;
    r.shard = j.shard;
    r.attempt = j.attempt;
    r.worker = "box:1:w";
    r.outcome = outcome;
    r.exit_code = outcome == JobOutcome::kFailed ? 2 : -1;  // stage a retries exit 2
    r.duration_ms = 12;
    r.log_ref = Put("log of " + j.stage + "/" + std::to_string(j.shard) + " attempt " +
                    std::to_string(j.attempt))
                    .Ref();
    if (outcome != JobOutcome::kSucceeded) r.message = "exit 2";
    return r;
  }
  // The standard outputs of the two stages.
  StageResult SucceedA(const StageJob& j) {
    return Success(
        j, {{"out/a" + std::to_string(j.shard) + ".c", "int a" + std::to_string(j.shard) + ";\n"}});
  }
  StageResult SucceedCheck(const StageJob& j) {
    return Success(j, {{"report.json", "{\"ok\":true}\n"}});
  }

  RunStatus StoredStatus(const std::string& run_id) {
    auto row = runs->GetRun(run_id);
    REQUIRE(row.ok());
    REQUIRE(row->has_value());
    return (*row)->status;
  }
  // (By value: a range-for over `GetJobs(..).value()` would dangle, value() && returns T&&.)
  std::vector<JobRow> Jobs(const std::string& run_id) {
    auto jobs = runs->GetJobs(run_id);
    REQUIRE(jobs.ok());
    return *jobs;
  }
  std::vector<Event> RunEvents(const std::string& run_id) {
    auto e = runs->ReadEvents(0, SIZE_MAX, run_id);
    REQUIRE(e.ok());
    return *e;
  }
};

const StageJob* Find(const std::vector<StageJob>& jobs, const std::string& stage, uint32_t shard) {
  for (const StageJob& j : jobs)
    if (j.stage == stage && j.shard == shard) return &j;
  return nullptr;
}

// Runs `run_id` to success from submission; returns the dispatched jobs.
std::vector<StageJob> RunToSuccess(Pool& p, const std::string& run_id, int64_t now = kT0) {
  REQUIRE(p.Submit(p.Sub(run_id)).ok());
  std::vector<StageJob> seen;
  Effects fx = p.Tick(now);
  seen.insert(seen.end(), fx.dispatch.begin(), fx.dispatch.end());
  REQUIRE(fx.dispatch.size() == 2);
  Effects r0 = p.Deliver(p.SucceedA(fx.dispatch[0]));
  Effects r1 = p.Deliver(p.SucceedA(fx.dispatch[1]));
  Effects t = p.Tick(now);
  REQUIRE(t.dispatch.size() == 1);
  seen.push_back(t.dispatch[0]);
  p.Deliver(p.SucceedCheck(t.dispatch[0]));
  return seen;
}

void CheckRunIsAudited(Pool& p, const std::string& run_id) {
  std::vector<Event> events = p.RunEvents(run_id);
  auto folded = ReduceEvents(events);
  REQUIRE_MESSAGE(folded.ok(), folded.status().ToString());
  CHECK(*folded == p.StoredStatus(run_id));
  std::set<std::string> ids;
  for (const Event& e : events)
    CHECK_MESSAGE(ids.insert(e.id).second, "duplicate event id " << e.id);
}

}  // namespace

TEST_CASE("engine: submit, dispatch, results, validation and completion, audited") {
  Pool p;
  Effects sub_fx;
  auto st = p.Submit(p.Sub("run-1"), &sub_fx);
  REQUIRE_MESSAGE(st.ok(), st.status().ToString());
  CHECK(st->run_id == "run-1");
  CHECK(st->state == RunState::kQueued);
  CHECK(Types(sub_fx.events) == std::vector<std::string>{kRequested});
  CHECK(sub_fx.events[0].sequence == 1);
  CHECK(sub_fx.events[0].id == "run-1/requested");
  CHECK(sub_fx.events[0].DataJson()["stages"] == nlohmann::json{"a", "check"});
  CHECK(sub_fx.dispatch.empty());  // only Tick dispatches
  CHECK(sub_fx.jobs.size() == 3);  // one row per (stage, shard)
  REQUIRE(sub_fx.pins.size() == 1);
  CHECK(sub_fx.pins[0].state == store::RunPinState::kActive);
  CHECK(std::count(sub_fx.pins[0].refs.begin(), sub_fx.pins[0].refs.end(), p.rom) == 1);
  CHECK(std::count(sub_fx.pins[0].refs.begin(), sub_fx.pins[0].refs.end(), p.tool) == 1);
  CHECK(p.engine->active_runs() == 1);

  Effects t1 = p.Tick(kT0);
  CHECK(Types(t1.events) == std::vector<std::string>{kStarted});
  REQUIRE(t1.dispatch.size() == 2);
  CHECK(p.engine->inflight() == 2);
  for (uint32_t shard = 0; shard < 2; ++shard) {
    const StageJob* j = Find(t1.dispatch, "a", shard);
    REQUIRE(j != nullptr);
    CHECK(j->run_id == "run-1");
    CHECK(j->attempt == 1);
    CHECK(j->shards == 2);
    CHECK(j->argv == std::vector<std::string>{"/bin/sh", "in/tools/run.sh", "a"});
    std::map<std::string, std::string> env = {{"LANG", "C"},
                                              {"RECOMP_SHARD", std::to_string(shard)},
                                              {"RECOMP_SHARDS", "2"},
                                              {"RECOMP_STAGE", "a"}};
    CHECK(j->env == env);
    std::vector<PathRef> inputs = j->inputs;
    std::sort(inputs.begin(), inputs.end());
    CHECK(inputs == std::vector<PathRef>{{"in/module/game.rom", p.rom.Ref()},
                                         {"in/tools/run.sh", p.tool.Ref()}});
    CHECK(j->outputs == std::vector<std::string>{"out/"});
    CHECK(j->timeout_s == 600);
    CHECK(j->priority == Priority::kStandard);
    // The job ID is the documented hash of what the job does and reads (docs/job-id.md).
    JobSpec spec;
    spec.stage = "a";
    spec.argv = j->argv;
    spec.env = env;
    spec.shard = shard;
    spec.shards = 2;
    spec.inputs = {{"in/module/game.rom", p.rom}, {"in/tools/run.sh", p.tool}};
    spec.outputs = {"out/"};
    spec.timeout_s = 600;
    CHECK(j->job_id == ComputeJobId(spec).Hex());
  }
  CHECK(Find(t1.dispatch, "a", 0)->job_id != Find(t1.dispatch, "a", 1)->job_id);
  // Nothing more to dispatch until a result arrives.
  CHECK(p.Tick(kT0).dispatch.empty());

  // Shard 1 finishes first: one stage event, nothing planned yet.
  StageResult r1 = p.SucceedA(*Find(t1.dispatch, "a", 1));
  Effects e1 = p.Deliver(r1);
  CHECK(Types(e1.events) == std::vector<std::string>{kStage});
  CHECK(e1.events[0].id == "run-1/stage/a/1");
  CHECK(e1.events[0].DataJson()["outcome"] == "succeeded");
  CHECK(e1.events[0].DataJson()["cached"] == false);
  CHECK(e1.events[0].DataJson()["exit_status"] == "exited:0");
  REQUIRE(e1.cache.size() == 1);
  CHECK(e1.cache[0].job_id == r1.job_id);
  CHECK(p.Tick(kT0).dispatch.empty());

  StageResult r0 = p.SucceedA(*Find(t1.dispatch, "a", 0));
  Effects e0 = p.Deliver(r0);
  CHECK(Types(e0.events) == std::vector<std::string>{kStage});
  Effects t2 = p.Tick(kT0);
  REQUIRE(t2.dispatch.size() == 1);
  const StageJob& check = t2.dispatch[0];
  CHECK(check.stage == "check");
  CHECK(check.attempt == 1);
  std::vector<PathRef> inputs = check.inputs;
  std::sort(inputs.begin(), inputs.end());
  CHECK(inputs == std::vector<PathRef>{{"in/a/0/out/a0.c", r0.outputs[0].ref},
                                       {"in/a/1/out/a1.c", r1.outputs[0].ref},
                                       {"in/module/game.rom", p.rom.Ref()},
                                       {"in/tools/run.sh", p.tool.Ref()}});
  CHECK(check.env.at("RECOMP_STAGE") == "check");

  StageResult rc = p.SucceedCheck(check);
  Effects ec = p.Deliver(rc);
  CHECK(Types(ec.events) == std::vector<std::string>{kStage, kValidation, kCompleted});
  CHECK(ec.events[1].DataJson()["verdict"] == "passed");
  CHECK(ec.events[1].DataJson()["report"] == rc.outputs[0].ref);
  CHECK(ec.events[2].DataJson()["state"] == "succeeded");
  CHECK(ec.events[2].DataJson()["verdict"] == "passed");
  CHECK(ec.events[2].DataJson()["reason"] == "");
  REQUIRE(ec.pins.size() == 1);
  CHECK(ec.pins[0].state == store::RunPinState::kSucceeded);

  // The whole log of the run, in order, with consecutive sequences.
  std::vector<Event> events = p.RunEvents("run-1");
  CHECK(Types(events) == std::vector<std::string>{kRequested, kStarted, kStage, kStage, kStage,
                                                  kValidation, kCompleted});
  for (size_t i = 0; i < events.size(); ++i) CHECK(events[i].sequence == i + 1);
  CHECK(events == p.log);

  RunStatus final_status = p.engine->GetStatus("run-1").value();
  CHECK(final_status.state == RunState::kSucceeded);
  CHECK(final_status.current_stage == "check");
  CHECK(final_status.stage_attempt == 1);
  CHECK(final_status.artifacts == [&] {
    std::vector<std::string> a = {r0.outputs[0].ref, r1.outputs[0].ref, rc.outputs[0].ref};
    std::sort(a.begin(), a.end());
    return a;
  }());
  CHECK(final_status == ReduceEvents(events).value());
  CHECK(final_status == p.StoredStatus("run-1"));
  // Memory stays flat: a terminal run leaves the engine.
  CHECK(p.engine->active_runs() == 0);
  CHECK(p.engine->inflight() == 0);
  CHECK(p.engine->last_sequence() == 7);
  // Job rows are final, with their results.
  std::vector<JobRow> jobs = p.Jobs("run-1");
  REQUIRE(jobs.size() == 3);
  for (const JobRow& j : jobs) {
    CHECK(j.state == JobState::kSucceeded);
    REQUIRE(j.result.has_value());
    CHECK(j.result->outcome == JobOutcome::kSucceeded);
  }
}

TEST_CASE("engine: resubmission is idempotent; other content under the same id is refused") {
  Pool p;
  RunToSuccess(p, "run-1");
  RunStatus done = p.StoredStatus("run-1");
  size_t events = p.log.size();

  Effects fx;
  auto again = p.Submit(p.Sub("run-1"), &fx);
  REQUIRE(again.ok());
  CHECK(*again == done);
  CHECK(fx.empty());
  CHECK(fx.pins.empty());
  CHECK(p.log.size() == events);

  RunSubmission other = p.Sub("run-1");
  other.priority = Priority::kHigh;
  auto refused = p.Submit(other, &fx);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Status::Code::kAlreadyExists);
  CHECK(Has(refused.status().message(), "run-1"));
  CHECK(fx.empty());
  other = p.Sub("run-1");
  other.requested_by = "bob";
  CHECK(p.Submit(other).status().code() == Status::Code::kAlreadyExists);
  CHECK(p.log.size() == events);
}

TEST_CASE("engine: resubmitting an active run returns its current status and records nothing") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  p.Tick(kT0);
  size_t events = p.log.size();
  Effects fx;
  auto again = p.Submit(p.Sub("run-1"), &fx);
  REQUIRE(again.ok());
  CHECK(again->state == RunState::kRunning);
  CHECK(fx.empty());
  CHECK(p.log.size() == events);
  CHECK(p.engine->active_runs() == 1);
  CHECK(p.engine->inflight() == 2);
}

// Regression (fixed in 7c04324): idempotency was checked only against the RunStore, so two
// SUBMITs of one run id drained into the same service batch both emitted `requested` (a log
// the reducer refuses), and different content was accepted instead of ALREADY_EXISTS.
TEST_CASE("engine: two submissions of one run id before a persist are still idempotent") {
  Pool p;
  Effects fx;  // one service loop turn: nothing persisted between the two calls
  auto first = p.engine->Submit(p.Sub("run-1"), &fx);
  REQUIRE(first.ok());
  auto second = p.engine->Submit(p.Sub("run-1"), &fx);
  REQUIRE(second.ok());
  CHECK(*second == *first);
  CHECK(Types(fx.events) == std::vector<std::string>{kRequested});
  RunSubmission other = p.Sub("run-1");
  other.requested_by = "bob";
  CHECK(p.engine->Submit(other, &fx).status().code() == Status::Code::kAlreadyExists);
  CHECK(Types(fx.events) == std::vector<std::string>{kRequested});
}

TEST_CASE("engine: the same content under a new run id is served from the action cache") {
  Pool p;
  std::vector<StageJob> first = RunToSuccess(p, "run-1");
  RunStatus s1 = p.StoredStatus("run-1");

  Effects sub_fx;
  REQUIRE(p.Submit(p.Sub("run-2"), &sub_fx).ok());
  Effects t = p.Tick(kT0 + 5000);
  CHECK(t.dispatch.empty());
  CHECK(t.cache.empty());  // hits are not re-cached
  CHECK(Types(t.events) ==
        std::vector<std::string>{kStarted, kStage, kStage, kStage, kValidation, kCompleted});
  for (const Event& e : t.events) {
    if (e.type != EventType::kStageCompleted) continue;
    CHECK(e.DataJson()["cached"] == true);
    CHECK(e.DataJson()["worker"] == "");
    CHECK(e.DataJson()["duration_ms"] == 0);
    CHECK(e.DataJson()["outcome"] == "succeeded");
    // The same job IDs as the first run.
    bool known = false;
    for (const StageJob& j : first) known = known || j.job_id == e.DataJson()["job_id"];
    CHECK(known);
  }
  RunStatus s2 = p.StoredStatus("run-2");
  CHECK(s2.state == RunState::kSucceeded);
  CHECK(s2.artifacts == s1.artifacts);
  CHECK(p.engine->active_runs() == 0);
  CHECK(p.engine->inflight() == 0);
  CheckRunIsAudited(p, "run-2");
  // The cached results keep their stored log, under the new run.
  for (const JobRow& j : p.Jobs("run-2")) {
    REQUIRE(j.result.has_value());
    CHECK(j.result->cached);
    CHECK(j.result->run_id == "run-2");
    CHECK_FALSE(j.result->log_ref.empty());
  }
}

TEST_CASE("engine: a cache entry whose output blob is gone is not served") {
  Pool p;
  RunToSuccess(p, "run-1");
  // Remove the blob of shard 1's output from the store's disk.
  JobRow a1;
  for (const JobRow& j : p.Jobs("run-1"))
    if (j.stage == "a" && j.shard == 1) a1 = j;
  REQUIRE(a1.result.has_value());
  Digest gone = ParseArtifactRef(a1.result->outputs.at(0).ref).value();
  std::string file = store::testing::BlobFile(p.store->root(), "generated", gone.Hex());
  REQUIRE(std::filesystem::remove(file));
  REQUIRE_FALSE(p.store->Contains(gone));

  REQUIRE(p.Submit(p.Sub("run-3")).ok());
  Effects t = p.Tick(kT0);
  // Shard 0 is a hit; shard 1 runs again.
  REQUIRE(t.dispatch.size() == 1);
  CHECK(t.dispatch[0].stage == "a");
  CHECK(t.dispatch[0].shard == 1);
  CHECK(t.dispatch[0].job_id == a1.job_id);
  CHECK(t.dispatch[0].attempt == 1);
  CHECK(Types(t.events) == std::vector<std::string>{kStarted, kStage});
  CHECK(t.events[1].DataJson()["cached"] == true);
  CHECK(t.events[1].DataJson()["shard"] == 0);

  // The re-run stores the same bytes again; `check` is then a hit and the run completes.
  Effects r = p.Deliver(p.SucceedA(t.dispatch[0]));
  CHECK(p.store->Contains(gone));
  Effects t2 = p.Tick(kT0);
  CHECK(t2.dispatch.empty());
  CHECK(p.StoredStatus("run-3").state == RunState::kSucceeded);
  CheckRunIsAudited(p, "run-3");
}

TEST_CASE("engine: a cache entry whose log blob is gone is not served either") {
  Pool p;
  RunToSuccess(p, "run-1");
  JobRow a0;
  for (const JobRow& j : p.Jobs("run-1"))
    if (j.stage == "a" && j.shard == 0) a0 = j;
  Digest log = ParseArtifactRef(a0.result->log_ref).value();
  REQUIRE(
      std::filesystem::remove(store::testing::BlobFile(p.store->root(), "generated", log.Hex())));
  REQUIRE(p.Submit(p.Sub("run-2")).ok());
  Effects t = p.Tick(kT0);
  REQUIRE(t.dispatch.size() == 1);
  CHECK(t.dispatch[0].shard == 0);
}

TEST_CASE("engine: a failed attempt is retried with attempt + 1 only after its backoff") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  REQUIRE(t.dispatch.size() == 2);
  const StageJob a0 = *Find(t.dispatch, "a", 0);

  Effects f = p.Deliver(p.Report(a0, JobOutcome::kFailed));
  // A retried attempt publishes only the extension event saying when the next one is due.
  REQUIRE(Types(f.events) == std::vector<std::string>{kRetry});
  CHECK(f.cache.empty());  // failures are never cached
  CHECK(f.dispatch.empty());
  CHECK(p.engine->inflight() == 1);
  int64_t wait = p.engine->NextWakeMs(kT0);
  nlohmann::json retry = f.events[0].DataJson();
  CHECK(retry["stage"] == "a");
  CHECK(retry["shard"] == 0);
  CHECK(retry["job_id"] == a0.job_id);
  CHECK(retry["attempt"] == 1);
  CHECK(retry["next_attempt"] == 2);
  CHECK(retry["outcome"] == "failed");
  CHECK(f.events[0].subject == "run-1");
  CHECK(ParseRfc3339(retry["not_before"].get<std::string>()).ok());
  // Initial backoff 1000 ms with jitter in [0.5, 1.0).
  CHECK(wait >= 500);
  CHECK(wait < 1000);
  CHECK(p.engine->NextWakeMs(kT0 + wait) == 0);

  CHECK(p.Tick(kT0 + wait - 1).dispatch.empty());
  Effects again = p.Tick(kT0 + wait);
  REQUIRE(again.dispatch.size() == 1);
  CHECK(again.dispatch[0].job_id == a0.job_id);
  CHECK(again.dispatch[0].shard == 0);
  CHECK(again.dispatch[0].attempt == 2);
  CHECK(again.events.empty());  // no second `started`
  CHECK(p.engine->NextWakeMs(kT0 + wait) == -1);

  // Attempt 2 succeeds: the run goes on as if nothing happened.
  Effects ok = p.Deliver(p.SucceedA(again.dispatch[0]));
  REQUIRE(ok.events.size() == 1);
  CHECK(ok.events[0].DataJson()["attempt"] == 2);
  CHECK(p.StoredStatus("run-1").stage_attempt == 2);
}

TEST_CASE("engine: the backoff is deterministic per job and attempt") {
  int64_t waits[2];
  for (int64_t& w : waits) {
    Pool p;
    REQUIRE(p.Submit(p.Sub("run-1")).ok());
    Effects t = p.Tick(kT0);
    p.Deliver(p.Report(*Find(t.dispatch, "a", 0), JobOutcome::kFailed));
    w = p.engine->NextWakeMs(kT0);
  }
  CHECK(waits[0] == waits[1]);
}

TEST_CASE("engine: a job failing after its retries fails the run and revokes the others") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  const StageJob a0 = *Find(t.dispatch, "a", 0), a1 = *Find(t.dispatch, "a", 1);
  p.Deliver(p.Report(a0, JobOutcome::kFailed));
  Effects again = p.Tick(kT0 + 1000);
  REQUIRE(again.dispatch.size() == 1);
  CHECK(again.dispatch[0].attempt == 2);

  StageResult last = p.Report(again.dispatch[0], JobOutcome::kFailed);
  last.message = "exit 2: segfault in lifter";
  Effects f = p.Deliver(last);
  CHECK(Types(f.events) == std::vector<std::string>{kStage, kCompleted});
  CHECK(f.events[0].DataJson()["outcome"] == "failed");
  CHECK(f.events[0].DataJson()["attempt"] == 2);
  CHECK(f.events[0].DataJson()["log_ref"] == last.log_ref);
  CHECK(f.events[0].DataJson()["exit_status"] == "exited:2");
  std::string reason = f.events[1].DataJson()["reason"];
  CHECK(f.events[1].DataJson()["state"] == "failed");
  CHECK(Has(reason, "stage 'a' shard 0"));
  CHECK(Has(reason, "segfault in lifter"));
  CHECK(Has(reason, last.log_ref));
  REQUIRE(f.revoke.size() == 1);
  CHECK(f.revoke[0].job_id == a1.job_id);
  CHECK(f.revoke[0].attempt == 1);
  CHECK(f.cache.empty());
  REQUIRE(f.pins.size() == 1);
  CHECK(f.pins[0].state == store::RunPinState::kFailed);

  RunStatus s = p.StoredStatus("run-1");
  CHECK(s.state == RunState::kFailed);
  CHECK(s.reason == reason);
  CHECK(p.engine->active_runs() == 0);
  CHECK(p.engine->inflight() == 0);
  CheckRunIsAudited(p, "run-1");
  // The abandoned job's late result changes nothing.
  Effects late = p.Deliver(p.SucceedA(a1));
  CHECK(late.empty());
  // Nothing of the failed run is ever dispatched again.
  CHECK(p.Tick(kT0 + 1'000'000).dispatch.empty());
  // Rows: the failed and the abandoned shard are final; `check` was never planned.
  for (const JobRow& j : p.Jobs("run-1")) {
    CHECK(j.state == (j.stage == "a" ? JobState::kFailed : JobState::kWaiting));
  }
}

TEST_CASE("engine: a failed validation stage fails the run with verdict failed") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  for (const StageJob& j : t.dispatch) p.Deliver(p.SucceedA(j));
  Effects t2 = p.Tick(kT0);
  REQUIRE(t2.dispatch.size() == 1);
  StageResult bad = p.Report(t2.dispatch[0], JobOutcome::kFailed);
  bad.message = "3 functions differ";
  bad.outputs = {{"report.json", p.Put("{\"ok\":false}").Ref()}};
  Effects f = p.Deliver(bad);  // retries = 0: final at once
  CHECK(Types(f.events) == std::vector<std::string>{kStage, kValidation, kCompleted});
  CHECK(f.events[1].DataJson()["verdict"] == "failed");
  CHECK(f.events[1].DataJson()["report"] == bad.outputs[0].ref);
  CHECK(f.events[2].DataJson()["verdict"] == "failed");
  CHECK(Has(f.events[2].DataJson()["reason"], "validation failed: "));
  CHECK(Has(f.events[2].DataJson()["reason"], "3 functions differ"));
  CHECK(p.StoredStatus("run-1").state == RunState::kFailed);
  CheckRunIsAudited(p, "run-1");
}

TEST_CASE("engine: a lost worker is re-offered at once with attempt + 1, up to the cap") {
  EngineOptions o;
  o.lost_cap = 3;
  Pool p(o);
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  StageJob job = *Find(t.dispatch, "a", 0);
  for (uint32_t attempt = 1; attempt < 3; ++attempt) {
    CAPTURE(attempt);
    CHECK(job.attempt == attempt);
    Effects lost = p.Deliver(p.Report(job, JobOutcome::kWorkerLost));
    REQUIRE(Types(lost.events) == std::vector<std::string>{kRetry});
    CHECK(lost.events[0].DataJson()["outcome"] == "worker_lost");
    CHECK(lost.events[0].DataJson()["next_attempt"] == attempt + 1);
    CHECK(p.engine->NextWakeMs(kT0) == 0);  // no backoff: Tick has it now
    Effects again = p.Tick(kT0);            // same time: offered at once
    REQUIRE(again.dispatch.size() == 1);
    CHECK(again.dispatch[0].job_id == job.job_id);
    CHECK(again.dispatch[0].attempt == attempt + 1);
    job = again.dispatch[0];
  }
  // The third loss reaches the cap: the job fails (no retries), the run fails.
  Effects final_loss = p.Deliver(p.Report(job, JobOutcome::kWorkerLost));
  CHECK(Types(final_loss.events) == std::vector<std::string>{kStage, kCompleted});
  CHECK(final_loss.events[0].DataJson()["outcome"] == "worker_lost");
  std::string reason = final_loss.events[1].DataJson()["reason"];
  CHECK(Has(reason, "lost 3 workers (cap 3)"));
  REQUIRE(final_loss.revoke.size() == 1);
  CHECK(final_loss.revoke[0].job_id == Find(t.dispatch, "a", 1)->job_id);
  CHECK(p.StoredStatus("run-1").state == RunState::kFailed);
  CheckRunIsAudited(p, "run-1");
}

TEST_CASE("engine: worker losses do not use up retries") {
  EngineOptions o;
  o.lost_cap = 5;
  Pool p(o);
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  StageJob job = *Find(t.dispatch, "a", 0);
  p.Deliver(p.Report(job, JobOutcome::kWorkerLost));
  job = p.Tick(kT0).dispatch.at(0);
  p.Deliver(p.Report(job, JobOutcome::kWorkerLost));
  job = p.Tick(kT0).dispatch.at(0);
  CHECK(job.attempt == 3);
  // retries = 1 is still available after two losses.
  Effects f = p.Deliver(p.Report(job, JobOutcome::kFailed));
  CHECK(Types(f.events) == std::vector<std::string>{kRetry});
  Effects again = p.Tick(kT0 + 1000);
  REQUIRE(again.dispatch.size() == 1);
  CHECK(again.dispatch[0].attempt == 4);
}

TEST_CASE("engine: stale and foreign results are ignored") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  StageJob a0 = *Find(t.dispatch, "a", 0);
  p.Deliver(p.Report(a0, JobOutcome::kWorkerLost));
  StageJob a0_2 = p.Tick(kT0).dispatch.at(0);
  REQUIRE(a0_2.attempt == 2);
  RunStatus before = p.engine->GetStatus("run-1").value();

  // The old attempt reports success late: stale.
  CHECK(p.Deliver(p.SucceedA(a0)).empty());
  // An attempt from the future, another job ID, shard or stage, another run: ignored.
  StageJob future = a0_2;
  future.attempt = 3;
  CHECK(p.Deliver(p.SucceedA(future)).empty());
  StageJob other_id = a0_2;
  other_id.job_id = std::string(64, 'f');
  CHECK(p.Deliver(p.SucceedA(other_id)).empty());
  StageJob bad_shard = a0_2;
  bad_shard.shard = 7;
  CHECK(p.Deliver(p.SucceedA(bad_shard)).empty());
  StageJob bad_stage = a0_2;
  bad_stage.stage = "nope";
  CHECK(p.Deliver(p.SucceedA(bad_stage)).empty());
  StageJob other_run = a0_2;
  other_run.run_id = "run-9";
  CHECK(p.Deliver(p.SucceedA(other_run)).empty());
  CHECK(p.engine->GetStatus("run-1").value() == before);
  CHECK(p.engine->inflight() == 2);

  // The current attempt is accepted; a duplicate of it is then stale.
  StageResult good = p.SucceedA(a0_2);
  CHECK(Types(p.Deliver(good).events) == std::vector<std::string>{kStage});
  CHECK(p.Deliver(good).empty());
  CHECK(p.engine->inflight() == 1);
}

TEST_CASE("engine: cancel fails the run with reason cancelled and revokes its jobs") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  REQUIRE(t.dispatch.size() == 2);
  Effects fx;
  auto returned = p.engine->Cancel("run-1", &fx);
  REQUIRE(returned.ok());  // its value: see "Cancel returns the cancelled status"
  p.Persist(fx);
  RunStatus st = p.StoredStatus("run-1");
  CHECK(st.state == RunState::kFailed);
  CHECK(st.reason == "cancelled");
  CHECK(p.engine->GetStatus("run-1").value() == st);
  CHECK(Types(fx.events) == std::vector<std::string>{kCompleted});
  CHECK(fx.events[0].DataJson()["reason"] == "cancelled");
  REQUIRE(fx.revoke.size() == 2);
  std::set<std::string> revoked;
  for (const auto& r : fx.revoke) {
    CHECK(r.attempt == 1);
    revoked.insert(r.job_id);
  }
  CHECK(revoked == std::set<std::string>{t.dispatch[0].job_id, t.dispatch[1].job_id});
  CHECK(p.engine->active_runs() == 0);
  CHECK(p.engine->inflight() == 0);
  CheckRunIsAudited(p, "run-1");

  // Cancelling a terminal run returns it unchanged and records nothing.
  Effects again;
  auto st2 = p.engine->Cancel("run-1", &again);
  REQUIRE(st2.ok());
  CHECK(*st2 == st);
  CHECK(again.empty());
  // Late results of revoked jobs are ignored.
  CHECK(p.Deliver(p.SucceedA(t.dispatch[0])).empty());
  // Unknown runs are NotFound.
  Effects none;
  CHECK(p.engine->Cancel("run-404", &none).status().code() == Status::Code::kNotFound);
  CHECK(none.empty());
}

// Regression (fixed in 7c04324): Cancel returned the row read back from the store before
// the cancellation was committed: the state before the cancel, or NOT_FOUND for a run
// submitted in the same batch.
TEST_CASE("engine: Cancel returns the cancelled status") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  p.Tick(kT0);
  Effects fx;
  auto st = p.engine->Cancel("run-1", &fx);
  REQUIRE(st.ok());
  CHECK(st->state == RunState::kFailed);
  CHECK(st->reason == "cancelled");
  // Submitted and cancelled before any persist (one service loop turn).
  Effects batch;
  REQUIRE(p.engine->Submit(p.Sub("run-2"), &batch).ok());
  auto st2 = p.engine->Cancel("run-2", &batch);
  REQUIRE_MESSAGE(st2.ok(), st2.status().ToString());
  CHECK(st2->state == RunState::kFailed);
}

TEST_CASE("engine: a run cancelled before its first dispatch publishes requested, completed") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects fx;
  REQUIRE(p.engine->Cancel("run-1", &fx).ok());
  p.Persist(fx);
  CHECK(fx.revoke.empty());
  CHECK(Types(p.RunEvents("run-1")) == std::vector<std::string>{kRequested, kCompleted});
  CHECK(p.Tick(kT0).dispatch.empty());  // its queued jobs are dropped
  CheckRunIsAudited(p, "run-1");
}

TEST_CASE("engine: cloud and hybrid runs are refused while the gate is closed") {
  Pool p;
  for (ExecutionMode mode : {ExecutionMode::kCloud, ExecutionMode::kHybrid}) {
    RunSubmission sub = p.Sub("run-c");
    sub.execution_mode = mode;
    Effects fx;
    auto st = p.Submit(sub, &fx);
    REQUIRE_FALSE(st.ok());
    CHECK(st.status().code() == Status::Code::kFailedPrecondition);
    CHECK(Has(st.status().message(), std::string(ToString(mode))));
    CHECK(Has(st.status().message(), "gated"));
    CHECK(fx.empty());
    CHECK(fx.pins.empty());
  }
  CHECK(p.engine->GetStatus("run-c").status().code() == Status::Code::kNotFound);
  CHECK(p.runs->LastSequence().value() == 0);
}

TEST_CASE("engine: with the gate open a cloud run is accepted blocked and never dispatched") {
  EngineOptions o;
  o.cloud_gate_open = true;
  Pool p(o);
  RunSubmission sub = p.Sub("run-c");
  sub.execution_mode = ExecutionMode::kCloud;
  Effects fx;
  auto st = p.Submit(sub, &fx);
  REQUIRE_MESSAGE(st.ok(), st.status().ToString());
  CHECK(st->state == RunState::kBlocked);
  CHECK(Has(st->reason, "no cloud backend"));
  REQUIRE(fx.events.size() == 1);
  CHECK(fx.events[0].DataJson()["initial_state"] == "blocked");
  CHECK(p.Tick(kT0).dispatch.empty());
  CHECK(p.StoredStatus("run-c").state == RunState::kBlocked);
  // A restart keeps it blocked and does not dispatch it.
  p.NewEngine();
  Effects r;
  REQUIRE(p.engine->Resume(&r).ok());
  p.Persist(r);
  CHECK(p.engine->active_runs() == 1);
  CHECK(p.Tick(kT0).dispatch.empty());
  // Cancel: blocked -> failed.
  Effects c;
  REQUIRE(p.engine->Cancel("run-c", &c).ok());
  p.Persist(c);
  CHECK(Types(c.events) == std::vector<std::string>{kCompleted});
  CHECK(p.StoredStatus("run-c").state == RunState::kFailed);
  CHECK(p.StoredStatus("run-c").reason == "cancelled");
  CheckRunIsAudited(p, "run-c");
  // Local runs still work with the gate open.
  RunToSuccess(p, "run-l");
  CHECK(p.StoredStatus("run-l").state == RunState::kSucceeded);
}

TEST_CASE("engine: bad submissions are refused naming the problem and record nothing") {
  Pool p;
  std::string absent = Blake2b256::Of("not stored").Ref();
  struct Case {
    const char* what;
    std::function<void(RunSubmission&)> edit;
    Status::Code code;
    std::string expect;
  };
  std::vector<Case> cases = {
      {"config missing", [&](RunSubmission& s) { s.config_manifest = absent; },
       Status::Code::kNotFound, "config_manifest " + absent + " is not in the store"},
      {"module manifest missing", [&](RunSubmission& s) { s.module_manifest = absent; },
       Status::Code::kNotFound, "module_manifest " + absent + " is not in the store"},
      {"provenance missing", [&](RunSubmission& s) { s.provenance_manifest = absent; },
       Status::Code::kNotFound, "provenance_manifest " + absent + " is not in the store"},
      {"module file missing",
       [&](RunSubmission& s) {
         s.module_manifest =
             p.Put(Pool::Module({{"game.rom", p.rom.Ref()}, {"sym.txt", absent}})).Ref();
       },
       Status::Code::kNotFound, "module file sym.txt (" + absent + ") is not in the store"},
      {"tool missing",
       [&](RunSubmission& s) {
         s.config_manifest = p.Put(Pool::Resolved(kPipelineToml, Blake2b256::Of("no tool"))).Ref();
       },
       Status::Code::kNotFound,
       "tool run.sh (" + Blake2b256::Of("no tool").Ref() + ") is not in the store"},
      {"config not TOML",
       [&](RunSubmission& s) { s.config_manifest = p.Put("stages = [[[").Ref(); },
       Status::Code::kInvalidArgument, "config_manifest"},
      {"config without tool_refs",
       [&](RunSubmission& s) { s.config_manifest = p.Put(std::string(kPipelineToml)).Ref(); },
       Status::Code::kInvalidArgument, "tool_refs"},
      {"config with a cycle",
       [&](RunSubmission& s) {
         // ResolveToolRefs refuses a cycle itself, so the tool_refs table is written by hand.
         s.config_manifest = p.Put(R"(tools = ["run.sh"]
[[stages]]
name = "x"
needs = ["y"]
command = ["true"]
outputs = ["o"]
[[stages]]
name = "y"
needs = ["x"]
command = ["true"]
outputs = ["o"]

[tool_refs]
"run.sh" = ")" + p.tool.Ref() + "\"\n")
                                 .Ref();
       },
       Status::Code::kInvalidArgument, "dependency cycle"},
      {"module manifest not JSON",
       [&](RunSubmission& s) { s.module_manifest = p.Put("ROM?").Ref(); },
       Status::Code::kInvalidArgument, "module manifest: not a JSON object"},
      {"module manifest is the ROM", [&](RunSubmission& s) { s.module_manifest = p.rom.Ref(); },
       Status::Code::kInvalidArgument, "module manifest"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    RunSubmission sub = p.Sub("run-bad");
    c.edit(sub);
    Effects fx;
    auto st = p.engine->Submit(sub, &fx);
    REQUIRE_FALSE(st.ok());
    CHECK(st.status().code() == c.code);
    CHECK_MESSAGE(Has(st.status().message(), c.expect), st.status().message());
    CHECK(fx.empty());
    CHECK(fx.pins.empty());
    CHECK(p.engine->active_runs() == 0);
  }
  CHECK(p.engine->GetStatus("run-bad").status().code() == Status::Code::kNotFound);
  CHECK(p.engine->last_sequence() == 0);
  // The id is still free for a good submission.
  RunToSuccess(p, "run-bad");
  CHECK(p.StoredStatus("run-bad").state == RunState::kSucceeded);
}

TEST_CASE("engine: a submission without run id gets a fresh, valid one") {
  Pool p;
  auto a = p.Submit(p.Sub(""));
  auto b = p.Submit(p.Sub(""));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(ValidateRunId(a->run_id).ok());
  CHECK(a->run_id.rfind("run-", 0) == 0);
  CHECK(a->run_id != b->run_id);
  CHECK(p.engine->active_runs() == 2);
}

TEST_CASE(
    "engine: resume after a crash re-offers dispatched jobs with attempt + 1, never redoes "
    "finished ones") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  const StageJob a0 = *Find(t.dispatch, "a", 0), a1 = *Find(t.dispatch, "a", 1);
  p.Deliver(p.SucceedA(a0));
  uint64_t head = p.runs->LastSequence().value();
  CHECK(head == 3);

  // kill -9: everything persisted so far survives, the engine's memory does not.
  p.NewEngine();
  CHECK(p.engine->last_sequence() == head);
  Effects r;
  REQUIRE(p.engine->Resume(&r).ok());
  p.Persist(r);
  CHECK(r.events.empty());  // resuming publishes nothing by itself
  // ...but pins the run again: its pin may have been lost between its commit and the pinner.
  REQUIRE(r.pins.size() == 1);
  CHECK(r.pins[0].run_id == "run-1");
  CHECK(r.pins[0].state == store::RunPinState::kActive);
  CHECK(std::count(r.pins[0].refs.begin(), r.pins[0].refs.end(), p.rom) == 1);
  CHECK(p.engine->active_runs() == 1);
  CHECK(p.engine->GetStatus("run-1").value().state == RunState::kRunning);

  Effects t2 = p.Tick(kT0 + 10);
  REQUIRE(t2.dispatch.size() == 1);
  CHECK(t2.dispatch[0].stage == "a");
  CHECK(t2.dispatch[0].shard == 1);
  CHECK(t2.dispatch[0].job_id == a1.job_id);
  CHECK(t2.dispatch[0].attempt == 2);
  CHECK(t2.dispatch[0].inputs == a1.inputs);
  CHECK(t2.events.empty());  // no second `started`

  // The pre-crash attempt's late result is stale.
  CHECK(p.Deliver(p.SucceedA(a1)).empty());
  Effects ok = p.Deliver(p.SucceedA(t2.dispatch[0]));
  CHECK(Types(ok.events) == std::vector<std::string>{kStage});
  CHECK(ok.events[0].sequence == head + 1);
  Effects t3 = p.Tick(kT0 + 20);
  REQUIRE(t3.dispatch.size() == 1);
  CHECK(t3.dispatch[0].stage == "check");
  p.Deliver(p.SucceedCheck(t3.dispatch[0]));

  std::vector<Event> events = p.RunEvents("run-1");
  CHECK(Types(events) == std::vector<std::string>{kRequested, kStarted, kStage, kStage, kStage,
                                                  kValidation, kCompleted});
  for (size_t i = 0; i < events.size(); ++i) CHECK(events[i].sequence == i + 1);
  CHECK(p.StoredStatus("run-1").state == RunState::kSucceeded);
  CheckRunIsAudited(p, "run-1");
  // A second restart finds nothing to resume.
  p.NewEngine();
  Effects r2;
  REQUIRE(p.engine->Resume(&r2).ok());
  CHECK(r2.empty());
  CHECK(p.engine->active_runs() == 0);
  CHECK(p.engine->GetStatus("run-1").value().state == RunState::kSucceeded);
}

TEST_CASE("engine: resume re-plans a stage whose needs finished right before the crash") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  for (const StageJob& j : t.dispatch) p.Deliver(p.SucceedA(j));
  // `check` is planned (ready) but was never dispatched.
  p.NewEngine();
  Effects r;
  REQUIRE(p.engine->Resume(&r).ok());
  p.Persist(r);
  Effects t2 = p.Tick(kT0);
  REQUIRE(t2.dispatch.size() == 1);
  CHECK(t2.dispatch[0].stage == "check");
  CHECK(t2.dispatch[0].attempt == 1);
  p.Deliver(p.SucceedCheck(t2.dispatch[0]));
  CHECK(p.StoredStatus("run-1").state == RunState::kSucceeded);
  CheckRunIsAudited(p, "run-1");
}

TEST_CASE("engine: a job waiting on its backoff at the crash is retried after resume") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  p.Deliver(p.Report(*Find(t.dispatch, "a", 0), JobOutcome::kFailed));
  int64_t wait = p.engine->NextWakeMs(kT0);
  p.NewEngine();
  Effects r;
  REQUIRE(p.engine->Resume(&r).ok());
  p.Persist(r);
  // Shard 1 (dispatched at the crash) is offered again; shard 0 waits for its retry time.
  Effects t2 = p.Tick(kT0 + wait - 1);
  REQUIRE(t2.dispatch.size() == 1);
  CHECK(t2.dispatch[0].shard == 1);
  CHECK(t2.dispatch[0].attempt == 2);
  Effects t3 = p.Tick(kT0 + wait);
  REQUIRE(t3.dispatch.size() == 1);
  CHECK(t3.dispatch[0].shard == 0);
  CHECK(t3.dispatch[0].attempt == 2);
}

TEST_CASE("engine: a rejected job is offered again after 100 ms with attempt + 1") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  const StageJob a0 = *Find(t.dispatch, "a", 0);
  Effects rej = p.Step([&](Effects* fx) { p.engine->OnRejected({a0.job_id, a0.attempt}, fx); });
  CHECK(rej.events.empty());
  CHECK(p.engine->inflight() == 1);
  // A rejection of another attempt, or of an attempt no longer in flight, changes nothing.
  Effects other = p.Step([&](Effects* fx) { p.engine->OnRejected({a0.job_id, 9}, fx); });
  CHECK(other.empty());
  CHECK(p.Step([&](Effects* fx) { p.engine->OnRejected({a0.job_id, 1}, fx); }).empty());
  CHECK(p.Tick(kT0 + 99).dispatch.empty());
  Effects again = p.Tick(kT0 + 100);
  REQUIRE(again.dispatch.size() == 1);
  CHECK(again.dispatch[0].job_id == a0.job_id);
  CHECK(again.dispatch[0].attempt == 2);
}

TEST_CASE("engine: dispatch respects the in-flight window and priority") {
  EngineOptions o;
  o.max_inflight = 1;
  Pool p(o);
  RunSubmission low = p.Sub("run-low");
  low.priority = Priority::kLow;
  RunSubmission high = p.Sub("run-high");
  high.priority = Priority::kHigh;
  REQUIRE(p.Submit(low).ok());
  REQUIRE(p.Submit(high).ok());
  Effects t = p.Tick(kT0);
  REQUIRE(t.dispatch.size() == 1);
  CHECK(t.dispatch[0].run_id == "run-high");
  CHECK(t.dispatch[0].priority == Priority::kHigh);
  CHECK(p.engine->inflight() == 1);
  CHECK(p.Tick(kT0).dispatch.empty());
  p.Deliver(p.SucceedA(t.dispatch[0]));
  Effects t2 = p.Tick(kT0);
  REQUIRE(t2.dispatch.size() == 1);
  CHECK(t2.dispatch[0].run_id == "run-high");
  CHECK(t2.dispatch[0].shard == 1);
}

// Regression (fixed in 7c04324): a non-terminal run whose inputs could not be reloaded at
// resume was skipped, stayed `running` forever and could not be cancelled. It now fails at
// resume with a reason naming what is missing.
TEST_CASE("engine: a run whose inputs are gone fails at resume") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  p.Tick(kT0);
  Digest config = ParseArtifactRef(p.config_ref).value();
  REQUIRE(std::filesystem::remove(
      store::testing::BlobFile(p.store->root(), "generated", config.Hex())));
  p.NewEngine();
  Effects r;
  REQUIRE(p.engine->Resume(&r).ok());
  p.Persist(r);
  CHECK(Types(r.events) == std::vector<std::string>{kCompleted});
  RunStatus s = p.StoredStatus("run-1");
  CHECK(s.state == RunState::kFailed);
  CHECK(Has(s.reason, "cannot resume"));
  CHECK(Has(s.reason, p.config_ref));
  CHECK(p.engine->active_runs() == 0);
  CheckRunIsAudited(p, "run-1");
  // Cancel then finds it terminal and changes nothing.
  Effects c;
  auto st = p.engine->Cancel("run-1", &c);
  REQUIRE(st.ok());
  CHECK(*st == s);
  CHECK(c.empty());
}

TEST_CASE(
    "engine: a success whose outputs lie outside the declared outputs fails the run at planning") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  p.Deliver(p.SucceedA(*Find(t.dispatch, "a", 0)));
  Effects f = p.Deliver(p.Success(*Find(t.dispatch, "a", 1), {{"elsewhere.c", "int x;\n"}}));
  CHECK(Types(f.events) == std::vector<std::string>{kStage, kCompleted});
  std::string reason = f.events[1].DataJson()["reason"];
  CHECK(Has(reason, "planning failed"));
  CHECK(Has(reason, "elsewhere.c"));
  CHECK(f.dispatch.empty());
  CHECK(p.StoredStatus("run-1").state == RunState::kFailed);
  CHECK(p.engine->active_runs() == 0);
  CheckRunIsAudited(p, "run-1");
}

TEST_CASE("engine: a non-zero exit the stage does not list is final at once") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  StageResult r = p.Report(*Find(t.dispatch, "a", 0), JobOutcome::kFailed);
  r.exit_code = 3;  // stage a (retries = 1) lists only 2
  Effects f = p.Deliver(r);
  CHECK(Types(f.events) == std::vector<std::string>{kStage, kCompleted});
  CHECK(f.events[1].DataJson()["state"] == "failed");
  CHECK(p.engine->NextWakeMs(kT0) == -1);  // nothing waits for a retry
}

TEST_CASE("engine: a killing signal is final; a timeout and a worker error are retried") {
  for (JobOutcome o : {JobOutcome::kTimedOut, JobOutcome::kError, JobOutcome::kFailed}) {
    CAPTURE(ToString(o));
    Pool p;
    REQUIRE(p.Submit(p.Sub("run-1")).ok());
    Effects t = p.Tick(kT0);
    StageResult r = p.Report(*Find(t.dispatch, "a", 0), o);
    if (o == JobOutcome::kFailed) {
      r.exit_code = -1;
      r.signal = 11;  // a crash is deterministic for the same inputs
    }
    Effects f = p.Deliver(r);
    if (o == JobOutcome::kFailed) {
      CHECK(Types(f.events) == std::vector<std::string>{kStage, kCompleted});
    } else {
      CHECK(Types(f.events) == std::vector<std::string>{kRetry});
      CHECK(p.engine->NextWakeMs(kT0) >= 500);
    }
  }
}

TEST_CASE("engine: a deterministic validation failure is not retried") {
  constexpr std::string_view kToml = R"(tools = ["tools/run.sh"]

[[stages]]
name = "check"
command = ["/bin/sh", "in/tools/run.sh", "check"]
outputs = ["report.json"]
retries = 3
validation = true
)";
  Pool p;
  p.config_ref = p.Put(Pool::Resolved(kToml, p.tool)).Ref();
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  REQUIRE(t.dispatch.size() == 1);
  Effects f = p.Deliver(p.Report(t.dispatch[0], JobOutcome::kFailed));
  CHECK(Types(f.events) == std::vector<std::string>{kStage, kValidation, kCompleted});
  CHECK(f.events[1].DataJson()["verdict"] == "failed");
}

TEST_CASE("engine: an identical job in flight for another run is not dispatched twice") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  REQUIRE(p.Submit(p.Sub("run-2")).ok());  // the same manifests: the same job IDs
  Effects t = p.Tick(kT0);
  REQUIRE(t.dispatch.size() == 2);  // run-1's two shards; run-2's wait for them
  for (const StageJob& j : t.dispatch) CHECK(j.run_id == "run-1");
  CHECK(p.engine->InFlight().size() == 2);
  // run-1's shard 0 lands: run-2's shard 0 is served from the cache after the commit.
  Effects done = p.Deliver(p.SucceedA(*Find(t.dispatch, "a", 0)));
  CHECK(done.dispatch.empty());
  Effects next = p.Tick(kT0 + 1);
  CHECK(next.dispatch.empty());
  bool cached = false;
  for (const Event& e : next.events) {
    if (e.subject == "run-2" && e.type == EventType::kStageCompleted) {
      cached = e.DataJson()["cached"] == true;
    }
  }
  CHECK(cached);
  // run-1's shard 1 fails for good: run-2's shard 1 runs itself (attempt 1 of its own).
  StageResult bad = p.Report(*Find(t.dispatch, "a", 1), JobOutcome::kFailed);
  bad.exit_code = 9;  // not retried
  p.Deliver(bad);
  Effects own = p.Tick(kT0 + 2);
  REQUIRE(own.dispatch.size() == 1);
  CHECK(own.dispatch[0].run_id == "run-2");
  CHECK(own.dispatch[0].shard == 1);
}

TEST_CASE("engine: a job the broker does not know is offered again as if its worker was lost") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  const StageJob a0 = *Find(t.dispatch, "a", 0);
  auto flying = p.engine->InFlight();
  CHECK(flying.size() == 2);
  Effects lost = p.Step([&](Effects* fx) { p.engine->OnUnknownToBroker({a0.job_id, 1}, fx); });
  CHECK(Types(lost.events) == std::vector<std::string>{kRetry});
  Effects again = p.Tick(kT0);
  REQUIRE(again.dispatch.size() == 1);
  CHECK(again.dispatch[0].job_id == a0.job_id);
  CHECK(again.dispatch[0].attempt == 2);
  // A stale report (the attempt landed or moved on) changes nothing.
  CHECK(p.Step([&](Effects* fx) { p.engine->OnUnknownToBroker({a0.job_id, 1}, fx); }).empty());
}

TEST_CASE("engine: one Tick dispatches at most kMaxDispatchBytesPerTick of argv and env") {
  // 200 shards of a stage with a 60,000-byte env: 12 MB of job messages in all.
  std::string toml =
      "tools = [\"tools/run.sh\"]\n\n[[stages]]\nname = \"wide\"\n"
      "command = [\"/bin/sh\", \"in/tools/run.sh\"]\noutputs = []\nshards = 200\n"
      "env = { ";
  for (int i = 0; i < 15; ++i) {
    toml += (i ? ", " : "") + std::string("V") + std::to_string(i) + " = \"" +
            std::string(4000, 'x') + "\"";
  }
  toml += " }\n";
  Pool p;
  RunSubmission sub = p.Sub("run-wide");
  sub.config_manifest = p.Put(Pool::Resolved(toml, p.tool)).Ref();
  REQUIRE(p.Submit(sub).ok());
  const size_t per_job = 15 * (2 + 4000);
  size_t total = 0;
  for (int tick = 0; tick < 10 && total < 200; ++tick) {
    Effects t = p.Tick(kT0);
    REQUIRE(!t.dispatch.empty());
    CHECK((t.dispatch.size() - 1) * per_job < RunEngine::kMaxDispatchBytesPerTick);
    total += t.dispatch.size();
    if (total < 200) CHECK(p.engine->NextWakeMs(kT0) == 0);  // the rest at once, next turn
  }
  CHECK(total == 200);
}

namespace recomp::coordinator {
namespace {

TEST_CASE("engine: STARTED of an attempt in flight is recomp.job.started; current_stage follows") {
  Pool p;
  REQUIRE(p.Submit(p.Sub("run-1")).ok());
  Effects t = p.Tick(kT0);
  const StageJob a0 = *Find(t.dispatch, "a", 0);
  Effects s = p.Step([&](Effects* fx) {
    p.engine->OnStarted({{a0.job_id, a0.attempt}, "w1"}, fx);
  });
  REQUIRE(Types(s.events) == std::vector<std::string>{kJobStarted});
  nlohmann::json d = s.events[0].DataJson();
  CHECK(d["stage"] == "a");
  CHECK(d["shard"] == 0);
  CHECK(d["job_id"] == a0.job_id);
  CHECK(d["attempt"] == 1);
  CHECK(d["worker"] == "w1");
  CHECK(s.events[0].subject == "run-1");
  CHECK(p.StoredStatus("run-1").current_stage == "a");
  CHECK(p.StoredStatus("run-1").stage_attempt == 1);
  // Another attempt, or one that landed, is ignored.
  CHECK(p.Step([&](Effects* fx) { p.engine->OnStarted({{a0.job_id, 2}, "w1"}, fx); }).empty());
  p.Deliver(p.SucceedA(a0));
  CHECK(p.Step([&](Effects* fx) { p.engine->OnStarted({{a0.job_id, 1}, "w1"}, fx); }).empty());
  CheckRunIsAudited(p, "run-1");
}

TEST_CASE("engine: worker events go to the global log only, with their own subject") {
  Pool p;
  Effects j = p.Step([&](Effects* fx) {
    p.engine->OnWorkerEvent(EventType::kWorkerJoined, {{"worker_id", "w9"}, {"slots", 4}}, fx);
  });
  REQUIRE(Types(j.events) == std::vector<std::string>{"recomp.worker.joined"});
  CHECK(j.events[0].subject == "w9");
  CHECK(j.events[0].DataJson()["slots"] == 4);
  Effects l = p.Step([&](Effects* fx) {
    p.engine->OnWorkerEvent(EventType::kWorkerLeft, {{"worker_id", "w9"}, {"reason", "gone"}}, fx);
  });
  REQUIRE(Types(l.events) == std::vector<std::string>{"recomp.worker.left"});
  CHECK(l.events[0].id != j.events[0].id);
  CHECK(l.events[0].sequence == j.events[0].sequence + 1);
  auto all = p.runs->ReadEvents(0, 100, "");
  REQUIRE(all.ok());
  CHECK(all->size() == 2);
  auto by_run = p.runs->ReadEvents(0, 100, "w9");  // not indexed as a run's events
  REQUIRE(by_run.ok());
  CHECK(by_run->empty());
}

}  // namespace
}  // namespace recomp::coordinator

namespace recomp::coordinator {
namespace {

TEST_CASE("engine: a rerun is a new run of the same manifests; from a stage on, no cache") {
  Pool p;
  RunToSuccess(p, "run-1");
  const RunRow first = p.runs->GetRun("run-1").value().value();

  // A plain rerun: a fresh id, the same manifests, everything served from the cache.
  auto all = p.Step([&](Effects* fx) {
    auto st = p.engine->Rerun("run-1", "", "bob", fx);
    REQUIRE_MESSAGE(st.ok(), st.status().ToString());
    CHECK(st->run_id != "run-1");
  });
  REQUIRE(!all.events.empty());
  const std::string plain = all.events[0].subject;
  nlohmann::json req = all.events[0].DataJson();
  CHECK(req["rerun_of"] == "run-1");
  CHECK(req["no_cache_stages"] == nlohmann::json::array());
  CHECK(req["requested_by"] == "bob");
  CHECK(req["config_manifest"] == first.submission.config_manifest);
  CHECK(p.Tick(kT0 + 10).dispatch.empty());
  CHECK(p.StoredStatus(plain).state == RunState::kSucceeded);

  // From the validation stage: `a` is served from the cache, `check` runs again.
  std::string from_check;
  p.Step([&](Effects* fx) { from_check = p.engine->Rerun("run-1", "check", "bob", fx)->run_id; });
  Effects t = p.Tick(kT0 + 20);
  REQUIRE(t.dispatch.size() == 1);
  CHECK(t.dispatch[0].stage == "check");
  CHECK(p.runs->GetRun(from_check).value()->no_cache_stages == std::vector<std::string>{"check"});
  CHECK(p.runs->GetRun(from_check).value()->rerun_of == "run-1");
  p.Deliver(p.SucceedCheck(t.dispatch[0]));
  CHECK(p.StoredStatus(from_check).state == RunState::kSucceeded);
  CheckRunIsAudited(p, from_check);

  // From the first stage: everything runs again.
  std::string from_a;
  p.Step([&](Effects* fx) { from_a = p.engine->Rerun("run-1", "a", "bob", fx)->run_id; });
  CHECK(p.runs->GetRun(from_a).value()->no_cache_stages == std::vector<std::string>{"a", "check"});
  Effects ta = p.Tick(kT0 + 30);
  REQUIRE(ta.dispatch.size() == 2);
  p.Deliver(p.SucceedA(ta.dispatch[0]));
  p.Deliver(p.SucceedA(ta.dispatch[1]));
  Effects tc = p.Tick(kT0 + 30);
  REQUIRE(tc.dispatch.size() == 1);
  CHECK(tc.dispatch[0].stage == "check");

  // Refusals record nothing.
  Effects bad = p.Step([&](Effects* fx) {
    auto st = p.engine->Rerun("run-1", "nope", "bob", fx);
    CHECK(st.status().code() == Status::Code::kInvalidArgument);
    CHECK(st.status().message().find("stages: a, check") != std::string::npos);
    CHECK(p.engine->Rerun("run-404", "", "bob", fx).status().code() == Status::Code::kNotFound);
  });
  CHECK(bad.events.empty());
}

}  // namespace
}  // namespace recomp::coordinator
