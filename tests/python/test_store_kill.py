"""A `recomp artifact put` SIGKILLed at several moments leaves the store consistent:
verify exits 0, and a fresh put of the same file succeeds and serves the right bytes."""
import os
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from store_helpers import RECOMP, art, make_sparse_file, put, ref_of_file, tempdir, wait_until  # noqa: E402

SIZE = 192 << 20


def tmp_files(store):
    try:
        return [os.path.join(store, "tmp", n) for n in os.listdir(os.path.join(store, "tmp"))]
    except FileNotFoundError:
        return []


def tmp_size(store):
    total = 0
    for p in tmp_files(store):
        try:
            total += os.path.getsize(p)
        except FileNotFoundError:
            pass
    return total


class KillMidPut(unittest.TestCase):
    def kill_when(self, moment):
        with tempdir() as d:
            src = os.path.join(d, "big.bin")
            make_sparse_file(src, SIZE)
            store = os.path.join(d, "store")
            put(store, os.path.join(os.path.dirname(__file__), "store_helpers.py"))  # store exists
            proc = subprocess.Popen([RECOMP, "artifact", "put", src, "--store", store],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                if moment == "temp-created":
                    wait_until(lambda: tmp_files(store) or proc.poll() is not None, 30, "a temp file")
                elif moment == "half-written":
                    wait_until(lambda: tmp_size(store) >= SIZE // 2 or proc.poll() is not None, 60, "half")
                elif moment == "fully-written":
                    wait_until(lambda: tmp_size(store) >= SIZE or proc.poll() is not None, 60, "full temp")
                elif moment == "publishing":
                    wait_until(lambda: (tmp_size(store) >= SIZE and not tmp_files(store)) or proc.poll() is not None,
                               60, "temp renamed", interval=0)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            p = art(store, "verify")
            self.assertEqual(p.returncode, 0, (moment, p.stdout, p.stderr))
            ref = put(store, src)
            self.assertEqual(ref, ref_of_file(src))
            art(store, "verify", check=0)
            out = os.path.join(d, "out.bin")
            art(store, "get", ref, "-o", out, check=0)
            self.assertEqual(ref_of_file(out), ref)
            refs = art(store, "ls", check=0).stdout.decode().split()
            self.assertIn(ref, refs)
            # the dead writer's temp file (if any) is unlocked: an eager gc removes it
            art(store, "gc", "--stale-temp-seconds", "0", check=0)
            self.assertEqual(tmp_files(store), [])
            art(store, "verify", check=0)

    def test_kill_after_temp_created(self):
        self.kill_when("temp-created")

    def test_kill_half_written(self):
        self.kill_when("half-written")

    def test_kill_fully_written(self):
        self.kill_when("fully-written")

    def test_kill_while_publishing(self):
        self.kill_when("publishing")


if __name__ == "__main__":
    unittest.main(verbosity=2)
