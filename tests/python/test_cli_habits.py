#!/usr/bin/env python3
"""What a user's habits expect of the CLI: a pool that does not answer is given up on within
the timeout with exit code 3 naming the endpoint; --json prints JSON only; exit codes say what
happened (0 succeeded, 1 the run failed, 2 usage, 3 unreachable, 130 interrupted, with --wait
saying the run goes on)."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402


class CliHabits(rt.PoolTestCase):
    def test_an_unreachable_pool_is_given_up_on_with_exit_code_3(self):
        # Nothing listens on 127.0.0.1:9 (loopback only: the network rule).
        t0 = time.monotonic()
        p = rt.run([rt.RECOMP_BIN, "status", "run-x", "--api", "tcp://127.0.0.1:9",
                    "--timeout", "1000"], check=False, timeout=60)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertIn("tcp://127.0.0.1:9", p.stderr)
        p = rt.run([rt.RECOMP_BIN, "status"], check=False)  # usage: RUN is required
        self.assertEqual(p.returncode, 2, p.stderr)

    def test_json_purity_exit_codes_and_interrupted_wait(self):
        pool = self.pool(workers=1).start()
        count = self.tmp.join("count.txt")
        mod = rt.write_module(self.tmp.join("mod"))
        prov = rt.write_provenance(self.tmp.join("mod"), [mod])
        cfg = rt.write_pipeline(self.tmp.join("fail"), "fail", [rt.stage("x", env={"FAIL": "1"})],
                                common_env=pool.job_env(count))
        p, _ = pool.submit([mod], cfg, prov, check=False)
        self.assertEqual(p.returncode, 1)
        rec = json.loads(p.stdout)  # the whole of stdout is one JSON document
        self.assertEqual(rec["state"], "failed")
        self.assertIn("recomp logs %s --stage x --shard 0" % rec["run_id"], p.stderr)

        cfg = rt.write_pipeline(self.tmp.join("hang"), "hang", [rt.stage("h", env={"HANG": "1"})],
                                common_env=pool.job_env(count))
        w = subprocess.Popen([rt.RECOMP_BIN, "submit", "--module", mod, "--config", cfg,
                              "--provenance", prov, "--wait", "--data", pool.data],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            run_id = w.stdout.readline().strip()  # without --json the run id comes first
            rt.wait_for(lambda: pool.status(run_id)["state"] == "running", 60, "the run to run")
            w.send_signal(signal.SIGINT)
            out, err = w.communicate(timeout=30)
        finally:
            if w.poll() is None:
                w.kill()
        self.assertEqual(w.returncode, 130, err)
        self.assertIn("interrupted: run %s goes on" % run_id, err)
        self.assertEqual(pool.status(run_id)["state"], "running")  # it does go on
        pool.cli("cancel", run_id)


if __name__ == "__main__":
    rt.main()
