#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# dist/check-guest.sh [--keep] DEB_DIR
#
# The ferryd package in a real Debian 12 guest with systemd and udev, which
# the test guest of tests/vm (busybox, no init system) cannot show:
#   - mmdebstrap builds the guest with the ferryd .deb from DEB_DIR (make deb)
#     installed, QEMU boots it (TCG) with a virtio-serial port org.ferry.0;
#   - the udev rule started ferryd.service, ferryd-vsock.service skipped
#     itself (no /dev/vsock);
#   - ferry pushes a file and a tree with a 0555 directory over the port
#     (the sandbox lets ferryd write them) and pulls them back identical, a
#     second push skips both;
#   - unplugging the port stops the unit, plugging it back starts it;
#   - dpkg -r stops it, dpkg -P removes the vsock unit's enablement, dpkg -i
#     starts it again (udev is asked to announce the port), and an upgrade
#     restarts it.
# It downloads ~200 MB of packages and takes ~10-15 minutes here (a few
# with FERRY_GUEST_CACHE=DIR, which keeps the guest without ferryd), so it
# is not part of make check; run it after changing the units, the rule or
# debian/.  Needs root (mmdebstrap, chroot), qemu-system-x86, socat,
# e2fsprogs.
set -euo pipefail

keep=0
[ "${1:-}" = --keep ] && { keep=1; shift; }
[ $# = 1 ] || { echo "usage: $0 [--keep] DEB_DIR" >&2; exit 2; }
DEB=$(ls "$1"/ferryd_*_amd64.deb 2>/dev/null | head -n 1)
[ -n "$DEB" ] || { echo "check-guest: no ferryd_*_amd64.deb in $1 (make deb)" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
FERRY=${FERRY:-$here/build/ferry}
[ -x "$FERRY" ] || { echo "check-guest: no $FERRY (make, or FERRY=PATH)" >&2; exit 1; }
for c in mmdebstrap qemu-system-x86_64 socat mke2fs; do
	command -v "$c" >/dev/null || { echo "check-guest: $c is missing" >&2; exit 1; }
done

W=$(mktemp -d "${TMPDIR:-/tmp}/ferry-guest.XXXXXX")
QEMU_PID=
cleanup() {
	local rc=$?
	set +e
	if [ -n "$QEMU_PID" ]; then
		kill "$QEMU_PID" 2>/dev/null
		sleep 2
		kill -9 "$QEMU_PID" 2>/dev/null
	fi
	if [ "$keep" = 1 ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
	exit "$rc"
}
trap cleanup EXIT
log() { echo "check-guest: $*" >&2; }
fail() { echo "check-guest: FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }

# The guest without ferryd comes from mmdebstrap once, then from the cache
# (FERRY_GUEST_CACHE, if set): ~10 minutes saved on every later run.
CACHE=${FERRY_GUEST_CACHE:-$W}
mkdir -p "$CACHE"
base=$CACHE/bookworm-systemd.tar
if [ ! -f "$base" ]; then
	log "building a Debian 12 guest with systemd and udev (mmdebstrap, into $base)"
	# The console logs root in by itself; that is how this script types.
	# shellcheck disable=SC2016 # the hooks' $1 is mmdebstrap's, not ours
	mmdebstrap --variant=minbase --include=systemd-sysv,udev,kmod,linux-image-amd64,initramfs-tools,procps \
		--customize-hook='chroot "$1" passwd -d root' \
		--customize-hook='mkdir -p "$1/etc/systemd/system/serial-getty@ttyS0.service.d"' \
		--customize-hook='printf "[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --noclear %%I 115200 linux\n" >"$1/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf"' \
		--customize-hook='echo "/dev/vda / ext4 rw 0 1" >"$1/etc/fstab"' \
		bookworm "$base.tmp" >"$W/mmdebstrap.log" 2>&1 || { tail -n 20 "$W/mmdebstrap.log" >&2; fail "mmdebstrap"; }
	mv "$base.tmp" "$base"
fi
log "installing $(basename "$DEB") in it"
mkdir "$W/root"
tar -C "$W/root" -xf "$base"
cp "$DEB" "$W/root/root/ferryd.deb"
chroot "$W/root" dpkg -i /root/ferryd.deb >"$W/dpkg.log" 2>&1 || { cat "$W/dpkg.log" >&2; fail "dpkg -i in the image"; }
mke2fs -q -t ext4 -d "$W/root" "$W/root.img" 2G >/dev/null
kernel=$(ls "$W"/root/boot/vmlinuz-* | head -n 1)
initrd=$(ls "$W"/root/boot/initrd.img-* | head -n 1)

log "booting it"
qemu-system-x86_64 -nodefaults -display none -m 1024 -smp 1 -accel tcg \
	-kernel "$kernel" -initrd "$initrd" -append "root=/dev/vda rw console=ttyS0 quiet" \
	-drive "file=$W/root.img,if=virtio,format=raw" \
	-chardev "socket,id=con,path=$W/con.sock,server=on,wait=off,logfile=$W/console.log" -serial chardev:con \
	-device virtio-serial-pci,id=vser0 \
	-chardev "socket,id=f0,path=$W/f.sock,server=on,wait=off" \
	-device virtserialport,bus=vser0.0,chardev=f0,name=org.ferry.0,id=port0 \
	-qmp "unix:$W/qmp.sock,server=on,wait=off" >"$W/qemu.log" 2>&1 &
QEMU_PID=$!
for _ in $(seq 300); do
	grep -q 'login: root (automatic login)' "$W/console.log" 2>/dev/null && break
	kill -0 "$QEMU_PID" 2>/dev/null || { cat "$W/qemu.log" >&2; fail "qemu exited"; }
	sleep 1
done
grep -q 'automatic login' "$W/console.log" || fail "the guest did not boot in 300 s"
sleep 3

# guest CMD: run CMD on the console; prints its output (the lines between
# two markers, unique to the call: it runs in $(...), where a counter
# would not count).
guest() {
	local m
	m="@@$(date +%s%N)@@"
	# (The connection stays open a moment: QEMU drops what a client that
	# is already gone sent.)
	{ printf '%s\n' "echo ${m}B; $1; echo ${m}E"; sleep 1; } | socat -u - "UNIX-CONNECT:$W/con.sock"
	for _ in $(seq 240); do
		grep -qa "^${m}E" "$W/console.log" && break
		sleep 0.5
	done
	sed 's/\x1b\[[?0-9;]*[a-zA-Z]//g; s/\r//g' "$W/console.log" | sed -n "/^${m}B\$/,/^${m}E\$/p" | sed '1d;$d'
}
qmp() { (echo '{"execute":"qmp_capabilities"}'; echo "$1"; sleep 2) | socat - "UNIX-CONNECT:$W/qmp.sock" >/dev/null; }
wait_state() { # STATE: ferryd.service reaches it within 30 s
	for _ in $(seq 15); do
		[ "$(guest 'systemctl is-active ferryd.service')" = "$1" ] && return 0
		sleep 2
	done
	return 1
}

wait_state active || fail "udev did not start ferryd.service: $(guest 'systemctl status ferryd.service | cat')"
ok "the udev rule started ferryd.service"
guest 'systemctl status ferryd-vsock.service | cat' | grep -q 'ConditionPathExists=/dev/vsock was not met' ||
	fail "ferryd-vsock.service did not skip itself without /dev/vsock"
ok "ferryd-vsock.service skipped itself (no /dev/vsock)"

mkdir -p "$W/src/tree/ro" "$W/back"
head -c 20M /dev/urandom >"$W/src/big.bin"
echo hi >"$W/src/tree/ro/x"
chmod 0555 "$W/src/tree/ro"
"$FERRY" push --to "serial:$W/f.sock" "$W/src/big.bin" "$W/src/tree" . || fail "push into the sandboxed ferryd"
"$FERRY" push --to "serial:$W/f.sock" --json "$W/src/big.bin" "$W/src/tree" . >"$W/again.json" || fail "second push"
grep -q '"kind":"summary".*"files_done":0,"files_skipped":2' "$W/again.json" || fail "second push did not skip: $(tail -n 1 "$W/again.json")"
"$FERRY" pull --from "serial:$W/f.sock" big.bin tree "$W/back/" || fail "pull"
cmp "$W/src/big.bin" "$W/back/big.bin" && cmp "$W/src/tree/ro/x" "$W/back/tree/ro/x" || fail "pulled files differ"
chmod -R u+w "$W/src" "$W/back"
guest 'journalctl -u ferryd.service --no-pager | cat' | grep -E 'io_uring|Operation not permitted' &&
	fail "ferryd fell back from io_uring or was refused a call in the sandbox"
ok "push (file, tree with a 0555 directory), skip on rerun, pull: identical, through the sandbox"

qmp '{"execute":"device_del","arguments":{"id":"port0"}}'
wait_state inactive || fail "ferryd.service still runs with the port unplugged"
ok "unplugging the port stopped ferryd.service"
qmp '{"execute":"device_add","arguments":{"driver":"virtserialport","bus":"vser0.0","chardev":"f0","name":"org.ferry.0","id":"port0"}}'
wait_state active || fail "plugging the port back did not start ferryd.service"
ok "plugging it back started it"

guest 'dpkg -r ferryd >/dev/null 2>&1' >/dev/null
wait_state inactive || fail "dpkg -r left ferryd.service running"
ok "dpkg -r stopped it"
guest 'dpkg -P ferryd >/dev/null 2>&1' >/dev/null
[ -z "$(guest 'ls /etc/systemd/system/multi-user.target.wants/ | grep ferry')" ] || fail "dpkg -P left the vsock unit enabled"
ok "dpkg -P removed the vsock unit's enablement"
guest 'dpkg -i /root/ferryd.deb >/dev/null 2>&1' >/dev/null
wait_state active || fail "dpkg -i with the port present did not start ferryd.service"
[ "$(guest 'systemctl is-enabled ferryd-vsock.service')" = enabled ] || fail "dpkg -i did not enable ferryd-vsock.service"
ok "dpkg -i started it (udev announced the port again) and enabled the vsock unit"
pid1=$(guest 'systemctl show -p MainPID --value ferryd.service')
guest 'dpkg -i /root/ferryd.deb >/dev/null 2>&1' >/dev/null
sleep 3
pid2=$(guest 'systemctl show -p MainPID --value ferryd.service')
[ -n "$pid2" ] && [ "$pid2" != 0 ] && [ "$pid2" != "$pid1" ] || fail "an upgrade did not restart ferryd.service ($pid1 -> $pid2)"
ok "an upgrade restarted it"
echo "check-guest: all passed ($(guest 'systemd-analyze security ferryd.service | tail -n 1'))"
