#!/usr/bin/env bash
# Installs the Debian packages recomp builds, tests and runs with, when any is missing.
# Idempotent; needs root (or sudo). Used by scripts/test.sh and examples/t32/run.
set -euo pipefail
PACKAGES=(
  g++ gcc make cmake ninja-build pkg-config
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev liblmdb-dev libsodium-dev libspdlog-dev
  doctest-dev libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  python3 python3-zmq python3-msgpack python3-jsonschema
  python3-nacl        # an independent check of signed provenance (tests/python/test_provenance.py)
  lmdb-utils          # mdb_dump/mdb_load: tests inspect and damage store indexes with them
  clang-15            # the thread-safety pass (tests/lint/thread_safety.py) and the fuzzers
  libfuzzer-15-dev    # libFuzzer for the fuzz targets (scripts/fuzz.sh)
  clang-format-15     # the format check (tests/lint/format_check.py; .clang-format)
  iproute2            # network namespaces for the multi-host tests
  bubblewrap          # confined jobs (docs/worker-sandbox.md); setpriv comes with util-linux
  prometheus-cpp-dev  # the metrics endpoint (base/metrics.h, docs/metrics.md)
  prometheus          # promtool checks the metrics output; its server scrapes a pool in a test
  tmux                # the `recomp top` test drives a terminal
  help2man            # the man page, from `recomp --help`
  dpkg-dev file       # cpack -G DEB: dpkg-shlibdeps finds the package's Depends (docs/install.md)
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
