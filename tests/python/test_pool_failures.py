#!/usr/bin/env python3
"""Failure paths on a live pool: a failing stage (after its retries) fails the run and its log
is retrievable (`recomp logs`, and the log artifact); a stage over its timeout is killed and
fails the run; `recomp cancel` fails a running run and kills its job process."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402


class Failures(rt.PoolTestCase):
    def setUp(self):
        super().setUp()
        self.p = self.pool(workers=2).start()
        self.count = self.tmp.join("count.txt")
        self.mod = rt.write_module(self.tmp.join("mod"))
        self.prov = rt.write_provenance(self.tmp.join("mod"), [self.mod])

    def pipeline(self, name, stages):
        return rt.write_pipeline(self.tmp.join(name), name, stages,
                                 common_env=self.p.job_env(self.count))

    def job_alive(self, pid):
        return rt.proc_state(pid) not in (None, "Z", "X")

    def test_failing_stage_fails_run_with_retrievable_log(self):
        cfg = self.pipeline("failing", [
            rt.stage("a"),
            rt.stage("b", needs=["a"], shards=2, retries=1, env={"FAIL": "1", "FAIL_SHARD": "1"}),
            rt.stage("c", needs=["b"])])
        p, st = self.p.submit([self.mod], cfg, self.prov, check=False)
        self.assertNotEqual(p.returncode, 0, "submit --wait must fail for a failed run")
        self.assertEqual(st["state"], "failed", p.stdout + p.stderr)
        self.assertIn("'b'", st.get("reason", ""))
        rows = rt.read_count(self.count)
        b1 = [r for r in rows if r[0] == "start" and r[1:3] == ("b", 1)]
        self.assertEqual(len(b1), 2, "retries = 1 means two attempts: %r" % rows)
        self.assertFalse([r for r in rows if r[1] == "c"], "c must never run")

        evs = self.p.events(st["run_id"])
        self.assertEqual(evs[-1]["type"], "recomp.run.completed")
        self.assertEqual(evs[-1]["data"]["state"], "failed")
        failed = [e["data"] for e in evs if e["type"] == "recomp.run.stage.completed"
                  and e["data"]["outcome"] != "succeeded"]
        self.assertEqual(len(failed), 1, failed)
        f = failed[0]
        self.assertEqual((f["stage"], f["shard"], f["outcome"], f["exit_status"], f["exit_code"]),
                         ("b", 1, "failed", "exited:3", 3))
        self.assertEqual(f["attempt"], 2)
        self.assertTrue(f["log_ref"].startswith("artifact://"), f)
        self.assertIn("FAIL-MARKER-b", self.p.artifact_bytes(f["log_ref"]).decode())
        log = self.p.cli("logs", st["run_id"], "--stage", "b", "--shard", "1").stdout
        self.assertIn("FAIL-MARKER-b", log)
        self.assertIn("step: stage=b shard=1", log)
        # A failure is never cached: resubmitting executes the failing job again.
        p2, st2 = self.p.submit([self.mod], cfg, self.prov, check=False)
        self.assertEqual(st2["state"], "failed")
        again = [r for r in rt.read_count(self.count) if r[0] == "start" and r[1:3] == ("b", 1)]
        self.assertEqual(len(again), 4)
        self.p.stop()

    def test_timeout_kills_the_job_and_fails_the_run(self):
        cfg = self.pipeline("timeout", [rt.stage("slow", timeout_s=1, env={"HANG": "1"})])
        t0 = rt.time.monotonic()
        p, st = self.p.submit([self.mod], cfg, self.prov, check=False, timeout=60)
        elapsed = rt.time.monotonic() - t0
        self.assertEqual(st["state"], "failed", p.stdout + p.stderr)
        self.assertLess(elapsed, 30, "a 1 s timeout took %.1fs to fail the run" % elapsed)
        evs = self.p.events(st["run_id"])
        d = [e["data"] for e in evs if e["type"] == "recomp.run.stage.completed"]
        self.assertEqual([x["outcome"] for x in d], ["timed_out"], d)
        pids = [r[4] for r in rt.read_count(self.count) if r[0] == "start"]
        self.assertEqual(len(pids), 1)
        rt.wait_for(lambda: not self.job_alive(pids[0]), 10, "the timed-out job process to die")
        log = self.p.cli("logs", st["run_id"], "--stage", "slow", "--shard", "0").stdout
        self.assertIn("step: stage=slow", log)
        self.p.stop()

    def test_cancel_fails_the_run_and_kills_its_job(self):
        cfg = self.pipeline("cancel", [rt.stage("slow", timeout_s=600, env={"HANG": "1"}),
                                       rt.stage("after", needs=["slow"])])
        p, st = self.p.submit([self.mod], cfg, self.prov, wait=False)
        run_id = st["run_id"]
        started = rt.wait_for(lambda: [r for r in rt.read_count(self.count) if r[0] == "start"],
                              30, "the slow job to start")
        pid = started[0][4]
        self.assertTrue(self.job_alive(pid))
        self.p.cli("cancel", run_id)
        final = self.p.wait_state(run_id, timeout=15)
        self.assertEqual(final["state"], "failed")
        self.assertIn("cancel", final.get("reason", ""))
        rt.wait_for(lambda: not self.job_alive(pid), 15, "the cancelled job process to die")
        evs = self.p.events(run_id)
        self.assertEqual([e["type"] for e in evs],
                         ["recomp.run.requested", "recomp.run.started", "recomp.run.completed"])
        self.assertEqual(evs[-1]["data"]["reason"], "cancelled")
        # Cancelling a terminal run changes nothing and succeeds.
        self.p.cli("cancel", run_id)
        self.assertEqual(len(self.p.events(run_id)), 3)
        self.assertFalse([r for r in rt.read_count(self.count) if r[1] == "after"])
        # The pool is still usable: a worker is free again.
        cfg2 = self.pipeline("quick", [rt.stage("q")])
        p2, st2 = self.p.submit([self.mod], cfg2, self.prov)
        self.assertEqual(st2["state"], "succeeded")
        self.p.stop()


if __name__ == "__main__":
    rt.main()
