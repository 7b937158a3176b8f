#!/usr/bin/env bash
# The long fuzz run: every target for SECONDS (default 300) each; prints runs, exec/s and
# coverage per target (scripts/fuzz.sh does the work). Figures go to docs/performance.md.
exec "$(dirname "$0")/../scripts/fuzz.sh" "${1:-300}"
