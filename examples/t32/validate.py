#!/usr/bin/env python3
"""Stage `validate`: run seeded input vectors through interp.py and the native
program, compare registers, memory hash and out log, and on a mismatch replay
one vector with E/X traces to name the first diverging function.
"""
import os, random, stat, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interp, isa, stageio  # noqa: E402

STAGE = stageio.stage_name("validate")
PROG = "in/link/0/out/t32prog"


class NativeError(Exception):
    pass


def vectors(seed, n):
    rng = random.Random(seed)
    fixed = [[0, 0, 0, 0], [1, 2, 3, 4], [isa.MASK32] * 4, [0x80000000, 0x7FFFFFFF, 0, 1]]
    out = fixed[:n]
    while len(out) < n:
        out.append([rng.getrandbits(rng.choice((4, 8, 16, 32))) for _ in range(4)])
    return out


def run_native(rom_path, vecs, limit, extra=()):
    inp = "".join(" ".join("0x%x" % v for v in vec) + "\n" for vec in vecs)
    proc = subprocess.run([PROG, "--steps", str(limit), *extra, rom_path], input=inp,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise NativeError("native program exited with status %d: %s"
                          % (proc.returncode, proc.stderr.strip()[-400:]))
    lines = proc.stdout.splitlines(keepends=True)
    return ["".join(lines[i:i + 4]) for i in range(0, len(lines), 4)]


def diff_fields(expected, actual):
    names = ("status", "regs", "mem_sha256", "out")
    e, a = expected.splitlines(), actual.splitlines()
    return [n for i, n in enumerate(names) if i >= len(a) or e[i] != a[i]]


def first_divergence(exp_events, act_events):
    """Index of the first differing trace event and the function running then."""
    stack, last = [], None
    for k in range(max(len(exp_events), len(act_events))):
        e = exp_events[k] if k < len(exp_events) else None
        if e != (act_events[k] if k < len(act_events) else None):
            return k, (stack[-1] if stack else last)
        kind, fn = e.split()[0], int(e.split()[1], 16)
        if kind == "E":
            stack.append(fn)
        else:
            last = stack.pop()
    return None, (stack[-1] if stack else last)


def explain(rom, rom_path, vec, limit, names):
    exp_trace = []
    interp.run(rom, vec, limit, exp_trace)
    os.makedirs("work", exist_ok=True)
    run_native(rom_path, [vec], limit, ("--trace", "work/native.trace"))
    with open("work/native.trace") as f:
        act_trace = f.readlines()
    k, fn = first_divergence(exp_trace, act_trace)
    info = {"function": names.get(fn, "?"), "function_addr": "0x%04x" % (fn or 0), "event_index": k}
    if k is not None:
        info["expected_event"] = exp_trace[k].strip() if k < len(exp_trace) else None
        info["actual_event"] = act_trace[k].strip() if k < len(act_trace) else None
    return info


def rejects_tampered(rom, limit):
    os.makedirs("work", exist_ok=True)
    bad = bytearray(rom)
    bad[-1] ^= 0x01
    with open("work/tampered.rom", "wb") as f:
        f.write(bad)
    proc = subprocess.run([PROG, "--steps", str(limit), "work/tampered.rom", "1"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc.returncode != 0 and "hash mismatch" in proc.stderr


def compare(rom, rom_path, vecs, limit):
    """Run every vector on both sides -> list of (index, vector, expected, actual)."""
    native = run_native(rom_path, vecs, limit)
    bad = []
    for i, vec in enumerate(vecs):
        expected = isa.format_result(interp.run(rom, vec, limit))
        actual = native[i] if i < len(native) else ""
        if expected != actual:
            bad.append((i, vec, expected, actual))
    return bad


def describe_failure(rom, rom_path, limit, names, first):
    i, vec, expected, actual = first
    try:
        where = explain(rom, rom_path, vec, limit, names)
    except NativeError as e:
        where = {"function": "?", "function_addr": "?", "trace_error": str(e)}
    return dict(where, vector_index=i, input=["0x%08x" % v for v in vec],
                fields=diff_fields(expected, actual),
                expected=expected.splitlines(), actual=actual.splitlines())


def main():
    rom, facts = stageio.checked_rom(STAGE)
    rom_path = os.path.join("in/module", facts["rom"])
    if not os.path.exists(PROG):
        stageio.fail(STAGE, "missing %s" % PROG)
    if not os.access(PROG, os.X_OK):  # inputs are read-only and may not be ours to chmod
        os.chmod(PROG, os.stat(PROG).st_mode | stat.S_IXUSR)
    funcs = stageio.read_json(STAGE, "in/analyze/0/out/functions.json")
    names = {f["addr"]: f["name"] for f in funcs["functions"]}
    seed = int(os.environ.get("T32_VALIDATE_SEED", "29746"))
    count = int(os.environ.get("T32_VALIDATE_VECTORS", "200"))
    limit = int(os.environ.get("T32_STEP_LIMIT", str(isa.DEFAULT_STEP_LIMIT)))
    report = {"schema": "t32-validate/1", "vectors": count, "seed": seed, "step_limit": limit}
    try:
        bad = compare(rom, rom_path, vectors(seed, count), limit)
    except NativeError as e:
        return finish(dict(report, summary="FAIL: %s" % e))
    report.update(mismatches=len(bad), rejects_tampered_rom=rejects_tampered(rom, limit))
    if bad:
        ff = report["first_failure"] = describe_failure(rom, rom_path, limit, names, bad[0])
        report["summary"] = ("FAIL: %d/%d vectors differ; first divergence in function %s (%s) at vector %d"
                             % (len(bad), count, ff["function"], ff["function_addr"], ff["vector_index"]))
    elif not report["rejects_tampered_rom"]:
        report["summary"] = "FAIL: native program accepted a tampered ROM"
    else:
        report["summary"] = ("PASS: %d/%d vectors match (regs, memory hash, out log); tampered ROM rejected"
                             % (count, count))
    return finish(report)


def finish(report):
    report["result"] = "pass" if report["summary"].startswith("PASS") else "fail"
    stageio.write("out/report.json", stageio.dumps(report))
    print("validate: " + report["summary"])
    return 0 if report["result"] == "pass" else 1


if __name__ == "__main__":
    sys.exit(main())
