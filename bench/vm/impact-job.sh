# shellcheck shell=sh
# shellcheck disable=SC3043,SC3045 # busybox sh has local and read -t
# impact-job.sh SIZE TAR_BYTES RUNS IDLE SETTLE METHOD...: the guest half of bench/vm/impact.sh
# (runs under tests/vm/lib.sh with VM_DISK: an ext4 image on /dev/vda).
#
# Mounts /dev/vda on /disk and receives SIZE bytes there once per METHOD per round, while three
# probes run (/bin/probe, bench/probe.c: dirty, fsync on /disk, wake); samples go to /tmp/p (tmpfs,
# not the measured disk). This side drives the order: round R runs "idle METHOD..." starting one
# method later each round (idle first in the first round, as in bench/impact.sh). Per step it
#   1. starts, stops or restarts ferryd as the method needs (never while measuring),
#   2. deletes the last destination, syncs, sleeps SETTLE seconds,
#   3. starts the probes, prints "impact: go STEP METHOD ROUND", and receives:
#        idle        nothing for IDLE seconds
#        dd          dd (64 KiB blocks, exact count) from the port into /disk/dest.bin, fsync
#        tar         dd of exactly TAR_BYTES from the port | tar x -C /disk/tarx, sync the file
#        ferry*      ferryd receives /disk/dest.bin; the step ends when it is in place (ferry
#                    renames it only once it is synced and verified) or when the host pushes
#                    .fail.STEP (its copy failed)
#      dd and tar answer "ok" on the port once the file is synced (portio.py send waits for it),
#   4. stops the probes and prints "impact: done STEP METHOD ROUND TICKS BUSY IDLE": the copier's
#      CPU ticks (USER_HZ, 100/s: dd/tar and the shells around them, or ferryd), and the whole
#      guest's busy and idle ticks (/proc/stat) over the step.
# ferryd serves /disk on org.ferry.0: ferry, ferry_rate (the host adds --max-rate) with defaults;
# ferry_direct with --direct; ferry_off with budgets off (as bench/impact.sh).
# At the end: "impact: samples BYTES", the probes' samples as a tar on the port (portio.py recv),
# ferryd's logs as "impact: ferryd-KEY.log: ..." lines, then "impact: end".
n=$1 tarbytes=$2 runs=$3 idle=$4 settle=$5
shift 5
methods="idle $*"
P=/dev/virtio-ports/org.ferry.0
D=/disk
S=/tmp/p
say() { echo "impact: $*"; }
die() {
	say "FAIL: $*"
	for f in /tmp/ferryd-*.log; do [ -s "$f" ] && sed "s|^|impact: ${f##*/}: |" "$f"; done
	exit 1
}
command -v probe >/dev/null || die "no /bin/probe in the guest (make all builds build/bench/probe.static)"
mount -t ext4 /dev/vda "$D" || die "cannot mount /dev/vda (ext4) on $D"
mkdir -p "$S"
# nap SECS: sleep without a fork (a read that times out on a FIFO nobody writes). The waits below
# poll while a copy runs; a forked usleep 50 times a second would cost the single vCPU's time.
mkfifo /tmp/nap
exec 4<>/tmp/nap
nap() { read -r -t "$1" _ <&4; }

# ferryd's getrandom() waits for the CRNG early in a boot (~1.3 s here; see test-vm-serial.sh):
# wait for it now, outside any measurement.
dd if=/dev/random of=/dev/null bs=1 count=1 2>/dev/null
# Touch all free memory once (a tmpfs file, deleted): under TCG a guest page is host memory that
# QEMU allocates on first touch, which would slow whichever copy touches it first. QEMU keeps it
# afterwards (no balloon), so every copy writes into memory the guest has used before.
t0=$(cut -d' ' -f1 /proc/uptime)
fill=$(awk '/^MemAvailable:/ { printf "%d", $2 / 1024 - 256 }' /proc/meminfo)
[ "$fill" -gt 0 ] && dd if=/dev/zero of=/data/.fill bs=1M count="$fill" 2>/dev/null
rm -f /data/.fill
t1=$(cut -d' ' -f1 /proc/uptime)
psi=absent
[ -r /proc/pressure/io ] && psi=present
say "info kernel $(uname -r), $(nproc) CPU, $(awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo) MiB," \
	"$(awk '/^MemAvailable:/ { printf "%d", $2 / 1024 }' /proc/meminfo) MiB available;" \
	"vm.dirty_ratio $(cat /proc/sys/vm/dirty_ratio), dirty_background_ratio $(cat /proc/sys/vm/dirty_background_ratio);" \
	"/proc/pressure $psi; $fill MiB touched in $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')s;" \
	"disk $(df -m "$D" | awk 'NR == 2 { print $2 }') MiB ext4, scheduler $(cat /sys/block/vda/queue/scheduler)"

# --- ferryd ----------------------------------------------------------------------------------------
fpid='' fkey=''
ferryd_stop() {
	[ -n "$fpid" ] || return 0
	kill "$fpid" 2>/dev/null
	wait "$fpid"
	fpid='' fkey=
}
# ferryd_run KEY ARG...: ferryd on the port with ARGs, unless the one for KEY already runs.
ferryd_run() {
	local key=$1 log before i=0
	shift
	[ "$fkey" = "$key" ] && return 0
	ferryd_stop
	log=/tmp/ferryd-$key.log
	before=$(grep -c 'listening on' "$log" 2>/dev/null)
	ferryd --listen "serial:$P" --root "$D" "$@" 2>>"$log" 4>&- &
	fpid=$! fkey=$key
	while [ "$(grep -c 'listening on' "$log")" = "${before:-0}" ]; do
		kill -0 "$fpid" 2>/dev/null || die "ferryd ($key) exited: $(cat "$log")"
		i=$((i + 1))
		[ "$i" -gt 500 ] && die "ferryd ($key) does not listen after 10 s"
		usleep 20000
	done
}
ferryd_for() {
	case "$1" in
	ferry | ferry_rate) ferryd_run def ;;
	ferry_direct) ferryd_run direct --direct ;;
	# Budgets off: page-cache writes with no dirty limit, no CPU or IO priority, no PSI feedback.
	ferry_off) ferryd_run off --buffered --dirty-limit 0 --nice 0 --io-class none --psi-path off ;;
	*) ferryd_stop ;; # the raw copies need the port
	esac
}
ferryd_ticks() { cut -d' ' -f14,15 "/proc/$fpid/stat" | awk '{ print $1 + $2 }'; }

# --- probes and counters ---------------------------------------------------------------------------
probes_start() {
	probe dirty >"$S/$1.dirty" &
	pd=$!
	probe fsync "$D" >"$S/$1.fsync" &
	pf=$!
	probe wake >"$S/$1.wake" &
	pw=$!
}
probes_stop() {
	kill "$pd" "$pf" "$pw"
	wait "$pd" || die "probe dirty failed"
	wait "$pf" || die "probe fsync failed"
	wait "$pw" || die "probe wake failed"
}
# host_wait: the host has connected to the port. Not vport-wait: that also takes "bytes_received
# is not 0" as connected, which stays true after the first step.
vport=/sys/kernel/debug/virtio-ports/$(basename "$(readlink -f "$P")")
host_wait() {
	local i=0 l
	while :; do
		while read -r l; do
			[ "$l" = "host_connected: 1" ] && return 0
		done <"$vport"
		i=$((i + 1))
		[ "$i" -gt 3000 ] && return 1
		nap 0.02
	done
}
# This shell's waited-for children (user + system), in ticks.
child_ticks() { cut -d' ' -f16,17 /proc/$$/stat | awk '{ print $1 + $2 }'; }
# The whole guest: busy and idle ticks.
stat_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat; }

clear_dest() {
	rm -rf "$D/dest.bin" "$D/tarx" "$D"/.fail.*
	sync
	[ "$settle" -gt 0 ] && sleep "$settle"
	return 0
}

# --- one step --------------------------------------------------------------------------------------
step=0
measure() {
	local m=$1 r=$2 b0 i0 b1 i1 c0 c1 size
	step=$((step + 1))
	ferryd_for "$m"
	clear_dest
	[ "$m" = tar ] && mkdir "$D/tarx"
	case "$m" in
	dd | tar)
		exec 3<>"$P" # open before "go": a read with no host connected returns EOF at once
		;;
	esac
	probes_start "$m.$r"
	usleep 300000 # the probes run and have their first samples
	# shellcheck disable=SC2046 # two numbers
	set -- $(stat_ticks)
	b0=$1 i0=$2
	c0=$(child_ticks)
	[ -n "$fpid" ] && c0=$(ferryd_ticks)
	say "go $step $m $r"
	case "$m" in
	idle) sleep "$idle" ;;
	dd)
		host_wait || die "step $step: no host on the port after 60 s"
		(dd bs=64k iflag=count_bytes,fullblock count="$n" of="$D/dest.bin" conv=fsync <&3 2>/dev/null) ||
			die "step $step: dd from the port failed"
		echo ok >&3
		;;
	tar)
		host_wait || die "step $step: no host on the port after 60 s"
		(dd bs=64k iflag=count_bytes,fullblock count="$tarbytes" <&3 2>/dev/null | tar x -C "$D/tarx" &&
			sync "$D/tarx/src.bin") || die "step $step: dd | tar x from the port failed"
		echo ok >&3
		;;
	ferry*)
		until [ -e "$D/dest.bin" ] || [ -e "$D/.fail.$step" ]; do
			kill -0 "$fpid" 2>/dev/null || die "step $step: ferryd died"
			nap 0.02
		done
		;;
	esac
	if [ -n "$fpid" ]; then c1=$(ferryd_ticks); else c1=$(child_ticks); fi
	# shellcheck disable=SC2046
	set -- $(stat_ticks)
	b1=$1 i1=$2
	probes_stop
	case "$m" in dd | tar) exec 3>&- ;; esac
	size=$(stat -c %s "$D/dest.bin" "$D/tarx/src.bin" 2>/dev/null | head -n 1)
	case "$m" in
	idle) ;;
	ferry*) [ -e "$D/.fail.$step" ] || [ "$size" = "$n" ] || die "step $step ($m): $size bytes arrived, not $n" ;;
	*) [ "$size" = "$n" ] || die "step $step ($m): $size bytes arrived, not $n" ;;
	esac
	say "done $step $m $r $((c1 - c0)) $((b1 - b0)) $((i1 - i0))"
}

r=0
# shellcheck disable=SC2086 # the list's words
set -- $methods
nm=$#
while [ "$r" -lt "$runs" ]; do
	i=0
	while [ "$i" -lt "$nm" ]; do
		k=$(((i + r) % nm + 1))
		eval "m=\${$k}"
		measure "$m" "$((r + 1))"
		# shellcheck disable=SC2086
		set -- $methods
		i=$((i + 1))
	done
	r=$((r + 1))
done
ferryd_stop
clear_dest
umount "$D" || die "umount $D"

# --- samples to the host ---------------------------------------------------------------------------
tar c -C "$S" . >/tmp/samples.tar || die "tar of the samples"
exec 3<>"$P"
say "samples $(stat -c %s /tmp/samples.tar)"
host_wait || die "no host for the samples after 60 s"
cat /tmp/samples.tar >&3
[ "$(dd bs=1 count=1 <&3 2>/dev/null)" = A ] || die "no ack for the samples"
exec 3>&-
for f in /tmp/ferryd-*.log; do [ -s "$f" ] && sed "s|^|impact: ${f##*/}: |" "$f"; done
say "end"
