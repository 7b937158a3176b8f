"""Hostile inputs against a running pool and what they cost the coordinator, shared by
tests/python/test_abuse.py (regression tests at small sizes) and bench/abuse_bench.py (the
sizes of issue 9's table, printed as figures).

Each scenario returns a dict of measurements: the coordinator's peak resident memory while it
ran (VmHWM after resetting it through /proc/PID/clear_refs), its resident memory afterwards,
and the worst round trip of an API request issued every 10 ms meanwhile (Probe).
"""
import json
import os
import subprocess
import sys
import threading
import time

import msgpack
import zmq

import recomp_testlib as rt

MiB = 1 << 20


# ---------------------------------------------------------------------------------------------
# Measuring

def status_kb(pid, key):
    """A /proc/PID/status field in kB (VmRSS, VmHWM), or None when the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak(pid):
    """Resets VmHWM to the current RSS (Linux: "5" to clear_refs); False if not permitted."""
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Probe:
    """Another process (so that this one's work cannot delay it) sending LIST {limit: 1} to
    the API every 10 ms: worst and count of round trips, and requests that got no answer
    within 5 s. Use as a context manager; results are read on exit."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.worst_ms, self.count, self.unanswered = 0.0, 0, 0

    def __enter__(self):
        self.proc = subprocess.Popen([rt.PYTHON, os.path.abspath(__file__), "probe", self.endpoint],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.proc.stdout.readline()  # "ready": its socket is connected and answered once
        return self

    def __exit__(self, *exc):
        out, _ = self.proc.communicate(b"", timeout=30)
        self.worst_ms, self.count, self.unanswered = json.loads(out)


def probe_main(endpoint):
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    ctx = zmq.Context.instance()
    body = msgpack.packb({"limit": 1})
    worst, count, unanswered, first = 0.0, 0, 0, True
    while not stop.is_set():
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        t0 = time.monotonic()
        s.send_multipart([rt.TAG, b"LIST", body])
        if s.poll(5000):
            s.recv_multipart()
            if not first:
                worst = max(worst, (time.monotonic() - t0) * 1000)
                count += 1
        else:
            unanswered += 1
        s.close()
        if first:
            print("ready", flush=True)
            first = False
        stop.wait(0.01)
    print(json.dumps([worst, count, unanswered]), flush=True)


class Measure:
    """Around one scenario: resets the coordinator's peak, runs a Probe, and afterwards reads
    the peak and (once it stops falling, at most settle_s) the resident memory."""

    def __init__(self, pool, settle_s=5):
        self.pool = pool
        self.settle_s = settle_s
        self.pid = pool.coordinator_pids()[0]
        self.result = {}

    def __enter__(self):
        self.result["rss_before_mb"] = status_kb(self.pid, "VmRSS") / 1024
        self.peak_reset = reset_peak(self.pid)
        self.probe = Probe(self.pool.endpoints()["api"]).__enter__()
        return self

    def __exit__(self, *exc):
        self.probe.__exit__(*exc)
        r = self.result
        r["peak_mb"] = (status_kb(self.pid, "VmHWM") or 0) / 1024
        r["peak_is_since_start"] = not self.peak_reset
        r["worst_api_ms"] = self.probe.worst_ms
        r["api_requests"] = self.probe.count
        r["api_unanswered"] = self.probe.unanswered
        r["rss_after_mb"] = self.settled_rss() / 1024
        r["coordinator_same"] = self.pool.coordinator_pids() == [self.pid]

    def settled_rss(self):
        last = status_kb(self.pid, "VmRSS") or 0
        deadline = time.monotonic() + self.settle_s
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = status_kb(self.pid, "VmRSS") or 0
            if now >= last:
                return now
            last = now
        return last


# ---------------------------------------------------------------------------------------------
# Scenarios

def zmtp_connect(endpoint, socket_type=b"DEALER", timeout=10):
    """A raw TCP connection that has done the ZMTP 3.0 NULL handshake (RFC 23) as a
    `socket_type` peer; frames are then written with zmtp_frame. libzmq never sends part of a
    message before its last frame is queued, so an unfinished message needs a raw peer."""
    import socket
    import struct
    host, port = endpoint[len("tcp://"):].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.sendall(b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + b"\0" * 32)
    got = b""
    while len(got) < 64:
        chunk = s.recv(64 - len(got))
        if not chunk:
            raise rt.TestFailure("%s closed during the ZMTP greeting" % endpoint)
        got += chunk
    prop = b"\x0bSocket-Type" + struct.pack(">I", len(socket_type)) + socket_type
    s.sendall(zmtp_frame(b"\x05READY" + prop, command=True))
    return s


def zmtp_frame(body, more=False, command=False):
    import struct
    flags = (1 if more else 0) | (4 if command else 0)
    if len(body) > 255:
        return bytes([flags | 2]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def endless_multipart(endpoint, total_bytes, frame_bytes=MiB, command=b"SUBMIT"):
    """Over a raw ZMTP connection, sends one message that never ends: TAG, command, then frames
    of frame_bytes with MORE set, total_bytes on the wire (or until the peer closes); then
    closes. Returns (seconds, bytes sent)."""
    t0 = time.monotonic()
    s = zmtp_connect(endpoint)
    sent = 0
    try:
        s.sendall(zmtp_frame(rt.TAG, more=True) + zmtp_frame(command, more=True))
        frame = zmtp_frame(b"\0" * frame_bytes, more=True)
        batch = frame * max(1, MiB // len(frame))  # wire bytes per sendall
        while sent < total_bytes:
            s.sendall(batch)
            sent += len(batch)
    except OSError:
        pass  # the peer dropped the connection
    finally:
        s.close()
    return time.monotonic() - t0, sent


def oversized_frame(endpoint, frame_bytes, command=b"SUBMIT"):
    """One complete message with a frame of frame_bytes: the reply frames, or None if the
    endpoint dropped the connection instead of answering (within 5 s)."""
    return rt.Client(endpoint, 5000).raw([rt.TAG, command, b"\0" * frame_bytes])


def big_subscriptions(endpoint, connections, size):
    """`connections` raw ZMTP SUB peers each send one subscription message of `size` bytes
    (b"\\x01" + topic) to the events endpoint, then all close. Returns how many of them the
    endpoint dropped before they closed (a frame over its limit cuts the connection)."""
    socks = []
    topic = b"recomp.run." + b"x" * max(0, size - 12)
    for _ in range(connections):
        s = zmtp_connect(endpoint, socket_type=b"SUB")
        try:
            s.sendall(zmtp_frame(b"\x01" + topic))
        except OSError:
            pass
        socks.append(s)
    dropped = 0
    deadline = time.monotonic() + 20
    for s in socks:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            while True:  # the peer's READY, then EOF if it dropped us
                if not s.recv(65536):
                    dropped += 1
                    break
        except (ConnectionResetError, BrokenPipeError):
            dropped += 1  # dropped while we were still sending
        except OSError:
            pass
        s.close()
    return dropped


def subscriber_still_served(pool, run_and_wait):
    """A SUB on a known topic receives an event published after junk subscriptions."""
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SUBSCRIBE, b"recomp.run.")
    s.connect(pool.endpoints()["events"])
    try:
        run_and_wait()
        return s.poll(10000) != 0
    finally:
        s.close()


def write_big_env_pipeline(directory, env_bytes, shards, count_file):
    """One stage with `shards` shards and an env of about env_bytes (variables of 4000 bytes:
    one value may have 4096)."""
    env = {"BIG%04d" % i: "x" * 4000 for i in range(max(1, env_bytes // 4008))}
    st = rt.stage("wide", shards=shards, env=env, outputs=())
    return rt.write_pipeline(directory, "wide", [st], common_env={"COUNT_FILE": count_file})


def write_chain_pipeline(directory, stages, salt=""):
    """A chain s0 -> s1 -> ... of `stages` trivial stages (each runs /bin/true; no outputs)."""
    lines = ["tools = []", ""]
    for i in range(stages):
        lines += ["[[stages]]", 'name = "s%d"' % i]
        if i:
            lines.append('needs = ["s%d"]' % (i - 1))
        lines += ['command = ["/bin/true"]', "outputs = []", 'salt = "%s"' % salt, ""]
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "chain.toml")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


MANY_FILES_PY = r'''
import os, sys
n = int(os.environ["FILES"])
os.makedirs("out/f", exist_ok=True)
for i in range(n):
    with open("out/f/%06d.c" % i, "w") as f:
        f.write("int f%d(void) { return %d; }\n" % (i, i))
'''


def write_many_files_pipeline(directory, files, salt=""):
    """One stage whose job writes `files` small files under out/f/."""
    st = rt.stage("emit", command=[rt.PYTHON, "in/tools/emit.py"], env={"FILES": str(files)},
                  salt=salt, timeout_s=600)
    return rt.write_pipeline(directory, "emit", [st], tools={"emit.py": MANY_FILES_PY})


if __name__ == "__main__" and sys.argv[1:2] == ["probe"]:
    probe_main(sys.argv[2])
