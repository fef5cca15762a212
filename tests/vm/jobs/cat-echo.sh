# shellcheck shell=sh
# cat-echo.sh: the guest half of test-vm-boot.sh, plain bytes over org.ferry.0, no protocol.
# Host -> guest: hold the port open, wait for the host, cat into /data/in until the host
# half-closes and QEMU drops the connection (EOF); print size and digest on the console.
# Guest -> host: cat the file back (the write blocks until a host connects), then wait for the
# host's one-byte ack: a finished write only means queued, and powering off would lose the rest.
P=/dev/virtio-ports/org.ferry.0
exec 3<"$P"
vport-wait org.ferry.0 30 || exit 1
cat <&3 >/data/in || exit 1
exec 3<&-
echo "in $(stat -c %s /data/in) $(sha256sum </data/in | cut -d' ' -f1)"
exec 3<>"$P"
cat /data/in >&3 || exit 1
[ "$(dd bs=1 count=1 <&3 2>/dev/null)" = A ] || { echo "out: no ack from the host"; exit 1; }
echo "out done"
