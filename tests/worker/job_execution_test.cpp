// JobExecution: every way an attempt ends, what is stored for it (outputs and log in one commit
// on success; the log, with the reason appended, on every failure; nothing for an orphan), and
// that its sandbox is gone once the execution is.
#include "worker/job_execution.h"

#include <doctest/doctest.h>

#include <thread>

#include "base/blake2b.h"
#include "tests/worker/worker_test_util.h"

namespace recomp::worker {
namespace {

using testing::FakeSource;
using testing::MemorySink;
using testing::NoSandboxLeft;
using testing::TempDir;

struct Harness {
  TempDir root{"job-execution"};
  FakeSource source;
  MemorySink sink;
  ExecutionContext ctx;
  std::unique_ptr<JobControl> control = JobControl::Create().value();
  Harness() {
    ctx.work_root = root / "work";
    ctx.worker_id = "w1";
    ctx.kill_grace = std::chrono::milliseconds(200);
    ctx.source = &source;
    ctx.sink = &sink;
  }
  StageJob Job(const std::string& script, std::vector<std::string> outputs = {}) {
    StageJob j;
    j.job_id = std::string(64, 'b');
    j.run_id = "r1";
    j.stage = "lift";
    j.attempt = 2;
    j.argv = {"/bin/sh", "-c", script};
    j.env = {{"PATH", "/usr/bin:/bin"}};
    j.outputs = std::move(outputs);
    j.timeout_s = 30;
    return j;
  }
  StageResult Run(const StageJob& j) { return JobExecution(j, ctx, *control).Run(); }
  std::string Log(const StageResult& r) { return r.log_ref.empty() ? "" : sink.Bytes(r.log_ref); }
};

}  // namespace

TEST_CASE("a clean exit stores outputs and log in one commit and names the attempt") {
  Harness h;
  StageJob j = h.Job("echo hello; mkdir -p out && echo c > out/a.c", {"out/"});
  StageResult r = h.Run(j);
  CHECK(r.outcome == JobOutcome::kSucceeded);
  CHECK(r.exit_code == 0);
  CHECK(r.job_id == j.job_id);
  CHECK(r.attempt == 2);
  CHECK(r.worker == "w1");
  REQUIRE(r.outputs.size() == 1);
  CHECK(r.outputs[0].path == "out/");  // a directory output is named by its tree
  using Files = std::vector<std::pair<std::string, std::string>>;
  CHECK(h.sink.TreeFiles(r.outputs[0].ref) == Files{{"a.c", "c\n"}});
  CHECK(h.Log(r) == "hello\n");
  CHECK(h.sink.commits.size() == 1);
  CHECK(h.sink.producers[0] == "worker:w1");
  CHECK(r.duration_ms >= 1);
  CHECK(NoSandboxLeft(h.ctx.work_root));
}

TEST_CASE("failures store the log with the reason appended") {
  Harness h;
  StageResult exit3 = h.Run(h.Job("echo oops; exit 3"));
  CHECK(exit3.outcome == JobOutcome::kFailed);
  CHECK(exit3.exit_code == 3);
  CHECK(h.Log(exit3).find("oops") == 0);
  CHECK(h.Log(exit3).find("[recomp worker] " + exit3.message) != std::string::npos);

  StageResult missing = h.Run(h.Job("true", {"never.c"}));
  CHECK(missing.outcome == JobOutcome::kFailed);
  CHECK(missing.message.rfind("outputs: ", 0) == 0);
  CHECK(h.Log(missing).find(missing.message) != std::string::npos);

  StageJob slow = h.Job("sleep 30");
  slow.timeout_s = 1;
  StageResult timed = h.Run(slow);
  CHECK(timed.outcome == JobOutcome::kTimedOut);
  CHECK(timed.message.rfind("timed out after 1 s", 0) == 0);
  CHECK(NoSandboxLeft(h.ctx.work_root));
}

TEST_CASE("input problems are the worker's errors, and the job never runs") {
  Harness h;
  StageJob outside = h.Job("touch ran");
  outside.inputs = {{"rom.z64", Blake2b256::Of("x").Ref()}};
  StageResult r1 = h.Run(outside);
  CHECK(r1.outcome == JobOutcome::kError);
  CHECK(r1.message == "input path rom.z64 is not under in/");
  CHECK(h.Log(r1).find(r1.message) != std::string::npos);

  StageJob absent = h.Job("touch ran");
  absent.inputs = {{"in/rom.z64", Blake2b256::Of("x").Ref()}};
  StageResult r2 = h.Run(absent);
  CHECK(r2.outcome == JobOutcome::kError);
  CHECK(r2.message.rfind("inputs unavailable: ", 0) == 0);

  h.source.blobs[Blake2b256::Of("x")] = "x";
  StageJob present = h.Job("cat in/rom.z64", {});
  present.inputs = absent.inputs;
  StageResult r3 = h.Run(present);
  CHECK(r3.outcome == JobOutcome::kSucceeded);
  CHECK(h.Log(r3) == "x");
}

TEST_CASE("cancel before start, cancel while running, and an orphan that stores nothing") {
  Harness h;
  h.control->Cancel(false);
  StageResult before = h.Run(h.Job("touch ran"));
  CHECK(before.outcome == JobOutcome::kCancelled);
  CHECK(before.message == "cancelled before start");

  Harness running;
  std::thread canceller([&] {
    // Cancels once the job has written its marker (bounded wait: at most 10 s).
    for (int i = 0; i < 1000; ++i) {
      if (std::filesystem::exists(running.root / "started")) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    running.control->Cancel(false);
  });
  StageResult killed =
      running.Run(running.Job("touch " + (running.root / "started") + "; sleep 30"));
  canceller.join();
  CHECK(killed.outcome == JobOutcome::kCancelled);
  CHECK(!killed.log_ref.empty());

  Harness orphan;
  orphan.control->Cancel(true);
  StageResult r = orphan.Run(orphan.Job("echo x > out.c", {"out.c"}));
  CHECK(r.outcome == JobOutcome::kCancelled);
  CHECK(orphan.sink.commits.empty());
  CHECK(NoSandboxLeft(orphan.ctx.work_root));
}

TEST_CASE("a sandbox that cannot be created is reported, with nothing stored") {
  Harness h;
  h.ctx.work_root = "/proc/self/no-such-dir/work";
  StageResult r = h.Run(h.Job("true"));
  CHECK(r.outcome == JobOutcome::kError);
  CHECK(r.message.rfind("worker could not create the job's sandbox: ", 0) == 0);
  CHECK(h.sink.commits.empty());
}

TEST_CASE("a result over kMaxResultBytes fails the job naming the cap; a tree holds any count") {
  Harness h;
  // 8,000 declared files with paths of ~100 bytes: a result of about 1.4 MB.
  const std::string dir = "o/" + std::string(90, 'd');
  std::string script = "mkdir -p " + dir + " && cd " + dir +
                       " && i=0; while [ $i -lt 8000 ]; do : > f$i; i=$((i+1)); done";
  std::vector<std::string> outputs;
  for (int i = 0; i < 8000; ++i) outputs.push_back(dir + "/f" + std::to_string(i));
  StageResult many = h.Run(h.Job(script, outputs));
  CHECK(many.outcome == JobOutcome::kFailed);
  CHECK(many.message.find("-byte limit of a result") != std::string::npos);
  CHECK(many.outputs.empty());
  // The same files as one directory output: one tree ref.
  StageResult tree = h.Run(h.Job(script, {"o/"}));
  CHECK_MESSAGE(tree.outcome == JobOutcome::kSucceeded, tree.message);
  REQUIRE(tree.outputs.size() == 1);
  CHECK(EncodeStageResult(tree).size() < 4096);
}

}  // namespace recomp::worker
