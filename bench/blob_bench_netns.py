#!/usr/bin/env python3
"""The blob bench across a veth pair: `recomp_blob_bench serve` in one network namespace,
`recomp_blob_bench fetch` in another (tests/python/netns.py builds and removes them; needs root).
usage: blob_bench_netns.py [BENCH_BINARY] [--mib N]"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "python"))
import netns  # noqa: E402


def main():
    args = sys.argv[1:]
    binary = args[0] if args and not args[0].startswith("--") else os.environ.get(
        "RECOMP_BLOB_BENCH", "build/bench/recomp_blob_bench")
    mib = args[args.index("--mib") + 1] if "--mib" in args else "256"
    reason = netns.available()
    if reason:
        print("skipped: " + reason)
        return 0
    net = netns.Network(["server", "client"])
    server = None
    scratch = tempfile.mkdtemp(prefix="recomp-blob-bench-")
    try:
        addr = net.addr("server")
        server = subprocess.Popen(net.argv("server", [
            binary, "serve", "--mib", mib, "--dir", scratch, "--blobs", "tcp://%s:7424" % addr,
            "--raw", "tcp://%s:7425" % addr]), stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        line = ""
        while time.monotonic() < deadline and not line.startswith("serving"):
            line = server.stdout.readline()
            if not line and server.poll() is not None:
                raise SystemExit("the server exited")
        digest = line.split()[1]
        print("blob_bench across a veth pair (%s MiB, %s -> %s)" % (mib, addr, net.addr("client")),
              flush=True)
        subprocess.run(net.argv("client", [
            binary, "fetch", "--mib", mib, "--digest", digest, "--blobs",
            "tcp://%s:7424" % addr, "--raw", "tcp://%s:7425" % addr]), check=True, timeout=600)
    finally:
        if server is not None:
            server.kill()
            server.wait()
        net.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
