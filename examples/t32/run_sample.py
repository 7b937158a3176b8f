#!/usr/bin/python3
"""Runs the T32 sample recompilation end to end on a local recomp pool (see docs/t32.md).

1. assembles the sample ROM (examples/t32/rom/game.s) with asm.py into DATA/in/: game.rom,
   symbols.toml, provenance.json (the user's inputs: recomp ships no ROM bytes);
2. starts a pool (`recomp up --workers N --data DATA`) in the background;
3. submits the ROM and its manifests as external module files with config/pipelines/t32.toml
   and follows the run (`recomp submit --wait`);
4. prints the final status (artifact:// refs of the outputs), the validation verdict, and
   fetches the recompiled program and the validation report into DATA/out/;
5. stops the pool. Exits 0 only if the run succeeded and validation passed.

The `recomp` binary: $RECOMP_BIN, else build/cli/recomp under the repository root.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time

T32 = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(T32))
PYTHON = "/usr/bin/python3"
PIPELINE = os.path.join(REPO, "config", "pipelines", "t32.toml")


def say(msg):
    print("t32: " + msg, flush=True)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path):
    """A pool config on ports the OS picks (a sample must not collide with another pool;
    `recomp up` brings a restarted coordinator back on the ports it got)."""
    with open(path, "w") as f:
        f.write("# written by examples/t32/run: OS-chosen ports for this sample's pool\n"
                "[coordinator]\napi = \"tcp://127.0.0.1:0\"\nevents = \"tcp://127.0.0.1:0\"\n"
                "replay = \"tcp://127.0.0.1:0\"\nblobs = \"tcp://127.0.0.1:0\"\n\n"
                "[broker]\nworkers = \"tcp://127.0.0.1:0\"\n")
    return path


class Pool:
    def __init__(self, recomp, data, workers, config):
        self.recomp, self.data, self.workers, self.config = recomp, data, workers, config
        self.log_path = os.path.join(data, "up.log")
        self.proc = None

    def start(self, timeout=60):
        endpoints = os.path.join(self.data, "endpoints.json")
        if os.path.exists(endpoints):
            os.unlink(endpoints)  # a stale one from an earlier pool would mislead the wait
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.recomp, "up", "--workers", str(self.workers), "--data", self.data, "--config",
             self.config], stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        say("pool starting (recomp up, pid %d, %d workers, log %s)" % (self.proc.pid, self.workers, self.log_path))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("recomp up exited %d:\n%s" % (self.proc.returncode, self.log_tail()))
            if os.path.exists(endpoints):
                # The coordinator answers: ready (jobs wait in the queue until workers register).
                p = self.cli("workers", "--json", check=False, timeout=15)
                if p.returncode == 0:
                    with open(endpoints) as f:
                        say("pool ready: %s" % " ".join(f.read().split()))
                    return
            time.sleep(0.1)
        raise RuntimeError("the pool was not ready within %ds:\n%s" % (timeout, self.log_tail()))

    def cli(self, *args, check=True, timeout=120, data=True):
        extra = ["--data", self.data] if data else []
        p = subprocess.run([self.recomp, *args, *extra], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError("recomp %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr.strip()))
        return p

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        say("stopping the pool")
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            say("recomp up did not stop within 30 s: killing its process group")
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return "\n".join(f.read().decode("utf-8", "replace").splitlines()[-n:])
        except OSError:
            return ""


def assemble(indir):
    os.makedirs(indir, exist_ok=True)
    files = {n: os.path.join(indir, n) for n in ("game.rom", "symbols.toml", "provenance.json")}
    subprocess.run([PYTHON, os.path.join(T32, "asm.py"), os.path.join(T32, "rom", "game.s"),
                    "-o", files["game.rom"], "--symbols", files["symbols.toml"],
                    "--provenance", files["provenance.json"]], check=True)
    with open(files["provenance.json"]) as f:
        prov = json.load(f)
    say("assembled %s (%d bytes, sha256 %s)" % (files["game.rom"], os.path.getsize(files["game.rom"]),
                                                  prov.get("sha256", "?")))
    return files


def submit(pool, files):
    """recomp submit --wait --json, progress relayed; returns (exit code, final status record)."""
    argv = [pool.recomp, "submit", "--data", pool.data, "--config", PIPELINE, "--wait", "--json"]
    for name in ("game.rom", "provenance.json", "symbols.toml"):
        argv += ["--module", files[name]]
    say("submitting: " + " ".join(argv[1:]))
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    last = None
    for line in p.stdout:
        if line.strip():
            last = line
            if not line.lstrip().startswith("{"):
                print("  " + line.rstrip(), flush=True)
    rc = p.wait()
    try:
        return rc, json.loads(last) if last else None
    except ValueError:
        return rc, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--data", default=os.path.join(REPO, "build", "t32-sample"),
                    help="pool data directory (default build/t32-sample)")
    ap.add_argument("--config", help="recomp config TOML (default: generated, free local ports)")
    args = ap.parse_args()

    recomp = os.environ.get("RECOMP_BIN") or os.path.join(REPO, "build", "cli", "recomp")
    if not os.access(recomp, os.X_OK):
        sys.exit("t32: no recomp binary at %s: build it (scripts/run-sample.sh does) or set RECOMP_BIN" % recomp)
    data = os.path.abspath(args.data)
    out = os.path.join(data, "out")
    os.makedirs(out, exist_ok=True)
    files = assemble(os.path.join(data, "in"))
    config = os.path.abspath(args.config) if args.config else write_config(os.path.join(data, "recomp.toml"))

    pool = Pool(recomp, data, args.workers, config)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ok = False
    try:
        pool.start()
        rc, status = submit(pool, files)
        if status is None:
            say("submit printed no status record (exit %d)" % rc)
            return 1
        run_id = status["run_id"]
        print(json.dumps(status, indent=2, sort_keys=True), flush=True)
        evs = [json.loads(l) for l in pool.cli("events", "--run", run_id, "--json").stdout.splitlines()
               if l.strip().startswith("{")]
        outputs = {}
        for e in evs:
            if e["type"] == "recomp.run.stage.completed":
                d = e["data"]
                for o in d["outputs"]:
                    outputs[(d["stage"], d["shard"], o["path"])] = o["ref"]
        val = [e["data"] for e in evs if e["type"] == "recomp.run.validation.completed"]
        verdict = val[-1]["verdict"] if val else "missing"
        print("outputs:", flush=True)
        for (st, sh, path), ref in sorted(outputs.items()):
            print("  %-8s %d  %-22s %s" % (st, sh, path, ref))
        say("validation %s%s" % (verdict, " (report %s)" % val[-1]["report"] if val else ""))
        if status["state"] != "succeeded":
            say("run %s %s: %s" % (run_id, status["state"], status.get("reason", "")))
            say("job logs: %s logs %s --data %s" % (recomp, run_id, data))
            return 1
        fetched = {}
        # Directory outputs ("out/") are trees: fetch the one file wanted from the stage's tree.
        for stage, name in (("link", "t32prog"), ("validate", "report.json")):
            refs = [ref for (st, sh, path), ref in outputs.items() if st == stage and path == "out/"]
            if not refs:
                say("no %s output of stage %s" % (name, stage))
                return 1
            dest = os.path.join(out, name)
            pool.cli("artifact", "get", refs[0], "--entry", name, "-o", dest,
                     "--store", os.path.join(data, "store"), data=False)
            fetched[name] = dest
        os.chmod(fetched["t32prog"], 0o755)
        with open(fetched["report.json"]) as f:
            report = json.load(f)
        say("program: %s (run it: %s %s 1 2 3 4)" % (fetched["t32prog"], fetched["t32prog"], files["game.rom"]))
        say("report:  %s (%s, %s vectors, %s mismatches)" % (fetched["report.json"], report.get("result"),
                                                             report.get("vectors"), report.get("mismatches")))
        ok = rc == 0 and verdict == "passed"
        say("run %s %s" % (run_id, "succeeded" if ok else "did not succeed"))
        return 0 if ok else 1
    except (RuntimeError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        say("error: %s" % e)
        return 1
    finally:
        pool.stop()


if __name__ == "__main__":
    sys.exit(main())
