#!/usr/bin/env bash
# The README's test command: installs what is missing, builds (-j2) and runs every CTest test,
# first in a normal build (build/), then in an ASan+UBSan build (build-asan/) that runs the
# C++ component tests (the Python integration tests exercise the same code in the normal pass).
# Set RECOMP_SKIP_SANITIZE=1 to skip the sanitizer pass (CI always runs it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
JOBS=${JOBS:-2}

run_suite() {  # run_suite <build dir> "<ctest args>" "<build targets or empty>" [cmake args...]
  local dir=$1 ctest_args=$2 targets=$3; shift 3
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  # shellcheck disable=SC2086
  cmake --build "$dir" -j"$JOBS" ${targets:+--target $targets}
  # shellcheck disable=SC2086
  ctest --test-dir "$dir" --output-on-failure -j"$JOBS" --timeout 900 $ctest_args
}

echo "== normal build =="
run_suite build "" ""
if [ "${RECOMP_SKIP_SANITIZE:-0}" != "1" ]; then
  echo "== sanitizer build (ASan+UBSan) =="
  # Leak checking is off until the suite has been made leak-clean under LeakSanitizer.
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite build-asan "-R ^(messages|store|coordinator|broker|worker)\." \
    "recomp_messages_tests recomp_store_tests recomp_coordinator_tests recomp_broker_tests recomp_worker_tests" \
    -DRECOMP_SANITIZE=ON
fi
