#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The one test runner (in the spirit of liburing's test/runtests.sh).
#
#   tests/run.sh [-t TIMEOUT_SECONDS] TEST...
#
# Each TEST is an executable: a compiled test or a script.  Each runs with
# its own timeout, stdin from /dev/null, stdout+stderr to a log file under
# $FERRY_TEST_LOGDIR (default: a fresh temporary directory, removed when
# nothing failed).  FERRY_TEST_TIMEOUT sets the default timeout (60s).  One line per
# test:
#   PASS name (1.2s)
#   FAIL name (rc N)        followed by the tail of its log
#   SKIP name: reason       exit status 77; reason = the test's last line
# and last, alone on its line:  N passed, N failed, N skipped
#
# Exit status: 0 if nothing failed, 1 if a test failed or no test was given
# (which counts as a failure in the summary too), 2 on a usage error.

set -u

T_EXIT_SKIP=77
timeout_s=${FERRY_TEST_TIMEOUT:-60}
tail_lines=20

usage() {
	echo "usage: tests/run.sh [-t TIMEOUT_SECONDS] TEST..." >&2
}

while getopts ":t:h" opt; do
	case $opt in
	t) timeout_s=$OPTARG ;;
	h) usage; exit 0 ;;
	:) echo "run.sh: option -$OPTARG needs a value" >&2; usage; exit 2 ;;
	*) echo "run.sh: unknown option -$OPTARG" >&2; usage; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

if ! [[ $timeout_s =~ ^[0-9]+([.][0-9]+)?$ ]] || [[ $timeout_s =~ ^0+([.]0+)?$ ]]; then
	echo "run.sh: timeout must be a positive number of seconds, not '$timeout_s'" >&2
	exit 2
fi
if [ $# -eq 0 ]; then
	# A suite that runs nothing proves nothing: it counts as one failure,
	# here and in make check's total (say, a wildcard that matched no file).
	echo "run.sh: no tests given" >&2
	usage
	echo "0 passed, 1 failed, 0 skipped"
	[ -n "${FERRY_TEST_SUMMARY:-}" ] && echo "0 1 0" >> "$FERRY_TEST_SUMMARY"
	exit 1
fi

# A log directory made here is removed again when nothing failed.
logdir=${FERRY_TEST_LOGDIR:-}
own_logdir=0
if [ -z "$logdir" ]; then
	logdir=$(mktemp -d "${TMPDIR:-/tmp}/ferry-tests.XXXXXX") || exit 1
	own_logdir=1
fi
mkdir -p "$logdir" || exit 1

# Microseconds since the epoch; EPOCHREALTIME's separator follows the locale.
now_us() {
	local t=${EPOCHREALTIME//[!0-9]/}
	echo $((10#$t))
}

passed=0
failed=0
skipped=0
failed_names=()

trap 'echo; echo "interrupted"; echo "$passed passed, $((failed + 1)) failed, $skipped skipped"; exit 1' INT TERM

for t in "$@"; do
	name=$t
	log=$logdir/$(echo "$t" | sed 's|^\./||; s|[^A-Za-z0-9._-]|_|g').log

	if [ -d "$t" ] || [ ! -e "$t" ]; then
		echo "FAIL $name (not found)"
		failed=$((failed + 1))
		failed_names+=("$name")
		continue
	fi
	cmd=("$t")
	case $t in
	*/*) ;;
	*) cmd=("./$t") ;; # a bare name must not be looked up in PATH
	esac
	if [ ! -x "$t" ]; then
		case $t in
		*.sh) cmd=(bash "$t") ;;
		*)
			echo "FAIL $name (not executable)"
			failed=$((failed + 1))
			failed_names+=("$name")
			continue
			;;
		esac
	fi

	start=$(now_us)
	timeout -k 5 "$timeout_s" "${cmd[@]}" </dev/null >"$log" 2>&1
	rc=$?
	us=$(($(now_us) - start))
	secs=$(printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000)))

	case $rc in
	0)
		echo "PASS $name (${secs}s)"
		passed=$((passed + 1))
		;;
	"$T_EXIT_SKIP")
		reason=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
		echo "SKIP $name: ${reason:-no reason given}"
		skipped=$((skipped + 1))
		;;
	*)
		if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
			echo "FAIL $name (rc $rc: timed out after ${timeout_s}s)"
		else
			echo "FAIL $name (rc $rc)"
		fi
		tail -n "$tail_lines" "$log" | sed 's/^/    /'
		failed=$((failed + 1))
		failed_names+=("$name")
		;;
	esac
done

if [ $failed -gt 0 ]; then
	echo "failed: ${failed_names[*]}  (logs in $logdir)"
elif [ $own_logdir -eq 1 ]; then
	rm -rf -- "$logdir"
fi
echo "$passed passed, $failed failed, $skipped skipped"
# make check runs several suites; it adds them up from this file.
[ -n "${FERRY_TEST_SUMMARY:-}" ] && echo "$passed $failed $skipped" >> "$FERRY_TEST_SUMMARY"
[ $failed -eq 0 ]
