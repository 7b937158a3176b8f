#!/usr/bin/env python3
"""A subscriber that knows ONLY docs/events.md: it runs the doc's own Python example (the
code block under "### Example") and checks, against the doc's statements, that a live
subscriber sees the five event types in order with gap-free sequences, that a late subscriber
(and one resuming from the middle) replays the same events without gap, that the replay
endpoint answers REQ as well as DEALER, filters by run, and that a malformed replay request
gets an ERROR. Envelopes are also checked against docs/schemas/event.schema.json."""
import json
import os
import queue
import re
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402

import msgpack  # noqa: E402
import zmq  # noqa: E402

DOC = os.path.join(rt.REPO, "docs", "events.md")
SCHEMA = os.path.join(rt.REPO, "docs", "schemas", "event.schema.json")
TYPES = ["recomp.run.requested", "recomp.run.started", "recomp.run.stage.completed",
         "recomp.run.validation.completed", "recomp.run.completed"]
EXTENSIONS = ["recomp.job.started", "recomp.job.retry_scheduled", "recomp.worker.joined",
              "recomp.worker.left"]
ENVELOPE_KEYS = {"specversion", "id", "source", "type", "subject", "time", "datacontenttype",
                 "dataschema", "sequence", "data"}


def doc_example():
    """Loads the `follow` generator from the doc's Python example."""
    with open(DOC) as f:
        text = f.read()
    m = re.search(r"### Example[^\n]*\n+```python\n(.*?)\n```", text, re.S)
    assert m, "docs/events.md has no '### Example' python block"
    ns = {"__name__": "events_doc_example"}
    exec(compile(m.group(1), DOC + ":example", "exec"), ns)
    return ns["follow"]


class Subscriber:
    """Runs the doc's follow() in a thread; events land in a queue."""

    def __init__(self, data_dir, start=0):
        self.q = queue.Queue()
        self.error = None
        follow = doc_example()

        def loop():
            try:
                for ev in follow(data_dir, start):
                    self.q.put(ev)
            except Exception as e:  # reported by collect()
                self.error = e
                self.q.put(None)

        threading.Thread(target=loop, daemon=True).start()

    def collect_until(self, pred, timeout=120):
        """Events until (and including) the first for which pred(ev) is true."""
        out = []
        deadline = rt.time.monotonic() + timeout
        while True:
            left = deadline - rt.time.monotonic()
            if left <= 0:
                raise rt.TestFailure("subscriber: timed out; got %r" % [(e["sequence"], e["type"]) for e in out])
            try:
                ev = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if ev is None:
                raise rt.TestFailure("subscriber failed: %r" % (self.error,))
            out.append(ev)
            if pred(ev):
                return out


def completed(run_id):
    return lambda ev: ev["type"] == "recomp.run.completed" and ev["subject"] == run_id


class EventsSubscriber(rt.PoolTestCase):
    def check_run_events(self, evs, run_id, jobs):
        """Per-run rules of docs/events.md "Ordering and sequence" (SPEC-250's five; the
        extensions are checked by check_job_starts)."""
        self.check_job_starts([e for e in evs if e["subject"] == run_id])
        mine = [e for e in evs if e["subject"] == run_id and e["type"] in TYPES]
        types = [e["type"] for e in mine]
        self.assertEqual(types, [TYPES[0], TYPES[1]] + [TYPES[2]] * jobs + [TYPES[3], TYPES[4]])
        self.assertEqual(mine[0]["id"], run_id + "/requested")
        self.assertEqual(mine[1]["id"], run_id + "/started")
        self.assertEqual(mine[-2]["id"], run_id + "/validation")
        self.assertEqual(mine[-1]["id"], run_id + "/completed")
        for e in mine[2:-2]:
            self.assertEqual(e["id"], "%s/stage/%s/%d" % (run_id, e["data"]["stage"], e["data"]["shard"]))
        return mine

    def check_job_starts(self, evs):
        """Every executed job's recomp.job.started comes before its stage.completed and names
        the attempt and worker that completed it; cache hits never start."""
        started = {}
        for e in evs:
            d = e["data"]
            key = (d.get("stage"), d.get("shard"))
            if e["type"] == "recomp.job.started":
                self.assertEqual(e["id"], "%s/job/%s/%d/started/%d" % (e["subject"], key[0], key[1], d["attempt"]))
                started[key] = d
            elif e["type"] == "recomp.run.stage.completed":
                if d["cached"]:
                    self.assertNotIn(key, started)
                else:
                    self.assertIn(key, started, "no job.started before %r" % (key,))
                    self.assertEqual(started[key]["attempt"], d["attempt"])
                    self.assertEqual(started[key]["worker"], d["worker"])
                    self.assertEqual(started[key]["job_id"], d["job_id"])

    def check_envelopes(self, evs):
        import jsonschema
        with open(SCHEMA) as f:
            schema = json.load(f)
        for e in evs:
            self.assertEqual(set(e), ENVELOPE_KEYS, e)
            self.assertEqual(e["specversion"], "1.0")
            self.assertEqual(e["source"], "recomp/coordinator")
            self.assertEqual(e["datacontenttype"], "application/json")
            self.assertEqual(e["dataschema"], "urn:recomp:event-data:v1")
            jsonschema.validate(e, schema)
        seqs = [e["sequence"] for e in evs]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))), "gap or disorder")

    def test_live_late_and_resumed_subscribers(self):
        pool = self.pool(workers=2).start()
        count = self.tmp.join("count.txt")
        cfg = rt.write_pipeline(self.tmp.join("pipe"), "fanout", rt.fanout_stages(validation=True),
                                common_env=pool.job_env(count))
        mod = rt.write_module(self.tmp.join("mod"))
        prov = rt.write_provenance(self.tmp.join("mod"), [mod])

        live = Subscriber(pool.data)
        p, st = pool.submit([mod], cfg, prov, wait=False)
        run_id = st["run_id"]
        evs = live.collect_until(completed(run_id))
        self.assertEqual(evs[0]["sequence"], 1)  # an empty pool: the workers' and this run's
        self.check_envelopes(evs)
        joined = [e for e in evs if e["type"] == "recomp.worker.joined"]
        self.assertEqual(len(joined), 2)
        for e in joined:
            self.assertEqual(e["subject"], e["data"]["worker_id"])
            self.assertGreaterEqual(e["data"]["slots"], 1)
        self.assertEqual({e["type"] for e in evs} - set(TYPES),
                         {"recomp.job.started", "recomp.worker.joined"})
        mine = self.check_run_events(evs, run_id, jobs=6)
        data = {e["type"]: e["data"] for e in mine}
        req = data["recomp.run.requested"]
        self.assertEqual(req["stages"], ["a", "b", "c", "check"])
        self.assertEqual(req["execution_mode"], "local")
        for k in ("priority", "requested_by", "module_manifest", "config_manifest", "provenance_manifest"):
            self.assertIn(k, req)
        self.assertEqual(data["recomp.run.started"], {})
        stages = [(e["data"]["stage"], e["data"]["shard"]) for e in mine if e["type"] == TYPES[2]]
        self.assertEqual(stages[0], ("a", 0))
        self.assertEqual(sorted(stages[1:4]), [("b", 0), ("b", 1), ("b", 2)])
        self.assertEqual(stages[4:], [("c", 0), ("check", 0)])
        for e in mine:
            if e["type"] == TYPES[2]:
                d = e["data"]
                self.assertEqual(d["shards"], 3 if d["stage"] == "b" else 1)
                self.assertEqual((d["outcome"], d["exit_status"], d["exit_code"]), ("succeeded", "exited:0", 0))
                self.assertFalse(d["cached"])
                self.assertGreaterEqual(d["attempt"], 1)
                self.assertTrue(d["worker"])
                self.assertTrue(d["log_ref"].startswith("artifact://"))
                for k in ("job_id", "duration_ms", "outputs", "message"):
                    self.assertIn(k, d)
        val = data["recomp.run.validation.completed"]
        self.assertEqual((val["stage"], val["verdict"]), ("check", "passed"))
        self.assertEqual(val["report"], val["reports"][0]["ref"])
        done = data["recomp.run.completed"]
        self.assertEqual((done["state"], done["reason"], done["verdict"]), ("succeeded", "", "passed"))

        # A late subscriber replays exactly the same events.
        late = Subscriber(pool.data).collect_until(completed(run_id))
        self.assertEqual(late, evs)
        # One resuming from the middle gets exactly the rest.
        mid = evs[3]["sequence"]
        rest = Subscriber(pool.data, mid).collect_until(completed(run_id))
        self.assertEqual(rest, evs[4:])

        # A second run while the first subscriber is still live: contiguous, cached this time.
        p2, st2 = pool.submit([mod], cfg, prov, wait=False)
        evs2 = live.collect_until(completed(st2["run_id"]))
        self.assertEqual(evs2[0]["sequence"], evs[-1]["sequence"] + 1)
        self.check_envelopes(evs + evs2)
        mine2 = self.check_run_events(evs2, st2["run_id"], jobs=6)
        self.assertTrue(all(e["data"]["cached"] and e["data"]["worker"] == "" and e["data"]["duration_ms"] == 0
                            for e in mine2 if e["type"] == TYPES[2]))
        # Determinism: data equal apart from what the doc lists.
        def norm(e):
            d = dict(e["data"])
            # The provenance records this run's id, times and workers: it differs per run.
            for k in ("worker", "duration_ms", "attempt", "cached", "provenance"):
                d.pop(k, None)
            return e["type"], e["id"].split("/", 1)[1], d
        self.assertEqual(sorted(map(norm, mine2), key=repr), sorted(map(norm, mine), key=repr))

        # Replay details: REQ works too, run_id filters, `last`/`head` as documented.
        ep = pool.endpoints()["replay"]
        c = rt.Client(ep)
        frames = c.raw([b"RCP1", b"REPLAY", msgpack.packb({"from": 0, "limit": 2})], socket_type=zmq.REQ)
        cmd, body = rt.decode_reply(frames)
        self.assertEqual(cmd, "OK")
        self.assertEqual([e["sequence"] for e in body["events"]], [1, 2])
        self.assertEqual(body["last"], 2)
        self.assertEqual(body["head"], evs2[-1]["sequence"])
        body = c.ok("REPLAY", {"from": 0, "limit": 1000, "run_id": run_id})
        self.assertEqual(body["events"], [e for e in evs if e["subject"] == run_id])
        body = c.ok("REPLAY", {"from": body["head"], "limit": 10})
        self.assertEqual((body["events"], body["last"]), ([], body["head"]))
        cmd, body = c.call("REPLAY", {"from": "zero"})
        self.assertEqual(cmd, "ERROR")
        self.assertEqual(body["code"], "INVALID_ARGUMENT")
        self.assertTrue(body["message"])

        pool.stop()


if __name__ == "__main__":
    rt.main()
