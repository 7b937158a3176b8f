"""`recomp artifact` end to end: round trips, exit codes, hostile input, corruption, gc, pins."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from store_helpers import art, blob_path, put, ref_of, tempdir  # noqa: E402


class StoreCli(unittest.TestCase):
    def setUp(self):
        self._tmp = tempdir()
        self.dir = self._tmp.name
        self.store = os.path.join(self.dir, "store")

    def tearDown(self):
        self._tmp.cleanup()

    def file(self, name, data: bytes):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_put_get_stat_ls(self):
        data = os.urandom(100_000)
        ref = put(self.store, self.file("a.bin", data), "--media-type", "application/x-test")
        self.assertEqual(ref, ref_of(data))
        self.assertEqual(put(self.store, self.file("b.bin", data)), ref)  # dedup
        out = os.path.join(self.dir, "out.bin")
        art(self.store, "get", ref, "-o", out, check=0)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(art(self.store, "get", ref, check=0).stdout, data)
        stat = json.loads(art(self.store, "stat", ref, check=0).stdout)
        self.assertEqual(stat["ref"], ref)
        self.assertEqual(stat["class"], "generated")
        self.assertEqual(stat["size"], len(data))
        self.assertEqual(stat["media_type"], "application/x-test")
        small = put(self.store, self.file("s.txt", b"small"))
        ext = put(self.store, self.file("rom.z64", b"ROM" * 1000), "--external")
        listing = json.loads(art(self.store, "ls", "--json", check=0).stdout)
        self.assertEqual(sorted(r["ref"] for r in listing), sorted([ref, small, ext]))
        lines = art(self.store, "ls", "--class", "external", check=0).stdout.decode().splitlines()
        self.assertEqual([line.split()[0] for line in lines], [ext])
        self.assertTrue(os.path.exists(blob_path(self.store, "external", ext)))
        self.assertEqual(art(self.store, "verify", check=0).returncode, 0)
        # stdin put
        p = subprocess.run([os.environ.get("RECOMP_BIN", ""), "artifact", "put", "-", "--store", self.store],
                           input=b"from stdin", stdout=subprocess.PIPE, check=True) if os.environ.get(
            "RECOMP_BIN") else None
        if p:
            self.assertEqual(p.stdout.decode().split()[-1], ref_of(b"from stdin"))

    def test_usage_errors_and_hostile_refs(self):
        put(self.store, self.file("x", b"x"))
        for bad in ["artifact://../../etc", "artifact://" + "A" * 64, "artifact://" + "0" * 63,
                    "http://" + "0" * 64, "artifact://" + "0" * 64 + "/../x", "", "../../etc/passwd"]:
            for cmd in (["get", bad], ["stat", bad], ["verify", bad]):
                p = art(self.store, *cmd)
                self.assertEqual(p.returncode, 2, (cmd, p.stderr))
                self.assertIn(b"error:", p.stderr)
        self.assertEqual(art(self.store, "ls", "--class", "weird").returncode, 2)
        self.assertEqual(art(self.store, "bogus").returncode, 2)
        unknown = "artifact://" + "0" * 64
        p = art(self.store, "get", unknown, "-o", os.path.join(self.dir, "o"))
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"NOT_FOUND", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "o")))
        self.assertEqual(art(self.store, "stat", unknown).returncode, 1)
        self.assertEqual(art(os.path.join(self.dir, "nostore"), "ls").returncode, 1)

    def test_bad_input_files(self):
        p = art(self.store, "put", os.path.join(self.dir, "missing"))
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"missing", p.stderr)
        p = art(self.store, "put", self.dir)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"is a directory", p.stderr)
        if os.geteuid() != 0:  # root reads mode-000 files anyway
            path = self.file("secret", b"s")
            os.chmod(path, 0)
            p = art(self.store, "put", path)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"EACCES", p.stderr)

    def corrupt_case(self, damage):
        data = os.urandom(50_000)
        ref = put(self.store, self.file("d.bin", data))
        good = put(self.store, self.file("g.bin", os.urandom(20_000)))
        path = blob_path(self.store, "generated", ref)
        damage(path, data)
        out = os.path.join(self.dir, "out.bin")
        p = art(self.store, "get", ref, "-o", out)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"CORRUPTION", p.stderr)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(art(self.store, "get", ref).stdout, b"")  # stdout: nothing served
        p = art(self.store, "verify")
        self.assertEqual(p.returncode, 1)
        self.assertIn(ref.encode(), p.stdout)
        self.assertNotIn(good.encode(), p.stdout)
        self.assertEqual(art(self.store, "verify", good).returncode, 0)
        self.assertEqual(art(self.store, "verify", ref).returncode, 1)
        return ref

    def test_flipped_byte(self):
        def flip(path, data):
            os.chmod(path, 0o644)
            with open(path, "r+b") as f:
                f.seek(1234)
                b = f.read(1)
                f.seek(1234)
                f.write(bytes([b[0] ^ 0xFF]))
        self.corrupt_case(flip)

    def test_truncated_blob(self):
        def trunc(path, data):
            os.chmod(path, 0o644)
            os.truncate(path, 100)
        self.corrupt_case(trunc)

    def test_deleted_blob(self):
        ref = self.corrupt_case(lambda path, data: os.unlink(path))
        self.assertIn(b"missing " + ref.encode(), art(self.store, "verify").stdout)

    def test_corrupted_index_record(self):
        data = os.urandom(30_000)
        ref = put(self.store, self.file("r.bin", data))
        index = os.path.join(self.store, "index")
        dump = subprocess.run(["mdb_dump", "-s", "records", index], stdout=subprocess.PIPE, check=True).stdout
        lines = [line for line in dump.decode().splitlines() if not line.startswith("db_pagesize=")]
        key_at = lines.index(" " + ref[len("artifact://"):])
        lines[key_at + 1] = " " + "c1" * 40  # msgpack garbage
        subprocess.run(["mdb_load", "-s", "records", index], input=("\n".join(lines) + "\n").encode(), check=True)
        p = art(self.store, "stat", ref)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"CORRUPTION", p.stderr)
        self.assertEqual(art(self.store, "get", ref, "-o", os.path.join(self.dir, "o")).returncode, 1)
        p = art(self.store, "verify")
        self.assertEqual(p.returncode, 1)
        self.assertIn(("corrupt " + ref).encode(), p.stdout)
        # a fresh put of the same bytes rewrites the record
        self.assertEqual(put(self.store, self.file("r2.bin", data)), ref)
        self.assertEqual(art(self.store, "verify").returncode, 0)

    def test_gc_pins_and_retention(self):
        a = put(self.store, self.file("a", os.urandom(9000)))
        b = put(self.store, self.file("b", b"inline b"))
        c = put(self.store, self.file("c", os.urandom(9000)))
        rom = put(self.store, self.file("rom", os.urandom(9000)), "--external")
        art(self.store, "pin", "run-1", "--state", "active", a, check=0)
        art(self.store, "pin", "run-2", "--state", "succeeded", c, check=0)
        self.assertEqual(art(self.store, "pin", "run-3", "--state", "odd", a).returncode, 2)
        dry = art(self.store, "gc", "--dry-run", "--older-than-days", "0", check=0).stdout.decode()
        self.assertIn("would remove " + b, dry)
        self.assertIn("would remove " + c, dry)
        self.assertNotIn(a, dry)
        self.assertNotIn(rom, dry)
        self.assertEqual(art(self.store, "stat", b).returncode, 0)  # dry run removed nothing
        # defaults (7/30/90 days) keep everything fresh
        self.assertIn("removed 0 blob(s)", art(self.store, "gc", check=0).stdout.decode())
        cfg = self.file("recomp.toml", b"[store.retention]\nfailed_days = 90\nsucceeded_days = 0\nunpinned_days = 0\n")
        out = art(self.store, "gc", "--config", cfg, check=0).stdout.decode()
        self.assertIn("removed " + b, out)
        self.assertIn("removed " + c, out)
        self.assertEqual(art(self.store, "stat", c).returncode, 1)
        self.assertEqual(art(self.store, "stat", a).returncode, 0)
        self.assertEqual(art(self.store, "stat", rom).returncode, 0)
        out = art(self.store, "gc", "--older-than-days", "0", "--external", check=0).stdout.decode()
        self.assertIn("removed " + rom, out)
        self.assertFalse(os.path.exists(blob_path(self.store, "external", rom)))
        self.assertEqual(art(self.store, "stat", a).returncode, 0)  # active pin: never
        bad = self.file("bad.toml", b"[store.retention]\nfailed_days = 'x'\n")
        self.assertEqual(art(self.store, "gc", "--config", bad).returncode, 1)
        self.assertEqual(art(self.store, "gc", "--config", os.path.join(self.dir, "none.toml")).returncode, 1)
        self.assertEqual(art(self.store, "verify").returncode, 0)

    def test_export_refuses_external(self):
        gen = put(self.store, self.file("g", b"generated bytes"))
        ext = put(self.store, self.file("e", b"user rom"), "--external")
        dest = os.path.join(self.dir, "export")
        p = art(self.store, "export", dest, gen, ext)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"external", p.stderr)
        self.assertFalse(os.path.exists(dest))
        art(self.store, "export", dest, gen, check=0)
        self.assertEqual(os.listdir(dest), [gen[len("artifact://"):]])

    def test_external_bytes_never_logged(self):
        secret = b"SECRET-ROM-CONTENT-" * 100
        ref = put(self.store, self.file("rom", secret), "--external")
        outs = []
        for cmd in (["stat", ref], ["ls"], ["verify"], ["gc", "--dry-run", "--external", "--older-than-days", "0"]):
            p = art(self.store, *cmd, check=0)
            outs.append(p.stdout + p.stderr)
        self.assertFalse(any(b"SECRET-ROM" in o for o in outs))

    def test_disk_full(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to mount a small tmpfs")
        mnt = os.path.join(self.dir, "mnt")
        os.mkdir(mnt)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt]).returncode != 0:
            self.skipTest("cannot mount tmpfs here")
        try:
            store = os.path.join(mnt, "store")
            small = put(store, self.file("small", b"fits"))
            p = art(store, "put", self.file("big", os.urandom(8 << 20)))
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"ENOSPC", p.stderr)
            self.assertIn(store.encode(), p.stderr)
            self.assertEqual(os.listdir(os.path.join(store, "tmp")), [])
            self.assertEqual(art(store, "verify").returncode, 0)
            self.assertEqual(art(store, "stat", small).returncode, 0)
        finally:
            subprocess.run(["umount", mnt])


if __name__ == "__main__":
    unittest.main(verbosity=2)
