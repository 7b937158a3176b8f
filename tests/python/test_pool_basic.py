#!/usr/bin/env python3
"""recomp up + the client CLI on a 3-stage fan-out pipeline (a -> b x3 -> c): the run
succeeds with the right inputs in each job; status/runs/workers/events/logs/audit/artifact
work; a resubmission of the same manifests executes nothing (counted through a side effect of
the command outside the sandbox); SIGTERM stops the pool with no orphan."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402


def json_records(text):
    """A JSON document (object or array) or JSON lines -> list of objects."""
    text = text.strip()
    try:
        v = json.loads(text)
        return v if isinstance(v, list) else [v]
    except ValueError:
        return [json.loads(l) for l in text.splitlines() if l.strip()]


class Basic(rt.PoolTestCase):
    def test_fanout_resubmit_cli_and_clean_stop(self):
        pool = self.pool(workers=2).start()
        ep = pool.endpoints()
        for k in ("api", "events", "replay", "workers"):
            self.assertTrue(ep[k].startswith("tcp://"), ep)
        printer = pool.up or pool.parts[0]
        rt.wait_for(lambda: ep["api"] in printer.output(), 10, "recomp up to print its endpoints")
        rt.wait_for(lambda: len(pool.worker_pids()) == 2, 10, "two worker processes")

        count = self.tmp.join("count.txt")
        cfg = rt.write_pipeline(self.tmp.join("pipe"), "fanout", rt.fanout_stages(),
                                common_env=pool.job_env(count))
        mod = rt.write_module(self.tmp.join("mod"))
        prov = rt.write_provenance(self.tmp.join("mod"), [mod])

        p, st = pool.submit([mod], cfg, prov)
        self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr)
        run_id = st["run_id"]
        done = sorted((r[1], r[2]) for r in rt.read_count(count) if r[0] == "done")
        self.assertEqual(done, [("a", 0), ("b", 0), ("b", 1), ("b", 2), ("c", 0)])
        executions = len(rt.read_count(count))

        all_events = pool.events(run_id, extensions=True)
        events = [e for e in all_events if e["type"].startswith("recomp.run.")]
        types = [e["type"] for e in events]
        self.assertEqual(types[:2], ["recomp.run.requested", "recomp.run.started"])
        self.assertEqual(types[2:-1], ["recomp.run.stage.completed"] * 5)
        self.assertEqual(types[-1], "recomp.run.completed")
        self.assertEqual(events[-1]["data"]["state"], "succeeded")
        outs = rt.stage_outputs(events)
        self.assertEqual(sorted(outs), [("a", 0), ("b", 0), ("b", 1), ("b", 2), ("c", 0)])
        # Fan-out and fan-in: every b shard saw a's output, c saw every b shard's output.
        # Each stage's out/ is one tree holding <stage>-<shard>.txt.
        self.assertEqual([o[0] for o in outs[("c", 0)]], ["out/"])
        c_out = pool.tree_files(outs[("c", 0)][0][1])["c-0.txt"].decode()
        for shard in range(3):
            self.assertIn("in/b/%d/out/b-%d.txt" % (shard, shard), c_out)
        self.assertIn("in/module/input.bin", c_out)
        b1 = pool.tree_files(outs[("b", 1)][0][1])["b-1.txt"].decode()
        self.assertIn("in/a/0/out/a-0.txt", b1)
        self.assertTrue(b1.startswith("b 1 "), b1)
        for ref in (o[1] for v in outs.values() for o in v):
            self.assertIn(ref, st["artifacts"])

        # Client commands.
        workers = pool.wait_workers(2, timeout=10)
        self.assertEqual(len(workers), 2, workers)
        text = pool.cli("status", run_id).stdout
        self.assertIn("succeeded", text)
        self.assertEqual(pool.status(run_id)["state"], "succeeded")
        runs = json_records(pool.cli("runs", "--json").stdout)
        self.assertIn(run_id, [r.get("run_id") for r in runs])
        self.assertIn(run_id, pool.cli("runs").stdout)
        wl = json_records(pool.cli("workers", "--json").stdout)
        if len(wl) == 1 and "workers" in wl[0]:
            wl = wl[0]["workers"]
        self.assertEqual(len(wl), 2, wl)
        log = pool.cli("logs", run_id, "--stage", "b", "--shard", "1").stdout
        self.assertIn("step: stage=b shard=1 of 3", log)
        audit = pool.cli("audit", run_id)
        self.assertEqual(audit.returncode, 0)
        ev_lines = [json.loads(l) for l in
                    pool.cli("events", "--run", run_id, "--json").stdout.splitlines() if l.strip()]
        self.assertEqual([e["id"] for e in ev_lines], [e["id"] for e in all_events])
        # Each executed job started (recomp.job.started) once, on the worker that ran it.
        starts = {(e["data"]["stage"], e["data"]["shard"]): e["data"]["worker"]
                  for e in all_events if e["type"] == "recomp.job.started"}
        self.assertEqual(starts, {(e["data"]["stage"], e["data"]["shard"]): e["data"]["worker"]
                                  for e in events if e["type"] == "recomp.run.stage.completed"})

        # Resubmission under a new run id: succeeds, executes nothing, same outputs.
        p2, st2 = pool.submit([mod], cfg, prov)
        self.assertEqual(st2["state"], "succeeded", p2.stdout + p2.stderr)
        self.assertNotEqual(st2["run_id"], run_id)
        self.assertEqual(len(rt.read_count(count)), executions, rt.read_count(count))
        ev2 = pool.events(st2["run_id"])
        stage_ev = [e for e in ev2 if e["type"] == "recomp.run.stage.completed"]
        self.assertEqual(len(stage_ev), 5)
        self.assertTrue(all(e["data"]["cached"] for e in stage_ev), [e["data"] for e in stage_ev])
        self.assertEqual(rt.stage_outputs(ev2), outs)
        self.assertEqual(sorted(st2["artifacts"]), sorted(st["artifacts"]))

        # Resubmission under the same run id: idempotent, nothing recorded.
        head = rt.Client(ep["replay"]).ok("REPLAY", {"from": 0, "limit": 1})["head"]
        p3, st3 = pool.submit([mod], cfg, prov, run_id=run_id)
        self.assertEqual(st3["run_id"], run_id)
        self.assertEqual(st3["state"], "succeeded", p3.stdout + p3.stderr)
        self.assertEqual(rt.Client(ep["replay"]).ok("REPLAY", {"from": 0, "limit": 1})["head"], head)
        self.assertEqual(len(rt.read_count(count)), executions)

        pool.stop()  # asserts no process of the pool (recomp or job) is left


if __name__ == "__main__":
    rt.main()
