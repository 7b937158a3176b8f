"""The layering check: builds each probe target of tests/layering/CMakeLists.txt and checks that
the allowed includes compile and the backwards ones fail because the header is not found (so a
probe cannot "fail" for an unrelated reason and pass the check).

usage: check.py CMAKE BUILD_DIR target:ok|refused:header ..."""
import subprocess
import sys


def main():
    cmake, build_dir, probes = sys.argv[1], sys.argv[2], sys.argv[3:]
    if not probes:
        print("no probes given")
        return 1
    errors = []
    for probe in probes:
        target, expect, header = probe.split(":", 2)
        run = subprocess.run([cmake, "--build", build_dir, "--target", target],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=600)
        out = run.stdout
        not_found = header in out and "No such file or directory" in out
        if expect == "ok" and run.returncode != 0:
            errors.append(f"{target}: {header} should compile:\n{out[-2000:]}")
        elif expect == "refused" and (run.returncode == 0 or not not_found):
            errors.append(f"{target}: including {header} should fail with 'not found', got "
                          f"exit {run.returncode}:\n{out[-2000:]}")
        else:
            print(f"{target}: {expect} as expected")
    for e in errors:
        print("FAIL", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
