# shellcheck shell=bash
# shellcheck disable=SC2034  # globals set here are read by the tests
# SPDX-License-Identifier: MIT
#
# tests/integration/lib.sh: helpers for the integration tests.  Source it
# from a test script that runs with `set -euo pipefail`:
#
#   . "$(dirname "$0")/lib.sh"
#   start_ferryd "$T/root"              # sets FERRYD_SOCK, FERRYD_PID, FERRYD_LOG
#   mkfile "$T/a.bin" 1M
#   run_ferry push --to "unix:$FERRYD_SOCK" --json "$T/a.bin" a.bin
#   expect_rc 0                         # RC, $OUT (stdout file), $ERR (stderr file)
#
# Environment:
#   FERRY_BUILD   build directory (default: build, relative to the repo root)
#   FERRY_SMALL=1 shrink the big files (sanitizer builds)
#   FERRY_TEST_KEEP=1  keep the temporary directory
#
# Everything lives under $T (mktemp -d), removed by the EXIT trap, which
# also stops every background process started through bg_start.  A
# sanitizer report in any captured log fails the test.

FERRY_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_b=${FERRY_BUILD:-build}
case $_b in
/*) ;;
*) if [ -d "$FERRY_SRC/$_b" ]; then _b=$FERRY_SRC/$_b; else _b=$(cd "$_b" 2>/dev/null && pwd || echo "$PWD/$_b"); fi ;;
esac
BUILD=$_b
unset _b
FERRY=$BUILD/ferry
FERRYD=$BUILD/ferryd
TOOLS=$BUILD/tools
SMALL=${FERRY_SMALL:-0}
CHUNK=1048576

# A hung command must not hang the test: every ferry run is bounded.
CMD_TIMEOUT=${FERRY_CMD_TIMEOUT:-120}

# Sanitizer reports get exit codes no test expects, and go to stderr.
export ASAN_OPTIONS=${ASAN_OPTIONS:-exitcode=86:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=87}

# Short path: unix socket paths must fit in 108 bytes.
T=$(mktemp -d "${TMPDIR:-/tmp}/fit.XXXXXX")
BG_PIDS=()
CLEANUP_CMDS=()
_CHECK_LOGS=()
_cleaning=0

_stop_pid() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

_cleanup() {
	local rc=$? pid c f
	[ "$_cleaning" = 1 ] && return
	_cleaning=1
	set +e
	for pid in "${BG_PIDS[@]}"; do
		_stop_pid "$pid"
	done
	for ((c = ${#CLEANUP_CMDS[@]} - 1; c >= 0; c--)); do
		eval "${CLEANUP_CMDS[c]}" >/dev/null 2>&1
	done
	# Sanitizer findings in a daemon or tool fail the test even if the
	# checks passed (a skip stays a skip: the reason must be the last line).
	if [ "$rc" = 0 ]; then
		for f in "${_CHECK_LOGS[@]}"; do
			if [ -f "$f" ] && grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f"; then
				echo "FAIL: sanitizer report in $f:" >&2
				sed -n '1,60p' "$f" >&2
				rc=1
			fi
		done
	fi
	if [ "${FERRY_TEST_KEEP:-0}" = 1 ]; then
		echo "kept $T" >&2
	else
		rm -rf "$T"
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

skip() {
	echo "$*"
	exit 77
}

note() { echo "# $*"; }

# to_bytes 64M -> 67108864 (k/K, M, G suffixes, powers of 1024)
to_bytes() {
	local s=$1 n
	case $s in
	*[kK]) n=$((${s%?} * 1024)) ;;
	*M) n=$((${s%?} * 1048576)) ;;
	*G) n=$((${s%?} * 1073741824)) ;;
	*) n=$((s)) ;;
	esac
	echo "$n"
}

# big SIZE SMALL_SIZE: SIZE normally, SMALL_SIZE under FERRY_SMALL=1
big() {
	if [ "$SMALL" = 1 ]; then to_bytes "$2"; else to_bytes "$1"; fi
}

# mkfile PATH SIZE: SIZE bytes of random content (every file different).
mkfile() {
	local path=$1 size
	size=$(to_bytes "$2")
	if [ -x "$TOOLS/mkrand" ]; then
		"$TOOLS/mkrand" "$size" >"$path"
	else
		head -c "$size" /dev/urandom >"$path"
	fi
	[ "$(stat -c %s "$path")" = "$size" ] || fail "mkfile $path: wanted $size bytes"
}

# mkfiles: many small random files at once, from lines "SIZE PATH" on
# stdin (parents made): one process, where mkfile is three per file.
mkfiles() {
	python3 -c '
import os, sys
for line in sys.stdin:
    size, path = line.rstrip("\n").split(" ", 1)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(os.urandom(int(size)))
' || fail "mkfiles: python3 failed"
}

filesize() { stat -c %s "$1"; }

# bg_start LOG CMD...: run CMD in the background with its output in LOG;
# the trap stops it.  Sets BG_PID.
bg_start() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
	_CHECK_LOGS+=("$log")
}

# proc_io PID FIELD: a counter of /proc/PID/io (rchar, wchar, ...); 0 once
# the process is gone.
proc_io() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/io" 2>/dev/null || echo 0; }

# wait_until SECONDS CMD...: poll CMD every 0.05 s; status 1 on timeout.
wait_until() {
	local secs=$1 i n
	shift
	n=$((secs * 20))
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	"$@"
}

_ferryd_n=0
# start_ferryd_at TARGET ROOT [ARGS...]: start ferryd listening on TARGET
# and wait until it says it listens.  Sets FERRYD_PID and FERRYD_LOG.
# Status 1 if it died or never got there (its log printed unless
# START_QUIET=1).
start_ferryd_at() {
	local target=$1 root=$2
	shift 2
	_ferryd_n=$((_ferryd_n + 1))
	FERRYD_LOG=$T/ferryd.$_ferryd_n.log
	bg_start "$FERRYD_LOG" "$FERRYD" --listen "$target" --root "$root" -v "$@"
	FERRYD_PID=$BG_PID
	local i ok=0
	for ((i = 0; i < 400; i++)); do
		if grep -q 'listening on' "$FERRYD_LOG" 2>/dev/null; then
			ok=1
			break
		fi
		kill -0 "$FERRYD_PID" 2>/dev/null || break
		sleep 0.05
	done
	if [ "$ok" != 1 ]; then
		if [ "${START_QUIET:-0}" != 1 ]; then
			echo "ferryd --listen $target did not come up; its log:" >&2
			cat "$FERRYD_LOG" >&2
		fi
		return 1
	fi
}

# start_ferryd ROOT [ARGS...]: ferryd on a fresh unix socket; sets FERRYD_SOCK.
start_ferryd() {
	local root=$1
	shift
	FERRYD_SOCK=$T/d$((_ferryd_n + 1)).sock
	start_ferryd_at "unix:$FERRYD_SOCK" "$root" "$@" || fail "cannot start ferryd"
	[ -S "$FERRYD_SOCK" ] || fail "ferryd says it listens but $FERRYD_SOCK is not a socket"
}

# stop_pid PID: TERM, bounded wait, KILL.
stop_pid() { _stop_pid "$1"; }

# start_proxy ARGS...: corrupt-proxy on a fresh socket in front of
# $FERRYD_SOCK; sets PROXY_SOCK, PROXY_PID, PROXY_LOG.
_proxy_n=0
start_proxy() {
	_proxy_n=$((_proxy_n + 1))
	PROXY_SOCK=$T/p$_proxy_n.sock
	PROXY_LOG=$T/proxy.$_proxy_n.log
	[ -x "$TOOLS/corrupt-proxy" ] || fail "$TOOLS/corrupt-proxy is missing (make tests)"
	bg_start "$PROXY_LOG" "$TOOLS/corrupt-proxy" "$PROXY_SOCK" "$FERRYD_SOCK" "$@"
	PROXY_PID=$BG_PID
	wait_until 20 test -S "$PROXY_SOCK" || { cat "$PROXY_LOG" >&2; fail "corrupt-proxy did not come up"; }
}

# run_ferry ARGS...: run ferry (bounded by CMD_TIMEOUT seconds; set it for one
# call with `CMD_TIMEOUT=15 run_ferry ...`), set RC; stdout in $OUT, stderr in $ERR.
_run_n=0
run_ferry() {
	_run_n=$((_run_n + 1))
	OUT=$T/run.$_run_n.out
	ERR=$T/run.$_run_n.err
	LAST_CMD="ferry $*"
	RC=0
	timeout -k 5 "$CMD_TIMEOUT" "$FERRY" "$@" >"$OUT" 2>"$ERR" || RC=$?
	_CHECK_LOGS+=("$ERR")
	if [ "$RC" = 124 ] || [ "$RC" = 137 ]; then
		show_run >&2
		fail "ferry did not finish within ${CMD_TIMEOUT}s: $LAST_CMD"
	fi
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$ERR"; then
		show_run >&2
		fail "sanitizer report from: $LAST_CMD"
	fi
	return 0
}

show_run() {
	echo "--- $LAST_CMD: exit $RC"
	echo "--- stdout:"
	cat "$OUT"
	echo "--- stderr:"
	cat "$ERR"
}

# expect_rc N [WHAT]: the last run_ferry exited N.
expect_rc() {
	if [ "$RC" != "$1" ]; then
		show_run >&2
		fail "${2:-$LAST_CMD}: exit $RC, expected $1"
	fi
}

# expect_err REGEX [WHAT]: the last run_ferry's stderr matches (grep -E).
expect_err() {
	if ! grep -qE -- "$1" "$ERR"; then
		show_run >&2
		fail "${2:-$LAST_CMD}: stderr does not match /$1/"
	fi
}

# check_eq WHAT GOT WANT
check_eq() {
	[ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
}

# same_file A B: byte-identical
same_file() {
	[ -f "$1" ] || fail "$1 does not exist"
	[ -f "$2" ] || fail "$2 does not exist"
	if [ -x "$TOOLS/fcmp" ]; then # skips holes both files have (sparse images)
		local why
		why=$("$TOOLS/fcmp" "$1" "$2" 2>&1) || fail "$1 and $2 differ ($why)"
	else
		cmp -s "$1" "$2" || fail "$1 and $2 differ ($(cmp "$1" "$2" 2>&1 | head -n1))"
	fi
}

# assert_no_dest PATH: nothing (not even a dangling symlink) at PATH.
assert_no_dest() {
	if [ -e "$1" ] || [ -L "$1" ]; then
		ls -la "$1" >&2 || true
		fail "$1 exists but must not"
	fi
}

# tmp_files DIR: the receiver's temporary files under DIR, one per line.
# tmp_files DIR: ferry's temporary files, and partial files kept for resume.
tmp_files() { find "$1" \( -name '.ferry-*.tmp' -o -name '.ferry-*.part' -o -name '.ferry-*.jnl' \) 2>/dev/null; }
# part_files DIR: the partial files (and journals) a resume continues.
part_files() { find "$1" \( -name '.ferry-*.part' -o -name '.ferry-*.jnl' \) 2>/dev/null; }
# assert_resumable DIR WHAT: a .part and its .jnl are there, nothing else temporary.
assert_resumable() {
	local parts jnls others
	parts=$(find "$1" -name '.ferry-*.part' | wc -l)
	jnls=$(find "$1" -name '.ferry-*.jnl' | wc -l)
	others=$(find "$1" -name '.ferry-*.tmp' | wc -l)
	[ "$parts" = 1 ] && [ "$jnls" = 1 ] && [ "$others" = 0 ] ||
		fail "$2: expected one .part and one .jnl to resume from, found: $(tmp_files "$1" | tr '\n' ' ')"
}
_no_tmp() { [ -z "$(tmp_files "$1")" ]; }

# assert_no_tmp DIR [SECONDS]: no .ferry-*.tmp under DIR, waiting up to
# SECONDS (default 10) for a receiver that is still cleaning up.
assert_no_tmp() {
	wait_until "${2:-10}" _no_tmp "$1" || fail "temporary files left in $1: $(tmp_files "$1" | tr '\n' ' ')"
}

# tree_listing DIR: every path under DIR (for before/after comparisons).
tree_listing() { (cd "$1" && find . -print | LC_ALL=C sort); }

# json_get FILE LINE_NO KEY: a field of the LINE_NO-th JSON object (jq path
# without the dot, e.g. digest or rtt_us.count).
json_get() {
	local line
	line=$(sed -n "$2p" "$1")
	[ -n "$line" ] || fail "no JSON line $2 in $1"
	if command -v jq >/dev/null 2>&1; then
		printf '%s\n' "$line" | jq -er ".$3 | if . == null then \"null\" else . end" ||
			fail "JSON line $2 of $1 is not valid JSON or lacks $3: $line"
	else
		printf '%s\n' "$line" | python3 -c '
import json, sys
v = json.loads(sys.stdin.read())
for k in sys.argv[1].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("null" if v is None else (str(v).lower() if isinstance(v, bool) else v))' "$3" ||
			fail "JSON line $2 of $1 is not valid JSON: $line"
	fi
}

# json_lines FILE: number of lines, each checked to be one JSON object,
# without the run's summary line ("kind":"summary", always the last).
json_lines() {
	local n
	n=$(grep -vc '"kind":"summary"' "$1" || true)
	if command -v jq >/dev/null 2>&1; then
		jq -e -c 'type == "object"' "$1" >/dev/null 2>&1 || [ "$n" = 0 ] || fail "$1 holds something that is not JSON objects: $(head -c 300 "$1")"
	fi
	echo "$n"
}

# check_json_ok FILE LINE OP SIZE [TRANSPORT]: sane telemetry for a good
# transfer; prints its digest.  chunks = ceil(size / $CHUNK_FOR_JSON).
check_json_ok() {
	local f=$1 l=$2 op=$3 size=$4 tr=${5:-unix} chunk=${CHUNK_FOR_JSON:-$CHUNK} v d
	check_eq "json op" "$(json_get "$f" "$l" op)" "$op"
	check_eq "json status" "$(json_get "$f" "$l" status)" ok
	check_eq "json transport" "$(json_get "$f" "$l" transport)" "$tr"
	check_eq "json bytes" "$(json_get "$f" "$l" bytes)" "$size"
	check_eq "json chunks" "$(json_get "$f" "$l" chunks)" $(((size + chunk - 1) / chunk))
	check_eq "json error" "$(json_get "$f" "$l" error)" null
	for v in source dest seconds mb_per_s retransmits credit_wait_seconds rtt_us.count rtt_us.p50 rtt_us.p99 rtt_us.max; do
		[ "$(json_get "$f" "$l" "$v")" != null ] || fail "json line $l of $f lacks $v"
	done
	v=$(json_get "$f" "$l" io)
	[ "$v" = io_uring ] || [ "$v" = psync ] || fail "json io: '$v'"
	d=$(json_get "$f" "$l" digest)
	[[ $d =~ ^xxh3-128:[0-9a-f]{32}$ ]] || fail "json digest: '$d'"
	echo "$d"
}

# Is the kernel willing to give us an io_uring?  (0 = yes)
have_io_uring() {
	local v
	v=$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)
	[ "$v" = 0 ] || return 1
	# The agents say why they fell back; a probe push decides in the test.
	return 0
}

# check_case FUNC [ARGS...]: run one group of checks in a subshell, so a
# failing check ends only that group; count failures in CASE_FAILS.  End the
# test with `finish_cases`.  Start background processes (start_ferryd,
# bg_start) outside: the EXIT trap does not see what a subshell started.
CASE_FAILS=0
check_case() {
	if ! ("$@"); then
		CASE_FAILS=$((CASE_FAILS + 1))
		echo "  ^ in: $*" >&2
	fi
}
finish_cases() {
	[ "$CASE_FAILS" = 0 ] || fail "$CASE_FAILS group(s) of checks failed"
}
