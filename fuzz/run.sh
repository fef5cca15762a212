#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# A short libFuzzer run of each harness, as a gate (make check-fuzz).
#
#   fuzz/run.sh [-t SECONDS] FUZZER...
#
# FUZZER is a libFuzzer binary named fuzz-NAME.  It runs for SECONDS (25 by
# default; FUZZ_SECONDS) over a fresh copy of its seeds, fuzz/corpus/NAME,
# made next to the binary (NAME.corpus), so the seeds in git stay as they
# are; a crash, a leak or an input that runs over 10 s is kept beside it as
# NAME-crash-*, NAME-leak-*, NAME-timeout-*.  One line per harness, as
# tests/run.sh prints them:
#   PASS fuzz-decode (25.0s, 1234567 runs)
#   FAIL fuzz-decode (rc N)          then the tail of its log and the input
# and last:  N passed, N failed, 0 skipped  -- also appended to
# $FERRY_TEST_SUMMARY, so the fuzz run counts in make check's total.
#
# Exit status: 0 if every harness ran its time without finding anything,
# 1 otherwise (a missing binary, a crash, a hang), 2 on a usage error.

set -u

seconds=${FUZZ_SECONDS:-25}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
	echo "usage: fuzz/run.sh [-t SECONDS] FUZZER..." >&2
}

while getopts ":t:h" opt; do
	case $opt in
	t) seconds=$OPTARG ;;
	h) usage; exit 0 ;;
	*) usage; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
	echo "fuzz/run.sh: SECONDS must be a positive whole number, not '$seconds'" >&2
	exit 2
fi
if [ $# -eq 0 ]; then
	echo "fuzz/run.sh: no fuzzers given" >&2
	usage
	exit 2
fi

passed=0
failed=0
for f in "$@"; do
	base=$(basename "$f")
	name=${base#fuzz-}
	dir=$(dirname "$f")
	seeds=$root/fuzz/corpus/$name
	if [ ! -x "$f" ] || [ ! -d "$seeds" ]; then
		echo "FAIL $base (no executable $f or no seeds in $seeds)"
		failed=$((failed + 1))
		continue
	fi
	corpus=$dir/$name.corpus
	log=$dir/$name.log
	rm -rf "$corpus" "$dir/$name"-crash-* "$dir/$name"-leak-* "$dir/$name"-timeout-* "$dir/$name"-oom-*
	mkdir -p "$corpus" && cp "$seeds"/* "$corpus"/ || exit 1

	# libFuzzer's own exit code for a finding is 77, which tests/run.sh
	# reads as a skip: ask for 1.  The outer timeout catches a fuzzer that
	# hangs where its own watchdog cannot.
	start=$SECONDS
	timeout -k 5 $((seconds + 120)) "$f" -max_total_time="$seconds" -timeout=10 -error_exitcode=1 \
		-timeout_exitcode=1 -print_final_stats=1 -artifact_prefix="$dir/$name-" "$corpus" \
		</dev/null >"$log" 2>&1
	rc=$?
	took=$((SECONDS - start))
	if [ $rc -eq 0 ]; then
		runs=$(sed -n 's/^Done \([0-9]*\) runs in.*/\1/p' "$log" | tail -n 1)
		echo "PASS $base (${took}s, ${runs:-?} runs)"
		passed=$((passed + 1))
	else
		echo "FAIL $base (rc $rc after ${took}s; log $log)"
		tail -n 30 "$log" | sed 's/^/    /'
		for a in "$dir/$name"-crash-* "$dir/$name"-leak-* "$dir/$name"-timeout-* "$dir/$name"-oom-*; do
			[ -e "$a" ] && echo "    input: $a  (reproduce: $f $a)"
		done
		failed=$((failed + 1))
	fi
done

echo "$passed passed, $failed failed, 0 skipped"
[ -n "${FERRY_TEST_SUMMARY:-}" ] && echo "$passed $failed 0" >>"$FERRY_TEST_SUMMARY"
[ $failed -eq 0 ]
