# shellcheck shell=sh
# guest-job.sh N REPS FERRYD: guest half of bench/vm/raw-and-qga.sh (runs under tests/vm/lib.sh).
#  1. qemu-ga on org.qemu.guest_agent.0 when that port exists (VM_QGA=1 guest).
#  2. REPS raw rounds on org.ferry.0, driven by tests/vm/portio.py raw on ONE host connection:
#     N bytes in (dd) -> /data/raw, "ok", "in R SIZE SHA256"; go byte -> /data/raw out; ack byte.
#     On the console, per round and direction: "bench: cpu raw-h2g|raw-g2h R USER SYS BUSY IDLE"
#     (clock ticks, 100/s: the copying process's user and system time, and the whole guest's
#     busy and idle time over the copy).
#  3. FERRYD=1: the host appended tests/vm/jobs/ferryd-serve.sh to this script; it runs with
#     `--max-chunk 4M --chunk-size 4M` (so the host's --chunk-size decides in both directions) and
#     answers the host's commands (vmf_ctl in tests/vm/ferry-lib.sh: "cpu" around each transfer).
#     FERRYD=0: the job idles; the host stops the VM.
n=$1
reps=${2:-1}
ferryd=${3:-0}
P=/dev/virtio-ports/org.ferry.0
QGA=/dev/virtio-ports/org.qemu.guest_agent.0

if [ -e "$QGA" ]; then
	qemu-ga -m virtio-serial -p "$QGA" -f /tmp/qga.pid -t /tmp &
fi

# One byte from the port. Not `head -c`: busybox head reads through stdio (getc), so it
# swallows bytes past its count and crawls (~18 MB/s); dd reads exactly what it is told.
getbyte() { dd bs=1 count=1 <&3 2>/dev/null; }
# CPU ticks so far: this shell's waited-for children (user, system), the guest (busy, idle).
ticks() {
	echo "$(cut -d' ' -f16,17 /proc/$$/stat) $(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)"
}
# cpu_line NAME R BEFORE AFTER
cpu_line() {
	echo "$3 $4" | awk -v name="$1" -v r="$2" '{ print "bench: cpu", name, r, $5 - $1, $6 - $2, $7 - $3, $8 - $4 }'
}

exec 3<>"$P"
vport-wait org.ferry.0 60 || exit 1
r=1
while [ "$r" -le "$reps" ]; do
	rm -f /data/raw
	c0=$(ticks)
	dd bs=64k iflag=count_bytes,fullblock count="$n" of=/data/raw <&3 2>/dev/null
	c1=$(ticks)
	echo ok >&3
	cpu_line raw-h2g "$r" "$c0" "$c1"
	echo "in $r $(stat -c %s /data/raw) $(sha256sum </data/raw | cut -d' ' -f1)" >&3
	[ "$(getbyte)" = G ] || { echo "bench: round $r: no go byte"; exit 1; }
	c0=$(ticks)
	cat /data/raw >&3
	c1=$(ticks)
	[ "$(getbyte)" = A ] || { echo "bench: round $r: no ack"; exit 1; }
	cpu_line raw-g2h "$r" "$c0" "$c1"
	r=$((r + 1))
done
echo "raw done" >&3
exec 3<&-
rm -f /data/raw
echo "bench: raw done"

if [ "$ferryd" != 1 ]; then
	echo "bench: idle"
	exec sleep 3600
fi
set -- --max-chunk 4M --chunk-size 4M
# ... tests/vm/jobs/ferryd-serve.sh follows (appended by raw-and-qga.sh).
