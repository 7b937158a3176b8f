#!/usr/bin/env python3
"""A full disk under the coordinator's state: the coordinator stays up (no restart), refuses
SUBMIT and CANCEL with RESOURCE_EXHAUSTED naming why, keeps answering reads, and resumes by
itself once space returns: the batch it could not commit is committed then, so the run
submitted into the full disk completes and every job ran once. Needs root (a tmpfs mount);
says so and is skipped otherwise."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402


def fill(path):
    """Writes `path` until the file system is full; returns the bytes written."""
    n = 0
    with open(path, "wb") as f:
        chunk = b"\0" * (64 << 10)
        try:
            while n < (1 << 30):
                f.write(chunk)
                f.flush()
                n += len(chunk)
        except OSError:
            pass
    return n


class DiskFull(rt.PoolTestCase):
    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("needs root to mount a tmpfs")

    def test_full_disk_pauses_then_resumes(self):
        pool = self.pool(workers=1)
        state = os.path.join(pool.data, "coordinator")
        os.makedirs(state)
        mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", state],
                               stderr=subprocess.PIPE, text=True)
        if mount.returncode != 0:
            self.skipTest("cannot mount a tmpfs: " + mount.stderr.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", state])
        pool.start()
        coordinator = pool.coordinator_pids()
        self.assertEqual(len(coordinator), 1)
        count = self.tmp.join("count.txt")
        mod = rt.write_module(self.tmp.join("mod"))
        prov = rt.write_provenance(self.tmp.join("mod"), [mod])
        small = rt.write_pipeline(self.tmp.join("small"), "small", [rt.stage("a")],
                                  common_env=pool.job_env(count))
        p, st = pool.submit([mod], small, prov)
        self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr)

        filler = os.path.join(state, "filler")
        self.assertGreater(fill(filler), 0)
        # Wide runs (64 jobs each) until one needs more pages than LMDB has free: its commit
        # fails and the coordinator pauses with that batch pending.
        wide = rt.write_pipeline(self.tmp.join("wide"), "wide", [
            rt.stage("w", shards=64, command=["/bin/true"], outputs=())],
            common_env=pool.job_env(count))
        submitted = []
        paused = lambda: "cannot persist state" in pool.log_tail(400)  # noqa: E731
        for i in range(10):
            run_id = "wide-%d" % i
            proc = rt.Proc([rt.RECOMP_BIN, "submit", "--module", mod, "--config", wide,
                            "--provenance", prov, "--run-id", run_id, "--data", pool.data],
                           self.tmp.join("submit-%d.log" % i))
            self.addCleanup(proc.close)
            self.addCleanup(proc.kill_group)
            submitted.append(run_id)
            rt.wait_for(lambda: paused() or not proc.alive(), 30, "submit %s to end" % run_id)
            if paused():
                break
        self.assertTrue(paused(), "10 wide runs fitted in a full 4 MiB disk")

        def refused():
            q = pool.cli("submit", "--module", mod, "--config", small, "--provenance", prov,
                         "--run-id", "probe", "--json", check=False)
            out = q.stdout + q.stderr
            self.assertNotEqual(q.returncode, 0, "accepted while the disk is full: " + out)
            return out
        refusal = refused()
        self.assertIn("cannot record anything now", refusal)
        self.assertIn("RESOURCE_EXHAUSTED", refusal)
        # Still up, still answering reads, on the same process.
        time.sleep(1)  # a span to be up through, not a synchronisation
        self.assertEqual(pool.coordinator_pids(), coordinator)
        self.assertEqual(pool.status(st["run_id"])["state"], "succeeded")
        runs = pool.cli("runs", "--json")
        self.assertIn(st["run_id"], runs.stdout)

        os.unlink(filler)
        for run_id in submitted:
            final = pool.wait_state(run_id, timeout=120)
            self.assertEqual(final["state"], "succeeded", final)
        self.assertEqual(pool.coordinator_pids(), coordinator, "the coordinator must not restart")
        p, probe = pool.submit([mod], small, prov, run_id="probe-2")
        self.assertEqual(probe["state"], "succeeded")
        log = pool.log_tail(200)
        self.assertIn("cannot persist state", log)
        self.assertIn("resumed", log)
        audit = pool.cli("audit", submitted[-1])
        self.assertEqual(audit.returncode, 0, audit.stdout + audit.stderr)


if __name__ == "__main__":
    rt.main()
