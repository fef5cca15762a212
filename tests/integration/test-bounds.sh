#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What a hostile host can make ferryd hold is bounded by --max-memory: 5000
# GETs without credit (a hostile host that reads, stays alive with PAD and
# never grants) are queued up to a bound and the rest refused as busy, and
# ferryd's peak RSS stays within --max-memory 8M (it was 56 MiB when every
# GET was queued).  A real host, which keeps 32 GETs in flight, never
# meets the bound: a pull of 200 files all arrive.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

HOSTILE=$TOOLS/hostile
[ -x "$HOSTILE" ] || fail "$HOSTILE is missing (make tests)"
SANITIZED=0
grep -qa -m1 '__asan_init' "$FERRYD" 2>/dev/null && SANITIZED=1
MiB=1048576
hwm() { awk '$1 == "VmHWM:" { print $2 * 1024 }' "/proc/$1/status"; }

mkdir -p "$T/root/many" "$T/back"
mkfile "$T/root/big.bin" 1M
start_ferryd "$T/root" --max-memory 8M
idle=$(hwm "$FERRYD_PID")
"$HOSTILE" --for 4 host "$FERRYD_SOCK" flood 5000 big.bin >"$T/flood.out"
cat "$T/flood.out"
peak=$(hwm "$FERRYD_PID")
busy=$(sed -n 's/.*GETs sent, \([0-9]*\) refused (busy).*/\1/p' "$T/flood.out")
note "5000 GETs without credit: $busy refused as busy; ferryd VmHWM $((idle / 1024)) KiB before, $((peak / 1024)) KiB after (--max-memory 8M)"
[ -n "$busy" ] && [ "$busy" -ge 4000 ] || fail "expected most of 5000 GETs refused as busy, got '$busy'"
grep -q 'still open' "$T/flood.out" || fail "ferryd dropped a host that kept talking: $(cat "$T/flood.out")"
if [ "$SANITIZED" = 1 ]; then
	note "sanitizer build: RSS not checked"
else
	[ "$peak" -le $((8 * MiB)) ] || fail "ferryd VmHWM $peak bytes under a GET flood, over --max-memory 8M"
fi

# A real host is never told busy.
for i in $(seq 1 200); do printf 'file %d\n' "$i" >"$T/root/many/f$i.txt"; done
args=()
for i in $(seq 1 200); do args+=("many/f$i.txt"); done
run_ferry pull --from "unix:$FERRYD_SOCK" "${args[@]}" "$T/back/"
expect_rc 0 "a pull of 200 files after the flood"
[ "$(ls "$T/back" | wc -l)" = 200 ] || fail "only $(ls "$T/back" | wc -l) of 200 files arrived"
same_file "$T/root/many/f200.txt" "$T/back/f200.txt"
kill -0 "$FERRYD_PID" || fail "ferryd died"
echo "bounds: ok"
