#!/usr/bin/env bash
# The fuzz run: builds every libFuzzer target (tests/fuzz) with clang-15, ASan and UBSan in
# build-fuzz/, then runs each for SECONDS (default 10) from its seed corpus
# (tests/fuzz/corpus/<target>/, read-only; new inputs go to build-fuzz/corpus-work/). Prints one
# line per target: runs, exec/s, coverage, and the crash file if one was found. Exits 1 when a
# target crashed (the input is kept in build-fuzz/findings/). Used by scripts/test.sh (short)
# and bench/fuzz_bench.sh (long).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-10}
JOBS=${JOBS:-2}
if ! command -v clang++-15 >/dev/null; then
  echo "fuzz: clang++-15 is not installed (scripts/deps.sh installs it): skipped"
  exit 0
fi
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRECOMP_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang-15 -DCMAKE_CXX_COMPILER=clang++-15 >/dev/null
cmake --build build-fuzz -j"$JOBS" --target recomp_fuzz_all
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if command -v llvm-symbolizer >/dev/null; then
  export ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer)
fi
mkdir -p build-fuzz/findings build-fuzz/corpus-work
failed=0
for seeds in tests/fuzz/corpus/*/; do
  target=$(basename "$seeds")
  exe=build-fuzz/tests/fuzz/fuzz_$target
  work=build-fuzz/corpus-work/$target
  mkdir -p "$work"
  log=build-fuzz/fuzz-$target.log
  if "$exe" -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix=build-fuzz/findings/"$target"- "$work" "$seeds" >"$log" 2>&1; then
    stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 | sed -E 's/^#([0-9]+)[[:space:]]+DONE[[:space:]]+/runs \1 /')
    echo "fuzz $target: ok, $stats"
  else
    failed=1
    echo "fuzz $target: FOUND A CRASH (log $log):"
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5
  fi
done
exit $failed
