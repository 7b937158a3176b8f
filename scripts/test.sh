#!/usr/bin/env bash
# The README's test command: installs what is missing, builds (-j2) and runs every CTest test,
# first in a normal build (build/), then in an ASan+UBSan build (build-asan/) that skips the
# tests labelled slow or t32 (I/O-bound or Python-only; the normal pass runs them).
# Set RECOMP_SKIP_SANITIZE=1 to skip the sanitizer pass (CI always runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
JOBS=${JOBS:-2}

run_suite() {  # run_suite <build dir> "<ctest args>" [cmake args...]
  local dir=$1 ctest_args=$2; shift 2
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j"$JOBS"
  # shellcheck disable=SC2086
  ctest --test-dir "$dir" --output-on-failure -j"$JOBS" --timeout 900 $ctest_args
}

echo "== normal build =="
run_suite build ""
if [ "${RECOMP_SKIP_SANITIZE:-0}" != "1" ]; then
  echo "== sanitizer build (ASan+UBSan) =="
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # The t32 tools are Python and the slow-labelled tests move bytes: the normal pass covers them.
  run_suite build-asan "-LE (slow|t32)" -DRECOMP_SANITIZE=ON
fi
