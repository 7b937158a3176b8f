#!/usr/bin/python3
"""The coordinator's state under a stream of runs, with and without retention (issue 12,
"Keep it bounded"). Two pools (`recomp up`, 2 noop workers), the same runs of SHARDS jobs each
(one stage, a distinct salt per run so no job is served from the cache):

  baseline   retention off ([coordinator] retention_interval_ms = 0): every run's row, jobs,
             events and cache entries stay; the raw growth per job.
  retention  failed_days = succeeded_days = unpinned_days = 0, a pass every second (a run is
             kept 5 s after it ended: retention_grace_ms, so `submit --wait` sees its end), and
             `recomp artifact gc` after every tenth of the runs (what the packaged daily
             recomp-gc timer does): the coordinator's LMDB and the store must level off.

Prints, every tenth of the runs, the coordinator's LMDB file (data.mdb), the action cache's,
the store's bytes (blobs + index) and the rows kept; then the growth per job. LMDB files keep
the pages they grew to (freed pages are reused, never returned), so a bound shows as a file
that stops growing. Loopback only.

  bench/retention_bench.py [--recomp build/cli/recomp] [--jobs 1000000] [--baseline-jobs 200000]
                           [--shards 1000] [--parallel 4]
"""
import argparse
import concurrent.futures
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))
import recomp_testlib as rt  # noqa: E402

MB = 1e6


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def tree_bytes(root):
    total = 0
    for d, _, files in os.walk(root):
        total += sum(file_size(os.path.join(d, f)) for f in files)
    return total


def sizes(pool):
    coord = os.path.join(pool.data, "coordinator")
    return (file_size(os.path.join(coord, "data.mdb")),
            file_size(os.path.join(coord, "action-cache", "data.mdb")),
            tree_bytes(os.path.join(pool.data, "store")))


def write_pipelines(tmp, runs, shards):
    paths = []
    for i in range(runs):
        path = tmp.join("pipe-%d.toml" % i)
        with open(path, "w") as f:
            f.write('[[stages]]\nname = "bench"\ncommand = ["/bin/true"]\noutputs = []\n'
                    'shards = %d\nretries = 0\nsalt = "run-%d"\n' % (shards, i))
        paths.append(path)
    return paths


def phase(name, tmp, a, jobs, retention):
    runs = max(1, jobs // a.shards)
    overrides = {
        "coordinator": {"durable": False,
                        "retention_interval_ms": 1000 if retention else 0,
                        "retention_grace_ms": 5000},
        "worker": {"executor": "noop", "slots": 64},
    }
    if retention:
        overrides["store.retention"] = {"failed_days": 0, "succeeded_days": 0,
                                        "unpinned_days": 0}
    pool = rt.Pool(tmp.path, workers=2, config_overrides=overrides, name=name).start()
    mod = rt.write_module(tmp.join("mod-" + name), text="retention bench\n")
    pipes = write_pipelines(tmp, runs, a.shards)
    print("== %s: %d runs x %d jobs ==" % (name, runs, a.shards), flush=True)
    print("%9s %8s %14s %13s %10s %9s" % ("jobs", "s", "coordinator MB", "act.cache MB",
                                          "store MB", "runs kept"), flush=True)
    t0 = time.monotonic()
    samples = []
    chunk = max(1, runs // 10)

    def submit(i):
        p, rec = pool.submit([mod], pipes[i], run_id="%s-%d" % (name, i), timeout=600)
        if not rec or rec.get("state") != "succeeded":
            raise RuntimeError("run %d: %s %s" % (i, rec, p.stderr[-500:]))

    try:
        with concurrent.futures.ThreadPoolExecutor(a.parallel) as ex:
            for start in range(0, runs, chunk):
                list(ex.map(submit, range(start, min(runs, start + chunk))))
                if retention:  # the store's side, as the recomp-gc timer would run it
                    pool.cli("artifact", "gc", "--config", pool.config, timeout=600)
                done = min(runs, start + chunk) * a.shards
                kept = len(json.loads(pool.cli("runs", "--json", "--limit", "100000").stdout))
                s = sizes(pool)
                samples.append((done, s))
                print("%9d %8.1f %14.1f %13.1f %10.2f %9d" % (
                    done, time.monotonic() - t0, s[0] / MB, s[1] / MB, s[2] / MB, kept),
                    flush=True)
    finally:
        pool.stop(timeout=60, check=False)
    return samples


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recomp", default=rt.RECOMP_BIN)
    ap.add_argument("--jobs", type=int, default=1000000)
    ap.add_argument("--baseline-jobs", type=int, default=200000)
    ap.add_argument("--shards", type=int, default=1000)
    ap.add_argument("--parallel", type=int, default=4)
    a = ap.parse_args()
    rt.RECOMP_BIN = os.path.abspath(a.recomp)
    tmp = rt.TempDir("recomp-retention-bench-")
    try:
        base = phase("baseline", tmp, a, a.baseline_jobs, retention=False)
        kept = phase("retention", tmp, a, a.jobs, retention=True)
    finally:
        tmp.cleanup()
    (bj, b0), (bj1, b1) = base[0], base[-1]
    per_job = (b1[0] - b0[0]) / max(1, bj1 - bj)
    half = [s for j, s in kept if j >= kept[-1][0] // 2]
    print("baseline: the coordinator's LMDB grows %.0f bytes per job (%.1f MB at %d jobs: "
          "%.0f MB per million)" % (per_job, b1[0] / MB, bj1, per_job))
    print("retention: coordinator LMDB peak %.1f MB, at the end %.1f MB (second half: %.1f .. "
          "%.1f MB); action cache peak %.1f MB; store peak %.2f MB, at the end %.2f MB, after "
          "%d jobs" % (max(s[0] for _, s in kept) / MB, kept[-1][1][0] / MB,
                       min(s[0] for s in half) / MB, max(s[0] for s in half) / MB,
                       max(s[1] for _, s in kept) / MB, max(s[2] for _, s in kept) / MB,
                       kept[-1][1][2] / MB, kept[-1][0]))


if __name__ == "__main__":
    main()
