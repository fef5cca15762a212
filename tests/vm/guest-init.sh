#!/bin/sh
# ferry test guest: modules, /dev/virtio-ports/<name>, the host's job (fw_cfg), poweroff.
export PATH=/bin:/sbin
say() { echo "ferry-vm: $*" >/dev/console; }
die() { say "FATAL: $*"; poweroff -f; }

mount -t devtmpfs dev /dev
exec </dev/null >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t debugfs debugfs /sys/kernel/debug  # virtio-ports/*: host_connected (see vport-wait)
mkdir -p /dev/pts /dev/shm /dev/virtio-ports
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmp /tmp

ports=1
datasize=60%
disk=0
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	ferry.ports=*) ports=${arg#*=} ;;
	ferry.data=*) datasize=${arg#*=} ;;
	ferry.disk=*) disk=${arg#*=} ;;
	esac
done
mount -t tmpfs -o "size=$datasize" data /data

while read -r m; do
	insmod "/lib/modules/$m.ko" || case "$m" in
		virtio*) die "insmod $m failed" ;;
		*) say "insmod $m failed (ignored)" ;;
	esac
done </lib/modules/order

# A virtio-blk disk (lib.sh's VM_DISK): its driver and ext4; the job mounts /dev/vda itself.
if [ "$disk" = 1 ]; then
	while read -r m; do
		insmod "/lib/modules/$m.ko" || say "insmod $m failed (ignored)"
	done </lib/modules/order-disk
	i=0
	until [ -b /dev/vda ]; do
		i=$((i + 1))
		[ "$i" -gt 500 ] && die "ferry.disk=1 but no /dev/vda after 5 s"
		usleep 10000
	done
fi

# Ports are created asynchronously; each name arrives in a later control message.
i=0
while :; do
	n=0
	for p in /sys/class/virtio-ports/vport*; do
		[ -r "$p/name" ] || continue
		name=$(cat "$p/name")
		[ -n "$name" ] || continue
		ln -sfn "../${p##*/}" "/dev/virtio-ports/$name"
		n=$((n + 1))
	done
	[ "$n" -ge "$ports" ] && break
	i=$((i + 1))
	[ "$i" -gt 1000 ] && die "only $n of $ports virtio ports showed up"
	usleep 10000
done

job=/sys/firmware/qemu_fw_cfg/by_name/opt/ferry/job/raw
[ -r "$job" ] || die "no job: $job missing (qemu -fw_cfg name=opt/ferry/job,file=...)"
cp "$job" /job.sh

say "ready $(cut -d' ' -f1 /proc/uptime)s ports=$n"
sh /job.sh
rc=$?
sync
say "job exit $rc"
poweroff -f
