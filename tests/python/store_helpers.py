"""Shared helpers for the store's python integration tests (tests/python/test_store_*.py)."""
import hashlib
import os
import subprocess
import tempfile
import time

RECOMP = os.environ.get("RECOMP_BIN") or os.path.join(
    os.environ.get("RECOMP_BUILD_DIR", "/tmp/build-store"), "cli", "recomp")


def ref_of(data: bytes) -> str:
    return "artifact://" + hashlib.blake2b(data, digest_size=32).hexdigest()


def ref_of_file(path: str) -> str:
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    return "artifact://" + h.hexdigest()


def art(store, *args, check=None, stdin=None, timeout=300):
    """Runs `recomp artifact <args> --store STORE`; returns CompletedProcess (bytes)."""
    cmd = [RECOMP, "artifact", *args, "--store", store]
    p = subprocess.run(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if check is not None and p.returncode != check:
        raise AssertionError(f"{cmd} exited {p.returncode} (wanted {check})\nstdout: {p.stdout[-2000:]!r}\n"
                             f"stderr: {p.stderr[-2000:]!r}")
    return p


def put(store, path, *extra):
    p = art(store, "put", path, *extra, check=0)
    return p.stdout.decode().strip().splitlines()[-1]


def blob_path(store, cls, ref):
    hexd = ref[len("artifact://"):]
    return os.path.join(store, "blobs", cls, hexd[:2], hexd)


def wait_until(pred, timeout, what, interval=0.002):
    """Polls `pred` until true or the deadline (never a fixed sleep to synchronise)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def make_sparse_file(path, size, marks=64):
    """A sparse file of `size` bytes with `marks` distinct 4 KiB chunks written (fast)."""
    with open(path, "wb") as f:
        f.truncate(size)
        for i in range(marks):
            f.seek((size // marks) * i)
            f.write(os.urandom(4096))


def tempdir():
    return tempfile.TemporaryDirectory(prefix="recomp-store-py-", dir=os.environ.get("TMPDIR", "/tmp"))
