#!/usr/bin/env python3
"""Issue 9's hostile inputs at full size against one pool (`recomp up`, 2 workers), each
with the coordinator's peak and settled memory and the worst API round trip while it ran
(tests/python/abuse.py measures). `abuse_bench.py [--multipart-mib N] [--only ROW...]`.
Prints one line per row; figures go to docs/performance.md. Loopback only."""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "python"))
import abuse  # noqa: E402
import recomp_testlib as rt  # noqa: E402

MiB = abuse.MiB


def show(row, m, outcome):
    print("%-44s peak %7.1f MB (before %5.1f, after %6.1f)  worst API %7.1f ms  "
          "[%d requests, %d unanswered]  coordinator %s  %s"
          % (row, m["peak_mb"], m["rss_before_mb"], m["rss_after_mb"], m["worst_api_ms"],
             m["api_requests"], m["api_unanswered"],
             "same" if m["coordinator_same"] else "RESTARTED", outcome), flush=True)


def submit(pool, tmp, cfg, name, wait=True):
    mod = rt.write_module(tmp.join("mod-" + name), text="abuse %s\n" % name)
    prov = rt.write_provenance(tmp.join("mod-" + name), [mod])
    t0 = time.monotonic()
    p, st = pool.submit([mod], cfg, prov, wait=wait, check=False, timeout=3600)
    return p, st, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--multipart-mib", type=int, default=1000)
    ap.add_argument("--only", nargs="*")
    a = ap.parse_args()
    want = lambda r: not a.only or r in a.only  # noqa: E731
    tmp = rt.TempDir(prefix="recomp-abuse-")
    pool = rt.Pool(tmp.path, workers=2).start()
    pool.wait_workers(2)
    ep = pool.endpoints()
    try:
        if want("multipart"):
            for name in ("api", "replay", "workers"):
                with abuse.Measure(pool) as m:
                    secs, sent = abuse.endless_multipart(ep[name], a.multipart_mib * MiB)
                show("unfinished multipart %d MiB on %s" % (a.multipart_mib, name), m.result,
                     "%d MiB sent in %.1f s" % (sent // MiB, secs))
            with abuse.Measure(pool) as m:
                secs, sent = abuse.endless_multipart(ep["api"], 64 * MiB, frame_bytes=1)
            show("unfinished multipart, 1-byte frames, on api", m.result,
                 "%d MiB sent in %.1f s" % (sent // MiB, secs))
            for name in ("api", "replay", "workers"):
                with abuse.Measure(pool) as m:
                    reply = abuse.oversized_frame(ep[name], 40 * MiB)
                show("one 40 MiB frame on %s" % name, m.result,
                     "connection dropped" if reply is None else "answered %r" % reply[:2])
        if want("subscriptions"):
            with abuse.Measure(pool) as m:
                dropped = abuse.big_subscriptions(ep["events"], 50, MiB)
            show("50 SUB peers x 1 MB subscription", m.result, "%d of 50 dropped" % dropped)
        if want("env"):
            cfg = abuse.write_big_env_pipeline(tmp.join("env1m"), MiB, 1024, tmp.join("c"))
            with abuse.Measure(pool) as m:
                p, st, secs = submit(pool, tmp, cfg, "env1m", wait=False)
            show("1 MB env x 1024 shards", m.result, "refused in %.2f s: %s" % (
                secs, (p.stderr.strip().splitlines() or ["?"])[-1][:160]))
            cfg = abuse.write_big_env_pipeline(tmp.join("env15k"), 15 << 10, 1024, tmp.join("c"))
            with abuse.Measure(pool) as m:
                p, st, secs = submit(pool, tmp, cfg, "env15k")
            show("15 KiB env x 1024 shards (under the cap)", m.result,
                 "%s in %.1f s" % (st and st["state"], secs))
        if want("chain"):
            cfg = abuse.write_chain_pipeline(tmp.join("chain10k"), 10000)
            with abuse.Measure(pool) as m:
                p, st, secs = submit(pool, tmp, cfg, "chain10k", wait=False)
            show("chain of 10,000 stages", m.result, "refused in %.2f s: %s" % (
                secs, (p.stderr.strip().splitlines() or ["?"])[-1][:160]))
            cfg = abuse.write_chain_pipeline(tmp.join("chain1k"), 1000)
            for label in ("run", "all cached"):
                with abuse.Measure(pool) as m:
                    p, st, secs = submit(pool, tmp, cfg, "chain1k")
                show("chain of 1,000 stages, %s" % label, m.result,
                     "%s in %.1f s" % (st and st["state"], secs))
        if want("files"):
            for files, runs in ((45000, 2), (75000, 1)):
                for r in range(runs):
                    cfg = abuse.write_many_files_pipeline(tmp.join("f%d-%d" % (files, r)), files,
                                                          salt="r%d" % r)
                    with abuse.Measure(pool) as m:
                        p, st, secs = submit(pool, tmp, cfg, "f%d-%d" % (files, r))
                    show("one job writing %d files, run %d" % (files, r + 1), m.result,
                         "%s in %.1f s" % (st and st["state"], secs))
            t0 = time.monotonic()
            ev = pool.cli("events", "--from", "0", "--json", check=False, timeout=600)
            runs = pool.cli("runs", check=False)
            print("afterwards: `recomp events --from 0` exit %d (%d lines, %.1f s), "
                  "`recomp runs` exit %d" % (ev.returncode, len(ev.stdout.splitlines()),
                                             time.monotonic() - t0, runs.returncode))
    finally:
        pool.stop(check=False)
        tmp.cleanup()
    os._exit(0)


if __name__ == "__main__":
    main()
