"""Helpers shared by the T32 pipeline stage tools (ingest ... validate).

Encodes the job contract: inputs under in/, outputs under out/, shard from
RECOMP_SHARD/RECOMP_SHARDS, errors as one clear line on stderr + exit 1.
"""
import hashlib, json, os, sys


def stage_name(default):
    return os.environ.get("RECOMP_STAGE", default)


def fail(stage, msg):
    print("%s: error: %s" % (stage, msg), file=sys.stderr)
    sys.exit(1)


def shard():
    """(index, count) of this job; (0, 1) when not run by the pool."""
    try:
        return int(os.environ.get("RECOMP_SHARD", "0")), int(os.environ.get("RECOMP_SHARDS", "1"))
    except ValueError:
        fail(stage_name("t32"), "RECOMP_SHARD/RECOMP_SHARDS must be integers")


def read_json(stage, path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        fail(stage, "cannot read %s: %s" % (path, e.strerror))
    except ValueError as e:
        fail(stage, "%s is not valid JSON: %s" % (path, e))


def dumps(obj):
    """Deterministic JSON text (sorted keys, fixed separators, final newline)."""
    return json.dumps(obj, indent=1, sort_keys=True) + "\n"


def write(path, data):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path, mode) as f:
        f.write(data)


def checked_rom(stage):
    """ROM bytes from in/module/, re-checked against ingest's recorded SHA-256."""
    info = read_json(stage, "in/ingest/0/out/rom.json")
    path = os.path.join("in/module", info["rom"])
    try:
        with open(path, "rb") as f:
            rom = f.read()
    except OSError as e:
        fail(stage, "cannot read ROM %s: %s" % (path, e.strerror))
    got = hashlib.sha256(rom).hexdigest()
    if got != info["sha256"]:
        fail(stage, "ROM %s changed since ingest (sha256 %s, ingest saw %s)" % (path, got, info["sha256"]))
    return rom, info


def cc_flags(tag):
    """Reproducible gcc flags: no absolute paths, fixed random seed, no dates."""
    return ["-std=c11", "-O2", "-Wall", "-ffile-prefix-map=%s=." % os.getcwd(),
            "-frandom-seed=%s" % tag, "-I", "in/tools"]


def run_cc(stage, args):
    import subprocess
    cc = os.environ.get("CC", "gcc")
    print("%s: %s" % (stage, " ".join([cc] + args)))
    try:
        proc = subprocess.run([cc] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as e:
        fail(stage, "cannot run %s: %s (is PATH set in the stage env?)" % (cc, e.strerror))
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        fail(stage, "%s exited with status %d" % (cc, proc.returncode))
