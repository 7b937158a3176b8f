#!/usr/bin/env bash
# The README's main command: installs the Debian packages recomp needs (scripts/deps.sh),
# configures and builds recomp, then runs the T32 sample recompilation on a local pool:
#   WORKERS=4 scripts/run-sample.sh [--data DIR]
# Extra arguments go to examples/t32/run. Exits 0 only if the run succeeded and validated.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j2
export RECOMP_BIN="${RECOMP_BIN:-$PWD/build/cli/recomp}"
exec examples/t32/run --workers "${WORKERS:-2}" "$@"
