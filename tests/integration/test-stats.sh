#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ferry stats (issue 12): a running ferryd's daemon-wide counters over
# STATS_REQ/STATS (PROTOCOL.md 9.12), against a real ferryd:
# - before any transfer: its own session and nothing moved;
# - during a throttled push (--max-rate): two sessions, some but not all
#   bytes received, credit held back for the rate;
# - after it: the bytes and the file as sent, pacing seconds for the rate,
#   no session but the asking one; the same figures as --metrics-file;
# - --watch --json: one JSON object a second until interrupted, exit 0;
# - a guest without feature bit 6 (tools/bench-peer): a clear error, exit 1;
# - usage errors.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip "jq is not installed"
[ -x "$TOOLS/bench-peer" ] || fail "$TOOLS/bench-peer is missing (make tests)"

mkdir -p "$T/root" "$T/m"
start_ferryd "$T/root" --max-rate 2M --metrics-file "$T/m/ferry.prom"

stats() {
	run_ferry stats --to "unix:$FERRYD_SOCK" --json
	expect_rc 0 "ferry stats"
	jq -e . "$OUT" >/dev/null || fail "ferry stats --json is not JSON: $(cat "$OUT")"
	J=$OUT
}
get() { jq -r "$1" "$J"; }

# ---- before anything --------------------------------------------------------
stats
check_eq "sessions (the asking one)" "$(get .sessions)" 1
check_eq "sessions_total" "$(get .sessions_total)" 1
check_eq "bytes_received" "$(get .bytes_received)" 0
check_eq "bytes_sent" "$(get .bytes_sent)" 0
check_eq "pacing" "$(get '.pacing | length')" 0
check_eq "agent" "$(get .agent)" "ferryd/$(awk -F'"' '/define FERRY_VERSION/ { print $2 }' "$FERRY_SRC/core/base/version.h")"
for k in dirty_bytes window_bytes rss_bytes pressure_pct; do
	jq -e --arg k "$k" '.[$k] | type == "number"' "$J" >/dev/null || fail "no number $k: $(cat "$J")"
done
jq -e '.paced_s | keys == ["cpu", "pressure", "rate", "writeback"]' "$J" >/dev/null || fail "paced_s: $(cat "$J")"

# ---- during a throttled push ------------------------------------------------
S=$(big 6M 4M)
mkfile "$T/slow.bin" "$S"
"$FERRY" push --to "unix:$FERRYD_SOCK" "$T/slow.bin" slow.bin >"$T/slow.out" 2>"$T/slow.err" &
push_pid=$!
during() {
	stats
	[ "$(get .sessions)" = 2 ] && [ "$(get .bytes_received)" -gt 0 ]
}
wait_until 10 during || fail "no transfer seen while the push runs: $(cat "$J")"
[ "$(get .bytes_received)" -lt "$S" ] || fail "all $S bytes already while the push runs: $(cat "$J")"
jq -e '.pacing | index("rate")' "$J" >/dev/null || fail "credit not held for the rate during a 2M/s push: $(cat "$J")"
[ "$(get .window_bytes)" -gt 0 ] || fail "no window while receiving: $(cat "$J")"

# ---- after it ---------------------------------------------------------------
wait "$push_pid" || fail "the throttled push failed: $(cat "$T/slow.err")"
after() {
	stats
	[ "$(get .sessions)" = 1 ] && [ "$(get .files.ok)" = 1 ]
}
wait_until 10 after || fail "the push's end not seen: $(cat "$J")"
check_eq "bytes_received after" "$(get .bytes_received)" "$S"
check_eq "bytes_sent after" "$(get .bytes_sent)" 0
check_eq "files failed" "$(get .files.failed)" 0
check_eq "pacing after" "$(get '.pacing | length')" 0
check_eq "dirty after" "$(get .dirty_bytes)" 0
jq -e '.paced_s.rate >= 0.5' "$J" >/dev/null || fail "paced for the rate: $(get .paced_s.rate) s for $S bytes at 2M/s"
# sessions: the first stats, each one asked during and after, the push
total=$(get .sessions_total)
[ "$total" -ge 4 ] || fail "sessions_total $total"
# the file says the same
grep -qx "ferry_received_bytes_total $S" "$T/m/ferry.prom" || fail "the metrics file disagrees: $(grep received "$T/m/ferry.prom")"

# the table
run_ferry stats --to "unix:$FERRYD_SOCK"
expect_rc 0 "ferry stats"
grep -q "received .*($S bytes)" "$OUT" || fail "the table has no received bytes: $(cat "$OUT")"
grep -q "files *1 ok, 0 failed, 0 skipped" "$OUT" || fail "the table has no files: $(cat "$OUT")"

# ---- --watch ------------------------------------------------------------------
"$FERRY" stats --to "unix:$FERRYD_SOCK" --watch --json >"$T/watch.out" 2>"$T/watch.err" &
watch_pid=$!
two() { [ -f "$T/watch.out" ] && [ "$(wc -l <"$T/watch.out")" -ge 2 ]; }
wait_until 10 two || fail "--watch drew fewer than 2 times in 10 s: $(cat "$T/watch.out" "$T/watch.err")"
kill -INT "$watch_pid"
rc=0
wait "$watch_pid" || rc=$?
check_eq "--watch after ^C: exit" "$rc" 0
jq -e -s 'length >= 2 and all(.bytes_received == '"$S"')' "$T/watch.out" >/dev/null ||
	fail "--watch --json lines: $(cat "$T/watch.out")"

# ---- a guest without the feature ---------------------------------------------
bg_start "$T/peer.log" "$TOOLS/bench-peer" guest "$T/g.sock" nobench
wait_until 10 grep -q listening "$T/peer.log" || fail "bench-peer did not come up: $(cat "$T/peer.log")"
run_ferry stats --to "unix:$T/g.sock"
expect_rc 1 "ferry stats against a guest without bit 6"
expect_err "does not offer stats \(feature bit 6\)"

# ---- the wire rules, with a crafted host (tools/hostile) ----------------------
# STATS_REQ without bit 6 agreed, and a STATS sent to ferryd: each ends that
# session with ERROR 15 naming the frame; ferryd serves the next host.
[ -x "$TOOLS/hostile" ] || fail "$TOOLS/hostile is missing (make tests)"
for mode in stats stats-to-guest; do
	"$TOOLS/hostile" --for 10 host "$FERRYD_SOCK" "$mode" >"$T/hostile-$mode.out" 2>&1 ||
		fail "hostile $mode: $(cat "$T/hostile-$mode.out")"
	grep -q "^peer ERROR 15: protocol error: unexpected STATS" "$T/hostile-$mode.out" ||
		fail "hostile $mode: no ERROR 15 naming the frame: $(cat "$T/hostile-$mode.out")"
	grep -q "closed by the peer" "$T/hostile-$mode.out" || fail "hostile $mode: not closed: $(cat "$T/hostile-$mode.out")"
done
stats
check_eq "ferryd after the crafted hosts: bytes" "$(get .bytes_received)" "$S"

# ---- usage ----------------------------------------------------------------------
FERRY_TARGET= run_ferry stats
expect_rc 2 "ferry stats without a target"
expect_err "no target"
run_ferry stats --to "nonsense:x"
expect_rc 2 "ferry stats with a bad target"
run_ferry stats --to "unix:$T/nobody.sock"
expect_rc 3 "ferry stats with nobody listening"
echo "ok"
