"""The thread-safety check: every C++ file of the libraries is compiled again by clang with
-Wthread-safety as an error (syntax only, no code generated), so a member GUARDED_BY a mutex
(base/mutex.h) that is touched without it fails the suite. A probe with a deliberate violation
must fail the same way, so the check cannot pass by checking nothing.

usage: thread_safety.py COMPILE_COMMANDS_JSON SOURCE_DIR PROBE_CPP
Exits 77 (CTest: skipped) when clang++-15 is not installed."""
import concurrent.futures
import json
import os
import shlex
import shutil
import subprocess
import sys

CLANG = "clang++-15"
EXTRA = ["-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety",
         "-Wno-unknown-warning-option"]
GCC_ONLY = {"-Wno-mismatched-new-delete"}
# The libraries: where the mutexes and the state they guard are (tests only call them).
PACKAGES = ["base", "net", "messages", "store", "coordinator", "broker", "worker", "cli"]


def clang_args(entry):
    args = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    out = [CLANG]
    skip = False
    for a in args[1:]:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
            continue
        if a in ("-c", "-MD", "-MMD") or a in GCC_ONLY:
            continue
        out.append(a)
    return out + EXTRA


def check(entry):
    run = subprocess.run(clang_args(entry), cwd=entry["directory"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=600)
    return entry["file"], run.returncode, run.stdout


def main():
    if shutil.which(CLANG) is None:
        print(f"{CLANG} is not installed (scripts/deps.sh installs clang-15): skipped")
        return 77
    db_path, src, probe = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3]
    with open(db_path, encoding="utf-8") as f:
        db = json.load(f)
    packages = [os.path.join(src, p) + os.sep for p in PACKAGES]
    entries = [e for e in db if e["file"].endswith(".cpp")
               and any(os.path.realpath(e["file"]).startswith(p) for p in packages)]
    if not entries:
        print("no C++ files in", db_path)
        return 1
    # The probe: compiled with the flags of a file that sees base/, it must be refused.
    base_entry = next(e for e in entries if e["file"].endswith("base/status.cpp"))
    probe_entry = dict(base_entry, file=probe)
    probe_entry.pop("arguments", None)
    probe_entry["command"] = base_entry.get("command", "").replace(base_entry["file"], probe)
    _, rc, out = check(probe_entry)
    if rc == 0 or "-Wthread-safety" not in out:
        print("the probe with a deliberate violation was not refused:\n", out)
        return 1
    failures = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for path, rc, out in pool.map(check, entries):
            if rc != 0:
                failures.append((path, out))
    for path, out in failures:
        print("FAIL", path, "\n", out)
    print(f"{len(entries)} files checked, {len(failures)} failed; the probe was refused")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
