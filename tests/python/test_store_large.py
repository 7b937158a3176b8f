"""Streaming put/get of a 1 GiB file: peak RSS of `recomp artifact` stays bounded."""
import os
import resource
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from store_helpers import art, make_sparse_file, put, ref_of_file, tempdir  # noqa: E402

GIB = 1 << 30
# Under ASan (scripts/test.sh sets RECOMP_SANITIZED=1) shadow memory and the allocator's
# quarantine add a constant: the bound still proves streaming (far below the 1 GiB file).
RSS_LIMIT_KIB = (320 if os.environ.get("RECOMP_SANITIZED") == "1" else 64) * 1024


class LargeFile(unittest.TestCase):
    def test_1gib_put_get_bounded_memory(self):
        with tempdir() as d:
            src = os.path.join(d, "big.bin")
            make_sparse_file(src, GIB)
            store = os.path.join(d, "store")
            ref = put(store, src)
            self.assertEqual(ref, ref_of_file(src))
            out = os.path.join(d, "out.bin")
            art(store, "get", ref, "-o", out, check=0)
            self.assertEqual(os.path.getsize(out), GIB)
            os.unlink(src)
            self.assertEqual(ref_of_file(out), ref)
            os.unlink(out)
            art(store, "verify", ref, check=0)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
            print(f"peak child RSS: {peak / 1024:.1f} MiB", file=sys.stderr)
            self.assertLess(peak, RSS_LIMIT_KIB)


if __name__ == "__main__":
    unittest.main(verbosity=2)
