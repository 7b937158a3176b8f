// RunStore (LMDB): the event log and its per-run index (ordering, `after`, `limit`, run
// filter), refusal of a duplicate sequence, batches as one transaction, run/job rows and the
// action cache round-tripping, and everything surviving a reopen.
#include "coordinator/run_store.h"

#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "coordinator/run_reducer.h"
#include "messages/protocol.h"
#include "tests/store/store_test_util.h"

using namespace recomp;
using namespace recomp::coordinator;
using recomp::store::testing::TempDir;

namespace {

std::string Ref(char c) {
  return "artifact://" + std::string(64, c);
}
const std::string kJobA = std::string(64, 'a');
const std::string kJobB = std::string(64, 'b');

Event Ev(uint64_t seq, const std::string& run, EventType type = EventType::kStarted) {
  Event e;
  e.sequence = seq;
  e.id = run + "/" + std::to_string(seq);
  e.source = "recomp/coordinator";
  e.type = type;
  e.subject = run;
  e.time = "2026-01-02T03:04:05.000Z";
  e.data = {{"n", seq}, {"nested", {{"list", {1, "two"}}}}};
  return e;
}

std::vector<uint64_t> Seqs(const std::vector<Event>& events) {
  std::vector<uint64_t> out;
  for (const Event& e : events) out.push_back(e.sequence);
  return out;
}

std::unique_ptr<RunStore> Open(const TempDir& dir) {
  auto s = RunStore::Open(dir / "state");
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  return std::move(s).value();
}

void Append(RunStore& s, const std::vector<Event>& events) {
  auto b = s.Begin();
  REQUIRE(b.ok());
  for (const Event& e : events) REQUIRE(b->AppendEvent(e).ok());
  REQUIRE(b->Commit().ok());
}

// Events 1..9 of three runs, interleaved; run "r-1" and "r-10" share a prefix.
std::vector<Event> Interleaved() {
  return {Ev(1, "r-1"), Ev(2, "r-10"), Ev(3, "r-1"), Ev(4, "r-2"), Ev(5, "r-10"),
          Ev(6, "r-1"), Ev(7, "r-2"),  Ev(8, "r-1"), Ev(9, "r-10")};
}

RunRow Row(const std::string& run_id) {
  RunRow r;
  r.submission = {run_id,  ExecutionMode::kLocal, Ref('1'), Ref('2'), Ref('3'),
                  "alice", Priority::kHigh};
  r.status.run_id = run_id;
  r.status.state = RunState::kRunning;
  r.status.current_stage = "lift";
  r.status.stage_attempt = 2;
  r.status.artifacts = {Ref('4'), Ref('5')};
  r.status.started_at = "2026-01-02T03:04:05.000Z";
  r.status.updated_at = "2026-01-02T03:04:06.500Z";
  r.content_key_hex = std::string(64, 'c');
  r.verdict = "passed";
  r.cancel_requested = true;
  return r;
}

StageResult OkResult(const std::string& job_id, const std::string& run_id) {
  StageResult r;
  r.job_id = job_id;
  r.run_id = run_id;
  r.stage = "lift";
  r.shard = 3;
  r.attempt = 2;
  r.worker = "box:1:2";
  r.outcome = JobOutcome::kSucceeded;
  r.exit_code = 0;
  r.duration_ms = 1234;
  r.outputs = {{"out/a.c", Ref('6')}, {"out/b.c", Ref('7')}};
  r.log_ref = Ref('8');
  return r;
}

JobRow Job(const std::string& run_id, const std::string& stage, uint32_t shard) {
  JobRow j;
  j.run_id = run_id;
  j.stage = stage;
  j.shard = shard;
  j.shards = 4;
  j.job_id = kJobA;
  j.state = JobState::kDispatched;
  j.attempt = 3;
  j.failures = 1;
  j.lost = 1;
  j.not_before_ms = 1700000000123;
  return j;
}

bool SameJob(const JobRow& a, const JobRow& b) {
  return a.run_id == b.run_id && a.stage == b.stage && a.shard == b.shard && a.shards == b.shards &&
         a.job_id == b.job_id && a.state == b.state && a.attempt == b.attempt &&
         a.failures == b.failures && a.lost == b.lost && a.not_before_ms == b.not_before_ms &&
         a.result == b.result;
}

bool SameRun(const RunRow& a, const RunRow& b) {
  return a.submission == b.submission && a.status == b.status &&
         a.content_key_hex == b.content_key_hex && a.verdict == b.verdict &&
         a.cancel_requested == b.cancel_requested;
}

}  // namespace

TEST_CASE("an empty store has no events, runs or cache entries") {
  TempDir dir;
  auto s = Open(dir);
  CHECK(s->LastSequence().value() == 0);
  CHECK(s->ReadEvents(0, 100, "").value().empty());
  CHECK(s->ReadEvents(0, 100, "r-1").value().empty());
  CHECK(s->ListRuns().value().empty());
  CHECK_FALSE(s->GetRun("r-1").value().has_value());
  CHECK(s->GetJobs("r-1").value().empty());
  CHECK_FALSE(s->GetCache(kJobA).value().has_value());
}

TEST_CASE("events read back in sequence order, exactly as appended") {
  TempDir dir;
  auto s = Open(dir);
  std::vector<Event> events = Interleaved();
  // Appended over several batches.
  Append(*s, {events.begin(), events.begin() + 4});
  Append(*s, {events.begin() + 4, events.end()});
  CHECK(s->LastSequence().value() == 9);
  auto all = s->ReadEvents(0, 100, "");
  REQUIRE(all.ok());
  CHECK(*all == events);
}

TEST_CASE("ReadEvents honours `after` and `limit`") {
  TempDir dir;
  auto s = Open(dir);
  Append(*s, Interleaved());
  CHECK(Seqs(s->ReadEvents(5, 100, "").value()) == std::vector<uint64_t>{6, 7, 8, 9});
  CHECK(Seqs(s->ReadEvents(0, 3, "").value()) == std::vector<uint64_t>{1, 2, 3});
  CHECK(Seqs(s->ReadEvents(3, 2, "").value()) == std::vector<uint64_t>{4, 5});
  CHECK(Seqs(s->ReadEvents(8, 5, "").value()) == std::vector<uint64_t>{9});
  CHECK(s->ReadEvents(9, 5, "").value().empty());
  CHECK(s->ReadEvents(1000, 5, "").value().empty());
  CHECK(s->ReadEvents(0, 0, "").value().empty());
  // Paging with the last sequence reads everything exactly once.
  std::vector<uint64_t> paged;
  uint64_t last = 0;
  for (;;) {
    auto page = s->ReadEvents(last, 2, "").value();
    if (page.empty()) break;
    for (const Event& e : page) paged.push_back(e.sequence);
    last = page.back().sequence;
  }
  CHECK(paged == std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("ReadEvents filters by run (no prefix confusion), in order, with after and limit") {
  TempDir dir;
  auto s = Open(dir);
  Append(*s, Interleaved());
  auto r1 = s->ReadEvents(0, 100, "r-1");
  REQUIRE(r1.ok());
  CHECK(Seqs(*r1) == std::vector<uint64_t>{1, 3, 6, 8});
  for (const Event& e : *r1) CHECK(e.subject == "r-1");
  CHECK(Seqs(s->ReadEvents(0, 100, "r-10").value()) == std::vector<uint64_t>{2, 5, 9});
  CHECK(Seqs(s->ReadEvents(0, 100, "r-2").value()) == std::vector<uint64_t>{4, 7});
  CHECK(s->ReadEvents(0, 100, "r").value().empty());
  CHECK(s->ReadEvents(0, 100, "r-3").value().empty());
  CHECK(Seqs(s->ReadEvents(3, 100, "r-1").value()) == std::vector<uint64_t>{6, 8});
  CHECK(Seqs(s->ReadEvents(0, 2, "r-1").value()) == std::vector<uint64_t>{1, 3});
  CHECK(Seqs(s->ReadEvents(4, 1, "r-10").value()) == std::vector<uint64_t>{5});
  CHECK(s->ReadEvents(9, 100, "r-10").value().empty());
}

TEST_CASE("a duplicate sequence is refused and its batch changes nothing") {
  TempDir dir;
  auto s = Open(dir);
  Append(*s, {Ev(1, "r-1"), Ev(2, "r-1")});
  {
    auto b = s->Begin();
    REQUIRE(b.ok());
    REQUIRE(b->AppendEvent(Ev(3, "r-1")).ok());
    REQUIRE(b->PutRun(Row("r-1")).ok());
    Status dup = b->AppendEvent(Ev(2, "r-2"));
    CHECK(dup.code() == Status::Code::kAlreadyExists);
    // The caller gives up: the batch is destroyed without Commit and aborts.
  }
  CHECK(s->LastSequence().value() == 2);
  CHECK(Seqs(s->ReadEvents(0, 100, "").value()) == std::vector<uint64_t>{1, 2});
  CHECK(s->ReadEvents(0, 100, "r-2").value().empty());
  CHECK_FALSE(s->GetRun("r-1").value().has_value());
  // A duplicate within one batch is refused as well.
  auto b = s->Begin();
  REQUIRE(b.ok());
  REQUIRE(b->AppendEvent(Ev(3, "r-1")).ok());
  CHECK(b->AppendEvent(Ev(3, "r-1")).code() == Status::Code::kAlreadyExists);
}

// Regression (fixed in 7c04324): only an exact duplicate sequence was refused; an event
// older than the newest stored one was accepted.
TEST_CASE("an event older than the newest stored one is refused") {
  TempDir dir;
  auto s = Open(dir);
  Append(*s, {Ev(5, "r-1")});
  {
    auto b = s->Begin();
    REQUIRE(b.ok());
    CHECK(b->AppendEvent(Ev(2, "r-1")).code() == Status::Code::kAlreadyExists);
  }
  {
    // Out of order within one batch.
    auto b = s->Begin();
    REQUIRE(b->AppendEvent(Ev(7, "r-1")).ok());
    CHECK_FALSE(b->AppendEvent(Ev(6, "r-1")).ok());
    // Abandoned: 7 was never committed.
  }
  {
    // An aborted batch does not move the head: 6 is next after 5.
    auto b = s->Begin();
    REQUIRE(b->AppendEvent(Ev(6, "r-1")).ok());
    REQUIRE(b->Commit().ok());
  }
  CHECK(s->LastSequence().value() == 6);
  // The head survives a reopen.
  s.reset();
  s = Open(dir);
  auto b = s->Begin();
  REQUIRE(b.ok());
  CHECK_FALSE(b->AppendEvent(Ev(6, "r-2")).ok());
  CHECK_FALSE(b->AppendEvent(Ev(3, "r-2")).ok());
}

TEST_CASE("run rows round-trip and list") {
  TempDir dir;
  auto s = Open(dir);
  RunRow a = Row("r-1"), b = Row("r-2");
  b.status.state = RunState::kFailed;
  b.status.reason = "cancelled";
  b.verdict = "";
  b.cancel_requested = false;
  b.submission.execution_mode = ExecutionMode::kHybrid;
  {
    auto batch = s->Begin();
    REQUIRE(batch.ok());
    REQUIRE(batch->PutRun(a).ok());
    REQUIRE(batch->PutRun(b).ok());
    REQUIRE(batch->Commit().ok());
  }
  auto got = s->GetRun("r-1");
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK(SameRun(**got, a));
  auto list = s->ListRuns();
  REQUIRE(list.ok());
  REQUIRE(list->size() == 2);
  CHECK(SameRun((*list)[0], a));
  CHECK(SameRun((*list)[1], b));
  // A later put replaces the row.
  a.status.state = RunState::kSucceeded;
  {
    auto batch = s->Begin();
    REQUIRE(batch->PutRun(a).ok());
    REQUIRE(batch->Commit().ok());
  }
  CHECK(s->GetRun("r-1").value()->status.state == RunState::kSucceeded);
  CHECK(s->ListRuns().value().size() == 2);
}

TEST_CASE("job rows round-trip per run, with and without a result") {
  TempDir dir;
  auto s = Open(dir);
  JobRow waiting = Job("r-1", "analyze", 0);
  waiting.job_id = "";
  waiting.state = JobState::kWaiting;
  waiting.attempt = 0;
  JobRow done = Job("r-1", "lift", 1);
  done.state = JobState::kSucceeded;
  done.result = OkResult(kJobA, "r-1");
  JobRow failed = Job("r-1", "lift", 2);
  failed.state = JobState::kFailed;
  failed.result = OkResult(kJobB, "r-1");
  failed.result->outcome = JobOutcome::kTimedOut;
  failed.result->exit_code = -1;
  failed.result->signal = 9;
  failed.result->outputs.clear();
  failed.result->message = "killed after 600 s";
  JobRow other = Job("r-10", "lift", 1);  // a run id sharing the prefix
  {
    auto batch = s->Begin();
    for (const JobRow* j : {&waiting, &done, &failed, &other}) REQUIRE(batch->PutJob(*j).ok());
    REQUIRE(batch->Commit().ok());
  }
  auto jobs = s->GetJobs("r-1");
  REQUIRE_MESSAGE(jobs.ok(), jobs.status().ToString());
  REQUIRE(jobs->size() == 3);
  CHECK(SameJob((*jobs)[0], waiting));
  CHECK(SameJob((*jobs)[1], done));
  CHECK(SameJob((*jobs)[2], failed));
  auto others = s->GetJobs("r-10");
  REQUIRE(others->size() == 1);
  CHECK(SameJob((*others)[0], other));
  CHECK(s->GetJobs("r").value().empty());
}

TEST_CASE("job keys order shards numerically and stay distinct per stage") {
  JobRow a = Job("r", "s", 2), b = Job("r", "s", 256), c = Job("r", "s2", 0);
  CHECK(a.Key() < b.Key());
  CHECK(a.Key() != Job("r", "s", 3).Key());
  CHECK(b.Key() < c.Key());
  CHECK(a.Key().size() == 1 + 1 + 1 + 1 + 4);
}

TEST_CASE("the action cache stores successful results by job ID") {
  TempDir dir;
  auto s = Open(dir);
  StageResult r = OkResult(kJobA, "r-1");
  {
    auto batch = s->Begin();
    REQUIRE(batch->PutCache(r).ok());
    REQUIRE(batch->Commit().ok());
  }
  auto got = s->GetCache(kJobA);
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK(**got == r);
  CHECK_FALSE(s->GetCache(kJobB).value().has_value());
  // A later success of the same job replaces the entry.
  StageResult r2 = r;
  r2.run_id = "r-2";
  r2.duration_ms = 5;
  {
    auto batch = s->Begin();
    REQUIRE(batch->PutCache(r2).ok());
    REQUIRE(batch->Commit().ok());
  }
  CHECK(s->GetCache(kJobA).value().value() == r2);
}

TEST_CASE(
    "the action cache lives in its own environment; a damaged one is discarded, the log kept") {
  TempDir dir;
  {
    auto s = Open(dir);
    auto batch = s->Begin();
    REQUIRE(batch->AppendEvent(Ev(1, "r-1")).ok());
    REQUIRE(batch->PutCache(OkResult(kJobA, "r-1")).ok());
    REQUIRE(batch->Commit().ok());
    CHECK(s->GetCache(kJobA).value().has_value());
  }
  const std::string cache_file = dir / "state/action-cache/data.mdb";
  REQUIRE(std::filesystem::exists(cache_file));
  {
    // An OS crash under MDB_NOSYNC may leave garbage: overwrite the meta pages.
    std::FILE* f = std::fopen(cache_file.c_str(), "r+b");
    REQUIRE(f != nullptr);
    std::string junk(8192, '\x5a');
    REQUIRE(std::fwrite(junk.data(), 1, junk.size(), f) == junk.size());
    std::fclose(f);
  }
  auto s = Open(dir);  // opens: the cache is recreated empty
  auto got = s->GetCache(kJobA);
  REQUIRE_MESSAGE(got.ok(), got.status().ToString());
  CHECK_FALSE(got->has_value());
  CHECK(s->LastSequence().value() == 1);  // the durable environment is untouched
  auto batch = s->Begin();
  REQUIRE(batch->PutCache(OkResult(kJobB, "r-2")).ok());
  REQUIRE(batch->Commit().ok());
  CHECK(s->GetCache(kJobB).value().has_value());
}

TEST_CASE("an uncommitted batch leaves nothing behind") {
  TempDir dir;
  auto s = Open(dir);
  {
    auto batch = s->Begin();
    REQUIRE(batch->AppendEvent(Ev(1, "r-1", EventType::kRequested)).ok());
    REQUIRE(batch->PutRun(Row("r-1")).ok());
    REQUIRE(batch->PutJob(Job("r-1", "a", 0)).ok());
    REQUIRE(batch->PutCache(OkResult(kJobA, "r-1")).ok());
  }
  CHECK(s->LastSequence().value() == 0);
  CHECK(s->ListRuns().value().empty());
  CHECK(s->GetJobs("r-1").value().empty());
  CHECK_FALSE(s->GetCache(kJobA).value().has_value());
}

TEST_CASE("everything survives closing and reopening the store") {
  TempDir dir;
  {
    auto s = Open(dir);
    auto batch = s->Begin();
    for (const Event& e : Interleaved()) REQUIRE(batch->AppendEvent(e).ok());
    REQUIRE(batch->PutRun(Row("r-1")).ok());
    REQUIRE(batch->PutJob(Job("r-1", "a", 0)).ok());
    REQUIRE(batch->PutCache(OkResult(kJobA, "r-1")).ok());
    REQUIRE(batch->Commit().ok());
  }
  auto s = Open(dir);
  CHECK(s->LastSequence().value() == 9);
  CHECK(s->ReadEvents(0, 100, "").value() == Interleaved());
  CHECK(Seqs(s->ReadEvents(0, 100, "r-2").value()) == std::vector<uint64_t>{4, 7});
  REQUIRE(s->GetRun("r-1").value().has_value());
  CHECK(SameRun(*s->GetRun("r-1").value(), Row("r-1")));
  REQUIRE(s->GetJobs("r-1").value().size() == 1);
  CHECK(SameJob(s->GetJobs("r-1").value()[0], Job("r-1", "a", 0)));
  CHECK(s->GetCache(kJobA).value().value() == OkResult(kJobA, "r-1"));
}

TEST_CASE("row decoding refuses unknown versions and damaged rows as Corruption") {
  nlohmann::json run = ToJson(Row("r-1"));
  CHECK(SameRun(RunRowFromJson(run).value(), Row("r-1")));
  nlohmann::json job = ToJson(Job("r-1", "a", 0));
  CHECK(SameJob(JobRowFromJson(job).value(), Job("r-1", "a", 0)));

  for (nlohmann::json v : {nlohmann::json(2), nlohmann::json(0)}) {
    nlohmann::json r = run, j = job;
    r["v"] = v;
    j["v"] = v;
    CHECK(RunRowFromJson(r).status().code() == Status::Code::kCorruption);
    CHECK(JobRowFromJson(j).status().code() == Status::Code::kCorruption);
  }
  nlohmann::json r = run;
  r.erase("v");
  CHECK(RunRowFromJson(r).status().code() == Status::Code::kCorruption);
  CHECK(RunRowFromJson(nlohmann::json::array()).status().code() == Status::Code::kCorruption);
  r = run;
  r.erase("verdict");
  CHECK(RunRowFromJson(r).status().code() == Status::Code::kCorruption);
  nlohmann::json j = job;
  j["attempt"] = "three";
  CHECK(JobRowFromJson(j).status().code() == Status::Code::kCorruption);
  j = job;
  j.erase("lost");
  CHECK(JobRowFromJson(j).status().code() == Status::Code::kCorruption);
  j = job;
  j["state"] = "exploded";
  CHECK_FALSE(JobRowFromJson(j).ok());
  // The nested records are re-validated by the strict v1 decoders.
  r = run;
  r["status"]["state"] = "exploded";
  CHECK_FALSE(RunRowFromJson(r).ok());
  r = run;
  r["submission"]["module_manifest"] = "not-a-ref";
  CHECK_FALSE(RunRowFromJson(r).ok());
  JobRow with_result = Job("r-1", "a", 0);
  with_result.result = OkResult(kJobA, "r-1");
  j = ToJson(with_result);
  CHECK(SameJob(JobRowFromJson(j).value(), with_result));
  j["result"]["job_id"] = "short";
  CHECK_FALSE(JobRowFromJson(j).ok());
}

TEST_CASE("job rows are stored packed (version 2); version-1 JSON rows still read") {
  JobRow done = Job("r-1", "lift", 3);
  done.state = JobState::kSucceeded;
  done.result = OkResult(kJobA, "r-1");
  std::string packed = EncodeJobRow(done);
  auto back = DecodeJobRow(packed);
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(SameJob(*back, done));
  CHECK(ToJson(*back) == ToJson(done));
  // A row written by an older coordinator (the JSON form packed as MessagePack).
  auto old = DecodeJobRow(proto::JsonBody(ToJson(done)));
  REQUIRE_MESSAGE(old.ok(), old.status().ToString());
  CHECK(SameJob(*old, done));
  // Damaged rows are Corruption naming the field, never trusted or thrown.
  auto bad = [](nlohmann::json j) { return DecodeJobRow(proto::JsonBody(j)).status(); };
  nlohmann::json j = ToJson(done);
  j["v"] = 2;  // claims the packed form: the same keys and types are required
  CHECK(bad(j).ok());
  j["shard"] = 7;  // shard must be < shards (4)
  CHECK(bad(j).code() == Status::Code::kCorruption);
  CHECK(bad(j).message().find("job_row.shard") != std::string::npos);
  j = ToJson(done);
  j["v"] = 3;
  CHECK(bad(j).code() == Status::Code::kCorruption);
  j = ToJson(done);
  j["v"] = 2;
  j["result"]["outcome"] = "exploded";
  CHECK(bad(j).code() == Status::Code::kCorruption);
  j = ToJson(done);
  j["v"] = 2;
  j["result"] = 5;
  CHECK(bad(j).code() == Status::Code::kCorruption);
  j.erase("lost");
  CHECK(bad(j).code() == Status::Code::kCorruption);
  CHECK(DecodeJobRow("").status().code() == Status::Code::kCorruption);
  CHECK(DecodeJobRow(packed.substr(0, packed.size() / 2)).status().code() ==
        Status::Code::kCorruption);
  CHECK(DecodeJobRow("\x93\x01\x02\x03").status().code() == Status::Code::kCorruption);
}

TEST_CASE("LastSequence is the newest event's sequence, read from the last key") {
  TempDir dir;
  {
    auto s = Open(dir);
    CHECK(s->LastSequence().value() == 0);
    Append(*s, Interleaved());
    CHECK(s->LastSequence().value() == 9);
  }
  auto s = Open(dir);  // and after a reopen
  CHECK(s->LastSequence().value() == 9);
  auto b = s->Begin();
  REQUIRE(b.ok());
  CHECK(b->AppendEvent(Ev(9, "r-1")).code() == Status::Code::kAlreadyExists);
}

TEST_CASE("ReadEvents seeks: the newest few of a long log, per run and globally, and the edges") {
  TempDir dir;
  auto s = Open(dir);
  std::vector<Event> events;
  for (uint64_t i = 1; i <= 3000; ++i) events.push_back(Ev(i, i % 3 == 0 ? "r-1" : "r-10"));
  Append(*s, events);
  CHECK(Seqs(s->ReadEvents(2997, 10, "").value()) == std::vector<uint64_t>{2998, 2999, 3000});
  CHECK(Seqs(s->ReadEvents(2990, 10, "r-1").value()) ==
        std::vector<uint64_t>{2991, 2994, 2997, 3000});
  CHECK(Seqs(s->ReadEvents(2998, 10, "r-10").value()) == std::vector<uint64_t>{2999});
  CHECK(s->ReadEvents(3000, 10, "").value().empty());
  CHECK(s->ReadEvents(3000, 10, "r-1").value().empty());
  CHECK(s->ReadEvents(UINT64_MAX, 10, "").value().empty());
  CHECK(s->ReadEvents(UINT64_MAX, 10, "r-1").value().empty());
  CHECK(s->ReadEvents(0, 10, "r-2").value().empty());  // no such run: nothing, no scan past it
  CHECK(s->ReadEvents(0, 2, "r-1").value().size() == 2);
  CHECK(Seqs(s->ReadEvents(0, 1, "").value()) == std::vector<uint64_t>{1});
}

namespace recomp::coordinator {
namespace {

TEST_CASE("run store: ResolveRunId takes the exact id or a unique prefix") {
  auto dir =
      std::filesystem::temp_directory_path() / ("recomp-resolve-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto s = RunStore::Open(dir.string());
  REQUIRE(s.ok());
  RunStore& rs = **s;
  auto batch = rs.Begin();
  REQUIRE(batch.ok());
  for (const char* id : {"run-a", "run-ab", "run-b1", "zzz"}) {
    RunRow r;
    r.submission.run_id = id;
    r.status.run_id = id;
    REQUIRE(batch->PutRun(r).ok());
  }
  REQUIRE(batch->Commit().ok());
  CHECK(rs.ResolveRunId("run-a").value() == "run-a");  // exact, although run-ab shares it
  CHECK(rs.ResolveRunId("run-b").value() == "run-b1");
  CHECK(rs.ResolveRunId("z").value() == "zzz");
  auto amb = rs.ResolveRunId("run-");
  CHECK(amb.status().code() == Status::Code::kInvalidArgument);
  CHECK(amb.status().message().find("run-a run-ab run-b1") != std::string::npos);
  CHECK(rs.ResolveRunId("nope").status().code() == Status::Code::kNotFound);
  CHECK(rs.ResolveRunId("zzzz").status().code() == Status::Code::kNotFound);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace recomp::coordinator
