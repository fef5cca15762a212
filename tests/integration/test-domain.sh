#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --domain through libvirt's test driver (-c test:///ABS/node.xml): domains
# whose channel socket is a real ferryd, one with only a vsock, one with
# neither, one stopped, channels ferry cannot use; push and pull by name,
# one guest and a glob over several; every error message; the socket path
# read again at a reconnect; ferry setup's XML; a host-wide --max-rate
# shared between guests; ferryd and ferry.static without libvirt.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

# ferry opens libvirt when a domain is named (dlopen, host-agent/domain.c):
# the binary names the library, and the library must be installed.
grep -qa 'libvirt\.so\.0' "$FERRY" || skip "ferry was built without libvirt (libvirt-dev missing?)"
cache=$(ldconfig -p 2>/dev/null || true) # not a pipe into grep -q: pipefail
[[ $cache == *libvirt.so.0* ]] || skip "libvirt0 is not installed"
command -v jq >/dev/null || skip "jq is missing (scripts/deps.sh installs it)"
now_s() { date +%s.%N; }

mkdir -p "$T/r1" "$T/r2" "$T/src" "$T/back"
NODE=$T/node.xml
URI=test://$NODE

# node_xml WEB1_SOCK: the test driver's whole world.
node_xml() {
	cat >"$NODE" <<EOF
<node>
  <domain type='test'>
    <name>web1</name><memory>65536</memory><os><type>hvm</type></os>
    <devices>
      <channel type='unix'>
        <source mode='bind' path='$1'/>
        <target type='virtio' name='org.ferry.0'/>
      </channel>
    </devices>
  </domain>
  <domain type='test'>
    <name>web2</name><memory>65536</memory><os><type>hvm</type></os>
    <devices>
      <vsock model='virtio'><cid auto='no' address='44'/></vsock>
      <channel type='unix'>
        <source mode='bind' path='$T/web2.sock'/>
        <target type='virtio' name='org.ferry.0'/>
      </channel>
      <channel type='unix'>
        <source mode='bind' path='$T/web2-other.sock'/>
        <target type='virtio' name='org.other.0'/>
      </channel>
    </devices>
  </domain>
  <domain type='test'>
    <name>vsock1</name><memory>65536</memory><os><type>hvm</type></os>
    <devices><vsock model='virtio'><cid auto='no' address='42'/></vsock></devices>
  </domain>
  <domain type='test'>
    <name>bare1</name><memory>65536</memory><os><type>hvm</type></os>
    <devices/>
  </domain>
  <domain type='test'>
    <name>pty1</name><memory>65536</memory><os><type>hvm</type></os>
    <devices>
      <channel type='pty'><target type='virtio' name='org.ferry.0'/></channel>
    </devices>
  </domain>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>off1</name><memory>65536</memory><os><type>hvm</type></os>
    <devices/>
    <test:runstate>5</test:runstate>
  </domain>
</node>
EOF
}
node_xml "$T/web1.sock"

start_ferryd_at "unix:$T/web1.sock" "$T/r1" || fail "cannot start ferryd for web1"
WEB1_PID=$FERRYD_PID
start_ferryd_at "unix:$T/web2.sock" "$T/r2" || fail "cannot start ferryd for web2"

have_vhost_vsock=0
[ -e /dev/vhost-vsock ] && have_vhost_vsock=1

# ---- one guest by name, both ways
mkfile "$T/src/a.bin" 3M
run_ferry push -c "$URI" --domain web1 --json "$T/src/a.bin" a.bin
expect_rc 0
same_file "$T/src/a.bin" "$T/r1/a.bin"
check_eq "push json domain" "$(json_get "$OUT" 1 domain)" web1
check_eq "push json transport" "$(json_get "$OUT" 1 transport)" serial
check_json_ok "$OUT" 1 push $((3 * 1048576)) serial >/dev/null

run_ferry pull -c "$URI" --domain web1 --json a.bin "$T/back/a.bin"
expect_rc 0
same_file "$T/src/a.bin" "$T/back/a.bin"
check_eq "pull json domain" "$(json_get "$OUT" 1 domain)" web1

# LIBVIRT_DEFAULT_URI stands in for -c; --via serial and --channel pick.
LIBVIRT_DEFAULT_URI=$URI run_ferry push --domain web2 --via serial "$T/src/a.bin" a.bin
expect_rc 0
same_file "$T/src/a.bin" "$T/r2/a.bin"

# ---- every error, each naming the domain
run_ferry push -c "$URI" --domain nosuch "$T/src/a.bin" a.bin
expect_rc 3
expect_err "^ferry: nosuch: no such domain on test://$NODE\$"

run_ferry push -c "$URI" --domain off1 "$T/src/a.bin" a.bin
expect_rc 3
expect_err "^ferry: off1: domain is not running \\(virsh -c test://$NODE start off1\\)\$"

run_ferry push -c "test://$T/missing.xml" --domain web1 "$T/src/a.bin" a.bin
expect_rc 3
expect_err "^ferry: web1: cannot open libvirt connection 'test://$T/missing.xml': "
grep -q 'I/O warning' "$ERR" && fail "libxml2's own warning leaked to stderr: $(cat "$ERR")"

run_ferry push -c "$URI" --domain bare1 "$T/src/a.bin" a.bin
expect_rc 3
expect_err "^ferry: bare1: no vsock device and no channel 'org.ferry.0' \\(run: ferry setup -c test://$NODE --domain bare1\\)\$"
LIBVIRT_DEFAULT_URI=$URI run_ferry push --domain bare1 "$T/src/a.bin" a.bin
expect_rc 3

if [ "$have_vhost_vsock" = 0 ]; then
	run_ferry push -c "$URI" --domain vsock1 "$T/src/a.bin" a.bin
	expect_rc 3
	expect_err "^ferry: vsock1: has a vsock device \\(CID 42\\) but this host cannot reach AF_VSOCK \\(no /dev/vhost-vsock\\), and no channel 'org.ferry.0' \\(run: ferry setup -c test://$NODE --domain vsock1 --serial\\)\$"
	# web2 has both: without vhost-vsock its channel is the way.
	run_ferry push -c "$URI" --domain web2 --json "$T/src/a.bin" a2.bin
	expect_rc 0
	check_eq "web2 auto transport" "$(json_get "$OUT" 1 transport)" serial
else
	note "this host has /dev/vhost-vsock: the unreachable-vsock message is not checked"
fi

# --via vsock forces the CID, reachable or not: the connect fails, named.
run_ferry push -c "$URI" --domain vsock1 --via vsock --timeout 2 "$T/src/a.bin" a.bin
expect_rc 3
expect_err "^ferry: vsock1: push: cannot connect to vsock:42:5000: "
run_ferry push -c "$URI" --domain web1 --via vsock "$T/src/a.bin" a.bin
expect_rc 3
expect_err "^ferry: web1: no vsock device \\(run: ferry setup -c test://$NODE --domain web1 --vsock\\)\$"
run_ferry push -c "$URI" --domain vsock1 --via serial "$T/src/a.bin" a.bin
expect_rc 3
expect_err "^ferry: vsock1: no channel 'org.ferry.0' \\(run: ferry setup -c test://$NODE --domain vsock1 --serial\\)\$"
run_ferry push -c "$URI" --domain web1 --channel org.nope.0 "$T/src/a.bin" a.bin
expect_rc 3
expect_err "^ferry: web1: no vsock device and no channel 'org.nope.0' \\(run: ferry setup -c test://$NODE --domain web1 --channel org.nope.0\\)\$"
run_ferry push -c "$URI" --domain web2 --channel org.other.0 "$T/src/a.bin" a.bin
expect_rc 3 # its socket is there in the XML, nobody listens on it
expect_err "^ferry: web2: push: cannot connect to serial:$T/web2-other.sock: "
run_ferry push -c "$URI" --domain pty1 "$T/src/a.bin" a.bin
expect_rc 3
expect_err "^ferry: pty1: channel 'org.ferry.0' is type='pty'; ferry needs type='unix'"

run_ferry push -c "$URI" --domain 'zz*' "$T/src/a.bin" a.bin
expect_rc 3
expect_err "^ferry: push: no domain matches 'zz\\*' on test://$NODE\$"

# usage errors
run_ferry push --to "unix:$T/web1.sock" --domain web1 "$T/src/a.bin" a.bin
expect_rc 2
expect_err "name the guest twice"
run_ferry push --to "unix:$T/web1.sock" -c "$URI" "$T/src/a.bin" a.bin
expect_rc 2
expect_err "go with --domain"
run_ferry push -c "$URI" --domain web1 --via carrier-pigeon "$T/src/a.bin" a.bin
expect_rc 2
expect_err "--via: 'carrier-pigeon' is neither vsock nor serial"

# ---- several guests: a glob, and a failing one among them
rm -f "$T/r1/a.bin" "$T/r2/a.bin"
run_ferry push -c "$URI" --domain 'web*' --json "$T/src/a.bin" g.bin
expect_rc 0
same_file "$T/src/a.bin" "$T/r1/g.bin"
same_file "$T/src/a.bin" "$T/r2/g.bin"
for d in web1 web2; do
	grep -q "\"domain\":\"$d\",\"source\"" "$OUT" || { show_run >&2; fail "no JSON object for $d"; }
done
last=$(tail -n 1 "$OUT")
check_eq "fan-out summary" "$(printf '%s\n' "$last" | jq -c '[.kind, .status, .failed, [.domains[].domain]]')" \
	'["domains","ok",0,["web1","web2"]]'

run_ferry push -c "$URI" --domain web1 --domain bare1 --domain 'web2' --json "$T/src/a.bin" h.bin
expect_rc 3
same_file "$T/src/a.bin" "$T/r1/h.bin"
same_file "$T/src/a.bin" "$T/r2/h.bin"
expect_err "^ferry: bare1: no vsock device and no channel"
expect_err "^ferry: push: 1 of 3 domains failed: bare1 \\(exit 3\\)\$"
last=$(tail -n 1 "$OUT")
check_eq "fan-out summary with a failure" \
	"$(printf '%s\n' "$last" | jq -c '[.status, .failed, [.domains[] | [.domain, .status, .exit]]]')" \
	'["error",1,[["web1","ok",0],["bare1","error",3],["web2","ok",0]]]'

# pull from several: LOCAL_DEST/DOMAIN each
run_ferry pull -c "$URI" --domain 'web?' g.bin "$T/back"
expect_rc 0
same_file "$T/src/a.bin" "$T/back/web1/g.bin"
same_file "$T/src/a.bin" "$T/back/web2/g.bin"
run_ferry pull -c "$URI" --domain 'web?' g.bin "$T/back/nodir"
expect_rc 2
expect_err "not an existing directory"

# ---- the socket moved: a reconnect reads the XML again
SIZE=$(big 64M 16M)
mkfile "$T/src/big.bin" "$SIZE"
base=$(proc_io "$WEB1_PID" rchar)
"$FERRY" push -c "$URI" --domain web1 --retry 5 --timeout 10 --max-rate 16M "$T/src/big.bin" big.bin \
	>"$T/move.out" 2>"$T/move.err" &
ferry_pid=$!
wait_until 30 eval '[ "$(proc_io "$WEB1_PID" rchar)" -gt $((base + 4 * 1048576)) ]' || fail "ferryd for web1 never read 4 MiB"
kill -9 "$WEB1_PID"
node_xml "$T/web1-moved.sock"
start_ferryd_at "unix:$T/web1-moved.sock" "$T/r1" || fail "cannot start ferryd on the new socket"
rc=0
wait "$ferry_pid" || rc=$?
[ "$rc" = 0 ] || fail "push across the moved socket exited $rc: $(cat "$T/move.err")"
grep -q "^ferry: web1: push: .*retrying in" "$T/move.err" || fail "no retry line naming web1: $(cat "$T/move.err")"
same_file "$T/src/big.bin" "$T/r1/big.bin"

# ---- --max-rate over several guests is one cap for the host
mkfile "$T/src/r.bin" 6M
t0=$(now_s)
run_ferry push -c "$URI" --domain 'web*' --max-rate 6M --json "$T/src/r.bin" r.bin
expect_rc 0
secs=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.2f", b - a }')
note "2 x 6 MiB at a shared 6 MiB/s: $secs s"
# alone, each would take 1 s; sharing one 6 MiB/s bucket, about 2
awk -v s="$secs" 'BEGIN { exit !(s >= 1.7) }' || fail "two guests under one 6 MiB/s cap took only $secs s"
r1=$(jq -r 'select(.domain == "web1" and .kind == "file") | .mb_per_s' "$OUT")
r2=$(jq -r 'select(.domain == "web2" and .kind == "file") | .mb_per_s' "$OUT")
note "web1 $r1 MB/s, web2 $r2 MB/s"
awk -v a="$r1" -v b="$r2" 'BEGIN { exit !(a / b < 1.3 && b / a < 1.3) }' || fail "unfair shares: web1 $r1 MB/s, web2 $r2 MB/s"

# ... and for pulls, where the rate is the credit each session grants: the
# same bucket, so a guest with more to send takes what the other leaves.
# web1 has 8 MiB, web2 64 KiB: at a shared 4 MiB/s that is ~2 s (split
# evenly, web1 alone at 2 MiB/s would take ~4 s); never faster than the cap.
mkfile "$T/r1/p.bin" 8M
mkfile "$T/r2/p.bin" 64k
mkdir -p "$T/back/rate"
t0=$(now_s)
run_ferry pull -c "$URI" --domain 'web*' --max-rate 4M p.bin "$T/back/rate"
expect_rc 0
secs=$(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.2f", b - a }')
note "pull of 8 MiB + 64 KiB from two guests at a shared 4 MiB/s: $secs s"
same_file "$T/r1/p.bin" "$T/back/rate/web1/p.bin"
same_file "$T/r2/p.bin" "$T/back/rate/web2/p.bin"
awk -v s="$secs" 'BEGIN { exit !(s >= 1.5) }' || fail "pulls under one 4 MiB/s cap took only $secs s"
awk -v s="$secs" 'BEGIN { exit !(s < 3.2) }' || fail "pull took $secs s: web1 did not get the rate web2 left (split evenly: ~4 s)"

# ---- ferry setup: the XML; the test driver cannot attach
run_ferry setup -c "$URI" --domain bare1 --serial
expect_rc 0
grep -qx "<controller type='virtio-serial'/>" "$OUT" || { show_run >&2; fail "setup: no controller for bare1"; }
grep -qx "  <target type='virtio' name='org.ferry.0'/>" "$OUT" || { show_run >&2; fail "setup: no channel"; }
grep -q "ferryd --listen serial:/dev/virtio-ports/org.ferry.0" "$OUT" || fail "setup: no guest line"
run_ferry setup -c "$URI" --domain bare1 --vsock
expect_rc 0
grep -qx "  <cid auto='yes'/>" "$OUT" || { show_run >&2; fail "setup --vsock: no vsock"; }
run_ferry setup -c "$URI" --domain web1 --serial
expect_rc 0
grep -q "^web1: has a virtio channel already; nothing to add" "$OUT" || { show_run >&2; fail "setup web1"; }
run_ferry setup -c "$URI" --domain bare1 --serial --apply
expect_rc 1
expect_err "^ferry: bare1: cannot add a virtio-serial controller: .*not supported"
run_ferry setup -c "$URI" --domain nosuch
expect_rc 3
expect_err "^ferry: nosuch: no such domain"
run_ferry setup -c "$URI"
expect_rc 2

# ---- libvirt stays out of ferryd and ferry.static
libs=$(ldd "$FERRYD" 2>&1 || true)
[[ $libs == *libvirt* || $libs == *libxml2* ]] && fail "ferryd links libvirt: $libs"
syms=$(nm "$FERRYD" 2>/dev/null || true)
[[ $syms == *" virConnect"* ]] && fail "ferryd holds libvirt symbols"
if [ -x "$BUILD/ferry.static" ]; then
	syms=$(nm "$BUILD/ferry.static" 2>/dev/null || true)
	[[ $syms == *" virConnect"* ]] && fail "ferry.static holds libvirt symbols"
	RC=0
	"$BUILD/ferry.static" push --domain web1 "$T/src/a.bin" a.bin >"$T/st.out" 2>"$T/st.err" || RC=$?
	[ "$RC" = 2 ] || fail "ferry.static --domain exited $RC: $(cat "$T/st.err")"
	grep -q "^ferry: web1: this ferry was built without libvirt" "$T/st.err" || fail "ferry.static: $(cat "$T/st.err")"
fi
echo "all domain checks passed"
