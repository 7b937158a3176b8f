#!/usr/bin/env python3
"""Signed provenance (docs/provenance.md): a succeeded run's recomp.run.completed names a DSSE
envelope whose in-toto Statement (SLSA Provenance v1) lists every output as a subject, the
submission, the resolved dependencies and every job; the signature is checked here with
python3-nacl over the DSSE pre-authentication encoding (an implementation we did not write);
`recomp provenance verify` accepts it and refuses a flipped byte in the envelope or in a
subject's stored blob."""
import base64
import hashlib
import json
import os
import stat
import sys

import nacl.exceptions
import nacl.signing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402


def pae(payload_type, payload):
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


class Provenance(rt.PoolTestCase):
    def test_a_succeeded_run_is_signed_and_verifiable(self):
        pool = self.pool(workers=1).start()
        mod = rt.write_module(self.tmp.join("mod"))
        prov = rt.write_provenance(self.tmp.join("mod"), [mod])
        # `big` writes a file above the store's 4 KiB inline limit: a blob file to corrupt below.
        big = rt.stage("big", salt="prov", command=[
            rt.PYTHON, "-c", "import os; os.makedirs('out'); "
            "open('out/big.bin', 'wb').write(bytes(range(256)) * 64)"])
        cfg = rt.write_pipeline(self.tmp.join("p"), "p", rt.fanout_stages(salt="prov") + [big],
                                common_env={"COUNT_FILE": self.tmp.join("count.txt")})
        p, st = pool.submit([mod], cfg, prov)
        self.assertEqual(st["state"], "succeeded", p.stdout + p.stderr + pool.log_tail())
        run_id = st["run_id"]
        events = pool.events(run_id)
        completed = [e["data"] for e in events if e["type"] == "recomp.run.completed"][0]
        self.assertRegex(completed["provenance"], r"^artifact://[0-9a-f]{64}$")

        # The envelope, checked with python3-nacl.
        raw = pool.cli("provenance", run_id, "--envelope").stdout.strip()
        env = json.loads(raw)
        self.assertEqual(env["payloadType"], "application/vnd.in-toto+json")
        payload = base64.b64decode(env["payload"])
        with open(os.path.join(pool.data, "keys", "provenance.pub")) as f:
            key = nacl.signing.VerifyKey(bytes.fromhex(f.read().strip()))
        key.verify(pae(env["payloadType"], payload), base64.b64decode(env["signatures"][0]["sig"]))
        with self.assertRaises(nacl.exceptions.BadSignatureError):
            key.verify(pae(env["payloadType"], payload + b" "),
                       base64.b64decode(env["signatures"][0]["sig"]))

        # The statement says what the events say.
        s = json.loads(payload)
        self.assertEqual(s["_type"], "https://in-toto.io/Statement/v1")
        self.assertEqual(s["predicateType"], "https://slsa.dev/provenance/v1")
        outputs = {}
        jobs = {}
        for e in events:
            if e["type"] == "recomp.run.stage.completed":
                d = e["data"]
                jobs["%s/%d" % (d["stage"], d["shard"])] = d
                for o in d["outputs"]:
                    outputs["%s/%d/%s" % (d["stage"], d["shard"], o["path"])] = \
                        o["ref"].split("//")[1]
        self.assertEqual({x["name"]: x["digest"]["blake2b256"] for x in s["subject"]}, outputs)
        requested = [e["data"] for e in events if e["type"] == "recomp.run.requested"][0]
        ext = s["predicate"]["buildDefinition"]["externalParameters"]
        for k in ("module_manifest", "config_manifest", "provenance_manifest", "requested_by"):
            self.assertEqual(ext[k], requested[k], k)
        deps = {d["name"] for d in s["predicate"]["buildDefinition"]["resolvedDependencies"]}
        self.assertTrue({"module_manifest", "module/input.bin", "tools/step.py"} <= deps, deps)
        ran = {b["name"]: b["annotations"] for b in s["predicate"]["runDetails"]["byproducts"]}
        self.assertEqual(set(ran), set(jobs))
        for name, a in ran.items():
            self.assertEqual((a["job_id"], a["attempt"], a["worker"]),
                             (jobs[name]["job_id"], jobs[name]["attempt"], jobs[name]["worker"]))

        # recomp verifies it; a flipped byte in the envelope's payload fails.
        ok = pool.cli("provenance", "verify", run_id)
        self.assertIn("verified", ok.stdout)
        self.assertIn("%d subjects" % len(outputs), ok.stdout)
        env["payload"] = base64.b64encode(payload.replace(b"blake2b256", b"blake2b257", 1)).decode()
        bad_file = self.tmp.join("tampered.json")
        with open(bad_file, "w") as f:
            json.dump(env, f)
        bad = pool.cli("provenance", "verify", bad_file, check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("no signature", bad.stderr)

        # A flipped byte in a subject's stored blob fails too, naming the subject.
        name = "big/0/out/"  # the subject is big's output tree; big.bin is one of its files
        hexd = hashlib.blake2b(bytes(range(256)) * 64, digest_size=32).hexdigest()
        blob = os.path.join(pool.data, "store", "blobs", "generated", hexd[:2], hexd)
        os.chmod(blob, stat.S_IRUSR | stat.S_IWUSR)
        with open(blob, "r+b") as f:
            first = f.read(1)
            f.seek(0)
            f.write(bytes([first[0] ^ 1]))
        bad = pool.cli("provenance", "verify", run_id, check=False)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn(name, bad.stderr)
        pool.stop()


if __name__ == "__main__":
    rt.main()
