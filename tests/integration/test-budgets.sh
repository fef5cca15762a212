#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ferryd's guest budgets, end to end over a Unix socket:
#   dirty limit   the receiver's dirty peak stays under --dirty-limit (0: off)
#                 and under the 8M default
#   max-rate      sender (ferry), receiver credit (ferryd) and ferryd sending
#                 on pull never beat the rate; the waits say why
#   max-memory    ferryd's peak RSS stays under --max-memory
#   PSI           a fake /proc/pressure whose io stalls shrinks the window
#                 (waits_s.receiver_pressure > 0); a quiet one does not, and
#                 neither does a cpu stall (ferryd does not pace on cpu)
#   options       bad budget options are usage errors (exit 2, one line)
#   priority      nice 10 by default, --nice N
# Timing is only ever checked as an upper bound on a rate, which a slow or
# busy machine cannot break.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

MiB=1048576
mkdir -p "$T/src"

# Sanitizer runtimes reserve and touch memory of their own: RSS is only
# reported there, not checked.
SANITIZED=0
if grep -qa -m1 '__asan_init' "$FERRYD" 2>/dev/null; then
	SANITIZED=1
fi

# now_us: wall clock in microseconds.
now_us() {
	local t=${EPOCHREALTIME/[.,]/}
	echo "$t"
}

# le_rate WHAT BYTES SECONDS LIMIT: BYTES / SECONDS <= LIMIT * 1.05.
le_rate() {
	local what=$1 bytes=$2 secs=$3 limit=$4
	awk -v b="$bytes" -v s="$secs" -v l="$limit" -v w="$what" 'BEGIN {
		if (s <= 0) { printf "FAIL: %s: %s seconds\n", w, s; exit 1 }
		r = b / s
		printf "# %s: %.2f MiB/s (limit %.2f MiB/s)\n", w, r / 1048576, l / 1048576
		if (r > l * 1.05) { printf "FAIL: %s: %.0f bytes/s over %.0f * 1.05\n", w, r, l; exit 1 }
	}' >&2 || exit 1
}

# gt0 WHAT VALUE / eq0 WHAT VALUE: a JSON number (seconds) > 0 / == 0.
gt0() { awk -v v="$2" 'BEGIN { exit !(v + 0 > 0) }' || fail "$1: $2, expected > 0"; }
eq0() { awk -v v="$2" 'BEGIN { exit !(v + 0 == 0) }' || fail "$1: $2, expected 0"; }

# vmhwm PID: VmHWM of PID in bytes.
vmhwm() {
	local k v _
	while read -r k v _; do
		[ "$k" = VmHWM: ] && { echo $((v * 1024)); return 0; }
	done <"/proc/$1/status"
	echo 0
}

# meminfo_sampler OUT: system-wide Dirty + Writeback (kB) every 20 ms; the
# peak goes to OUT.  Bounded: it stops by itself after 120 s.
meminfo_sampler() {
	local out=$1 peak=0 cur k v _ i
	for ((i = 0; i < 6000; i++)); do
		cur=0
		while read -r k v _; do
			case $k in Dirty: | Writeback:) cur=$((cur + v)) ;; esac
		done </proc/meminfo
		if ((cur > peak)); then
			peak=$cur
			echo "$peak" >"$out"
		fi
		sleep 0.02
	done
}

# psi_file PATH SOME_TOTAL_US: one /proc/pressure file, rewritten in place
# (ferryd keeps it open).
psi_file() {
	printf 'some avg10=0.00 avg60=0.00 avg300=0.00 total=%s\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=%s\n' \
		"$2" "$(($2 / 2))" >"$1"
}

# psi_staller FILE: FILE's stall total grows at twice the wall clock (a 100%
# stall share, whatever the sampling jitter), every 50 ms.  Bounded: it stops
# by itself after 120 s.
psi_staller() {
	local file=$1 start now i
	start=$(now_us)
	for ((i = 0; i < 2400; i++)); do
		now=$(now_us)
		psi_file "$file" $((1000000 + 2 * (now - start)))
		sleep 0.05
	done
}

json_bytes_secs() { echo "$(json_get "$OUT" 1 bytes) $(json_get "$OUT" 1 seconds)"; }

# ---------------------------------------------------------------- dirty limit
DSIZE=$(big 256M 64M)
mkfile "$T/src/dirty.bin" "$DSIZE"
mkdir -p "$T/rdirty"
start_ferryd "$T/rdirty" --dirty-limit 8M --max-chunk 1M
bg_start "$T/meminfo.log" meminfo_sampler "$T/meminfo.peak"
SAMPLER=$BG_PID
base_dirty=$(awk '/^(Dirty|Writeback):/ { s += $2 } END { print s }' /proc/meminfo)
run_ferry push --to "unix:$FERRYD_SOCK" --json "$T/src/dirty.bin" dirty.bin
stop_pid "$SAMPLER"
expect_rc 0 "push with --dirty-limit 8M"
check_json_ok "$OUT" 1 push "$DSIZE" >/dev/null
same_file "$T/src/dirty.bin" "$T/rdirty/dirty.bin"
peak=$(json_get "$OUT" 1 receiver.dirty_peak_bytes)
note "--dirty-limit 8M: receiver dirty peak $peak bytes, writeback wait $(json_get "$OUT" 1 waits_s.receiver_writeback) s"
[ "$peak" -gt 0 ] || fail "--dirty-limit 8M: dirty_peak_bytes $peak, expected > 0"
[ "$peak" -le $((8 * MiB)) ] || fail "--dirty-limit 8M: dirty_peak_bytes $peak over 8 MiB"
# System-wide and shared with whatever else runs: information only.
note "system Dirty+Writeback: $base_dirty kB before, peak $(cat "$T/meminfo.peak" 2>/dev/null || echo '?') kB during the push"
rm -f "$T/rdirty/dirty.bin"
stop_pid "$FERRYD_PID"

# The default: 8M, also with a larger --max-chunk (then four chunks).
start_ferryd "$T/rdirty" --max-chunk 1M
run_ferry push --to "unix:$FERRYD_SOCK" --json "$T/src/dirty.bin" dirty.bin
expect_rc 0 "push with the default dirty limit"
same_file "$T/src/dirty.bin" "$T/rdirty/dirty.bin"
peak=$(json_get "$OUT" 1 receiver.dirty_peak_bytes)
note "default dirty limit: receiver dirty peak $peak bytes"
[ "$peak" -gt 0 ] || fail "default dirty limit: dirty_peak_bytes $peak, expected > 0"
[ "$peak" -le $((8 * MiB)) ] || fail "default dirty limit: dirty_peak_bytes $peak over 8 MiB"
rm -f "$T/rdirty/dirty.bin"
stop_pid "$FERRYD_PID"
start_ferryd "$T/rdirty" --max-chunk 4M
stop_pid "$FERRYD_PID"

# --dirty-limit 0: no control, so no measurement either.
start_ferryd "$T/rdirty" --dirty-limit 0 --max-chunk 1M
run_ferry push --to "unix:$FERRYD_SOCK" --json "$T/src/dirty.bin" dirty.bin
expect_rc 0 "push with --dirty-limit 0"
same_file "$T/src/dirty.bin" "$T/rdirty/dirty.bin"
check_eq "--dirty-limit 0: dirty_peak_bytes" "$(json_get "$OUT" 1 receiver.dirty_peak_bytes)" 0
eq0 "--dirty-limit 0: waits_s.receiver_writeback" "$(json_get "$OUT" 1 waits_s.receiver_writeback)"
rm -f "$T/rdirty/dirty.bin" "$T/src/dirty.bin"
stop_pid "$FERRYD_PID"

# ---------------------------------------------------------------- max-rate
RATE=$((16 * MiB))
RSIZE=$((48 * MiB))
mkfile "$T/src/rate.bin" "$RSIZE"
mkdir -p "$T/rrate"

# The sender's own limit.
start_ferryd "$T/rrate"
t0=$(now_us)
run_ferry push --to "unix:$FERRYD_SOCK" --json --max-rate 16M "$T/src/rate.bin" a.bin
t1=$(now_us)
expect_rc 0 "push --max-rate 16M"
same_file "$T/src/rate.bin" "$T/rrate/a.bin"
read -r b s <<<"$(json_bytes_secs)"
check_eq "push --max-rate: bytes" "$b" "$RSIZE"
le_rate "ferry --max-rate 16M (json)" "$b" "$s" "$RATE"
le_rate "ferry --max-rate 16M (wall)" "$RSIZE" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e6 }')" "$RATE"
gt0 "ferry --max-rate: waits_s.rate_limit" "$(json_get "$OUT" 1 waits_s.rate_limit)"
stop_pid "$FERRYD_PID"

# The receiver's credit (ferryd --max-rate) with a plain ferry.
start_ferryd "$T/rrate" --max-rate 16M
t0=$(now_us)
run_ferry push --to "unix:$FERRYD_SOCK" --json "$T/src/rate.bin" b.bin
t1=$(now_us)
expect_rc 0 "push to ferryd --max-rate 16M"
same_file "$T/src/rate.bin" "$T/rrate/b.bin"
read -r b s <<<"$(json_bytes_secs)"
le_rate "ferryd --max-rate 16M, push (json)" "$b" "$s" "$RATE"
le_rate "ferryd --max-rate 16M, push (wall)" "$RSIZE" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e6 }')" "$RATE"
gt0 "ferryd --max-rate: waits_s.receiver_rate" "$(json_get "$OUT" 1 waits_s.receiver_rate)"
eq0 "ferryd --max-rate: waits_s.rate_limit (ferry has none)" "$(json_get "$OUT" 1 waits_s.rate_limit)"

# ferryd sends on pull: its own limit applies.
t0=$(now_us)
run_ferry pull --from "unix:$FERRYD_SOCK" --json b.bin "$T/src/pulled.bin"
t1=$(now_us)
expect_rc 0 "pull from ferryd --max-rate 16M"
same_file "$T/src/rate.bin" "$T/src/pulled.bin"
read -r b s <<<"$(json_bytes_secs)"
check_eq "pull: bytes" "$b" "$RSIZE"
le_rate "ferryd --max-rate 16M, pull (json)" "$b" "$s" "$RATE"
le_rate "ferryd --max-rate 16M, pull (wall)" "$RSIZE" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e6 }')" "$RATE"
rm -f "$T/src/pulled.bin" "$T/rrate/"*.bin
stop_pid "$FERRYD_PID"

# ---------------------------------------------------------------- max-memory
MSIZE=$(big 512M 128M)
mkfile "$T/src/mem.bin" "$MSIZE"
mkdir -p "$T/rmem"
start_ferryd "$T/rmem" --max-memory 16M
run_ferry push --to "unix:$FERRYD_SOCK" --json "$T/src/mem.bin" mem.bin
expect_rc 0 "push to ferryd --max-memory 16M"
same_file "$T/src/mem.bin" "$T/rmem/mem.bin"
rss=$(json_get "$OUT" 1 receiver.rss_peak_bytes)
hwm=$(vmhwm "$FERRYD_PID")
note "--max-memory 16M: receiver rss_peak_bytes $rss, ferryd VmHWM $hwm after the push"
[ "$rss" -gt 0 ] || fail "--max-memory 16M: rss_peak_bytes $rss, expected > 0"
if [ "$SANITIZED" = 1 ]; then
	note "sanitizer build: RSS not checked"
else
	[ "$rss" -le $((16 * MiB)) ] || fail "--max-memory 16M: receiver.rss_peak_bytes $rss over 16 MiB"
	[ "$hwm" -le $((16 * MiB)) ] || fail "--max-memory 16M: ferryd VmHWM $hwm over 16 MiB"
fi
rm -f "$T/rmem/mem.bin"
stop_pid "$FERRYD_PID"

# Too little for the default depth: ferryd lowers the depth and says so.
start_ferryd "$T/rmem" --max-memory 8M
grep -q -- '--max-memory 8388608: 4 file buffers instead of 8' "$FERRYD_LOG" ||
	fail "--max-memory 8M: no note about the lowered depth in: $(cat "$FERRYD_LOG")"
run_ferry push --to "unix:$FERRYD_SOCK" --json "$T/src/mem.bin" mem.bin
expect_rc 0 "push to ferryd --max-memory 8M"
same_file "$T/src/mem.bin" "$T/rmem/mem.bin"
note "--max-memory 8M: receiver rss_peak_bytes $(json_get "$OUT" 1 receiver.rss_peak_bytes)"
rm -f "$T/rmem/mem.bin" "$T/src/mem.bin"
stop_pid "$FERRYD_PID"

# ---------------------------------------------------------------- PSI
PSIZE=$(big 128M 32M)
mkfile "$T/src/psi.bin" "$PSIZE"
mkdir -p "$T/rpsi" "$T/psi-stall" "$T/psi-calm" "$T/psi-cpu"
for k in io memory cpu; do
	psi_file "$T/psi-stall/$k" 1000000
	psi_file "$T/psi-calm/$k" 1000000
	psi_file "$T/psi-cpu/$k" 1000000
done
# ferry's own rate makes the push last about 2 s (a lower bound on time, so
# several 250 ms pressure samples) whatever the machine's speed.
PRATE=$((PSIZE / 2))

bg_start "$T/staller.log" psi_staller "$T/psi-stall/io"
STALLER=$BG_PID
start_ferryd "$T/rpsi" --psi-path "$T/psi-stall"
run_ferry push --to "unix:$FERRYD_SOCK" --json --max-rate "$PRATE" "$T/src/psi.bin" stall.bin
stop_pid "$STALLER"
expect_rc 0 "push under fake pressure"
same_file "$T/src/psi.bin" "$T/rpsi/stall.bin"
check_json_ok "$OUT" 1 push "$PSIZE" >/dev/null
w=$(json_get "$OUT" 1 waits_s.receiver_pressure)
note "fake 100% io stall: waits_s.receiver_pressure $w s"
gt0 "fake pressure: waits_s.receiver_pressure" "$w"
stop_pid "$FERRYD_PID"

start_ferryd "$T/rpsi" --psi-path "$T/psi-calm"
run_ferry push --to "unix:$FERRYD_SOCK" --json --max-rate "$PRATE" "$T/src/psi.bin" calm.bin
expect_rc 0 "push with calm fake pressure"
same_file "$T/src/psi.bin" "$T/rpsi/calm.bin"
eq0 "calm pressure: waits_s.receiver_pressure" "$(json_get "$OUT" 1 waits_s.receiver_pressure)"
stop_pid "$FERRYD_PID"

# A cpu stall is not paced on (its "some" was mostly ferryd's own run-queue
# wait; nice and --cpu-limit are the CPU budgets).
bg_start "$T/staller-cpu.log" psi_staller "$T/psi-cpu/cpu"
STALLER=$BG_PID
start_ferryd "$T/rpsi" --psi-path "$T/psi-cpu"
run_ferry push --to "unix:$FERRYD_SOCK" --json --max-rate "$PRATE" "$T/src/psi.bin" cpu.bin
stop_pid "$STALLER"
expect_rc 0 "push under a fake cpu stall"
same_file "$T/src/psi.bin" "$T/rpsi/cpu.bin"
eq0 "fake 100% cpu stall: waits_s.receiver_pressure" "$(json_get "$OUT" 1 waits_s.receiver_pressure)"
rm -f "$T/rpsi/"*.bin "$T/src/psi.bin"
stop_pid "$FERRYD_PID"

# ---------------------------------------------------------------- bad options
# bad_opt WHAT REGEX ARGS...: ferryd ARGS exits 2 with one line naming the
# problem (and the usual pointer to --help), and never starts listening.
bad_opt() {
	local what=$1 re=$2 rc=0 n
	shift 2
	timeout -k 2 10 "$FERRYD" --listen "unix:$T/bad.sock" --root "$T" "$@" >"$T/bad.out" 2>"$T/bad.err" || rc=$?
	[ "$rc" = 2 ] || { cat "$T/bad.err" >&2; fail "$what: exit $rc, expected 2"; }
	n=$(grep -c '' "$T/bad.err" || true)
	[ "$n" = 2 ] || { cat "$T/bad.err" >&2; fail "$what: $n lines on stderr, expected the message and the --help pointer"; }
	sed -n 1p "$T/bad.err" | grep -qE -- "^ferryd: $re" || fail "$what: message '$(sed -n 1p "$T/bad.err")' does not match /$re/"
	sed -n 2p "$T/bad.err" | grep -q -- "ferryd --help" || fail "$what: no pointer to --help: $(cat "$T/bad.err")"
	[ ! -s "$T/bad.out" ] || fail "$what: wrote to stdout: $(cat "$T/bad.out")"
	[ ! -e "$T/bad.sock" ] || fail "$what: created its socket"
}
bad_opt "--dirty-limit 1M --max-chunk 1M" "--dirty-limit" --dirty-limit 1M --max-chunk 1M
bad_opt "--max-memory 1M" "--max-memory" --max-memory 1M
bad_opt "--io-class bogus" "--io-class.*bogus" --io-class bogus
bad_opt "--nice 50" "--nice.*50" --nice 50

# ---------------------------------------------------------------- priority
# nice_of PID: field 19 of /proc/PID/stat (after the "(comm)" field, which
# may hold spaces).
nice_of() {
	local s
	s=$(cat "/proc/$1/stat")
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo "${17}"
}
my_nice=$(nice_of $$)
mkdir -p "$T/rprio"
start_ferryd "$T/rprio"
check_eq "ferryd's default nice" "$(nice_of "$FERRYD_PID")" 10
if command -v ps >/dev/null 2>&1; then
	check_eq "ferryd's default nice (ps)" "$(ps -o ni= -p "$FERRYD_PID" | tr -d ' ')" 10
fi
if command -v ionice >/dev/null 2>&1; then
	v=$(ionice -p "$FERRYD_PID" 2>/dev/null || true)
	note "ferryd's default io priority: $v"
	case $v in best-effort*7) ;; *) fail "ferryd's default io priority: '$v', expected best-effort: prio 7" ;; esac
fi
stop_pid "$FERRYD_PID"
if [ "$my_nice" -gt 5 ] && [ "$(id -u)" != 0 ]; then
	note "running at nice $my_nice without privileges: --nice 5 not checked"
else
	start_ferryd "$T/rprio" --nice 5 --io-class idle
	check_eq "ferryd --nice 5" "$(nice_of "$FERRYD_PID")" 5
	if command -v ionice >/dev/null 2>&1; then
		v=$(ionice -p "$FERRYD_PID" 2>/dev/null || true)
		case $v in idle*) ;; *) fail "ferryd --io-class idle: '$v'" ;; esac
	fi
	grep -q 'priority:' "$FERRYD_LOG" && fail "ferryd --nice 5 warned: $(cat "$FERRYD_LOG")"
	stop_pid "$FERRYD_PID"
fi

# --- a long pacing pause is not silence -----------------------------------
# At 256 KiB/s the second MiB waits ~4 s for credit, past ferry's 3 s idle
# timeout: the receiver's repeated CREDIT must keep the session alive.
mkdir -p "$T/rslow"
mkfile "$T/slow.bin" 2M
start_ferryd "$T/rslow" --max-rate 256k
run_ferry push --to "unix:$FERRYD_SOCK" --timeout 3 --retry 0 --json "$T/slow.bin" slow.bin
expect_rc 0 "a paced push longer than --timeout"
same_file "$T/slow.bin" "$T/rslow/slow.bin"
stop_pid "$FERRYD_PID"

echo "budgets: all checks passed"
