# shellcheck shell=sh
# vsock-loop.sh SIZE_MIB: the guest half of test-vm-vsock.sh. Both agents run in the guest and talk
# AF_VSOCK over vsock_loopback (CID 1): ferryd --listen vsock::5000 --root /data/dst, then
# `ferry push` of a SIZE_MIB random file and `ferry pull` of it back, compared by sha256sum (busybox
# cmp is slower still under TCG). ferry's JSON goes to the console as "vsock: json-push {...}" and
# "vsock: json-pull {...}" for the host to check. Then a ferryd without --allow-cid (default:
# CID 2, the host) must refuse the local peer. Last line "vsock: PASS", or "vsock: FAIL: why"
# and exit 1.
n=${1:-64}
fail() {
	echo "vsock: FAIL: $*"
	for f in /tmp/ferryd*.log /tmp/*.err; do [ -s "$f" ] && sed "s|^|vsock: ${f##*/}: |" "$f"; done
	exit 1
}
command -v ferry >/dev/null || fail "no /bin/ferry in the guest (build/ferry.static was not built?)"
# /init loads the modules listed in /lib/modules/order (vsock before vsock_loopback); load the
# ones it could not, in that order, so that this job also works on a guest built without them.
for m in vsock vmw_vsock_virtio_transport_common vsock_loopback; do
	grep -q "^$m " /proc/modules && continue
	[ -f "/lib/modules/$m.ko" ] || fail "module $m is neither loaded nor in /lib/modules"
	insmod "/lib/modules/$m.ko" || fail "insmod $m"
done
echo "vsock: modules: $(grep -o '^[a-z_]*vsock[a-z_]*' /proc/modules | tr '\n' ' ')"

mkdir -p /data/dst
dd if=/dev/urandom of=/data/src.bin bs=1M count="$n" 2>/dev/null || fail "dd"
want=$(sha256sum </data/src.bin | cut -d' ' -f1)

# listen PORT LOG ARG...: start ferryd; wait until it listens.
listen() {
	port=$1 log=$2
	shift 2
	ferryd --listen "vsock::$port" --root /data/dst "$@" 2>"$log" &
	i=0
	until grep -q 'listening on' "$log"; do
		kill -0 $! 2>/dev/null || fail "ferryd on port $port exited: $(cat "$log")"
		i=$((i + 1))
		[ "$i" -gt 500 ] && fail "ferryd on port $port does not listen after 10 s"
		usleep 20000
	done
}
listen 5000 /tmp/ferryd.log --allow-cid any
pid=$!

t0=$(cut -d' ' -f1 /proc/uptime)
ferry push --to vsock:1:5000 --json /data/src.bin x >/tmp/push.json 2>/tmp/push.err ||
	fail "push exited $?"
t1=$(cut -d' ' -f1 /proc/uptime)
sed 's/^/vsock: json-push /' /tmp/push.json
ferry pull --from vsock:1:5000 --json x /data/back.bin >/tmp/pull.json 2>/tmp/pull.err ||
	fail "pull exited $?"
t3=$(cut -d' ' -f1 /proc/uptime)
sed 's/^/vsock: json-pull /' /tmp/pull.json
for f in /data/dst/x /data/back.bin; do
	got=$(sha256sum <"$f" | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "sha256 of $f: $got, want $want"
done
echo "vsock: push ${n} MiB $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')s, pull $(awk -v a="$t1" -v b="$t3" 'BEGIN { print b - a }')s (guest clock, incl. process start)"
if [ -n "$(find /data -name '.ferry-*')" ]; then
	ls -la /data/dst /data
	fail "a temporary .ferry-* file remains"
fi
echo "vsock: sha256 $want on both sides, no temporary files"

# Default --allow-cid is 2 (the host): a local peer (CID 1) must be turned away.
listen 5001 /tmp/ferryd-cid.log
pid2=$!
if ferry push --to vsock:1:5001 --timeout 3 /data/src.bin refused >/tmp/refused.out 2>/tmp/refused.err; then
	fail "a ferryd with the default --allow-cid accepted a push from CID 1"
else
	rc=$?
fi
grep -q 'refused a vsock connection' /tmp/ferryd-cid.log || fail "ferryd did not log the refusal"
[ ! -e /data/dst/refused ] || fail "the refused push left /data/dst/refused"
echo "vsock: default --allow-cid refused CID 1 (ferry exit $rc: $(head -n 1 /tmp/refused.err))"

kill "$pid" "$pid2"
wait "$pid" || fail "ferryd (port 5000) exit $?"
wait "$pid2" || fail "ferryd (port 5001) exit $?"
sed 's/^/vsock: ferryd.log: /' /tmp/ferryd.log
echo "vsock: PASS"
