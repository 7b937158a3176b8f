"""Helpers for recomp's integration tests (real processes, real sockets).

Every wait here polls a condition against a deadline; nothing sleeps to synchronise.

Environment: RECOMP_BIN (the `recomp` binary; default <repo>/build/cli/recomp),
RECOMP_SOURCE_DIR (repo root), RECOMP_KEEP=1 keeps temp dirs for debugging.

Config keys used (config/recomp.toml documents them): [coordinator] api, events, replay,
retry_initial_ms, retry_max_ms; [broker] workers, heartbeat_ms; [worker] heartbeat_ms,
liveness, reconnect_min_ms; [up] restart_delay_ms, stop_grace_ms;
[client] timeout_ms.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import msgpack
import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("RECOMP_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
RECOMP_BIN = os.environ.get("RECOMP_BIN") or os.path.join(REPO, "build", "cli", "recomp")
PYTHON = "/usr/bin/python3"
TAG = b"RCP1"


class TestFailure(AssertionError):
    pass


# ---------------------------------------------------------------------------------------------
# Waiting

def wait_for(pred, timeout, what, interval=0.02):
    """Polls pred() until it returns a truthy value (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TestFailure("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Temp dirs, config

class TempDir:
    """A fresh temp directory; removed on cleanup() unless RECOMP_KEEP is set."""

    def __init__(self, prefix="recomp-it-"):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def join(self, *p):
        return os.path.join(self.path, *p)

    def cleanup(self):
        if os.environ.get("RECOMP_KEEP"):
            print("kept", self.path, file=sys.stderr)
            return
        shutil.rmtree(self.path, ignore_errors=True)


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string for our inputs
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join("%s = %s" % (k, toml_value(x)) for k, x in v.items()) + " }"
    raise TypeError("cannot write %r as TOML" % (v,))


def write_config(path, overrides=None, fixed_ports=False):
    """Writes a recomp config for tests: ports the OS picks when each endpoint is bound (`recomp
    up` brings a restarted coordinator back on them; no race between tests run in parallel), or
    with `fixed_ports` free ports chosen now (for a coordinator restarted by the test itself),
    fast heartbeats, retries and restarts. Returns the path."""
    port = (lambda: free_port()) if fixed_ports else (lambda: 0)
    cfg = {
        "coordinator": {
            "api": "tcp://127.0.0.1:%d" % port(),
            "events": "tcp://127.0.0.1:%d" % port(),
            "replay": "tcp://127.0.0.1:%d" % port(),
            "blobs": "tcp://127.0.0.1:%d" % port(),
            "metrics": "127.0.0.1:%d" % port(),
            "retry_initial_ms": 100,
            "retry_max_ms": 1000,
        },
        "broker": {"workers": "tcp://127.0.0.1:%d" % port(), "heartbeat_ms": 200},
        # Unconfined: these tests' jobs write side-effect files outside their sandbox
        # (test_confined_jobs.py and the T32 sample run confined).
        "worker": {"heartbeat_ms": 200, "liveness": 3, "reconnect_min_ms": 100,
                   "confine": "none"},
        "up": {"restart_delay_ms": 200, "restart_max_delay_ms": 400, "max_quick_failures": 1000,
               "stop_grace_ms": 3000},
        "client": {"timeout_ms": 10000},
    }
    for section, kv in (overrides or {}).items():
        cfg.setdefault(section, {}).update(kv)
    with open(path, "w") as f:
        for section, kv in cfg.items():
            f.write("[%s]\n" % section)
            for k, v in kv.items():
                f.write("%s = %s\n" % (k, toml_value(v)))
            f.write("\n")
    return path


# ---------------------------------------------------------------------------------------------
# Processes

def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return None


def proc_environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def proc_ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        return int(stat[stat.rindex(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        return stat[stat.rindex(")") + 2:].split()[0]
    except (OSError, ValueError, IndexError):
        return None


def processes_mentioning(token):
    """Live (non-zombie) processes whose argv or environment contains `token`: recomp
    processes given that data dir, and job processes whose stage env names a file under it."""
    out = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == me:
            continue
        argv = proc_cmdline(pid)
        if argv is None or proc_state(pid) in (None, "Z", "X"):
            continue
        if any(token in a for a in argv) or token in proc_environ(pid):
            out.append((pid, argv))
    return out


def proc_comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def is_recomp(argv, subcommand):
    """argv is `recomp <subcommand> ...` (the binary under any name RECOMP_BIN gives)."""
    return (len(argv) > 1 and argv[1] == subcommand and
            os.path.basename(argv[0]) in ("recomp", os.path.basename(RECOMP_BIN)))


class Proc:
    """A child process in its own process group, output to a log file."""

    def __init__(self, argv, log_path, env=None, cwd=None):
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.p = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True, env=env,
                                  cwd=cwd)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill_group(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        self.wait(5)

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def close(self):
        self.log.close()


def run(argv, timeout=60, check=True, env=None, cwd=None):
    """Runs a command to completion; returns CompletedProcess (text)."""
    p = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout, env=env, cwd=cwd)
    if check and p.returncode != 0:
        raise TestFailure("%s exited %d\nstdout:\n%s\nstderr:\n%s"
                          % (" ".join(map(str, argv)), p.returncode, p.stdout, p.stderr))
    return p


def last_json_line(text):
    lines = [l for l in text.splitlines() if l.strip()]
    if not lines:
        raise TestFailure("no output, expected a JSON line")
    try:
        return json.loads(lines[-1])
    except ValueError as e:
        raise TestFailure("last line is not JSON (%s): %r" % (e, lines[-1]))


# ---------------------------------------------------------------------------------------------
# ZeroMQ clients

class Client:
    """Minimal client of the recomp framing [RCP1][COMMAND][msgpack map] over a DEALER.
    A new socket per request, so a timed-out request never confuses the next one."""

    def __init__(self, endpoint, timeout_ms=10000, curve=None):
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self.curve = curve  # None (plain) or (server public, public, secret) as Z85 bytes
        self.ctx = zmq.Context.instance()

    def socket(self, socket_type=zmq.DEALER):
        """A new socket of `socket_type`, CURVE if this client has keys, not yet connected."""
        s = self.ctx.socket(socket_type)
        s.setsockopt(zmq.LINGER, 0)
        set_curve(s, self.curve)
        return s

    def raw(self, frames, timeout_ms=None, socket_type=zmq.DEALER):
        """Sends frames (bytes); returns the reply frames, or None on timeout."""
        s = self.socket(socket_type)
        s.connect(self.endpoint)
        try:
            s.send_multipart(frames)
            if not s.poll(self.timeout_ms if timeout_ms is None else timeout_ms):
                return None
            return s.recv_multipart()
        finally:
            s.close()

    def call(self, command, body=None, timeout_ms=None):
        """Returns (command, decoded body) of the reply; raises TestFailure on timeout or a
        reply that does not follow the framing."""
        frames = self.raw([TAG, command.encode(), msgpack.packb(body or {})], timeout_ms)
        if frames is None:
            raise TestFailure("no reply to %s from %s" % (command, self.endpoint))
        return decode_reply(frames)

    def ok(self, command, body=None):
        cmd, reply = self.call(command, body)
        if cmd != "OK":
            raise TestFailure("%s failed: %r" % (command, reply))
        return reply


def set_curve(sock, curve):
    """Makes `sock` a CURVE client with (server public, public, secret) keys (Z85 bytes)."""
    if curve:
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = curve


def load_keypair(path):
    """(public, secret) of a zcert key file, read by pyzmq (not by recomp's own code)."""
    import zmq.auth
    return zmq.auth.load_certificate(path)


def decode_reply(frames):
    if len(frames) != 3 or frames[0] != TAG:
        raise TestFailure("reply does not follow [RCP1][CMD][body]: %r" % (frames,))
    return frames[1].decode(), msgpack.unpackb(frames[2])


def replay_all(endpoint, run_id=None, start=0, limit=1000, curve=None):
    """Every stored event with sequence > start (optionally of one run), via the replay
    endpoint (docs/events.md)."""
    c = Client(endpoint, curve=curve)
    events = []
    last = start
    while True:
        body = {"from": last, "limit": limit}
        if run_id:
            body["run_id"] = run_id
        reply = c.ok("REPLAY", body)
        events.extend(reply["events"])
        if not reply["more"]:
            return events
        last = reply["last"]


# ---------------------------------------------------------------------------------------------
# The pool

class Pool:
    """`recomp up` (or coordinator + workers started separately) on a temp data dir."""

    def __init__(self, root, workers=2, config_overrides=None, config=None, name="pool",
                 fixed_ports=False):
        self.root = root                      # a TempDir path: everything lives under it
        self.data = os.path.join(root, name + "-data")
        os.makedirs(self.data, exist_ok=True)
        self.logs = os.path.join(root, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.config = config or write_config(os.path.join(root, name + ".toml"), config_overrides,
                                             fixed_ports)
        self.workers = workers
        self.name = name
        self.up = None
        self.parts = []                       # separately started coordinator / workers
        self._endpoints = None

    # -- lifecycle
    def start(self, timeout=30):
        """Runs `recomp up` in its own process group; waits for endpoints.json and the API.
        RECOMP_TEST_PARTS=1 starts `recomp coordinator` + N `recomp worker`s instead (for
        debugging; tests of up's restarts then fail)."""
        if os.environ.get("RECOMP_TEST_PARTS"):
            self.start_coordinator(timeout)
            for _ in range(self.workers):
                self.start_worker()
            return self
        self.up = Proc([RECOMP_BIN, "up", "--workers", self.workers, "--data", self.data,
                        "--config", self.config], os.path.join(self.logs, self.name + "-up.log"))
        self.wait_ready(timeout)
        return self

    def start_coordinator(self, timeout=30):
        p = Proc([RECOMP_BIN, "coordinator", "--data", self.data, "--config", self.config],
                 os.path.join(self.logs, "%s-coordinator-%d.log" % (self.name, len(self.parts))))
        self.parts.append(p)
        self.wait_ready(timeout, proc=p)
        return p

    def start_worker(self, extra=()):
        ep = self.endpoints()["workers"]
        # Explicit flags (the same values as the test config's [worker] section).
        p = Proc([RECOMP_BIN, "worker", "--connect", ep, "--data", self.data,
                  "--heartbeat-ms", "200", "--liveness", "3", "--reconnect-ms", "100",
                  "--confine", "none", *extra],
                 os.path.join(self.logs, "%s-worker-%d.log" % (self.name, len(self.parts))))
        self.parts.append(p)
        return p

    def wait_ready(self, timeout=30, proc=None):
        proc = proc or self.up
        path = os.path.join(self.data, "endpoints.json")

        def ready():
            if proc is not None and not proc.alive():
                raise TestFailure("%s exited with %s before it was ready:\n%s"
                                  % (" ".join(proc.argv), proc.p.returncode, proc.output()))
            try:
                with open(path) as f:
                    ep = json.load(f)
            except (OSError, ValueError):
                return None
            if not all(isinstance(ep.get(k), str) for k in ("api", "events", "replay", "workers")):
                return None
            curve = self.client_curve(ep) if ep.get("server_key") else None
            frames = Client(ep["api"], 500, curve).raw([TAG, b"LIST", msgpack.packb({})])
            return ep if frames is not None else None

        self._endpoints = wait_for(ready, timeout, "the coordinator to serve (endpoints.json + API)",
                                   interval=0.05)
        return self._endpoints

    def endpoints(self):
        if self._endpoints is None:
            with open(os.path.join(self.data, "endpoints.json")) as f:
                self._endpoints = json.load(f)
        return self._endpoints

    def client_curve(self, ep=None, key="local"):
        """CURVE keys of a client of this pool with <data>/keys/KEY.key (or a key file path);
        None when the pool runs without CURVE."""
        ep = ep or self.endpoints()
        if not ep.get("server_key"):
            return None
        path = key if os.path.isabs(key) else os.path.join(self.data, "keys", key + ".key")
        public, secret = load_keypair(path)
        return (ep["server_key"].encode(), public, secret)

    def api(self):
        return Client(self.endpoints()["api"], curve=self.client_curve())

    def wait_workers(self, n, timeout=30):
        """Waits until the coordinator lists at least n workers."""
        def enough():
            cmd, reply = self.api().call("WORKERS", {}, timeout_ms=2000)
            return cmd == "OK" and len(reply.get("workers", [])) >= n and reply["workers"]
        return wait_for(enough, timeout, "%d workers to register" % n, interval=0.1)

    def job_env(self, count_file):
        """Env for test stages: the side-effect file, and the data dir (so that job processes
        are found by processes())."""
        return {"COUNT_FILE": count_file, "POOL_DATA": self.data}

    def processes(self):
        """Live processes belonging to this pool (argv or environment mentions the data dir)."""
        return processes_mentioning(self.data)

    def worker_pids(self):
        """Worker processes (not their job guards, which share their command line)."""
        return [pid for pid, argv in self.processes()
                if is_recomp(argv, "worker") and proc_comm(pid) != "recomp-guard"]

    def guard_pids(self):
        return [pid for pid, argv in self.processes() if proc_comm(pid) == "recomp-guard"]

    def coordinator_pids(self):
        return [pid for pid, argv in self.processes() if is_recomp(argv, "coordinator")]

    def stop(self, timeout=20, check=True):
        """SIGTERM to `recomp up` (or each part); waits; then asserts no process of this pool
        (recomp or job) survives. Leftovers are killed and reported."""
        errors = []
        procs = ([self.up] if self.up else []) + list(reversed(self.parts))
        for p in procs:
            p.signal(signal.SIGTERM)
        for p in procs:
            rc = p.wait(timeout)
            if rc is None:
                errors.append("%s did not exit within %ss of SIGTERM" % (" ".join(p.argv), timeout))
                p.kill_group()
            elif rc not in (0, -signal.SIGTERM, 128 + signal.SIGTERM) and p is self.up:
                errors.append("recomp up exited %s after SIGTERM" % rc)
        try:
            wait_for(lambda: not self.processes(), 10, "pool processes to exit")
        except TestFailure:
            left = self.processes()
            errors.append("orphan processes after stop: %r" % (left,))
            for pid, _ in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for p in procs:
            p.close()
        self.up = None
        self.parts = []
        if errors and check:
            raise TestFailure("; ".join(errors) + "\n" + self.log_tail())
        return errors

    def log_tail(self, n=60):
        out = []
        for name in sorted(os.listdir(self.logs)):
            with open(os.path.join(self.logs, name), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            out.append("---- %s (last %d lines)\n%s" % (name, n, "\n".join(lines[-n:])))
        return "\n".join(out)

    # -- CLI
    def cli(self, *args, timeout=120, check=True):
        """`recomp <args> --data DIR` (client commands)."""
        return run([RECOMP_BIN, *args, "--data", self.data], timeout=timeout, check=check)

    def submit(self, modules, config, provenance=None, run_id=None, wait=True, timeout=180,
               check=True, extra=()):
        """`recomp submit ... --json [--wait]`; returns (CompletedProcess, last-line record)."""
        args = ["submit"]
        for m in modules:
            args += ["--module", m]
        args += ["--config", config]
        if provenance:
            args += ["--provenance", provenance]
        if run_id:
            args += ["--run-id", run_id]
        if wait:
            args.append("--wait")
        args += ["--json", *extra]
        p = self.cli(*args, timeout=timeout, check=check)
        rec = last_json_line(p.stdout) if p.stdout.strip() else None
        return p, rec

    def status(self, run_id):
        return last_json_line(self.cli("status", run_id, "--json").stdout)

    def wait_state(self, run_id, states=("succeeded", "failed"), timeout=120):
        def done():
            try:  # tolerate a coordinator that is restarting
                cmd, st = self.api().call("STATUS", {"run_id": run_id}, timeout_ms=1000)
            except TestFailure:
                return None
            return st if cmd == "OK" and st["state"] in states else None
        return wait_for(done, timeout, "run %s to reach %s" % (run_id, "/".join(states)),
                        interval=0.1)

    def events(self, run_id=None, extensions=False):
        """The replayed events (of run_id); SPEC-250's five types only unless `extensions`
        (recomp.job.*, recomp.worker.*: docs/events.md, Extensions)."""
        evs = replay_all(self.endpoints()["replay"], run_id, curve=self.client_curve())
        return evs if extensions else [e for e in evs if e["type"].startswith("recomp.run.")]

    def artifact_get(self, ref, out):
        return run([RECOMP_BIN, "artifact", "get", ref, "-o", out, "--store",
                    os.path.join(self.data, "store")])

    def artifact_bytes(self, ref):
        out = os.path.join(self.root, "fetched-" + ref.rsplit("/", 1)[-1])
        self.artifact_get(ref, out)
        with open(out, "rb") as f:
            return f.read()

    def tree_files(self, ref):
        """The files of a tree (a directory output), {path: bytes}, via `artifact get -o DIR`."""
        out = os.path.join(self.root, "tree-" + ref.rsplit("/", 1)[-1])
        if not os.path.isdir(out):
            self.artifact_get(ref, out)
        files = {}
        for base, _, names in os.walk(out):
            for n in names:
                with open(os.path.join(base, n), "rb") as f:
                    files[os.path.relpath(os.path.join(base, n), out)] = f.read()
        return files


# ---------------------------------------------------------------------------------------------
# Small pipelines

# One generic stage tool. It records each execution (a side effect OUTSIDE the sandbox:
# the file named by $COUNT_FILE), then writes out/<stage>-<shard>.txt from its inputs, so
# outputs are a deterministic function of the inputs, the stage and the shard.
# Knobs via env: SLEEP_S (sleep before writing; marks "start" first), FAIL=1 (exit 3 with a
# message on stderr; only shard $FAIL_SHARD if set), FAIL_ATTEMPTS=n (fail attempts <= n),
# HANG=1 (sleep forever).
STEP_PY = r'''
import hashlib, os, sys, time
env = os.environ
stage, shard = env["RECOMP_STAGE"], int(env["RECOMP_SHARD"])
attempt = int(env.get("RECOMP_ATTEMPT", "0"))
def note(what):
    with open(env["COUNT_FILE"], "a") as f:
        f.write("%s %s %d %d %d\n" % (what, stage, shard, attempt, os.getpid()))
note("start")
print("step: stage=%s shard=%d of %s" % (stage, shard, env["RECOMP_SHARDS"]), flush=True)
if env.get("HANG"):
    while True:
        time.sleep(1)
if float(env.get("SLEEP_S", "0")) > 0:
    time.sleep(float(env["SLEEP_S"]))
if (env.get("FAIL") and env.get("FAIL_SHARD", str(shard)) == str(shard)) or (env.get("FAIL_ATTEMPTS") and attempt <= int(env["FAIL_ATTEMPTS"])):
    print("step: deliberate failure in %s/%d (marker FAIL-MARKER-%s)" % (stage, shard, stage), file=sys.stderr)
    note("fail")
    sys.exit(3)
h = hashlib.sha256()
inputs = []
for root, dirs, files in os.walk("in"):
    dirs.sort()
    for n in sorted(files):
        p = os.path.join(root, n)
        if p.startswith(os.path.join("in", "tools")):
            continue
        with open(p, "rb") as f:
            data = f.read()
        h.update(p.encode() + b"\0" + data)
        inputs.append(p)
os.makedirs("out", exist_ok=True)
with open(os.path.join("out", "%s-%d.txt" % (stage, shard)), "w") as f:
    f.write("%s %d %s\n" % (stage, shard, h.hexdigest()))
    for p in inputs:
        f.write(p + "\n")
note("done")
'''


def stage(name, needs=(), shards=1, env=None, timeout_s=60, retries=0, validation=False,
          salt="", command=None, outputs=("out/",), retry_exit_codes=(3,)):
    """A stage dict for write_pipeline. step.py's deliberate failure exits 3, which the stage
    retries by default here (retry_exit_codes), so `retries` applies to it."""
    return {"name": name, "needs": list(needs),
            "command": list(command or [PYTHON, "in/tools/step.py"]), "outputs": list(outputs),
            "shards": shards, "timeout_s": timeout_s, "retries": retries,
            "retry_exit_codes": list(retry_exit_codes),
            "env": dict(env or {}), "validation": validation, "salt": salt}


def write_pipeline(directory, name, stages, tools=None, common_env=None):
    """Writes <directory>/<name>.toml and its tools (basename -> text; step.py by default).
    common_env is merged into every stage's env. Returns the manifest path."""
    os.makedirs(directory, exist_ok=True)
    tools = dict(tools or {"step.py": STEP_PY})
    for base, text in tools.items():
        with open(os.path.join(directory, base), "w") as f:
            f.write(text)
    lines = ["tools = %s" % toml_value(sorted(tools)), ""]
    for st in stages:
        env = dict(common_env or {})
        env.update(st["env"])
        lines.append("[[stages]]")
        for k in ("name", "needs", "command", "outputs", "shards", "timeout_s", "retries",
                  "retry_exit_codes"):
            lines.append("%s = %s" % (k, toml_value(st[k])))
        lines.append("env = %s" % toml_value(env))
        lines.append("validation = %s" % toml_value(st["validation"]))
        lines.append("salt = %s" % toml_value(st["salt"]))
        lines.append("")
    path = os.path.join(directory, name + ".toml")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def fanout_stages(salt="", env_b=None, validation=False):
    """a -> b (3 shards) -> c [-> check (validation)]: the basic 3-stage fan-out."""
    st = [stage("a", salt=salt), stage("b", needs=["a"], shards=3, env=env_b, salt=salt),
          stage("c", needs=["b"], salt=salt)]
    if validation:
        st.append(stage("check", needs=["c"], validation=True, salt=salt))
    return st


def write_module(directory, name="input.bin", text="hello recomp\n"):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def write_provenance(directory, module_paths):
    import hashlib
    prov = {"files": {}}
    for p in module_paths:
        with open(p, "rb") as f:
            prov["files"][os.path.basename(p)] = hashlib.sha256(f.read()).hexdigest()
    path = os.path.join(directory, "provenance.json")
    with open(path, "w") as f:
        json.dump(prov, f, sort_keys=True)
    return path


def read_count(path):
    """Lines of the side-effect file: [(what, stage, shard, attempt, pid)]."""
    try:
        with open(path) as f:
            rows = [l.split() for l in f if l.strip()]
    except FileNotFoundError:
        return []
    return [(r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in rows]


def stage_outputs(events):
    """{(stage, shard): sorted [(path, ref)]} from stage.completed events."""
    out = {}
    for e in events:
        if e["type"] == "recomp.run.stage.completed":
            d = e["data"]
            out[(d["stage"], d["shard"])] = sorted((o["path"], o["ref"]) for o in d["outputs"])
    return out


class PoolTestCase(unittest.TestCase):
    """Base: self.tmp (TempDir), and on failure the pool logs are printed."""
    maxDiff = None

    def setUp(self):
        self.tmp = TempDir()
        self.pools = []

    def pool(self, **kw):
        p = Pool(self.tmp.path, **kw)
        self.pools.append(p)
        return p

    def tearDown(self):
        failed = False
        outcome = getattr(self, "_outcome", None)
        if outcome is not None:
            result = getattr(outcome, "result", None)
            if result is not None:
                failed = any(t is self for t, _ in result.failures + result.errors)
        for p in self.pools:
            if p.up is not None or p.parts:
                errs = p.stop(check=False)
                if errs:
                    failed = True
                    print("pool stop problems: %s" % errs, file=sys.stderr)
            if failed:
                print(p.log_tail(), file=sys.stderr)
        self.tmp.cleanup()


def main():
    if not os.path.exists(RECOMP_BIN):
        print("recomp binary not found at %s (set RECOMP_BIN)" % RECOMP_BIN, file=sys.stderr)
        sys.exit(1)
    prog = unittest.main(verbosity=2, exit=False)
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit: subscriber threads may still hold sockets; never hang in context teardown.
    os._exit(0 if prog.result.wasSuccessful() else 1)
