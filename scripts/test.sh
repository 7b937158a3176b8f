#!/usr/bin/env bash
# The README's test command: installs what is missing, builds (-j2) and runs every CTest test,
# first in a normal build (build/), then in an ASan+UBSan build (build-asan/).
# Set RECOMP_SKIP_SANITIZE=1 to skip the sanitizer pass (CI always runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
JOBS=${JOBS:-2}

run_suite() {  # run_suite <build dir> [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j"$JOBS"
  ctest --test-dir "$dir" --output-on-failure -j"$JOBS" --timeout 900
}

echo "== normal build =="
run_suite build
if [ "${RECOMP_SKIP_SANITIZE:-0}" != "1" ]; then
  echo "== sanitizer build (ASan+UBSan) =="
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite build-asan -DRECOMP_SANITIZE=ON
fi
