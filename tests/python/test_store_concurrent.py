"""Four processes putting overlapping content into one store at once (LMDB multi-process),
with a concurrent gc: afterwards verify passes and `ls` lists exactly the distinct contents."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from store_helpers import RECOMP, art, ref_of, tempdir  # noqa: E402


class ConcurrentWriters(unittest.TestCase):
    def test_four_writers_overlapping(self):
        with tempdir() as d:
            store = os.path.join(d, "store")
            files = []
            for i in range(12):
                # mix of inline-sized and file-sized blobs; content shared across writers
                data = (b"blob-%d-" % i) * (10 if i % 2 else 3000)
                path = os.path.join(d, "f%d" % i)
                with open(path, "wb") as f:
                    f.write(data)
                files.append((path, ref_of(data)))
            procs = []
            for w in range(4):
                order = files[w * 3:] + files[:w * 3]
                script = "set -e\n" + "".join(
                    f'"{RECOMP}" artifact put "{p}" --store "{store}"\n' for p, _ in order * 2)
                procs.append(subprocess.Popen(["/bin/sh", "-c", script], stdout=subprocess.PIPE,
                                              stderr=subprocess.PIPE))
            gc = subprocess.Popen(["/bin/sh", "-c", "for i in 1 2 3 4 5; do \"%s\" artifact gc --store \"%s\" "
                                   "--older-than-days 0 >/dev/null 2>&1 || true; done" % (RECOMP, store)])
            outs = [p.communicate(timeout=300) for p in procs]
            gc.wait(timeout=300)
            for p, (out, err) in zip(procs, outs):
                self.assertEqual(p.returncode, 0, err)
                printed = out.decode().split()
                self.assertEqual(len(printed), 24)
                self.assertTrue(set(printed) <= {r for _, r in files})
            p = art(store, "verify")
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            listed = set(art(store, "ls", check=0).stdout.decode().split()[0::5])
            # gc --older-than-days 0 may have collected some; what is listed must be served
            self.assertTrue(listed <= {r for _, r in files})
            for path, ref in files:
                if ref in listed:
                    got = art(store, "get", ref, check=0).stdout
                    with open(path, "rb") as f:
                        self.assertEqual(got, f.read())
            # a final round without gc: everything is present
            for path, ref in files:
                self.assertEqual(art(store, "put", path, check=0).stdout.decode().split()[-1], ref)
            listed = set(art(store, "ls", check=0).stdout.decode().split()[0::5])
            self.assertEqual(listed, {r for _, r in files})
            art(store, "verify", check=0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
