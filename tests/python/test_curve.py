#!/usr/bin/env python3
"""CURVE + ZAP on a pool (docs/security.md), with pyzmq as an independent client: a pool run
with `[security] curve = true` completes; a plaintext client, an unlisted key, a submitter at
the workers endpoint and a reader submitting are all refused; an unlisted worker never gets a
job; `requested_by` is the key's name whatever the client writes; with cancel = "own" another
submitter cannot cancel a run; removing a live worker's key from the allowlist drops it, and a
removed reader's event subscription; a
pool without CURVE refuses to bind a non-loopback address. (Across network namespaces:
test_netns_remote.py.)"""
import os
import re
import sys
import time

import msgpack
import zmq
import zmq.utils.monitor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402

TAG = b"RCP1"


def new_key(directory, name):
    """`recomp keys new NAME`; returns (public key text, key file path)."""
    rt.run([rt.RECOMP_BIN, "keys", "new", name, "--dir", directory])
    public, _ = rt.load_keypair(os.path.join(directory, name + ".key"))
    return public.decode(), os.path.join(directory, name + ".key")


def refused_handshake(endpoint, curve, timeout=10, socket_type=zmq.DEALER):
    """True when the server refuses `curve`'s key (ZAP 400 seen by the socket monitor) and no
    reply comes; the request is sent so that a wrongly accepted client would be answered."""
    ctx = zmq.Context.instance()
    s = ctx.socket(socket_type)
    s.setsockopt(zmq.LINGER, 0)
    rt.set_curve(s, curve)
    mon = s.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_SUCCEEDED)
    s.connect(endpoint)
    if socket_type == zmq.SUB:
        s.setsockopt(zmq.SUBSCRIBE, b"")
    else:
        s.send_multipart([TAG, b"LIST", msgpack.packb({})])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if s.poll(50):
                return False
            if mon.poll(50):
                ev = zmq.utils.monitor.recv_monitor_message(mon)
                if ev["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                    return ev["value"] == 400
                if ev["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                    return False
        raise rt.TestFailure("neither refused nor answered within %ss" % timeout)
    finally:
        s.disable_monitor()
        mon.close()
        s.close()


class Curve(rt.PoolTestCase):
    def curve_pool(self, workers=1, security=None):
        sec = {"curve": True}
        sec.update(security or {})
        pool = self.pool(workers=workers, config_overrides={"security": sec})
        self.keys = self.tmp.join("keys")
        self.allowlist = os.path.join(pool.data, "allowlist")
        return pool

    def write_allowlist(self, lines):
        tmp = self.allowlist + ".new"
        with open(tmp, "w") as f:
            f.write("# test allowlist\n" + "".join(l + "\n" for l in lines))
        os.rename(tmp, self.allowlist)  # as config tools do: readers see old or new, whole

    def worker(self, pool, key_path, name, extra=()):
        home = self.tmp.join(name)
        os.makedirs(home, exist_ok=True)
        p = rt.Proc([rt.RECOMP_BIN, "worker", "--connect", pool.endpoints()["workers"],
                     "--data", home, "--blobs", pool.endpoints()["blobs"],
                     "--server-key", os.path.join(pool.data, "keys", "coordinator.pub"),
                     "--key", key_path, "--heartbeat-ms", "200", "--reconnect-ms", "100", "--confine", "none",
                     *extra], os.path.join(pool.logs, name + ".log"))
        pool.parts.append(p)
        return p

    def worker_ids(self, pool):
        return [w["worker_id"] for w in pool.api().ok("WORKERS", {}).get("workers", [])]

    def pipeline(self, salt, **kw):
        mod = rt.write_module(self.tmp.join("mod"))
        prov = rt.write_provenance(self.tmp.join("mod"), [mod])
        cfg = rt.write_pipeline(self.tmp.join("p" + salt), "p", [rt.stage("a", salt=salt, **kw)],
                                common_env={"COUNT_FILE": self.tmp.join("count.txt")})
        return mod, prov, cfg

    def test_pool_runs_and_refuses_strangers(self):
        pool = self.curve_pool(workers=1).start()
        ep = pool.endpoints()
        self.assertEqual(len(ep["server_key"]), 40)
        mod, prov, cfg = rt.write_module(self.tmp.join("m")), None, None
        prov = rt.write_provenance(self.tmp.join("m"), [mod])
        cfg = rt.write_pipeline(self.tmp.join("p"), "p", rt.fanout_stages(salt="curve"),
                                common_env={"COUNT_FILE": self.tmp.join("count.txt")})
        p, st = pool.submit([mod], cfg, prov)
        self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr + pool.log_tail())
        requested = [e for e in pool.events(st["run_id"]) if e["type"] == "recomp.run.requested"]
        self.assertEqual(requested[0]["data"]["requested_by"], "local")  # the key's name

        # A plaintext client gets nothing from any endpoint (the positive control: the same
        # request with the pool's own key is answered).
        for name in ("api", "replay", "blobs"):
            self.assertIsNone(rt.Client(ep[name], 1000).raw([TAG, b"LIST", msgpack.packb({})]),
                              name)
        self.assertIsNotNone(pool.api().raw([TAG, b"LIST", msgpack.packb({})]))

        # An unlisted key is refused at every endpoint with ZAP status 400.
        stranger_pub, stranger = new_key(self.keys, "stranger")
        curve = (ep["server_key"].encode(),) + rt.load_keypair(stranger)
        for name in ("api", "replay", "workers", "blobs", "events"):
            kind = zmq.SUB if name == "events" else zmq.DEALER
            self.assertTrue(refused_handshake(ep[name], curve, socket_type=kind), name)

        # The CLI names the refused key.
        p = rt.run([rt.RECOMP_BIN, "status", st["run_id"], "--data", pool.data, "--key", stranger],
                   check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("refused key " + stranger_pub, p.stderr)
        pool.stop()

    def test_roles_and_requested_by(self):
        pool = self.curve_pool(workers=1, security={"cancel": "own"})
        os.makedirs(self.keys)
        alice_pub, alice = new_key(self.keys, "alice")
        carol_pub, carol = new_key(self.keys, "carol")
        bob_pub, bob = new_key(self.keys, "bob")
        self.write_allowlist(["%s alice submitter" % alice_pub, "%s carol submitter" % carol_pub,
                              "%s bob reader" % bob_pub])
        pool.start()
        ep = pool.endpoints()
        as_key = lambda path: rt.Client(ep["api"], curve=pool.client_curve(key=path))

        # A reader reads but cannot submit (pyzmq client: the coordinator checks the role on
        # every request, not only at the handshake).
        self.assertEqual(as_key(bob).call("LIST", {})[0], "OK")
        cmd, err = as_key(bob).call("SUBMIT", {"run_id": "x"})
        self.assertEqual((cmd, err["code"]), ("ERROR", "PERMISSION_DENIED"), err)
        mod, prov, cfg = self.pipeline("roles", env={"SLEEP_S": "30"}, timeout_s=120)
        p, _ = pool.submit([mod], cfg, prov, wait=False, check=False, extra=("--key", bob))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("PERMISSION_DENIED", p.stderr)

        # A submitter cannot register as a worker: refused at the workers endpoint by ZAP.
        curve = (ep["server_key"].encode(),) + rt.load_keypair(alice)
        self.assertTrue(refused_handshake(ep["workers"], curve))

        # requested_by is alice's name whatever the CLI wrote; carol may not cancel it.
        p, st = pool.submit([mod], cfg, prov, wait=False, extra=("--key", alice))
        run_id = st["run_id"]
        requested = [e for e in pool.events(run_id) if e["type"] == "recomp.run.requested"]
        self.assertEqual(requested[0]["data"]["requested_by"], "alice")
        p = rt.run([rt.RECOMP_BIN, "cancel", run_id, "--data", pool.data, "--key", carol],
                   check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("only its submitter", p.stderr)
        rt.run([rt.RECOMP_BIN, "cancel", run_id, "--data", pool.data, "--key", alice])
        pool.wait_state(run_id, ("failed",), timeout=60)
        pool.stop()

    def test_unlisted_worker_gets_nothing_and_removed_key_is_dropped(self):
        pool = self.curve_pool(workers=0)
        os.makedirs(self.keys)
        b1_pub, b1 = new_key(self.keys, "builder-1")
        _, mallory = new_key(self.keys, "mallory")
        _, alice = new_key(self.keys, "alice")
        self.write_allowlist([])
        pool.start()
        ep = pool.endpoints()
        m = self.worker(pool, mallory, "mallory")
        mod, prov, cfg = self.pipeline("workers")
        p, st = pool.submit([mod], cfg, prov, wait=False)
        rt.wait_for(lambda: "not in the pool's allowlist" in m.output(), 20,
                    "the unlisted worker to report its refused key")
        self.assertEqual(self.worker_ids(pool), [])
        self.assertIn(pool.status(st["run_id"])["state"], ("queued", "running"))
        self.assertFalse([e for e in pool.events(st["run_id"])
                          if e["type"] == "recomp.run.stage.completed"])

        # Listing builder-1 while the pool runs admits it (the allowlist is re-read); the run
        # then completes on it, never on mallory.
        self.write_allowlist(["%s builder-1 worker" % b1_pub])
        w = self.worker(pool, b1, "builder-1")
        pool.wait_state(st["run_id"], ("succeeded",), timeout=60)
        # The coordinator's worker list follows the broker's within a list interval.
        rt.wait_for(lambda: [i.split(":")[0] for i in self.worker_ids(pool)] == ["builder-1"], 10,
                    "the worker list to show builder-1 alone")
        self.assertIsNone(re.search(r"job \S+ attempt \d+ .* started", m.output()), m.output())

        # A worker id or labels not its key's are refused.
        x = self.worker(pool, b1, "impostor", extra=("--id", "someone-else"))
        rt.wait_for(lambda: "is not key builder-1's" in x.output(), 20, "the impostor refused")
        g = self.worker(pool, b1, "greedy", extra=("--label", "gpu=8"))
        rt.wait_for(lambda: "gpu=8 is not granted" in g.output(), 20, "the label refused")

        # Removing builder-1's key drops the live worker.
        self.write_allowlist([])
        rt.wait_for(lambda: self.worker_ids(pool) == [], 20, "builder-1 to be dropped")
        rt.wait_for(lambda: "builder-1 was removed" in w.output() or
                    "no longer allowed" in w.output(), 20, "the worker told why")
        pool.stop()

    def test_a_removed_reader_loses_its_event_subscription(self):
        pool = self.curve_pool(workers=1)
        os.makedirs(self.keys)
        bob_pub, bob = new_key(self.keys, "bob")
        self.write_allowlist(["%s bob reader" % bob_pub])
        pool.start()
        ep = pool.endpoints()
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        rt.set_curve(sub, pool.client_curve(key=bob))
        mon = sub.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        sub.setsockopt(zmq.SUBSCRIBE, b"recomp.run.")
        sub.connect(ep["events"])

        def next_event(kind):
            ev = zmq.utils.monitor.recv_monitor_message(mon) if mon.poll(100) else None
            return ev if ev and ev["event"] == kind else None
        try:
            rt.wait_for(lambda: next_event(zmq.EVENT_HANDSHAKE_SUCCEEDED), 10, "bob subscribed")
            mod, prov, cfg = self.pipeline("events")
            pool.submit([mod], cfg, prov, wait=False)
            self.assertTrue(sub.poll(20000), "bob, listed, receives events")
            self.write_allowlist([])  # bob removed: the events endpoint re-opens
            rt.wait_for(lambda: next_event(zmq.EVENT_HANDSHAKE_FAILED_AUTH), 20,
                        "bob's reconnection to be refused")
        finally:
            sub.disable_monitor()
            mon.close()
            sub.close()
        pool.stop()

    def test_non_loopback_needs_curve_or_insecure(self):
        pool = self.pool(workers=0)
        p = rt.run([rt.RECOMP_BIN, "coordinator", "--data", pool.data, "--config", pool.config,
                    "--api", "tcp://0.0.0.0:0"], check=False, timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--curve", p.stderr)


if __name__ == "__main__":
    rt.main()
