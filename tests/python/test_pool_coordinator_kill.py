#!/usr/bin/env python3
"""kill -9 of the coordinator in the middle of a run, then a coordinator on the same --data:
the run resumes from the event log and succeeds with the same artifacts as an undisturbed
run, the event log stays gap-free and audit agrees; workers reconnect by themselves.
Two ways: the coordinator child of `recomp up` (which restarts it), and `recomp coordinator`
+ `recomp worker`s started separately by the test (the test restarts the coordinator)."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402


class CoordinatorKill(rt.PoolTestCase):
    def prepare(self, pool):
        self.count = self.tmp.join("count.txt")
        self.mod = rt.write_module(self.tmp.join("mod"))
        self.prov = rt.write_provenance(self.tmp.join("mod"), [self.mod])
        slow_b = {"SLEEP_S": "2"}
        self.ref_cfg = rt.write_pipeline(self.tmp.join("ref"), "ref",
                                         rt.fanout_stages(salt="reference", env_b=slow_b),
                                         common_env=pool.job_env(self.count))
        self.cfg = rt.write_pipeline(self.tmp.join("main"), "main", rt.fanout_stages(env_b=slow_b),
                                     common_env=pool.job_env(self.count))
        p, ref = pool.submit([self.mod], self.ref_cfg, self.prov)
        self.assertEqual(ref["state"], "succeeded", p.stdout + p.stderr)
        self.ref = ref
        self.expected = rt.stage_outputs(pool.events(ref["run_id"]))
        self.before = len(rt.read_count(self.count))
        p, st = pool.submit([self.mod], self.cfg, self.prov, wait=False)
        rt.wait_for(lambda: [r for r in rt.read_count(self.count)[self.before:]
                             if r[0] == "start" and r[1] == "b"], 60, "a b job to start")
        return st["run_id"]

    def check_resumed(self, pool, run_id):
        final = pool.wait_state(run_id, timeout=120)
        self.assertEqual(final["state"], "succeeded", final)
        evs = pool.events(run_id)
        self.assertEqual(rt.stage_outputs(evs), self.expected)
        self.assertEqual(sorted(final["artifacts"]), sorted(self.ref["artifacts"]))
        ids = [e["id"] for e in evs]
        self.assertEqual(len(ids), len(set(ids)), "an event id repeated: %r" % ids)
        self.assertEqual([e["type"] for e in evs][-1], "recomp.run.completed")
        self.assertEqual(len(evs), 2 + 5 + 1)
        everything = pool.events(extensions=True)
        self.assertEqual([e["sequence"] for e in everything], list(range(1, len(everything) + 1)))
        self.assertEqual(pool.cli("audit", run_id).returncode, 0)
        # Each job of the interrupted run ended up done exactly once or more (at-least-once),
        # never missing.
        done = {(r[1], r[2]) for r in rt.read_count(self.count)[self.before:] if r[0] == "done"}
        self.assertTrue(done <= set(self.expected), done)

    def test_kill_up_coordinator_child(self):
        pool = self.pool(workers=2).start()
        run_id = self.prepare(pool)
        coords = pool.coordinator_pids()
        self.assertEqual(len(coords), 1, pool.processes())
        os.kill(coords[0], signal.SIGKILL)
        rt.wait_for(lambda: pool.coordinator_pids() and pool.coordinator_pids() != coords, 30,
                    "recomp up to restart the coordinator")
        self.check_resumed(pool, run_id)
        pool.stop()

    def test_kill_separate_coordinator_and_restart(self):
        pool = self.pool(workers=2, name="parts", fixed_ports=True)
        coord = pool.start_coordinator()
        workers = [pool.start_worker(), pool.start_worker()]
        run_id = self.prepare(pool)
        coord.signal(signal.SIGKILL)
        self.assertIsNotNone(coord.wait(10))
        self.assertTrue(all(w.alive() for w in workers), "workers must survive the coordinator")
        pool.start_coordinator()
        self.check_resumed(pool, run_id)
        self.assertTrue(all(w.alive() for w in workers))
        pool.stop()


if __name__ == "__main__":
    rt.main()
