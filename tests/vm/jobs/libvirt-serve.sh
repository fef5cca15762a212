# shellcheck shell=sh
# libvirt-serve.sh: the guest half of tests/vm/test-vm-libvirt.sh.
#
# ferryd on the channel org.ferry.0 (root /data), then, once the host hot-plugs a port named
# org.ferry.1 (ferry setup --apply), a second ferryd on it (root /data/hot). Ends when the host
# pushes a file named "stop" into /data, or after 300 s. Console lines: "job: ferryd listening",
# "job: org.ferry.1 up", "job: second ferryd listening", then both ferryd logs.
listen() { # PORT ROOT LOG
	ferryd --listen "serial:/dev/virtio-ports/$1" --root "$2" -v 2>"$3" &
	i=0
	until grep -q 'listening on' "$3"; do
		i=$((i + 1))
		[ "$i" -gt 500 ] && { echo "job: ferryd on $1 does not listen"; cat "$3"; return 1; }
		usleep 20000
	done
}
listen org.ferry.0 /data /tmp/ferryd0.log || exit 1
echo "job: ferryd listening"

# No udev: the hot-plugged port's name shows up in sysfs; make its /dev/virtio-ports link.
t=0
while [ ! -e /dev/virtio-ports/org.ferry.1 ] && [ "$t" -lt 6000 ]; do
	for p in /sys/class/virtio-ports/vport*; do
		[ "$(cat "$p/name" 2>/dev/null)" = org.ferry.1 ] && ln -sfn "../${p##*/}" /dev/virtio-ports/org.ferry.1
	done
	[ -f /data/stop ] && break
	usleep 50000
	t=$((t + 1))
done
if [ -e /dev/virtio-ports/org.ferry.1 ]; then
	echo "job: org.ferry.1 up"
	mkdir -p /data/hot
	listen org.ferry.1 /data/hot /tmp/ferryd1.log && echo "job: second ferryd listening"
fi

t=0
while [ ! -f /data/stop ] && [ "$t" -lt 6000 ]; do
	usleep 50000
	t=$((t + 1))
done
for f in /tmp/ferryd0.log /tmp/ferryd1.log; do
	[ -f "$f" ] && sed "s|^|${f##*/}: |" "$f"
done
[ -f /data/stop ]
