// Retention of the coordinator's state: status-aware windows (failed, succeeded; non-terminal
// never), a pruned run's row, jobs and events gone in one transaction while other runs keep
// every event, pruned_through, a sequence that never goes back (across a reopen), bounded
// passes, and action-cache entries whose blobs are gone swept while usable ones stay.
#include "coordinator/retention.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "base/clock.h"
#include "tests/store/store_test_util.h"

using namespace recomp;
using namespace recomp::coordinator;
using recomp::store::testing::TempDir;

namespace {

constexpr int64_t kDayMs = 86400000;
constexpr int64_t kNow = 1'800'000'000'000;  // "now" in Unix ms (2027)

std::string Ref(char c) {
  return "artifact://" + std::string(64, c);
}

// A run row in `state`, last changed `age_ms` before kNow.
RunRow Row(const std::string& id, RunState state, int64_t age_ms) {
  RunRow r;
  r.submission = {id,      ExecutionMode::kLocal, Ref('1'), Ref('2'), Ref('3'),
                  "alice", Priority::kStandard};
  r.status.run_id = id;
  r.status.state = state;
  r.status.started_at = FormatRfc3339(SysTime(std::chrono::milliseconds(kNow - age_ms - 1000)));
  r.status.updated_at = FormatRfc3339(SysTime(std::chrono::milliseconds(kNow - age_ms)));
  r.content_key_hex = std::string(64, 'c');
  return r;
}

Event Ev(uint64_t seq, const std::string& run) {
  Event e;
  e.sequence = seq;
  e.id = run + "/" + std::to_string(seq);
  e.source = "recomp/coordinator";
  e.type = EventType::kStageCompleted;
  e.subject = run;
  e.time = "2027-01-15T08:00:00.000Z";
  e.data = {{"n", seq}};
  return e;
}

JobRow Job(const std::string& run, uint32_t shard, const std::string& job_id) {
  JobRow j;
  j.run_id = run;
  j.stage = "lift";
  j.shard = shard;
  j.shards = 2;
  j.job_id = job_id;
  j.state = JobState::kSucceeded;
  return j;
}

// Runs old-fail (failed 100 d ago), new-fail (failed 10 d), old-ok (succeeded 40 d; jobs 4, 5),
// new-ok (succeeded 1 d), live (running, 400 d): events interleaved, 2 jobs each; the newest
// event (9) is old-ok's.
std::unique_ptr<RunStore> Fill(const TempDir& dir) {
  auto opened = RunStore::Open(dir / "state");
  REQUIRE(opened.ok());
  auto s = std::move(opened).value();
  auto b = s->Begin();
  REQUIRE(b.ok());
  const std::vector<RunRow> rows = {Row("old-fail", RunState::kFailed, 100 * kDayMs),
                                    Row("new-fail", RunState::kFailed, 10 * kDayMs),
                                    Row("old-ok", RunState::kSucceeded, 40 * kDayMs),
                                    Row("new-ok", RunState::kSucceeded, kDayMs),
                                    Row("live", RunState::kRunning, 400 * kDayMs)};
  const char* order[] = {"old-fail", "live", "new-fail", "old-ok", "new-ok",
                         "old-fail", "live", "new-ok",   "old-ok"};
  for (uint64_t i = 0; i < 9; ++i) REQUIRE(b->AppendEvent(Ev(i + 1, order[i])).ok());
  char c = '0';  // job IDs 000…, 111…, …: hex, as the cache's decoder wants
  for (const RunRow& r : rows) {
    REQUIRE(b->PutRun(r).ok());
    for (uint32_t k = 0; k < 2; ++k)
      REQUIRE(b->PutJob(Job(r.submission.run_id, k, std::string(64, c++))).ok());
  }
  REQUIRE(b->Commit().ok());
  return s;
}

RetentionOptions Windows() {
  RetentionOptions o;
  o.failed = std::chrono::days(90);
  o.succeeded = std::chrono::days(30);
  o.grace = std::chrono::milliseconds(0);
  return o;
}

}  // namespace

TEST_CASE("retention: windows by state; a pruned run goes whole; others keep every event") {
  TempDir dir;
  auto s = Fill(dir);
  auto store = store::ArtifactStore::Open(dir / "store");
  REQUIRE(store.ok());
  Retention r(s.get(), store->get(), Windows());
  auto pass = r.RunOnce(kNow);
  REQUIRE_MESSAGE(pass.ok(), pass.status().ToString());
  CHECK(pass->runs == 2);  // old-fail (past 90 d) and old-ok (past 30 d)
  CHECK(pass->jobs == 4);
  CHECK(pass->events == 4);
  CHECK_FALSE(pass->more);
  for (const char* gone : {"old-fail", "old-ok"}) {
    CHECK_FALSE(s->GetRun(gone)->has_value());
    CHECK(s->GetJobs(gone)->empty());
    CHECK(s->ReadEvents(0, 100, gone)->empty());
  }
  for (const char* kept : {"new-fail", "new-ok", "live"}) {
    CHECK(s->GetRun(kept)->has_value());
    CHECK(s->GetJobs(kept)->size() == 2);
  }
  auto all = s->ReadEvents(0, 100, "");
  REQUIRE(all.ok());
  std::vector<uint64_t> seqs;
  for (const Event& e : *all) seqs.push_back(e.sequence);
  CHECK(seqs == std::vector<uint64_t>{2, 3, 5, 7, 8});  // live, new-fail, new-ok, live, new-ok
  CHECK(s->pruned_through() == 9);
  // The newest event was pruned: the sequence still continues after it.
  CHECK(*s->LastSequence() == 9);
  {
    auto b = s->Begin();
    REQUIRE(b.ok());
    CHECK(b->AppendEvent(Ev(9, "new-ok")).code() == Status::Code::kAlreadyExists);
  }  // aborted: ends the write transaction
  // A second pass finds nothing; a non-terminal run is never due, however old.
  CHECK(r.RunOnce(kNow)->runs == 0);
  CHECK(r.RunOnce(kNow + 1000 * kDayMs)->runs == 2);  // new-fail, new-ok; never live
  CHECK(s->GetRun("live")->has_value());
}

TEST_CASE("retention: pruned_through and the head survive a reopen") {
  TempDir dir;
  {
    auto s = Fill(dir);
    auto store = store::ArtifactStore::Open(dir / "store");
    REQUIRE(store.ok());
    Retention r(s.get(), store->get(), Windows());
    REQUIRE(r.RunOnce(kNow).ok());
  }
  auto s = RunStore::Open(dir / "state");
  REQUIRE(s.ok());
  CHECK((*s)->pruned_through() == 9);
  CHECK(*(*s)->LastSequence() == 9);
  // The finished index survived too: the next window prunes the rest that is due.
  auto due = (*s)->RunsFinishedBefore(kNow, kNow, 10);
  REQUIRE(due.ok());
  CHECK(due->size() == 2);
}

TEST_CASE("retention: passes are bounded and say when more is due") {
  TempDir dir;
  auto s = Fill(dir);
  auto store = store::ArtifactStore::Open(dir / "store");
  REQUIRE(store.ok());
  RetentionOptions o = Windows();
  o.failed = o.succeeded = std::chrono::seconds(0);
  o.runs_per_pass = 3;
  o.interval_ms = 60000;
  Retention r(s.get(), store->get(), o);
  auto first = r.MaybeRun(kNow);
  REQUIRE(first.ok());
  REQUIRE(first->has_value());
  CHECK((*first)->runs == 3);
  CHECK((*first)->more);
  auto second = r.MaybeRun(kNow);  // due at once: more was left
  REQUIRE(second->has_value());
  CHECK((*second)->runs == 1);
  CHECK_FALSE((*second)->more);
  CHECK_FALSE(r.MaybeRun(kNow + 1)->has_value());  // the interval now
  CHECK(s->GetRun("live")->has_value());
}

TEST_CASE("retention: cache entries whose blobs are gone are swept, usable ones stay") {
  TempDir dir;
  auto s = Fill(dir);
  auto opened = store::ArtifactStore::Open(dir / "store");
  REQUIRE(opened.ok());
  store::ArtifactStore& st = **opened;
  auto out = st.PutBytes("output bytes");
  auto log = st.PutBytes("log bytes");
  REQUIRE(out.ok());
  REQUIRE(log.ok());
  auto result = [&](char id, const std::string& output_ref) {
    StageResult r;
    r.job_id = std::string(64, id);
    r.run_id = "new-ok";
    r.stage = "lift";
    r.worker = "w";
    r.outcome = JobOutcome::kSucceeded;
    r.outputs = {{"out/a.c", output_ref}};
    r.log_ref = log->ref;
    return r;
  };
  {
    auto b = s->Begin();
    REQUIRE(b.ok());
    REQUIRE(b->PutCache(result('1', out->ref)).ok());
    REQUIRE(b->PutCache(result('2', Ref('9'))).ok());  // its output is not in the store
    REQUIRE(b->PutCache(result('3', out->ref)).ok());
    REQUIRE(b->Commit().ok());
  }
  std::string cursor;
  auto keep = [&](const StageResult& r) { return AllBlobsPresent(&st, r); };
  auto removed = s->SweepCache(&cursor, 2, keep);  // bounded: '1' and '2', cursor at '3'
  REQUIRE(removed.ok());
  CHECK(*removed == 1);
  CHECK(cursor == std::string(64, '3'));
  CHECK(*s->SweepCache(&cursor, 2, keep) == 0);
  CHECK(cursor.empty());  // wrapped: the next sweep starts over
  CHECK(s->GetCache(std::string(64, '1'))->has_value());
  CHECK_FALSE(s->GetCache(std::string(64, '2'))->has_value());
  CHECK(s->GetCache(std::string(64, '3'))->has_value());
}

TEST_CASE("retention: a pruned run's own blob-less cache entries go; others stay") {
  TempDir dir;
  auto s = Fill(dir);
  auto store = store::ArtifactStore::Open(dir / "store");
  REQUIRE(store.ok());
  auto entry = [](char job, const std::string& run) {
    StageResult r;
    r.job_id = std::string(64, job);
    r.run_id = run;
    r.stage = "lift";
    r.worker = "w";
    r.outcome = JobOutcome::kSucceeded;
    return r;  // no outputs, no log: only its producer's pruning removes it
  };
  {
    auto b = s->Begin();
    REQUIRE(b.ok());
    REQUIRE(b->PutCache(entry('4', "old-ok")).ok());  // old-ok's job 4, produced by old-ok
    REQUIRE(b->PutCache(entry('5', "new-ok")).ok());  // old-ok's job 5, produced by new-ok
    REQUIRE(b->PutCache(entry('6', "new-ok")).ok());  // a kept run's
    StageResult logged = entry('0', "old-fail");      // old-fail's job 0, its log blob stored
    auto log = (*store)->PutBytes("a job's log");
    REQUIRE(log.ok());
    logged.log_ref = log->ref;
    REQUIRE(b->PutCache(logged).ok());
    REQUIRE(b->Commit().ok());
  }
  Retention r(s.get(), store->get(), Windows());
  auto pass = r.RunOnce(kNow);
  REQUIRE(pass.ok());
  CHECK(pass->runs == 2);
  CHECK(pass->cache_entries == 1);                        // '4' only
  CHECK(s->GetCache(std::string(64, '0'))->has_value());  // blobs: kept until gc takes them
  CHECK_FALSE(s->GetCache(std::string(64, '4'))->has_value());
  CHECK(s->GetCache(std::string(64, '5'))->has_value());
  CHECK(s->GetCache(std::string(64, '6'))->has_value());
}

TEST_CASE("retention: a pass stops at its row budget, never inside a run") {
  TempDir dir;
  auto s = Fill(dir);
  auto due = s->RunsFinishedBefore(kNow, kNow, 10);  // the four terminal runs
  REQUIRE(due.ok());
  REQUIRE(due->size() == 4);
  // Failed runs first: old-fail (2 jobs, 2 events), new-fail (2 jobs, 1 event).
  auto pruned = s->PruneRuns(*due, 5);
  REQUIRE(pruned.ok());
  CHECK(pruned->considered == 2);  // 4 rows < 5: a second run, whole; then 7 >= 5: stop
  CHECK(pruned->runs == 2);
  CHECK(pruned->jobs == 4);
  CHECK(pruned->events == 3);
  CHECK(s->RunsFinishedBefore(kNow, kNow, 10)->size() == 2);
}

TEST_CASE("retention: no run goes sooner than the grace after it finished") {
  TempDir dir;
  auto s = Fill(dir);  // new-ok finished 1 day before kNow
  auto store = store::ArtifactStore::Open(dir / "store");
  REQUIRE(store.ok());
  RetentionOptions o;
  o.failed = o.succeeded = std::chrono::seconds(0);
  o.grace = std::chrono::hours(36);
  Retention r(s.get(), store->get(), o);
  REQUIRE(r.RunOnce(kNow).ok());
  CHECK(s->GetRun("new-ok")->has_value());          // 1 day < 36 h
  CHECK_FALSE(s->GetRun("new-fail")->has_value());  // 10 days
}
