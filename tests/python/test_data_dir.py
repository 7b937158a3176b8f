#!/usr/bin/env python3
"""One pool per data directory: a second `recomp up` (or a second coordinator) on it is refused
with the holder's pid, and nobody removes an endpoints.json it did not write. The data
directory and the store are the owner's alone: another local user reads neither a ROM nor an
output (checked as `nobody` when the test runs as root; skipped otherwise)."""
import os
import pwd
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recomp_testlib as rt  # noqa: E402


def as_nobody(argv):
    return subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup",
                           "--clear-groups", "--"] + argv,
                          capture_output=True, text=True, timeout=30)


class DataDir(rt.PoolTestCase):
    def test_a_second_pool_on_the_same_data_directory_is_refused(self):
        pool = self.pool(workers=1, name="first")
        pool.start()
        pool.wait_workers(1)
        endpoints = os.path.join(pool.data, "endpoints.json")
        with open(endpoints) as f:
            before = f.read()
        holder = pool.coordinator_pids()[0]

        second = rt.run([rt.RECOMP_BIN, "up", "--workers", 1, "--data", pool.data,
                         "--config", pool.config], timeout=60, check=False)
        self.assertNotEqual(second.returncode, 0, second.stdout + second.stderr)
        self.assertIn("is in use by pid %d" % holder, second.stderr)
        alone = rt.run([rt.RECOMP_BIN, "coordinator", "--data", pool.data,
                        "--config", pool.config], timeout=60, check=False)
        self.assertNotEqual(alone.returncode, 0, alone.stdout + alone.stderr)
        self.assertIn("is in use by pid %d" % holder, alone.stderr)

        with open(endpoints) as f:
            self.assertEqual(f.read(), before, "the refused pools must not touch endpoints.json")
        pool.cli("workers")  # the first pool still answers
        pool.stop()
        self.assertFalse(os.path.exists(endpoints))

    def test_the_data_directory_and_store_are_the_owners_alone(self):
        pool = self.pool(workers=0, name="private")
        pool.start()
        rom = self.tmp.join("game.rom")
        with open(rom, "wb") as f:
            f.write(b"secret rom bytes " * 8192)  # a file blob, not inline
        ref = pool.cli("artifact", "put", rom, "--external").stdout.split()[-1]
        blob = os.path.join(pool.data, "store", "blobs", "external", ref[11:13], ref[11:])
        self.assertTrue(os.path.exists(blob), blob)
        self.assertEqual(stat.S_IMODE(os.stat(pool.data).st_mode), 0o700)
        for d in ("store", "store/index", "store/blobs", "store/blobs/external"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(pool.data, d)).st_mode), 0o700, d)
        self.assertEqual(stat.S_IMODE(os.stat(blob).st_mode), 0o400)
        for f in ("store/index/data.mdb", "store/index/lock.mdb", "LOCK"):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(pool.data, f)).st_mode), 0o600, f)

        if os.geteuid() != 0 or shutil.which("setpriv") is None:
            self.skipTest("reading as another user needs root and setpriv")
        try:
            pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user 'nobody'")
        # The test's own temp dir must let `nobody` reach the data dir, so that only the data
        # dir's own mode stands in the way.
        os.chmod(self.tmp.path, 0o755)
        control = self.tmp.join("public.txt")
        with open(control, "w") as f:
            f.write("anyone\n")
        os.chmod(control, 0o644)
        r = as_nobody(["cat", control])  # the check itself works: nobody reads a public file
        self.assertEqual((r.returncode, r.stdout), (0, "anyone\n"), r.stderr)
        for path in (blob, os.path.join(pool.data, "store", "index", "data.mdb")):
            r = as_nobody(["cat", path])
            self.assertNotEqual(r.returncode, 0, "nobody read " + path)
            self.assertIn("Permission denied", r.stderr)
        r = as_nobody(["ls", pool.data])
        self.assertNotEqual(r.returncode, 0)
        pool.stop()


if __name__ == "__main__":
    rt.main()
