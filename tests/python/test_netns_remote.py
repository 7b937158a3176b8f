#!/usr/bin/env python3
"""Workers and a client on other machines, simulated with network namespaces (netns.py): the
coordinator on 198.18.0.1, two workers on .2 and .3 with their own data and cache directories
and no path to the coordinator's store, a client on .4 that knows only the API endpoint.
* The T32 sample run by the remote workers gives exactly the digests of a run on a local pool;
  the client submits it and downloads its program with only --api; a second submission moves
  no blob bytes.
* A worker whose link goes down mid-job is lost; its job runs on the other worker and the run
  succeeds.
* With CURVE (no --insecure): a listed worker key and a listed client key run a pipeline across
  the hosts; an unlisted worker key on another host never registers, and a plaintext client
  gets no answer.
Skipped, saying why, where namespaces cannot be built (not root, no iproute2)."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
import recomp_testlib as rt  # noqa: E402
import test_pool_t32_sample as t32s  # noqa: E402

PORTS = {"api": 7420, "workers": 7421, "events": 7422, "replay": 7423, "blobs": 7424}
STATS_PY = r'''
import sys, msgpack, zmq
s = zmq.Context.instance().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.connect(sys.argv[1])
s.send_multipart([b"RBL1", b"STATS", msgpack.packb({})])
assert s.poll(10000), "no STATS reply"
print(__import__("json").dumps(msgpack.unpackb(s.recv_multipart()[2])))
'''


class NetnsRemote(rt.PoolTestCase):
    @classmethod
    def setUpClass(cls):
        reason = netns.available()
        if reason:
            raise unittest.SkipTest(reason)

    def setUp(self):
        super().setUp()
        self.net = netns.Network(["coord", "w1", "w2", "cli"])
        self.addCleanup(self.net.close)
        self.procs = []
        self.addCleanup(self.stop_procs)
        self.coord_addr = self.net.addr("coord")
        self.api = "tcp://%s:%d" % (self.coord_addr, PORTS["api"])
        self.cli_home = self.tmp.join("laptop")
        os.makedirs(self.cli_home)

    def stop_procs(self):
        for p in reversed(self.procs):
            p.signal(15)
        for p in reversed(self.procs):
            if p.wait(10) is None:
                p.kill_group()
            p.close()

    def start(self, host, argv, log):
        p = rt.Proc(self.net.argv(host, argv), self.tmp.join(log))
        self.procs.append(p)
        return p

    def start_coordinator(self, curve=False):
        cfg = self.tmp.join("coord.toml")
        with open(cfg, "w") as f:
            f.write("[coordinator]\n")
            for k in ("api", "events", "replay", "blobs"):
                f.write('%s = "tcp://0.0.0.0:%d"\n' % (k, PORTS[k]))
            f.write('metrics = "127.0.0.1:0"\n')
            f.write('retry_initial_ms = 100\nretry_max_ms = 1000\n\n[broker]\n'
                    'workers = "tcp://0.0.0.0:%d"\nheartbeat_ms = 200\n'
                    'no_worker_timeout_s = 3\n' % PORTS["workers"])
        self.data = self.tmp.join("coord-data")
        self.coord = self.start("coord", [rt.RECOMP_BIN, "coordinator", "--data", self.data,
                                          "--config", cfg, "--curve" if curve else "--insecure"],
                                "coordinator.log")
        self.client_keys = []
        if curve:
            pub = os.path.join(self.data, "keys", "coordinator.pub")
            rt.wait_for(lambda: os.path.exists(pub), 30, "the coordinator's public key")
            self.client_keys = ["--server-key", pub, "--key", self.alice]
        rt.wait_for(lambda: self.cli("runs", "--api", self.api, *self.client_keys,
                                     check=False).returncode == 0, 30,
                    "the coordinator to answer from the client's host")

    def start_worker(self, host, extra=()):
        home = self.tmp.join("home-" + host)
        os.makedirs(home, exist_ok=True)
        self.start(host, [rt.RECOMP_BIN, "worker", "--connect",
                          "tcp://%s:%d" % (self.coord_addr, PORTS["workers"]), "--data", home,
                          "--heartbeat-ms", 200, "--liveness", 3, "--reconnect-ms", 100,
                          "--confine", "none", *extra],
                   "worker-%s.log" % host)
        return home

    def cli(self, *args, check=True, timeout=300):
        env = dict(os.environ, RECOMP_HOME=self.cli_home)
        return self.net.run("cli", [rt.RECOMP_BIN, *args], check=check, env=env,
                            cwd=self.cli_home, timeout=timeout)

    def wait_workers(self, n):
        def enough():
            p = self.cli("workers", "--api", self.api, "--json", check=False)
            return p.returncode == 0 and len(json.loads(p.stdout)) >= n
        rt.wait_for(enough, 30, "%d remote workers to register" % n, interval=0.2)

    def blob_stats(self):
        p = self.net.run("cli", [rt.PYTHON, "-c", STATS_PY,
                                 "tcp://%s:%d" % (self.coord_addr, PORTS["blobs"])])
        return json.loads(p.stdout)

    def logs(self):
        return "\n".join("---- %s\n%s" % (p.argv[-1], p.output()[-3000:]) for p in self.procs)

    def test_t32_sample_on_remote_workers_matches_a_local_pool(self):
        modules = t32s.build_modules(t32s.ROM_DIR, self.tmp.join("modules"))
        pipeline = t32s.salted_pipeline(self.tmp.join("t32.toml"), "netns")
        files = [modules[n] for n in ("game.rom", "provenance.json", "symbols.toml")]

        local = self.pool(workers=2, name="local").start()
        p, ref = local.submit(files, pipeline, timeout=420)
        self.assertEqual(ref["state"], "succeeded", p.stdout + p.stderr)
        expected = rt.stage_outputs(local.events(ref["run_id"]))
        local_program = {a: local.artifact_bytes(a) for a in ref["artifacts"]
                         if local.cli("artifact", "stat", a).stdout.find("tree+json") < 0}
        local.stop()

        self.start_coordinator()
        homes = [self.start_worker("w1"), self.start_worker("w2")]
        self.wait_workers(2)
        args = ["submit", "--api", self.api, "--config", pipeline, "--wait", "--json"]
        for f in files:
            args += ["--module", f]
        p = self.cli(*args, check=False, timeout=420)
        st = rt.last_json_line(p.stdout)
        self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr + self.logs())
        self.assertEqual(rt.stage_outputs(self.remote_events(st["run_id"])), expected)
        self.assertEqual(sorted(st["artifacts"]), sorted(ref["artifacts"]))
        used = [h for h in homes if os.listdir(os.path.join(h, "cache"))]
        self.assertEqual(len(used), 2, "both remote workers should have fetched inputs")
        for h in homes:
            self.assertFalse(os.path.exists(os.path.join(h, "store")))
        for a, data in local_program.items():
            out = os.path.join(self.cli_home, "got-" + a[-8:])
            self.cli("artifact", "get", a, "-o", out, "--api", self.api)
            with open(out, "rb") as f:
                self.assertEqual(f.read(), data, a)

        before = self.blob_stats()
        p = self.cli(*args, timeout=420)
        self.assertEqual(rt.last_json_line(p.stdout)["state"], "succeeded")
        after = self.blob_stats()
        self.assertEqual((after["bytes_sent"], after["bytes_received"]),
                         (before["bytes_sent"], before["bytes_received"]),
                         "the second submission moved blob bytes")

    def test_curve_across_hosts(self):
        keys = self.tmp.join("keys")
        lines = []
        for name, role in (("w1", "worker"), ("alice", "submitter"), ("stranger", "worker")):
            rt.run([rt.RECOMP_BIN, "keys", "new", name, "--dir", keys])
            if name != "stranger":
                public, _ = rt.load_keypair(os.path.join(keys, name + ".key"))
                lines.append("%s %s %s\n" % (public.decode(), name, role))
        self.alice = os.path.join(keys, "alice.key")
        self.data = self.tmp.join("coord-data")
        os.makedirs(self.data)
        with open(os.path.join(self.data, "allowlist"), "w") as f:
            f.writelines(lines)
        self.start_coordinator(curve=True)
        pub = os.path.join(self.data, "keys", "coordinator.pub")
        self.start_worker("w1", ["--key", os.path.join(keys, "w1.key"), "--server-key", pub])
        stranger = self.start(
            "w2", [rt.RECOMP_BIN, "worker", "--connect",
                   "tcp://%s:%d" % (self.coord_addr, PORTS["workers"]), "--data",
                   self.tmp.join("home-w2"), "--key", os.path.join(keys, "stranger.key"),
                   "--server-key", pub, "--reconnect-ms", 100], "worker-stranger.log")
        count = self.tmp.join("count.txt")
        mod = rt.write_module(self.tmp.join("mod"))
        cfg = rt.write_pipeline(self.tmp.join("p"), "p", rt.fanout_stages(salt="curve"),
                                common_env={"COUNT_FILE": count})
        p = self.cli("submit", "--api", self.api, *self.client_keys, "--module", mod,
                     "--config", cfg, "--wait", "--json", check=False)
        st = rt.last_json_line(p.stdout)
        self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr + self.logs())
        ev = self.cli("events", "--api", self.api, *self.client_keys, "--run", st["run_id"],
                      "--json").stdout
        done = [json.loads(l)["data"] for l in ev.splitlines()
                if l.startswith("{") and "stage.completed" in l]
        self.assertEqual(len(done), 5, ev)
        self.assertEqual({d["worker"].split(":")[0] for d in done}, {"w1"}, done)
        requested = [json.loads(l)["data"] for l in ev.splitlines() if "run.requested" in l]
        self.assertEqual(requested[0]["requested_by"], "alice")
        rt.wait_for(lambda: "not in the pool's allowlist" in stranger.output(), 30,
                    "the unlisted worker to be refused")
        listed = json.loads(self.cli("workers", "--api", self.api, *self.client_keys,
                                     "--json").stdout)
        self.assertEqual([w["worker_id"].split(":")[0] for w in listed], ["w1"])
        # A plaintext client on the client's host gets no answer from the blob service.
        p = self.net.run("cli", [rt.PYTHON, "-c", STATS_PY.replace("10000", "1500"),
                                 "tcp://%s:%d" % (self.coord_addr, PORTS["blobs"])], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no STATS reply", p.stderr)

    def remote_events(self, run_id):
        p = self.cli("events", "--api", self.api, "--run", run_id, "--json")
        return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]

    def test_a_worker_whose_link_goes_down_is_lost_and_its_job_runs_elsewhere(self):
        self.start_coordinator()
        self.start_worker("w1")
        self.start_worker("w2")
        self.wait_workers(2)
        count = self.tmp.join("count.txt")
        mod = rt.write_module(self.tmp.join("mod"))
        cfg = rt.write_pipeline(self.tmp.join("p"), "p",
                                rt.fanout_stages(salt="link", env_b={"SLEEP_S": "3"}),
                                common_env={"COUNT_FILE": count})
        sub = subprocess.Popen(self.net.argv("cli", [
            rt.RECOMP_BIN, "submit", "--api", self.api, "--module", mod, "--config", cfg,
            "--wait", "--json"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, RECOMP_HOME=self.cli_home), cwd=self.cli_home)
        try:
            w1 = self.procs[1].p.pid

            def b_on_w1():
                return [r for r in rt.read_count(count)
                        if r[0] == "start" and r[1] == "b" and rt.proc_ppid(r[4]) == w1]
            job = rt.wait_for(b_on_w1, 60, "a b job to start on w1")[0]
            self.net.link("w1", False)
            out, err = sub.communicate(timeout=180)
        finally:
            if sub.poll() is None:
                sub.kill()
        st = rt.last_json_line(out)
        self.assertEqual(st["state"], "succeeded", out + err + self.logs())
        again = [r for r in rt.read_count(count) if r[0] == "start" and r[1:3] == job[1:3]]
        self.assertGreaterEqual(len(again), 2, "the lost job must run again: %r" % again)
        self.assertGreater(again[-1][3], job[3], "on a new attempt")
        self.net.link("w1", True)
        self.wait_workers(2)  # it comes back

    def test_a_stage_that_requires_a_label_runs_only_where_it_is(self):
        self.start_coordinator()
        self.start_worker("w1", ["--label", "gpu=1", "--slots", "2"])
        self.start_worker("w2", ["--slots", "4"])
        self.wait_workers(2)
        listed = json.loads(self.cli("workers", "--api", self.api, "--json").stdout)
        labels = {w["worker_id"]: w["labels"] for w in listed}
        self.assertTrue(all(l.get("pool") == "default" and l.get("os") == "linux"
                            for l in labels.values()), labels)
        self.assertEqual(sorted(str(l.get("gpu")) for l in labels.values()), ["1", "None"], labels)
        count = self.tmp.join("count.txt")
        mod = rt.write_module(self.tmp.join("mod"))
        gpu = rt.stage("render", shards=4, salt="labels")
        gpu["requires"] = {"gpu": "1"}
        cfg = self.write_requiring(self.tmp.join("gpu"), [gpu], count)
        p = self.cli("submit", "--api", self.api, "--module", mod, "--config", cfg, "--wait",
                     "--json", check=False)
        st = rt.last_json_line(p.stdout)
        self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr)
        gpu_worker = [w for w, l in labels.items() if l.get("gpu") == "1"][0]
        ran = [e["data"] for e in self.remote_events(st["run_id"])
               if e["type"] == "recomp.run.stage.completed"]
        self.assertEqual(len(ran), 4, ran)
        self.assertEqual({d.get("worker") for d in ran}, {gpu_worker}, ran)

        missing = rt.stage("train", salt="labels")
        missing["requires"] = {"gpu": "2"}
        cfg = self.write_requiring(self.tmp.join("gpu2"), [missing], count)
        t0 = rt.time.monotonic()
        p = self.cli("submit", "--api", self.api, "--module", mod, "--config", cfg, "--wait",
                     "--json", check=False)
        st = rt.last_json_line(p.stdout)
        self.assertEqual(st["state"], "failed", p.stdout + p.stderr)
        self.assertLess(rt.time.monotonic() - t0, 60)
        events = self.remote_events(st["run_id"])
        done = [e["data"] for e in events if e["type"] == "recomp.run.stage.completed"]
        self.assertTrue(done and "gpu=2" in json.dumps(done), done)

    def write_requiring(self, directory, stages, count):
        """write_pipeline plus each stage's `requires` table."""
        path = rt.write_pipeline(directory, "p", stages, common_env={"COUNT_FILE": count})
        with open(path) as f:
            text = f.read()
        for st in stages:
            req = ", ".join('%s = "%s"' % kv for kv in st["requires"].items())
            text = text.replace('name = "%s"\n' % st["name"],
                                'name = "%s"\nrequires = { %s }\n' % (st["name"], req), 1)
        with open(path, "w") as f:
            f.write(text)
        return path


if __name__ == "__main__":
    rt.main()
