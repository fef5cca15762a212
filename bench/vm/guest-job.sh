# shellcheck shell=sh
# guest-job.sh N REPS FERRYD: guest half of bench/vm/raw-and-qga.sh (runs under tests/vm/lib.sh).
#  1. qemu-ga on org.qemu.guest_agent.0 when that port exists (VM_QGA=1 guest).
#  2. REPS raw rounds on org.ferry.0, driven by tests/vm/portio.py raw on ONE host connection:
#     N bytes in (dd) -> /data/raw, "ok", "in R SIZE SHA256"; go byte -> /data/raw out; ack byte.
#  3. FERRYD=1: ferryd serves org.ferry.0 with --root /data for the ferry push/pull part.
# Then it idles; the host stops the VM.
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

exec 3<>"$P"
vport-wait org.ferry.0 60 || exit 1
r=1
while [ "$r" -le "$reps" ]; do
	rm -f /data/raw
	dd bs=64k iflag=count_bytes,fullblock count="$n" of=/data/raw <&3 2>/dev/null
	echo ok >&3
	echo "in $r $(stat -c %s /data/raw) $(sha256sum </data/raw | cut -d' ' -f1)" >&3
	[ "$(getbyte)" = G ] || { echo "bench: round $r: no go byte"; exit 1; }
	cat /data/raw >&3
	[ "$(getbyte)" = A ] || { echo "bench: round $r: no ack"; exit 1; }
	r=$((r + 1))
done
echo "raw done" >&3
exec 3<&-
rm -f /data/raw
echo "bench: raw done"

if [ "$ferryd" = 1 ]; then
	ferryd --listen serial:$P --root /data &
	echo "bench: ferryd started (pid $!)"
fi
echo "bench: idle"
exec sleep 3600
