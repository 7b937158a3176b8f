#!/usr/bin/env python3
"""Confined jobs (docs/worker-sandbox.md, "Confined jobs"): on a pool whose workers run as root
with bubblewrap, a job runs as the unprivileged job user with no new privileges; cannot write
outside its working directory (the system is read-only, /tmp private); cannot see the store,
the data directory or another job's sandbox; has no network but loopback unless its stage sets
`network = true`; and a `setsid` daemon it starts dies with it. Skipped, saying why, where the
worker cannot confine (not root, no bubblewrap)."""
import json
import os
import shutil
import subprocess
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402

PROBE_PY = r'''
import json, os, subprocess, sys
token = os.environ["PROBE_TOKEN"]
facts = {"uid": os.getuid(), "gid": os.getgid()}
facts["no_new_privs"] = [l.split()[1] for l in open("/proc/self/status")
                         if l.startswith("NoNewPrivs")][0]

def can_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return True
    except OSError:
        return False

def listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError as e:
        return "error: %s" % e.strerror

facts["write_etc"] = can_write("/etc/recomp-probe-" + token)
facts["write_data"] = can_write(os.path.join(os.environ["POOL_DATA"], "probe-" + token))
facts["write_tmp"] = can_write("/tmp/recomp-probe-" + token)  # private: never seen outside
facts["read_shadow"] = os.access("/etc/shadow", os.R_OK)
facts["store"] = listing(os.path.join(os.environ["POOL_DATA"], "store"))
here = os.getcwd()
facts["sandbox"] = os.path.basename(os.path.dirname(here))
facts["work_root"] = listing(os.path.dirname(os.path.dirname(here)))
facts["net"] = sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:])
# A daemon that leaves the job's process group and session: it must die with the job.
subprocess.Popen(["setsid", sys.executable, "-c", "import time; time.sleep(300)", token],
                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.makedirs("out", exist_ok=True)
with open("out/facts.json", "w") as f:
    json.dump(facts, f)
'''


def host_interfaces():
    with open("/proc/net/dev") as f:
        return sorted(l.split(":")[0].strip() for l in f.readlines()[2:])


def processes_with(token):
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if token.encode() in f.read():
                        out.append(int(pid))
            except OSError:
                pass
    return out


def unavailable():
    if os.geteuid() != 0:
        return "needs root (the worker drops to the job user only as root)"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap is not installed"
    probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "true"],
                           capture_output=True)
    if probe.returncode != 0:
        return "bwrap cannot make a sandbox here: %s" % probe.stderr.decode().strip()
    return None


class ConfinedJobs(rt.PoolTestCase):
    @classmethod
    def setUpClass(cls):
        reason = unavailable()
        if reason:
            raise unittest.SkipTest(reason)

    def facts(self, pool, run_id, stage):
        done = [e["data"] for e in pool.events(run_id)
                if e["type"] == "recomp.run.stage.completed" and e["data"]["stage"] == stage]
        ref = [o["ref"] for o in done[0]["outputs"] if o["path"] == "out/"][0]
        return json.loads(pool.tree_files(ref)["facts.json"])

    def test_a_confined_job_reaches_nothing_but_its_sandbox(self):
        pool = self.pool(workers=1, config_overrides={"worker": {"confine": "bubblewrap"}})
        pool.start()
        token = uuid.uuid4().hex
        mod = rt.write_module(self.tmp.join("mod"))
        stages = [rt.stage("closed", command=[rt.PYTHON, "in/tools/probe.py"], salt=token),
                  rt.stage("open", command=[rt.PYTHON, "in/tools/probe.py"], salt=token)]
        cfg = rt.write_pipeline(self.tmp.join("p"), "p", stages, tools={"probe.py": PROBE_PY},
                                common_env={"PROBE_TOKEN": token, "POOL_DATA": pool.data})
        with open(cfg) as f:
            text = f.read()
        # The second stage asks for the network.
        head, sep, tail = text.rpartition('name = "open"')
        with open(cfg, "w") as f:
            f.write(head + sep + "\nnetwork = true" + tail)
        p, st = pool.submit([mod], cfg)
        self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr + pool.log_tail())
        closed = self.facts(pool, st["run_id"], "closed")
        opened = self.facts(pool, st["run_id"], "open")
        for f in (closed, opened):
            self.assertEqual((f["uid"], f["gid"]), (65534, 65534), f)
            self.assertEqual(f["no_new_privs"], "1", f)
            self.assertFalse(f["write_etc"], f)
            self.assertFalse(f["write_data"], f)
            self.assertTrue(f["write_tmp"], f)  # its own /tmp works ...
            self.assertFalse(f["read_shadow"], f)
            self.assertNotIsInstance(f["store"], list, f)  # the store is not there at all
            # No other sandbox in sight: the work root is empty but for this one, or unlistable.
            self.assertTrue(f["work_root"] == [f["sandbox"]] or
                            f["work_root"].startswith("error"), f)
        self.assertFalse(os.path.exists("/tmp/recomp-probe-" + token))  # ... and is private
        self.assertFalse(os.path.exists(os.path.join(pool.data, "probe-" + token)))
        self.assertEqual(closed["net"], ["lo"], closed)
        self.assertEqual(opened["net"], host_interfaces(), opened)
        # Each job's setsid daemon died with its job.
        rt.wait_for(lambda: not processes_with(token), 10, "the jobs' setsid daemons to be gone")
        pool.stop()


if __name__ == "__main__":
    rt.main()
