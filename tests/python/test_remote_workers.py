#!/usr/bin/env python3
"""Workers with no store directory (as on another machine): they learn the blob service from
the broker's WELCOME, fetch inputs (the external module too, granted for their job only) into
their own cache, upload outputs through the blob service, and the run gives exactly the
artifacts of a run on workers that open the store. A second submission moves no blob bytes.
A byte flipped in transit is caught: nothing corrupt is stored or cached. (Across network
namespaces: test_netns_remote.py.)"""
import hashlib
import json
import os
import sys

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402

TAG = b"RBL1"


def blob_stats(endpoint):
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    try:
        s.send_multipart([TAG, b"STATS", msgpack.packb({})])
        if not s.poll(10000):
            raise rt.TestFailure("no STATS reply from %s" % endpoint)
        frames = s.recv_multipart()
        assert frames[1] == b"OK", frames
        return msgpack.unpackb(frames[2])
    finally:
        s.close()


def cache_files(cache_dir):
    """{name: sha-ok} of a worker cache: every entry must be named by its content's digest."""
    out = {}
    for name in os.listdir(cache_dir):
        with open(os.path.join(cache_dir, name), "rb") as f:
            digest = hashlib.blake2b(f.read(), digest_size=32).hexdigest()
        out[name] = digest == name
    return out


class RemoteWorkers(rt.PoolTestCase):
    def start_remote_worker(self, pool, name, env=None):
        home = self.tmp.join(name)
        os.makedirs(home, exist_ok=True)
        p = rt.Proc([rt.RECOMP_BIN, "worker", "--connect", pool.endpoints()["workers"],
                     "--data", home, "--heartbeat-ms", "200", "--liveness", "3",
                     "--reconnect-ms", "100", "--confine", "none"],
                    os.path.join(pool.logs, "%s.log" % name), env=env)
        pool.parts.append(p)
        return home

    def fanout(self, pool, salt=""):
        count = self.tmp.join("count.txt")
        mod = rt.write_module(self.tmp.join("mod"))
        prov = rt.write_provenance(self.tmp.join("mod"), [mod])
        cfg = rt.write_pipeline(self.tmp.join("p" + salt), "p", rt.fanout_stages(salt=salt),
                                common_env={"COUNT_FILE": count})
        return mod, prov, cfg

    def test_remote_workers_match_local_and_move_nothing_twice(self):
        local = self.pool(workers=1, name="local").start()
        mod, prov, cfg = self.fanout(local)
        p, ref = local.submit([mod], cfg, prov)
        self.assertEqual(ref["state"], "succeeded", p.stdout + p.stderr)
        expected = rt.stage_outputs(local.events(ref["run_id"]))
        local.stop()

        pool = self.pool(workers=0, name="remote")
        pool.start_coordinator()
        homes = [self.start_remote_worker(pool, "w%d" % i) for i in range(2)]
        pool.wait_workers(2)
        p, st = pool.submit([mod], cfg, prov)
        self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr + pool.log_tail())
        self.assertEqual(rt.stage_outputs(pool.events(st["run_id"])), expected)
        for home in homes:
            self.assertFalse(os.path.exists(os.path.join(home, "store")),
                             "a remote worker must not create a store")
        used = [h for h in homes if os.listdir(os.path.join(h, "cache"))]
        self.assertTrue(used, "no worker cache holds anything")
        with open(mod, "rb") as f:
            module_digest = hashlib.blake2b(f.read(), digest_size=32).hexdigest()
        for home in homes:
            files = cache_files(os.path.join(home, "cache"))
            self.assertTrue(all(files.values()), files)
            self.assertNotIn(module_digest, files, "the external module must never be cached")
        blobs = pool.endpoints()["blobs"]
        before = blob_stats(blobs)
        self.assertGreater(before["bytes_sent"], 0)
        self.assertGreater(before["blobs_committed"], 0)

        p, again = pool.submit([mod], cfg, prov)
        self.assertEqual(again["state"], "succeeded", p.stdout + p.stderr)
        after = blob_stats(blobs)
        self.assertEqual((after["bytes_sent"], after["bytes_received"]),
                         (before["bytes_sent"], before["bytes_received"]),
                         "a second submission must move no blob bytes")
        pool.stop()

    def test_a_byte_flipped_in_transit_is_caught(self):
        pool = self.pool(workers=0, name="flip")
        os.environ["RECOMP_TEST_FLIP_BLOB_BYTE"] = "2"
        try:
            pool.start_coordinator()
        finally:
            del os.environ["RECOMP_TEST_FLIP_BLOB_BYTE"]
        home = self.start_remote_worker(pool, "w-flip")
        pool.wait_workers(1)
        mod, prov, cfg = self.fanout(pool, salt="flip")
        p, st = pool.submit([mod], cfg, prov, check=False, timeout=240)
        self.assertIsNotNone(st, p.stdout + p.stderr)
        self.assertIn(st["state"], ("succeeded", "failed"))
        logs = pool.log_tail(10000)
        print("flip run: %s; corruption reports: worker %d, service %d" % (
            st["state"], logs.count("hashing to"), logs.count("hash to ")))
        self.assertTrue("hashing to" in logs or "hash to " in logs,
                        "no corruption was detected at all:\n" + pool.log_tail())
        verify = rt.run([rt.RECOMP_BIN, "artifact", "verify", "--store",
                         os.path.join(pool.data, "store")], check=False)
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
        files = cache_files(os.path.join(home, "cache"))
        self.assertTrue(all(files.values()), "a corrupt blob was cached: %r" % files)
        pool.stop()


EXEC_PY = r'''
import os
print("making an executable")
os.makedirs("out", exist_ok=True)
with open("out/run.sh", "w") as f:
    f.write("#!/bin/sh\necho hi\n")
os.chmod("out/run.sh", 0o755)
with open("out/data.txt", "w") as f:
    f.write("plain\n")
'''


class RemoteClient(rt.PoolTestCase):
    def test_a_client_with_only_the_api_endpoint(self):
        pool = self.pool(workers=0, name="served")
        pool.start_coordinator()
        RemoteWorkers.start_remote_worker(self, pool, "w0")
        pool.wait_workers(1)
        api = pool.endpoints()["api"]
        home = self.tmp.join("laptop")  # no store, no endpoints.json
        os.makedirs(home)
        env = dict(os.environ, RECOMP_HOME=home)

        def cli(*args, check=True):
            return rt.run([rt.RECOMP_BIN, *args], env=env, cwd=home, check=check)

        mod = rt.write_module(self.tmp.join("mod"), text="laptop module\n")
        st = rt.stage("x", command=[rt.PYTHON, "in/tools/exec.py"])
        cfg = rt.write_pipeline(self.tmp.join("p"), "p", [st], tools={"exec.py": EXEC_PY})
        p = cli("submit", "--api", api, "--module", mod, "--config", cfg, "--wait", "--json")
        rec = rt.last_json_line(p.stdout)
        self.assertEqual(rec["state"], "succeeded", p.stdout + p.stderr)
        self.assertFalse(os.path.exists(os.path.join(home, "store")))
        tree = rec["artifacts"][0]
        out = os.path.join(home, "got")
        cli("artifact", "get", tree, "-o", out, "--api", api)
        self.assertEqual(os.stat(os.path.join(out, "run.sh")).st_mode & 0o777, 0o755)
        self.assertEqual(os.stat(os.path.join(out, "data.txt")).st_mode & 0o777, 0o644)
        with open(os.path.join(out, "data.txt")) as f:
            self.assertEqual(f.read(), "plain\n")
        stat = json.loads(cli("artifact", "stat", tree, "--api", api).stdout)
        self.assertEqual(stat["media_type"], "application/vnd.recomp.tree+json")
        listed = json.loads(cli("artifact", "ls", "--api", api, "--json").stdout)
        self.assertIn(tree, [r["ref"] for r in listed])
        local = json.loads(cli("artifact", "ls", "--data", pool.data, "--json").stdout)
        self.assertEqual([r["ref"] for r in listed], [r["ref"] for r in local])
        logs = cli("logs", rec["run_id"], "--api", api)
        self.assertIn("==> x/0", logs.stdout)
        self.assertIn("making an executable", logs.stdout)
        status = cli("status", rec["run_id"], "--api", api, "--json")
        self.assertEqual(rt.last_json_line(status.stdout)["state"], "succeeded")
        blob = self.tmp.join("blob.bin")
        with open(blob, "wb") as f:
            f.write(os.urandom(300000))
        ref = cli("artifact", "put", blob, "--api", api).stdout.split()[-1]
        back = os.path.join(home, "blob.back")
        cli("artifact", "get", ref, "-o", back, "--api", api)
        with open(blob, "rb") as a, open(back, "rb") as b:
            self.assertEqual(a.read(), b.read())
        # The module is the user's: the client that sent it cannot read it back (no job).
        mod_ref = "artifact://" + hashlib.blake2b(b"laptop module\n", digest_size=32).hexdigest()
        refused = cli("artifact", "get", mod_ref, "-o", os.path.join(home, "m"), "--api", api,
                      check=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("external", refused.stderr)
        pool.stop()


if __name__ == "__main__":
    rt.main()
