#!/usr/bin/env python3
"""Retention of the coordinator's state (docs/coordinator-storage.md "Retention"): with a
0-day window for succeeded runs and 90 days for failed ones, a succeeded run disappears whole
(status not found, no event of it in any replay) while the failed run and a running one stay
complete (`recomp audit` passes); replay from 0 says `pruned_through`; after the coordinator
is killed and restarted, new events continue after the pruned sequences."""
import json
import os
import signal
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402


class Retention(rt.PoolTestCase):
    def test_runs_past_their_window_go_whole_and_the_rest_stays_complete(self):
        pool = self.pool(workers=2, config_overrides={
            "coordinator": {"retention_interval_ms": 200, "retention_grace_ms": 0},
            "store.retention": {"succeeded_days": 0, "failed_days": 90},
        }).start()
        count = self.tmp.join("count.txt")
        mod = rt.write_module(self.tmp.join("mod"))
        env = pool.job_env(count)
        ok = rt.write_pipeline(self.tmp.join("ok"), "ok", [rt.stage("a", shards=3),
                                                           rt.stage("b", needs=["a"])],
                               common_env=env)
        bad = rt.write_pipeline(self.tmp.join("bad"), "bad", [rt.stage("x", env={"FAIL": "1"})],
                                common_env=env)
        hold = rt.write_pipeline(self.tmp.join("hold"), "hold", [rt.stage("h", env={"HANG": "1"})],
                                 common_env=env)
        p, rec = pool.submit([mod], bad, run_id="kept-failed", check=False)
        self.assertEqual(rec["state"], "failed", p.stderr)
        pool.submit([mod], hold, run_id="kept-running", wait=False)
        pool.wait_state("kept-running", states=("running",))
        p, rec = pool.submit([mod], ok, run_id="gone-ok")
        self.assertEqual(rec["state"], "succeeded", p.stderr)

        def gone():
            s = pool.cli("status", "gone-ok", check=False)
            return s.returncode == 1 and "no run gone-ok" in s.stderr
        rt.wait_for(gone, 30, "the succeeded run pruned")
        self.assertIn("no run", pool.cli("show", "gone-ok", check=False).stderr)
        # Kept runs: complete logs (audit replays each from its events).
        for run_id in ("kept-failed", "kept-running"):
            self.assertEqual(pool.cli("audit", run_id).returncode, 0)
        self.assertEqual(pool.status("kept-running")["state"], "running")
        # Replay from 0: no event of the pruned run, the field that says the range has holes.
        c = rt.Client(pool.endpoints()["replay"])
        reply = c.ok("REPLAY", {"from": 0, "limit": 1000})
        pruned = reply.get("pruned_through", 0)
        self.assertGreater(pruned, 0, reply)
        subjects = {e["subject"] for e in rt.replay_all(pool.endpoints()["replay"])}
        self.assertNotIn("gone-ok", subjects)
        self.assertIn("kept-failed", subjects)
        self.assertNotIn("pruned_through",
                         c.ok("REPLAY", {"from": pruned, "limit": 10}))  # above it: no holes
        ev = pool.cli("events", "--json")
        self.assertIn("events up to sequence %d are only those of runs still kept" % pruned,
                      ev.stderr)
        for line in ev.stdout.splitlines():
            json.loads(line)  # stdout stays JSON lines
        with urllib.request.urlopen(pool.endpoints()["metrics"], timeout=10) as r:
            text = r.read().decode()
        self.assertRegex(text, r'recomp_retention_removed_total\{what="runs"\} [1-9]')
        # The coordinator killed and restarted by `up`: new events continue after the pruned.
        old = pool.coordinator_pids()
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        rt.wait_for(lambda: not set(old) & set(pool.coordinator_pids()), 30, "the kill")
        pool.wait_ready(timeout=60)
        p, rec = pool.submit([mod], bad, run_id="after-restart", check=False)
        self.assertEqual(rec["state"], "failed", p.stderr)
        seqs = [e["sequence"] for e in rt.replay_all(pool.endpoints()["replay"],
                                                     run_id="after-restart")]
        self.assertTrue(seqs and min(seqs) > pruned, (seqs, pruned))
        pool.cli("cancel", "kept-running")


if __name__ == "__main__":
    rt.main()
