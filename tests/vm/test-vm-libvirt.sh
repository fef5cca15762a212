#!/bin/bash
# test-vm-libvirt.sh: ferry --domain against a real libvirt daemon running the test guest.
#
# The test starts its own libvirtd (Debian 12 packages the monolithic daemon; libvirt 9.0's
# virtqemud is not in the package) in session mode as the unprivileged user nobody, with every
# directory under a temporary one, so nothing of the machine's libvirt is read or changed. The
# test guest runs as a type='qemu' (TCG) domain with a virtio-serial channel org.ferry.0 whose
# socket path libvirt makes (jobs/libvirt-serve.sh serves ferryd on it). Then:
#  1. ferry push and pull --domain move a file through the channel (JSON: domain, transport).
#  2. ferry setup --apply --channel org.ferry.1 hot-plugs a second channel into the running
#     domain (and its configuration); the guest starts a ferryd on it; a push and a pull
#     --channel org.ferry.1 go through it.
#  3. a stopped domain without a virtio-serial controller: "not running"; setup --apply adds a
#     controller and the channel to its configuration.
#  4. once the guest powered off: "domain is not running", exit 3.
# Skips (77, reason last) where libvirtd, virsh or QEMU are missing or the daemon cannot run.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"

FERRY_BUILD=${FERRY_BUILD:-$FERRY_ROOT/build}
case "$FERRY_BUILD" in /*) ;; *) FERRY_BUILD=$FERRY_ROOT/$FERRY_BUILD ;; esac
FERRY=$FERRY_BUILD/ferry
DOM=ferry-vm1
LIBVIRTD=$(command -v libvirtd || echo /usr/sbin/libvirtd)

fail() {
	echo "FAIL: $*" >&2
	[[ -z "${VDIR:-}" ]] || { echo "--- console" >&2; tr -d '\r' <"$VDIR/guest/console.log" 2>/dev/null | tail -n 25 >&2; }
	exit 1
}

[[ -x "$FERRY" ]] || fail "$FERRY not built"
# ferry opens libvirt when a domain is named (dlopen, host-agent/domain.c):
# the binary names the library, and the library must be installed.
grep -qa 'libvirt\.so\.0' "$FERRY" || vm_skip "ferry was built without libvirt"
[[ "$(ldconfig -p 2>/dev/null || true)" == *libvirt.so.0* ]] || vm_skip "libvirt0 is not installed"
[[ -x "$LIBVIRTD" ]] || vm_skip "libvirtd not installed (apt-get install libvirt-daemon-driver-qemu)"
command -v virsh >/dev/null || vm_skip "virsh not installed (apt-get install libvirt-clients)"
[[ "$(id -u)" == 0 ]] || vm_skip "needs root, to run libvirtd as another user (nobody)"
id nobody >/dev/null 2>&1 || vm_skip "no user nobody to run the session daemon as"
vm_require_qemu
vm_build # the guest the other VM tests use (lib.sh: VM_FERRYD, VM_OUT)

# Everything of the daemon's under VDIR, which nobody may read (the guest's files too).
VDIR=$(mktemp -d /tmp/fvl.XXXXXX)
DAEMON_PID=
cleanup() {
	local rc=$?
	if [[ -n "$DAEMON_PID" ]]; then
		virsh -c "$URI" destroy "$DOM" >/dev/null 2>&1 || true
		kill "$DAEMON_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$DAEMON_PID" 2>/dev/null || true
	fi
	if [[ $rc != 0 && $rc != 77 ]]; then echo "kept $VDIR" >&2; else rm -rf "$VDIR"; fi
	exit "$rc"
}
trap cleanup EXIT
chmod 755 "$VDIR"
mkdir -p "$VDIR"/{home,run,cfg,cache,guest}
cp "$VM_OUT/initrd.img" "$VDIR/guest/"
cp -L "$VM_OUT/kernel" "$VDIR/guest/kernel"
{
	printf 'set --\ncd /data\n'
	cat "$here/jobs/libvirt-serve.sh"
} >"$VDIR/guest/job.sh"
chown -R nobody:nogroup "$VDIR"/{home,run,cfg,cache,guest}
chmod 700 "$VDIR/run"
URI="qemu+unix:///session?socket=$VDIR/run/libvirt/libvirt-sock"

setpriv --reuid=nobody --regid=nogroup --clear-groups \
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$VDIR/home" XDG_RUNTIME_DIR="$VDIR/run" \
	XDG_CONFIG_HOME="$VDIR/cfg" XDG_CACHE_HOME="$VDIR/cache" \
	"$LIBVIRTD" --timeout 0 >"$VDIR/libvirtd.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 100); do
	[[ -S "$VDIR/run/libvirt/libvirt-sock" ]] && break
	kill -0 "$DAEMON_PID" 2>/dev/null || break
	sleep 0.1
done
if ! virsh -c "$URI" version >/dev/null 2>&1; then
	vm_skip "libvirtd cannot run here: $(tail -n 3 "$VDIR/libvirtd.log" | tr '\n' ' ')"
fi

cat >"$VDIR/dom.xml" <<EOF
<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>$DOM</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$VDIR/guest/kernel</kernel>
    <initrd>$VDIR/guest/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 no_timer_check ferry.ports=1 ferry.data=60%</cmdline>
  </os>
  <features><acpi/></features> <!-- the guest finds fw_cfg through ACPI -->
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
    <serial type='file'>
      <source path='$VDIR/guest/console.log'/>
      <target port='0'/>
    </serial>
    <channel type='unix'>
      <source mode='bind'/>
      <target type='virtio' name='org.ferry.0'/>
    </channel>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-fw_cfg'/>
    <qemu:arg value='name=opt/ferry/job,file=$VDIR/guest/job.sh'/>
  </qemu:commandline>
</domain>
EOF
virsh -c "$URI" define "$VDIR/dom.xml" >"$VDIR/virsh.log" 2>&1 || fail "virsh define: $(cat "$VDIR/virsh.log")"
t0=$(vm_now)
if ! virsh -c "$URI" start "$DOM" >"$VDIR/virsh.log" 2>&1; then
	vm_skip "libvirtd cannot start a QEMU domain here: $(tr '\n' ' ' <"$VDIR/virsh.log")"
fi
VDIR_CONSOLE=$VDIR/guest/console.log
console() { tr -d '\r' <"$VDIR_CONSOLE" 2>/dev/null || true; }
wait_console() { # REGEX SECS
	local i c
	for ((i = 0; i < $2 * 10; i++)); do
		c=$(console) # not piped into grep -q: pipefail
		grep -qE -- "$1" <<<"$c" && return 0
		grep -qE -- '^ferry-vm: FATAL|Kernel panic' <<<"$c" && break
		sleep 0.1
	done
	fail "no console line /$1/ within $2 s"
}
wait_console '^job: ferryd listening' 90
echo "boot: $(vm_elapsed "$t0") s to ferryd listening"

mkfile() { head -c "$2" /dev/urandom >"$1"; }
mkfile "$VDIR/a.bin" $((8 << 20))
mkfile "$VDIR/b.bin" $((3 << 20))
RC=0
run() { RC=0; timeout 120 "$FERRY" "$@" >"$VDIR/out" 2>"$VDIR/err" || RC=$?; }
show() { echo "--- ferry $*: exit $RC"; cat "$VDIR/out" "$VDIR/err"; }

# ---- 1. push and pull by name through the channel libvirt made
run push -c "$URI" --domain "$DOM" --json "$VDIR/a.bin" a.bin
[[ $RC == 0 ]] || { show push >&2; fail "push --domain $DOM"; }
[[ "$(sed -n 1p "$VDIR/out" | jq -r '[.domain, .transport, .status] | join(" ")')" == "$DOM serial ok" ]] ||
	{ show push >&2; fail "push JSON"; }
run pull -c "$URI" --domain "$DOM" a.bin "$VDIR/a.back"
[[ $RC == 0 ]] || { show pull >&2; fail "pull --domain $DOM"; }
cmp -s "$VDIR/a.bin" "$VDIR/a.back" || fail "pulled a.bin differs"
echo "push and pull --domain: ok"

# ---- 2. ferry setup --apply hot-plugs a second channel; a push goes through it
run push -c "$URI" --domain "$DOM" --via serial --channel org.ferry.1 "$VDIR/b.bin" b.bin
[[ $RC == 3 ]] && grep -q "^ferry: $DOM: no channel 'org.ferry.1'" "$VDIR/err" ||
	{ show push >&2; fail "push before setup"; }
run setup -c "$URI" --domain "$DOM" --serial --channel org.ferry.1
[[ $RC == 0 ]] && grep -q "name='org.ferry.1'" "$VDIR/out" && grep -q -- "--apply" "$VDIR/out" ||
	{ show setup >&2; fail "setup without --apply"; }
run setup -c "$URI" --domain "$DOM" --serial --channel org.ferry.1 --apply
[[ $RC == 0 ]] || { show setup --apply >&2; fail "setup --apply"; }
grep -q "^$DOM: added the channel (to the running domain and its configuration)" "$VDIR/out" ||
	{ show setup --apply >&2; fail "setup --apply did not say what it added"; }
conf=$(virsh -c "$URI" dumpxml --inactive "$DOM") # not piped into grep -q: pipefail
[[ $conf == *"name='org.ferry.1'"* ]] || fail "org.ferry.1 not in the configuration"
wait_console '^job: second ferryd listening' 60
run push -c "$URI" --domain "$DOM" --channel org.ferry.1 --json "$VDIR/b.bin" b.bin
[[ $RC == 0 ]] || { show push >&2; fail "push through the hot-plugged channel"; }
run pull -c "$URI" --domain "$DOM" --channel org.ferry.1 b.bin "$VDIR/b.back"
[[ $RC == 0 ]] && cmp -s "$VDIR/b.bin" "$VDIR/b.back" || { show pull >&2; fail "pull through the hot-plugged channel"; }
run setup -c "$URI" --domain "$DOM" --serial --channel org.ferry.1 --apply
grep -q "has a virtio channel already; nothing to add" "$VDIR/out" || { show setup >&2; fail "second setup --apply"; }
echo "setup --apply on the running domain, then push and pull through it: ok"

# ---- 3. a stopped domain with no virtio-serial controller: setup --apply writes both into
# its configuration, for the next start (nothing to hot-plug into)
sed -e "s|<name>$DOM</name>|<name>$DOM-off</name>|" -e '/<channel/,/<\/channel>/d' "$VDIR/dom.xml" >"$VDIR/dom-off.xml"
virsh -c "$URI" define "$VDIR/dom-off.xml" >"$VDIR/virsh.log" 2>&1 || fail "virsh define: $(cat "$VDIR/virsh.log")"
conf=$(virsh -c "$URI" dumpxml --inactive "$DOM-off")
[[ $conf != *"virtio-serial"* ]] || fail "$DOM-off has a virtio-serial controller to begin with"
run push -c "$URI" --domain "$DOM-off" "$VDIR/b.bin" b.bin
[[ $RC == 3 ]] && grep -q "^ferry: $DOM-off: domain is not running" "$VDIR/err" || { show push >&2; fail "stopped domain"; }
run setup -c "$URI" --domain "$DOM-off" --serial --apply
[[ $RC == 0 ]] || { show setup >&2; fail "setup --apply on a stopped domain"; }
grep -q "^$DOM-off: added a virtio-serial controller (to its configuration: from the next start)" "$VDIR/out" &&
	grep -q "^$DOM-off: added the channel (to its configuration: from the next start)" "$VDIR/out" ||
	{ show setup >&2; fail "setup --apply on a stopped domain did not say what it added"; }
conf=$(virsh -c "$URI" dumpxml --inactive "$DOM-off")
[[ $conf == *"type='virtio-serial'"* && $conf == *"name='org.ferry.0'"* ]] ||
	fail "controller or channel missing from $DOM-off's configuration"
echo "setup --apply on a stopped domain without a controller: ok"

# ---- 4. the guest powers off: not running
: >"$VDIR/stop"
run push -c "$URI" --domain "$DOM" "$VDIR/stop" stop
[[ $RC == 0 ]] || { show push >&2; fail "push stop"; }
for _ in $(seq 300); do
	[[ "$(virsh -c "$URI" domstate "$DOM" 2>/dev/null)" == "shut off" ]] && break
	sleep 0.1
done
run push -c "$URI" --domain "$DOM" "$VDIR/b.bin" b.bin
[[ $RC == 3 ]] && grep -q "^ferry: $DOM: domain is not running" "$VDIR/err" || { show push >&2; fail "stopped domain"; }
echo "all libvirt daemon checks passed"
