#!/usr/bin/env bash
# The README's test command: installs what is missing, configures, builds (-j2) and runs every
# CTest test (doctest units, Python integration tests with real processes, the T32 sample),
# then every fuzz target for a bounded time (scripts/fuzz.sh).
#
# By default the ONE build is instrumented with AddressSanitizer + UndefinedBehaviorSanitizer,
# asserts on, optimised with -Og (build-asan/): every test, the Python integration tests'
# coordinator/broker/worker processes included, runs under the sanitizers, and building once
# instead of twice keeps CI inside its time budget. RECOMP_SKIP_SANITIZE=1 builds and tests a
# plain RelWithDebInfo tree instead (build/), e.g. to check the optimised binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
JOBS=${JOBS:-2}
GEN=(-G Ninja)

run_suite() {  # run_suite <build dir> [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" "${GEN[@]}" "$@" >/dev/null
  cmake --build "$dir" -j"$JOBS"
  ctest --test-dir "$dir" --output-on-failure -j"$JOBS" --timeout 900
}

start=$(date +%s)
if [ "${RECOMP_SKIP_SANITIZE:-0}" = "1" ]; then
  echo "== plain build (RelWithDebInfo) and all tests =="
  run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
else
  echo "== ASan+UBSan build (-Og, asserts on) and all tests =="
  # Leak checking is on: a leak in a unit test, or in a recomp process that exits normally
  # (exit code 23), fails its test. These reach every process the tests start (the recomp
  # binaries inherit the environment).
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export RECOMP_SANITIZED=1
  run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-Og -g1" -DRECOMP_SANITIZE=ON
fi
# Every decoder a peer can reach, fuzzed from its seed corpus for a bounded time (clang-15,
# libFuzzer, ASan+UBSan; bench/fuzz_bench.sh runs the long version).
echo "== fuzz targets, ${FUZZ_SECONDS:-10} s each =="
bash scripts/fuzz.sh "${FUZZ_SECONDS:-10}"
echo "== all tests passed in $(( $(date +%s) - start )) s =="
