"""The format check: every C++ file of the tree (packages, tests, bench) is formatted as
.clang-format says, by clang-format-15. Exits 77 (CTest: skipped) when it is not installed.

usage: format_check.py SOURCE_DIR"""
import os
import shutil
import subprocess
import sys

TOOL = "clang-format-15"
FOLDERS = ["base", "net", "messages", "store", "coordinator", "broker", "worker", "cli",
           "tests", "bench"]


def main():
    if shutil.which(TOOL) is None:
        print(f"{TOOL} is not installed (scripts/deps.sh installs it): skipped")
        return 77
    src = sys.argv[1]
    files = []
    for folder in FOLDERS:
        for root, _, names in os.walk(os.path.join(src, folder)):
            files += [os.path.join(root, n) for n in names if n.endswith((".h", ".cpp"))]
    if not files:
        print("no C++ files under", src)
        return 1
    run = subprocess.run([TOOL, "--dry-run", "-Werror", "--style=file"] + sorted(files),
                         cwd=src, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if run.returncode != 0:
        print(run.stdout[-20000:])
        print(f"not formatted: run `{TOOL} -i` on the files above")
        return 1
    print(f"{len(files)} files formatted as .clang-format says")
    return 0


if __name__ == "__main__":
    sys.exit(main())
