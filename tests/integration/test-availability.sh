#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A stalled, stopped or hostile host cannot hold ferryd: one that connects
# and says nothing, sends half a header or half a frame, goes quiet after
# the handshake, or GETs a file and never reads is dropped after --timeout
# with a log line naming it, and meanwhile other hosts are served (several
# sessions at once; with one session at a time, a host waits at most the
# timeout).  An idle but live host (ferryd pacing it) is not dropped: the
# host says PAD while it waits.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

HOSTILE=$TOOLS/hostile
[ -x "$HOSTILE" ] || fail "$HOSTILE is missing (make tests)"
mkdir -p "$T/root" "$T/src"
mkfile "$T/src/a.bin" 3M
mkfile "$T/src/p.bin" 1536k
mkfile "$T/root/big.bin" 32M

# hostile_bg NAME ARGS...: a hostile host in the background, output in $T/NAME.out.
hostile_bg() {
	local name=$1
	shift
	bg_start "$T/$name.out" "$HOSTILE" "$@"
	eval "HPID_$name=\$BG_PID"
}
# closed_after NAME: seconds after which ferryd closed it (fails if it did not).
closed_after() {
	wait_until 30 grep -q 'hostile:' "$T/$1.out" || fail "$1: hostile did not finish: $(cat "$T/$1.out")"
	grep -q "closed by the peer" "$T/$1.out" || fail "$1: ferryd did not close it: $(cat "$T/$1.out")"
	sed -n 's/.*closed by the peer after \([0-9.]*\) s.*/\1/p' "$T/$1.out"
}
# between WHAT VALUE LOW HIGH
between() {
	awk -v v="$2" -v lo="$3" -v hi="$4" 'BEGIN { exit !(v >= lo && v <= hi) }' ||
		fail "$1: $2 s, expected between $3 and $4 s"
}
secs_since() { awk -v a="$1" -v b="${EPOCHREALTIME/,/.}" 'BEGIN { printf "%.2f", b - a }'; }

# ---- (a) one session at a time: a host behind a silent one waits at most
# the timeout, and the silent one is dropped with a line naming it.
start_ferryd "$T/root" --timeout 2 --max-sessions 1
hostile_bg quiet --for 20 host "$FERRYD_SOCK" quiet
wait_until 10 grep -q "session with unix peer pid $HPID_quiet " "$FERRYD_LOG" || fail "(a) the quiet host did not take the session"
t0=${EPOCHREALTIME/,/.}
run_ferry push --to "unix:$FERRYD_SOCK" --retry 0 "$T/src/a.bin" a1.bin
took=$(secs_since "$t0")
expect_rc 0 "push behind a quiet host (one session at a time)"
same_file "$T/src/a.bin" "$T/root/a1.bin"
note "(a) push behind a quiet host took $took s (timeout 2 s)"
between "(a) push behind a quiet host" "$took" 0.5 5
between "(a) quiet host dropped" "$(closed_after quiet)" 1.8 4
grep -q 'a host waits: 1 session running (--max-sessions 1' "$FERRYD_LOG" || fail "(a) ferryd did not say a host waits: $(cat "$FERRYD_LOG")"
grep -qE "session ended: unix peer pid $HPID_quiet uid [0-9]+ dropped: the host sent nothing for 2 s" "$FERRYD_LOG" ||
	fail "(a) no log line naming the dropped host (pid $HPID_quiet): $(cat "$FERRYD_LOG")"
stop_pid "$FERRYD_PID"

# ---- (b) several at once: hosts that stall in every way do not delay a
# push at all, and each is dropped after the timeout.
start_ferryd "$T/root" --timeout 3 --max-sessions 6 --max-memory 64M
hostile_bg silent --for 20 host "$FERRYD_SOCK" silent
hostile_bg half --for 20 host "$FERRYD_SOCK" half
hostile_bg midframe --for 20 host "$FERRYD_SOCK" midframe
hostile_bg noread --for 20 host "$FERRYD_SOCK" noread big.bin
hostile_bg quiet2 --for 20 host "$FERRYD_SOCK" quiet
sleep 0.5
t0=${EPOCHREALTIME/,/.}
run_ferry push --to "unix:$FERRYD_SOCK" --retry 0 "$T/src/a.bin" a2.bin
took=$(secs_since "$t0")
expect_rc 0 "push next to five stalled hosts"
same_file "$T/src/a.bin" "$T/root/a2.bin"
note "(b) push next to five stalled hosts took $took s (timeout 3 s)"
between "(b) push next to five stalled hosts" "$took" 0 2.5
for h in silent half midframe noread quiet2; do
	c=$(closed_after $h)
	note "(b) $h host dropped after $c s"
	between "(b) $h host dropped" "$c" 2.5 6
done
for why in "no handshake from the host within 3 s" "the host sent nothing for 3 s"; do
	grep -q "dropped: $why" "$FERRYD_LOG" || fail "(b) no '$why' in: $(cat "$FERRYD_LOG")"
done
[ "$(grep -c 'dropped:' "$FERRYD_LOG")" = 5 ] || fail "(b) expected 5 hosts dropped: $(cat "$FERRYD_LOG")"
assert_no_tmp "$T/root"
stop_pid "$FERRYD_PID"

# ---- (c) idle but alive: ferryd pacing a push (--max-rate) holds credit
# back for seconds; the host says PAD meanwhile and is not dropped.
start_ferryd "$T/root" --timeout 2 --max-rate 256k
t0=${EPOCHREALTIME/,/.}
run_ferry push --to "unix:$FERRYD_SOCK" --retry 0 "$T/src/p.bin" p.bin
took=$(secs_since "$t0")
expect_rc 0 "push paced to 256k/s by ferryd --timeout 2"
same_file "$T/src/p.bin" "$T/root/p.bin"
note "(c) paced push took $took s with --timeout 2"
between "(c) paced push" "$took" 4 30
! grep -q 'dropped' "$FERRYD_LOG" || fail "(c) a paced host was dropped: $(cat "$FERRYD_LOG")"
stop_pid "$FERRYD_PID"

# ---- (d) --timeout 0: never dropped.
start_ferryd "$T/root" --timeout 0
"$HOSTILE" --for 3 host "$FERRYD_SOCK" quiet >"$T/never.out"
grep -q "still open after" "$T/never.out" || fail "(d) --timeout 0 dropped a quiet host: $(cat "$T/never.out")"
stop_pid "$FERRYD_PID"
echo "availability: ok"
