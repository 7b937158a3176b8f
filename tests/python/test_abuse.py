#!/usr/bin/env python3
"""Regression tests for the hostile inputs of issue 9 (tests/python/abuse.py sends them; the
full-size figures come from bench/abuse_bench.py). Each checks the outcome, that the same
coordinator still serves, and a memory bound far from what the input would cost unbounded.
Rows covered elsewhere: disk full (test_pool_disk_full), a worker SIGKILLed
(test_pool_worker_kill), a never-answering worker's lease and liveness window
(broker_test), a deterministic failure not retried (run_engine_test), a result over its cap
(job_execution_test)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import abuse  # noqa: E402
import recomp_testlib as rt  # noqa: E402

import zmq  # noqa: E402

MiB = abuse.MiB
# Under the sanitizers the allocator is ASan's (quarantine, shadow memory): the outcomes are
# checked, the memory figures only in a plain build.
MEASURE_MEMORY = not os.environ.get("RECOMP_SANITIZED")


class Abuse(rt.PoolTestCase):
    def setUp(self):
        super().setUp()
        self.p = self.pool(workers=1).start()
        self.p.wait_workers(1)
        self.ep = self.p.endpoints()
        self.coordinator = self.p.coordinator_pids()
        self.assertEqual(len(self.coordinator), 1)

    def rss_mb(self):
        return abuse.status_kb(self.coordinator[0], "VmRSS") / 1024

    def assert_same_coordinator_serves(self):
        self.assertEqual(self.p.coordinator_pids(), self.coordinator, "the coordinator restarted")
        self.p.api().ok("LIST", {"limit": 1})

    def test_a_frame_over_the_limit_drops_the_connection_on_every_endpoint(self):
        for name in ("api", "replay", "workers"):
            with abuse.Measure(self.p) as m:
                reply = abuse.oversized_frame(self.ep[name], 40 * MiB)
            self.assertIsNone(reply, "%s answered a 40 MiB frame" % name)
            if MEASURE_MEMORY and not m.result["peak_is_since_start"]:
                self.assertLess(m.result["peak_mb"], m.result["rss_before_mb"] + 16, (name, m.result))
        self.assert_same_coordinator_serves()

    def test_an_unfinished_message_is_released_when_its_peer_goes(self):
        # While the peer keeps the message open libzmq holds it (only authentication bounds
        # that, docs/protocol.md "Bounds"); once it goes, the memory goes back.
        before = self.rss_mb()
        with abuse.Measure(self.p, settle_s=0) as m:  # 1-byte frames: ~20 B held per wire byte
            secs, sent = abuse.endless_multipart(self.ep["api"], 8 * MiB, frame_bytes=1)
        self.assertGreaterEqual(sent, 8 * MiB)
        if not MEASURE_MEMORY:
            self.assert_same_coordinator_serves()
            return
        if not m.result["peak_is_since_start"]:
            self.assertGreater(m.result["peak_mb"], before + 64, "the message was not buffered?")
        rt.wait_for(lambda: self.rss_mb() < before + 24, 30,
                    "the coordinator to give back an abandoned message's memory "
                    "(%.0f MB before, %.0f MB now)" % (before, self.rss_mb()), interval=0.5)
        self.assert_same_coordinator_serves()

    def test_subscriptions_are_checked_against_the_known_topics(self):
        before = self.rss_mb()
        dropped = abuse.big_subscriptions(self.ep["events"], 20, MiB)
        self.assertGreater(dropped, 0, "1 MB subscriptions must cut their connections")
        if MEASURE_MEMORY:
            self.assertLess(self.rss_mb(), before + 16)
        ctx = zmq.Context.instance()
        good, bogus = ctx.socket(zmq.SUB), ctx.socket(zmq.SUB)
        for s, topic in ((good, b"recomp.run."), (bogus, b"bogus.")):
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.SUBSCRIBE, topic)
            s.connect(self.ep["events"])
        try:
            # Subscriptions travel asynchronously: submit runs until the good one hears (bounded).
            heard = None
            for i in range(20):
                self.submit_small("sub-%d" % i)
                if good.poll(1000):
                    heard = good.recv_multipart()
                    break
            self.assertIsNotNone(heard, "a subscriber to recomp.run. heard nothing")
            self.assertTrue(heard[0].startswith(b"recomp.run."), heard[0])
            self.assertEqual(bogus.poll(500), 0, "an unknown topic must receive nothing")
        finally:
            good.close()
            bogus.close()
        self.assert_same_coordinator_serves()

    def submit_small(self, name):
        count = self.tmp.join("count.txt")
        cfg = rt.write_pipeline(self.tmp.join("p-" + name), name,
                                [rt.stage("a", salt=name, outputs=())],
                                common_env=self.p.job_env(count))
        mod = rt.write_module(self.tmp.join("m-" + name))
        prov = rt.write_provenance(self.tmp.join("m-" + name), [mod])
        p, st = self.p.submit([mod], cfg, prov, wait=False)
        return st

    def refused(self, cfg, name):
        mod = rt.write_module(self.tmp.join("m-" + name))
        prov = rt.write_provenance(self.tmp.join("m-" + name), [mod])
        p, _ = self.p.submit([mod], cfg, prov, wait=False, check=False)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        return p.stderr

    def test_plans_over_their_caps_are_refused_at_submit(self):
        err = self.refused(abuse.write_big_env_pipeline(self.tmp.join("env"), MiB, 1024,
                                                        self.tmp.join("c")), "env")
        self.assertIn("stage 'wide': env is", err)
        self.assertIn("more than 65536", err)
        err = self.refused(abuse.write_chain_pipeline(self.tmp.join("chain"), 10000), "chain")
        self.assertIn("pipeline has 10000 stages, more than 1000", err)
        self.assertEqual(self.p.api().ok("LIST", {})["runs"], [], "a refused plan records nothing")
        self.assert_same_coordinator_serves()

    def test_a_job_writing_45000_files_replays_and_lists(self):
        for r in range(2):
            cfg = abuse.write_many_files_pipeline(self.tmp.join("f%d" % r), 45000, salt="r%d" % r)
            mod = rt.write_module(self.tmp.join("m-files"))
            prov = rt.write_provenance(self.tmp.join("m-files"), [mod])
            p, st = self.p.submit([mod], cfg, prov, timeout=600)
            self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr)
            done = [e for e in self.p.events(st["run_id"])
                    if e["type"] == "recomp.run.stage.completed"]
            self.assertEqual([o["path"] for o in done[0]["data"]["outputs"]], ["out/"],
                             "a directory output is one tree artifact")
        files = self.p.tree_files(done[0]["data"]["outputs"][0]["ref"])
        self.assertEqual(len(files), 45000)
        self.assertEqual(files["f/044999.c"], b"int f44999(void) { return 44999; }\n")
        ev = self.p.cli("events", "--from", "0", "--json", timeout=300)
        types = [json.loads(line)["type"] for line in ev.stdout.splitlines()]
        self.assertEqual(len([t for t in types if t.startswith("recomp.run.")]), 2 * 4)
        self.assertEqual(self.p.cli("runs").returncode, 0)
        self.assert_same_coordinator_serves()


if __name__ == "__main__":
    rt.main()
