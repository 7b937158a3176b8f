#!/usr/bin/env python3
"""Garbage and malformed frames on every endpoint a peer can talk to (api, replay, workers;
events is PUB: nothing is read from it) get an error reply (ERROR, or DISCONNECT for a worker
peer) and crash nothing: afterwards every recomp process is still the same, and a run
succeeds."""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402

import msgpack  # noqa: E402
import zmq  # noqa: E402

T = rt.TAG


def nested(depth):
    v = {}
    for _ in range(depth):
        v = [v]
    return v


def garbage_cases(command):
    """Frame lists (as sent by a DEALER) that are not valid requests."""
    rnd = random.Random(1234)
    cases = [
        [b"hello"],
        [b""],
        [T],
        [T, command.encode()],
        [b"RCP2", command.encode(), msgpack.packb({})],
        [T, b"", msgpack.packb({})],
        [T, b"\x00\xff\xfe", msgpack.packb({})],
        [T, b"X" * 200, msgpack.packb({})],
        [T, b"NO_SUCH_COMMAND", msgpack.packb({})],
        [T, command.encode(), b""],
        [T, command.encode(), b"\xc1"],                       # never-used msgpack byte
        [T, command.encode(), b"\x92\x01"],                   # truncated array
        [T, command.encode(), msgpack.packb([1, 2, 3])],      # not a map
        [T, command.encode(), msgpack.packb("string")],
        [T, command.encode(), msgpack.packb({"run_id": 5, "from": "x", "limit": -1})],
        [T, command.encode(), msgpack.packb({b"\xff": b"\xfe"})],
        [T, command.encode(), b"\xdf\xff\xff\xff\xff"],       # map claiming 4G entries
        [T, command.encode(), b"\xdd\xff\xff\xff\xff"],       # array claiming 4G entries
        [T, command.encode(), msgpack.packb({"a": nested(200)})],
        [T, command.encode(), msgpack.packb({}), b"extra frame"],
        [T, command.encode(), bytes(rnd.getrandbits(8) for _ in range(4096))],
        [bytes(rnd.getrandbits(8) for _ in range(64)) for _ in range(8)],
        [T, command.encode(), b"\x00" * (1 << 20)],
    ]
    for _ in range(20):
        n = rnd.randint(1, 5)
        cases.append([bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 50))) for _ in range(n)])
    return cases


class Garbage(rt.PoolTestCase):
    def expect_error(self, client, frames, reply_cmds=("ERROR",), socket_type=zmq.DEALER):
        """The decoded error body, or None (recorded in self.unanswered) when no reply came.
        After a first unanswered request on an endpoint, later ones wait only 1 s."""
        slow = client.endpoint not in {ep for ep, _ in self.unanswered}
        reply = client.raw(frames, timeout_ms=5000 if slow else 1000, socket_type=socket_type)
        if reply is None:
            self.unanswered.append((client.endpoint, [f[:24] for f in frames[:4]]))
            return None
        if len(reply) == 4 and reply[0] == b"":
            reply = reply[1:]  # answered REQ-style: the request began with an empty frame
        cmd, body = rt.decode_reply(reply)
        self.assertIn(cmd, reply_cmds, (frames[:3], body))
        self.assertIsInstance(body, dict)
        return body

    def test_garbage_everywhere(self):
        pool = self.pool(workers=2).start()
        pool.wait_workers(2)  # `up` starts them after the coordinator: count them in `before`
        ep = pool.endpoints()
        before = sorted(pid for pid, _ in pool.processes())
        self.unanswered = []

        api = rt.Client(ep["api"])
        for frames in garbage_cases("SUBMIT") + garbage_cases("STATUS"):
            with self.subTest(endpoint="api", frames=[f[:24] for f in frames[:4]]):
                body = self.expect_error(api, frames)
                if body is not None:
                    self.assertIn("code", body)
                    self.assertIn("message", body)
        # Well-framed but semantically wrong requests.
        for cmd, body in [("STATUS", {"run_id": "no-such-run"}), ("STATUS", {"run_id": "../../etc"}),
                          ("CANCEL", {"run_id": ""}), ("AUDIT", {}),
                          ("SUBMIT", {"schema_version": 1}),
                          ("SUBMIT", {"schema_version": 1, "execution_mode": "local",
                                      "module_manifest": "artifact://" + "0" * 64,
                                      "config_manifest": "artifact://" + "1" * 64,
                                      "provenance_manifest": "artifact://" + "2" * 64,
                                      "requested_by": "t", "priority": "standard"})]:
            with self.subTest(endpoint="api", command=cmd, body=body):
                got, reply = api.call(cmd, body)
                self.assertEqual(got, "ERROR", reply)
        # A REQ peer gets its answer too (with the empty delimiter handled).
        self.expect_error(api, [b"hello"], socket_type=zmq.REQ)

        replay = rt.Client(ep["replay"])
        for frames in garbage_cases("REPLAY"):
            with self.subTest(endpoint="replay", frames=[f[:24] for f in frames[:4]]):
                self.expect_error(replay, frames)

        # Workers endpoint: an unregistered peer talking nonsense gets DISCONNECT.
        workers = rt.Client(ep["workers"])
        for frames in garbage_cases("READY") + [[T, b"RESULT", msgpack.packb({})],
                                                [T, b"HEARTBEAT", msgpack.packb({})],
                                                [T, b"READY", msgpack.packb({"slots": "many"})]]:
            with self.subTest(endpoint="workers", frames=[f[:24] for f in frames[:4]]):
                body = self.expect_error(workers, frames, reply_cmds=("DISCONNECT",))
                if body is not None:
                    self.assertIn("reason", body)

        # Nothing crashed: the same processes, the API answers, and a run succeeds.
        after = sorted(pid for pid, _ in pool.processes())
        self.assertEqual(after, before)
        count = self.tmp.join("count.txt")
        cfg = rt.write_pipeline(self.tmp.join("pipe"), "fanout", rt.fanout_stages(),
                                common_env=pool.job_env(count))
        mod = rt.write_module(self.tmp.join("mod"))
        prov = rt.write_provenance(self.tmp.join("mod"), [mod])
        p, st = pool.submit([mod], cfg, prov)
        self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr)
        pool.stop()
        names = {v: k for k, v in ep.items()}
        self.assertEqual([(names.get(e, e), f) for e, f in self.unanswered], [],
                         "requests that got no error reply (endpoint, first frames)")


if __name__ == "__main__":
    rt.main()
