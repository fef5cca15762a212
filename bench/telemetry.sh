#!/usr/bin/env bash
# bench/telemetry.sh [BUILD] — what ferryd's telemetry costs (issue 12: "telemetry
# on vs off >= 0.99 in one bench run").  bench/ab.sh with the same build on both
# sides: A's ferryd as shipped (the engine's counters, which are always kept, and
# no file), B's with --metrics-file, rewritten at most once a second while a
# session runs and at its end.  Push and pull alternate A/B; the B/A column is
# telemetry on over off.  A benchmark: it prints the ratio and never fails on it.
#
# Environment: as bench/ab.sh (BENCH_SIZE, BENCH_RUNS, BENCH_DIR).
set -u -o pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-build}
m=$(mktemp -d "${BENCH_DIR:-/var/tmp}/ferry-telemetry.XXXXXX") || { echo "telemetry: no directory" >&2; exit 1; }
trap 'rm -rf "$m"' EXIT
B_FERRYD_ARGS="--metrics-file $m/ferry.prom" "$here/ab.sh" "$build" "$build"
rc=$?
[[ -s $m/ferry.prom ]] || { echo "telemetry: B's ferryd wrote no $m/ferry.prom" >&2; rc=1; }
exit "$rc"
