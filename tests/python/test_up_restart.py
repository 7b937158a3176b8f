#!/usr/bin/env python3
"""`recomp up` restarts a child that dies with a doubling backoff, and gives up loudly (stops
the pool, exits 1) when the child keeps dying soon after it starts, instead of restarting it
for ever; nothing of the pool is left behind."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402


class UpRestart(rt.PoolTestCase):
    def test_a_child_that_keeps_dying_is_backed_off_then_given_up(self):
        data = self.tmp.join("data")
        # A worker with 0 slots refuses to start: it exits at once, every time.
        cfg = rt.write_config(self.tmp.join("recomp.toml"), {
            "worker": {"slots": 0},
            "up": {"restart_delay_ms": 50, "restart_max_delay_ms": 200, "max_quick_failures": 3},
        })
        p = rt.run([rt.RECOMP_BIN, "up", "--workers", 1, "--data", data, "--config", cfg],
                   timeout=120, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        for delay in (50, 100, 200):
            self.assertIn("worker 0", p.stderr)
            self.assertIn("restarting in %d ms" % delay, p.stderr)
        self.assertIn("its 4th death in a row", p.stderr)
        self.assertIn("giving up and stopping the pool", p.stderr)
        self.assertIn("keeps exiting soon after it starts: gave up", p.stderr)
        self.assertEqual(rt.processes_mentioning(data), [], "up must leave no process behind")
        self.assertFalse(os.path.exists(os.path.join(data, "endpoints.json")))


if __name__ == "__main__":
    rt.main()
