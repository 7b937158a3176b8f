#!/usr/bin/env python3
"""kill -9 of a worker in the middle of a job: the job's processes die with it, the broker
notices (heartbeats), the job is offered again (a new attempt), `recomp up` restarts the
worker (which reclaims the dead one's sandbox), and the run succeeds with the
same artifacts as an undisturbed run (a reference run of the same pipeline with another salt:
different job IDs, identical output bytes)."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402


class WorkerKill(rt.PoolTestCase):
    def test_kill_worker_mid_job(self):
        pool = self.pool(workers=2).start()
        count = self.tmp.join("count.txt")
        mod = rt.write_module(self.tmp.join("mod"))
        prov = rt.write_provenance(self.tmp.join("mod"), [mod])
        slow_b = {"SLEEP_S": "2"}
        ref_cfg = rt.write_pipeline(self.tmp.join("ref"), "ref",
                                    rt.fanout_stages(salt="reference", env_b=slow_b),
                                    common_env=pool.job_env(count))
        cfg = rt.write_pipeline(self.tmp.join("main"), "main", rt.fanout_stages(env_b=slow_b),
                                common_env=pool.job_env(count))
        p, ref = pool.submit([mod], ref_cfg, prov)
        self.assertEqual(ref["state"], "succeeded", p.stdout + p.stderr)
        expected = rt.stage_outputs(pool.events(ref["run_id"]))
        before = len(rt.read_count(count))

        p, st = pool.submit([mod], cfg, prov, wait=False)
        run_id = st["run_id"]

        def b_running():
            rows = rt.read_count(count)[before:]
            return [r for r in rows if r[0] == "start" and r[1] == "b"]
        job = rt.wait_for(b_running, 60, "a b job to start")[0]
        job_pid = job[4]
        worker = rt.proc_ppid(job_pid)
        argv = rt.proc_cmdline(worker) or []
        self.assertEqual(argv[1:2], ["worker"], "the job's parent should be a recomp worker: %r" % argv)
        os.kill(worker, signal.SIGKILL)
        # The job dies with its worker (the worker's guard kills its group), instead of running
        # on under init beside the next attempt.
        rt.wait_for(lambda: rt.proc_state(job_pid) in (None, "Z", "X"), 10,
                    "the killed worker's job %d to die with it" % job_pid)

        final = pool.wait_state(run_id, timeout=120)
        self.assertEqual(final["state"], "succeeded", final)
        got = rt.stage_outputs(pool.events(run_id))
        self.assertEqual(got, expected)
        self.assertEqual(sorted(final["artifacts"]), sorted(ref["artifacts"]))

        rows = rt.read_count(count)[before:]
        killed = [r for r in rows if r[1:3] == job[1:3] and r[0] == "start"]
        self.assertGreaterEqual(len(killed), 2, "the killed job must run again: %r" % rows)
        self.assertGreater(killed[-1][3], killed[0][3], "a new attempt number: %r" % killed)
        # `recomp up` replaced the dead worker.
        rt.wait_for(lambda: len(pool.worker_pids()) == 2 and worker not in pool.worker_pids(), 30,
                    "recomp up to restart the killed worker")
        # The new worker removed the sandbox the dead one left (named ...<pid>.<hex>).
        work = os.path.join(pool.data, "work")
        rt.wait_for(lambda: not [n for n in os.listdir(work) if ".%d." % worker in n], 30,
                    "the dead worker's sandbox to be reclaimed")
        audit = pool.cli("audit", run_id)
        self.assertEqual(audit.returncode, 0)
        pool.stop()


if __name__ == "__main__":
    rt.main()
