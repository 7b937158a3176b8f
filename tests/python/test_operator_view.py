#!/usr/bin/env python3
"""The operator's view of a run, against a real pool: `recomp show` (text and --json),
`status`'s current_stage while a later stage runs, `submit --wait` printing the failing job's
log tail and the `recomp logs` command, `recomp rerun [--from-stage S]` (a new run; from S on
nothing served from the action cache), and the extension events (recomp.job.started,
recomp.job.retry_scheduled, recomp.worker.joined) with their documented fields."""
import json
import os
import queue
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402

NOISY_PY = r'''
import os, sys
for i in range(1, 31):
    print("noisy line %02d" % i, flush=True)
print("noisy: giving up", file=sys.stderr)
sys.exit(4)
'''


# Prints a line, then waits (bounded) for the test to create $RELEASE before finishing.
WAITER_PY = r'''
import os, sys, time
print("hello live", flush=True)
deadline = time.monotonic() + 60
while not os.path.exists(os.environ["RELEASE"]) and time.monotonic() < deadline:
    time.sleep(0.05)
print("bye", flush=True)
'''


class OperatorView(rt.PoolTestCase):
    def setUp(self):
        super().setUp()
        self.p = self.pool(workers=2).start()
        self.count = self.tmp.join("count.txt")
        self.mod = rt.write_module(self.tmp.join("mod"))
        self.prov = rt.write_provenance(self.tmp.join("mod"), [self.mod])

    def pipeline(self, name, stages, tools=None):
        return rt.write_pipeline(self.tmp.join(name), name, stages, tools=tools,
                                 common_env=self.p.job_env(self.count))

    def stage_events(self, run_id):
        return [e for e in self.p.events(run_id) if e["type"] == "recomp.run.stage.completed"]

    def test_show_rerun_and_extension_events(self):
        cfg = self.pipeline("fan", rt.fanout_stages())
        p, st = self.p.submit([self.mod], cfg, self.prov)
        self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr)
        run_id = st["run_id"]

        view = json.loads(self.p.cli("show", run_id, "--json").stdout)
        self.assertEqual(view["run"]["run_id"], run_id)
        self.assertEqual((view["jobs"], view["jobs_done"]), (5, 5))
        self.assertEqual([s["name"] for s in view["stages"]], ["a", "b", "c"])
        b = view["stages"][1]
        self.assertEqual((b["state"], b["shards"], b["succeeded"], b["failed"], b["running"],
                          b["cached"], b["attempts"]), ("succeeded", 3, 3, 0, 0, 0, 3))
        self.assertTrue(b["workers"])
        d = b["duration_ms"]
        self.assertLessEqual(d["min"], d["median"])
        self.assertLessEqual(d["median"], d["max"])
        self.assertEqual(sorted((o["shard"], o["path"]) for o in b["outputs"]),
                         [(0, "out/"), (1, "out/"), (2, "out/")])
        text = self.p.cli("show", run_id).stdout
        self.assertIn("STAGE", text)
        # `workers` prints when each was last heard from as a time, not a cut-down number.
        self.assertRegex(self.p.cli("workers").stdout,
                         r"last_seen=%s-\d\d-\d\dT[^ ]+Z \(\d+\.\d s ago\)" %
                         time.strftime("%Y", time.gmtime()))
        self.assertIn(run_id + "  succeeded  5/5 jobs done", text)

        # Extension events: every executed job started once on the worker that ran it.
        evs = self.p.events(run_id, extensions=True)
        starts = [e for e in evs if e["type"] == "recomp.job.started"]
        self.assertEqual(len(starts), 5)
        done = {(e["data"]["stage"], e["data"]["shard"]): e["data"] for e in self.stage_events(run_id)}
        for s in starts:
            key = (s["data"]["stage"], s["data"]["shard"])
            self.assertEqual(s["data"]["worker"], done[key]["worker"])
            self.assertEqual(s["data"]["attempt"], done[key]["attempt"])
        joined = [e for e in self.p.events(extensions=True) if e["type"] == "recomp.worker.joined"]
        self.assertEqual(len(joined), 2)

        # rerun: a new run, everything from the cache; --from-stage b: a cached, b and c run.
        plain = self.p.cli("rerun", run_id).stdout.strip()
        self.assertNotEqual(plain, run_id)
        self.assertEqual(self.p.wait_state(plain)["state"], "succeeded")
        self.assertTrue(all(e["data"]["cached"] for e in self.stage_events(plain)))
        again = self.p.cli("rerun", run_id, "--from-stage", "b", "--wait", "--json")
        rec = json.loads(again.stdout)  # --json: one document, no bare run id first
        self.assertEqual(rec["state"], "succeeded")
        cached = {(e["data"]["stage"], e["data"]["shard"]): e["data"]["cached"]
                  for e in self.stage_events(rec["run_id"])}
        self.assertEqual(cached, {("a", 0): True, ("b", 0): False, ("b", 1): False,
                                  ("b", 2): False, ("c", 0): False})
        req = self.p.events(rec["run_id"])[0]["data"]
        self.assertEqual((req["rerun_of"], req["no_cache_stages"]), (run_id, ["b", "c"]))
        bad = self.p.cli("rerun", run_id, "--from-stage", "zz", check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("no stage 'zz'", bad.stderr)
        self.assertIn("stages: a, b, c", bad.stderr)

    def test_failure_tail_retry_event_and_current_stage(self):
        # A stage that fails once and is retried: recomp.job.retry_scheduled says so.
        cfg = self.pipeline("retry", [rt.stage("r", retries=1, env={"FAIL_ATTEMPTS": "1"})])
        p, st = self.p.submit([self.mod], cfg, self.prov)
        self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr)
        evs = self.p.events(st["run_id"], extensions=True)
        retries = [e for e in evs if e["type"] == "recomp.job.retry_scheduled"]
        self.assertEqual(len(retries), 1)
        r = retries[0]["data"]
        self.assertEqual((r["stage"], r["shard"], r["attempt"], r["next_attempt"], r["outcome"],
                          r["exit_code"]), ("r", 0, 1, 2, "failed", 3))
        self.assertTrue(r["log_ref"].startswith("artifact://"))
        self.assertTrue(r["not_before"].endswith("Z"))
        types = [e["type"] for e in evs]
        self.assertLess(types.index("recomp.job.retry_scheduled"),
                        types.index("recomp.run.stage.completed"))
        show = json.loads(self.p.cli("show", st["run_id"], "--json").stdout)
        self.assertEqual(show["stages"][0]["attempts"], 2)

        # A job that fails for good: --wait prints its last 20 log lines and the logs command.
        cfg = self.pipeline("noisy", [rt.stage("noisy", command=[rt.PYTHON, "in/tools/noisy.py"],
                                               outputs=())], tools={"noisy.py": NOISY_PY})
        p, st = self.p.submit([self.mod], cfg, self.prov, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(st["state"], "failed")
        self.assertIn("noisy line 30", p.stderr)
        # The last 20 lines: 14..30, the stderr line, and the worker's closing note.
        self.assertIn("noisy line 14", p.stderr)
        self.assertNotIn("noisy line 13", p.stderr)
        self.assertIn("exited with code 4", p.stderr)
        cmd = "recomp logs %s --stage noisy --shard 0" % st["run_id"]
        self.assertIn(cmd, p.stderr)
        log = self.p.cli(*cmd.split()[1:]).stdout
        self.assertIn("noisy line 01", log)
        text = self.p.cli("show", st["run_id"]).stdout
        self.assertIn("noisy/0 FAILED (exit 4", text)
        self.assertIn(cmd, text)
        self.assertIn("reason: stage 'noisy' shard 0 failed", text)

        # While b's jobs run, current_stage is b (not a, the last completed stage).
        cfg = self.pipeline("hang", rt.fanout_stages(salt="hang", env_b={"HANG": "1"}))
        _, st = self.p.submit([self.mod], cfg, self.prov, wait=False)
        run_id = st["run_id"]
        rt.wait_for(lambda: self.p.status(run_id)["current_stage"] == "b", 60,
                    "current_stage to be b while b runs")
        def b_running_on_workers():
            b = json.loads(self.p.cli("show", run_id, "--json").stdout)["stages"][1]
            return (b["state"] == "running" and b["running"] >= 1 and
                    all(j["worker"] for j in b["running_jobs"]))
        rt.wait_for(b_running_on_workers, 60, "show to list b's running jobs and their workers")
        self.assertIn("b/", self.p.cli("show", run_id).stdout)
        self.p.cli("cancel", run_id)


    def test_logs_follow_shows_a_running_job_live(self):
        release = self.tmp.join("release")
        cfg = self.pipeline("live", [rt.stage("w", command=[rt.PYTHON, "in/tools/waiter.py"],
                                              outputs=(), env={"RELEASE": release})],
                            tools={"waiter.py": WAITER_PY})
        _, st = self.p.submit([self.mod], cfg, self.prov, wait=False)
        run_id = st["run_id"]
        follow = subprocess.Popen([rt.RECOMP_BIN, "logs", run_id, "--stage", "w", "--follow",
                                   "--data", self.p.data], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            lines = queue.Queue()
            threading.Thread(target=lambda: [lines.put(l) for l in follow.stdout],
                             daemon=True).start()
            first = lines.get(timeout=60)
            self.assertEqual(first, "hello live\n")
            # The job is still waiting for the release file: the line came live.
            self.assertFalse(os.path.exists(release))
            self.assertEqual(self.p.status(run_id)["state"], "running")
            with open(release, "w"):
                pass
            self.assertEqual(follow.wait(timeout=60), 0, follow.stderr.read())
            rest = []
            while not lines.empty():
                rest.append(lines.get())
            self.assertIn("bye\n", rest)  # the end of its log, once it ended
            self.assertNotIn("hello live\n", rest)  # printed once
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.wait()
        self.assertEqual(self.p.wait_state(run_id)["state"], "succeeded")
        # Unknown stage or shard: an error naming what the run has.
        bad = self.p.cli("logs", run_id, "--stage", "nope", "--follow", check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("has no stage 'nope' (stages: w)", bad.stderr)
        bad = self.p.cli("logs", run_id, "--stage", "w", "--shard", "3", "--follow", check=False)
        self.assertIn("has no shard 3 (shards 0..0)", bad.stderr)
        bad = self.p.cli("logs", run_id, "--stage", "nope", check=False)
        self.assertIn("has no stage 'nope'", bad.stderr)


if __name__ == "__main__":
    rt.main()
