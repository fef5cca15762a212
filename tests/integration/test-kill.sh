#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Ends that are not clean.  A file big enough to resume (over 1 MiB) keeps
# its partial file and journal after any of them, never anything at the
# destination name, and the same command run again finishes it, sending
# only what was missing:
#  (a) ferry SIGKILLed mid-push, and the connection cut mid-push
#      (corrupt-proxy --cut-after): ferryd ends the session and serves the
#      next push; the rerun resumes;
#  (b) ferryd SIGKILLed mid-push: ferry exits 4 naming the file; a new
#      ferryd resumes;
#  (c) the connection cut mid-pull: ferry exits 4, no local file; the rerun
#      resumes on the host side;
#  (d) --no-resume starts over and leaves no partial behind.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/root" "$T/src" "$T/back"
BIG=$(big 512M 64M)
mkfile "$T/src/k.bin" "$BIG"
mkfile "$T/src/small.bin" 300000

rchar() { proc_io "$1" rchar; }
# wait_rchar PID BYTES: until PID has read more than BYTES (bounded).
wait_rchar() {
	local i
	for ((i = 0; i < 3000; i++)); do
		[ "$(rchar "$1")" -gt "$2" ] && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.01
	done
	return 1
}
# ferry_bg ARGS...: ferry in the background; FERRY_PID, BG_OUT, BG_ERR.
ferry_bg() {
	BG_OUT=$T/bg.out
	BG_ERR=$T/bg.err
	"$FERRY" "$@" >"$BG_OUT" 2>"$BG_ERR" &
	FERRY_PID=$!
	BG_PIDS+=("$FERRY_PID")
	_CHECK_LOGS+=("$BG_ERR")
}
log_has() { grep -qE -- "$2" "$1"; }
# sessions_ended: how many sessions ferryd logged as ended badly.
sessions_ended() { grep -c 'session ended' "$FERRYD_LOG" || true; }
_ended_ge() { [ "$(sessions_ended)" -ge "$1" ]; }
wait_sessions_ended() { wait_until 20 _ended_ge "$1" || fail "ferryd did not log the end of session $1: $(cat "$FERRYD_LOG")"; }

# resumed WHAT SIZE: the last run ($OUT, --json) completed the file from a
# partial one: some bytes skipped, the rest sent, no temporary file left.
resumed() {
	local skipped sent
	skipped=$(json_get "$OUT" 1 bytes_skipped)
	sent=$(json_get "$OUT" 1 bytes)
	[ "$skipped" -gt 0 ] || fail "$1: nothing was resumed (bytes_skipped $skipped)"
	check_eq "$1: bytes sent + skipped" $((sent + skipped)) "$2"
	note "$1: resumed at $skipped of $2 bytes, $sent sent, $(json_get "$OUT" 1 bytes_resent) sent again"
}

# following_push NAME: a plain push still works.
following_push() {
	run_ferry push --to "unix:$FERRYD_SOCK" "$T/src/small.bin" "$1"
	expect_rc 0 "push after $1"
	same_file "$T/src/small.bin" "$T/root/$1"
}

start_ferryd "$T/root"

# ---- (a) ferry killed with SIGKILL in the middle of a push.  ferryd is
# stopped around the kill so the push cannot finish in between.
base=$(rchar "$FERRYD_PID")
ferry_bg push --to "unix:$FERRYD_SOCK" "$T/src/k.bin" k.bin
wait_rchar "$FERRYD_PID" $((base + 16 * CHUNK)) || fail "(a) ferryd did not start receiving: $(cat "$BG_ERR")"
kill -STOP "$FERRYD_PID"
kill -0 "$FERRY_PID" 2>/dev/null || { kill -CONT "$FERRYD_PID"; fail "(a) the push finished before it could be killed"; }
[ -n "$(tmp_files "$T/root")" ] || { kill -CONT "$FERRYD_PID"; fail "(a) no temporary file while receiving"; }
kill -KILL "$FERRY_PID"
wait "$FERRY_PID" 2>/dev/null || true
kill -CONT "$FERRYD_PID"
wait_sessions_ended 1
assert_no_dest "$T/root/k.bin"
assert_resumable "$T/root" "(a) after ferry was killed"
following_push after-a.bin
run_ferry push --json --to "unix:$FERRYD_SOCK" "$T/src/k.bin" k.bin
expect_rc 0 "(a) rerun"
same_file "$T/src/k.bin" "$T/root/k.bin"
resumed "(a) rerun" "$BIG"
assert_no_tmp "$T/root"
rm -f "$T/root/k.bin"

# ---- (a') the connection cut after 20 MB host -> guest.
start_proxy --cut-after 20000000
run_ferry push --retry 0 --to "unix:$PROXY_SOCK" "$T/src/k.bin" k.bin
expect_rc 4 "(a') push through --cut-after"
expect_err "push '$T/src/k.bin'" "(a') push through --cut-after"
log_has "$PROXY_LOG" 'cut after 20000000' || fail "(a') corrupt-proxy did not cut: $(cat "$PROXY_LOG")"
wait_sessions_ended 2
assert_no_dest "$T/root/k.bin"
assert_resumable "$T/root" "(a') after the cut"
following_push after-a2.bin
run_ferry push --json --to "unix:$FERRYD_SOCK" "$T/src/k.bin" k.bin
expect_rc 0 "(a') rerun"
same_file "$T/src/k.bin" "$T/root/k.bin"
resumed "(a') rerun" "$BIG"
assert_no_tmp "$T/root"
rm -f "$T/root/k.bin"

# ---- (c) the connection cut in the middle of a pull.  Cut the host ->
# guest direction (SYNC, GET, then CREDITs) halfway through what a whole
# pull sends.  --window 1M (one chunk) makes that lock-step: exactly one
# CREDIT per chunk, so the halfway point is the same in both runs.
cp "$T/src/k.bin" "$T/root/k.bin"
start_proxy
run_ferry pull --from "unix:$PROXY_SOCK" --window 1M k.bin "$T/back/full.bin"
expect_rc 0 "pull through a plain corrupt-proxy"
same_file "$T/src/k.bin" "$T/back/full.bin"
rm -f "$T/back/full.bin"
wait_until 10 log_has "$PROXY_LOG" 'done:' || fail "corrupt-proxy did not finish"
up=$(sed -n 's/.*done: \([0-9]*\) bytes client->backend.*/\1/p' "$PROXY_LOG")
[ "${up:-0}" -gt 400 ] || fail "(c) a whole pull sent only ${up:-0} bytes to the guest: too few to cut in the middle"
start_proxy --cut-after $((up / 2))
run_ferry pull --retry 0 --from "unix:$PROXY_SOCK" --window 1M k.bin "$T/back/k.bin"
expect_rc 4 "(c) pull through --cut-after $((up / 2))"
expect_err "pull 'k.bin'" "(c) pull through --cut-after"
assert_no_dest "$T/back/k.bin"
assert_resumable "$T/back" "(c) after the cut pull"
check_eq "(c) local directory after a cut pull" "$(find "$T/back" -mindepth 1 | wc -l)" 2
run_ferry pull --json --from "unix:$FERRYD_SOCK" k.bin "$T/back/k.bin"
expect_rc 0 "(c) rerun"
same_file "$T/src/k.bin" "$T/back/k.bin"
resumed "(c) rerun" "$BIG"
assert_no_tmp "$T/back"
rm -f "$T/root/k.bin"
following_push after-c.bin

# ---- (b) ferryd killed with SIGKILL in the middle of a push.
base=$(rchar "$FERRYD_PID")
ferry_bg push --to "unix:$FERRYD_SOCK" --timeout 20 "$T/src/k.bin" k.bin
wait_rchar "$FERRYD_PID" $((base + 16 * CHUNK)) || fail "(b) ferryd did not start receiving: $(cat "$BG_ERR")"
kill -KILL "$FERRYD_PID"
wait "$FERRYD_PID" 2>/dev/null || true
rc=0
wait "$FERRY_PID" || rc=$?
OUT=$BG_OUT ERR=$BG_ERR RC=$rc LAST_CMD="(b) ferry push, ferryd killed"
if [ "$rc" = 0 ]; then
	fail "(b) the push finished before ferryd could be killed"
fi
expect_rc 4
expect_err "push '$T/src/k.bin'"
assert_no_dest "$T/root/k.bin"
# ferryd had no chance to clean up: its partial file stays, to resume from.
assert_resumable "$T/root" "(b) after ferryd was killed"
start_ferryd "$T/root"
run_ferry push --json --to "unix:$FERRYD_SOCK" "$T/src/k.bin" k.bin
expect_rc 0 "(b) rerun with a new ferryd"
same_file "$T/src/k.bin" "$T/root/k.bin"
resumed "(b) rerun" "$BIG"
assert_no_tmp "$T/root"
rm -f "$T/root/k.bin"

# ---- (d) --no-resume: a partial file is there, the push starts over and
# leaves no partial behind.
start_proxy --cut-after 20000000
run_ferry push --retry 0 --to "unix:$PROXY_SOCK" "$T/src/k.bin" k.bin
expect_rc 4 "(d) push through --cut-after"
wait_until 20 test -n "$(part_files "$T/root")" || fail "(d) no partial file after the cut"
sleep 0.2 # ferryd closes the partial file when it sees the cut
run_ferry push --json --no-resume --to "unix:$FERRYD_SOCK" "$T/src/k.bin" k.bin
expect_rc 0 "(d) --no-resume"
same_file "$T/src/k.bin" "$T/root/k.bin"
check_eq "(d) --no-resume: bytes_skipped" "$(json_get "$OUT" 1 bytes_skipped)" 0
check_eq "(d) --no-resume: bytes" "$(json_get "$OUT" 1 bytes)" "$BIG"
assert_no_tmp "$T/root"
