#!/usr/bin/env python3
"""The long chaos round (tests/python/chaos.py): `chaos_bench.py [--seed S] [--runs N]
[--kills K] [--rounds R]` runs R rounds with seeds S, S+1, ... on a fresh pool each, checks
every invariant after each, and prints the kills survived per target and the wall time.
Figures go to docs/performance.md. Needs a built tree (RECOMP_BIN, default build/cli/recomp)."""
import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))
import chaos  # noqa: E402
import recomp_testlib as rt  # noqa: E402


def one_round(seed, runs, kills, verbose):
    case = unittest.TestCase()
    case.maxDiff = None
    tmp = rt.TempDir(prefix="recomp-chaos-")
    pool = rt.Pool(tmp.path, workers=2)
    try:
        pool.start()
        rnd = chaos.Round(pool, tmp, seed=seed, runs=runs, kills=kills,
                          log=(lambda m: print("  " + m, flush=True)) if verbose else None)
        rnd.prepare()
        t0 = time.monotonic()
        finals = rnd.play()
        chaos.check_invariants(case, rnd, finals)
        return rnd, time.monotonic() - t0
    except BaseException:
        print(pool.log_tail(30), file=sys.stderr)
        raise
    finally:
        if pool.up is not None or pool.parts:
            pool.stop(check=False)
        tmp.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--kills", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    totals = {}
    for r in range(a.rounds):
        seed = a.seed + r
        rnd, secs = one_round(seed, a.runs, a.kills, a.verbose)
        for k, v in rnd.killed.items():
            totals[k] = totals.get(k, 0) + v
        print("seed %d: %d runs succeeded, invariants hold; kills survived %s; %d resubmissions; "
              "%.1f s" % (seed, a.runs, rnd.killed, rnd.resubmissions, secs), flush=True)
    print("total kills survived over %d round(s): %s (%d)" % (a.rounds, totals,
                                                               sum(totals.values())))
    os._exit(0)


if __name__ == "__main__":
    main()
