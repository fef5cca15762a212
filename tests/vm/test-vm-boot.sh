#!/bin/bash
# test-vm-boot.sh: boot the test guest and move SIZE_MIB (64) MiB each way through the real
# virtio-serial port with plain tools: host socat -> port -> guest `cat` into a tmpfs file
# (ended by the host's disconnect), then the guest `cat`s the file back to a host socat.
# Digests are compared on both sides. Exit 0 pass, 1 fail, 77 skip (QEMU cannot start).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"

size=$((${SIZE_MIB:-64} << 20))

vm_require_qemu
command -v socat >/dev/null 2>&1 || vm_skip "socat not installed (apt-get install socat)"

tmp=
cleanup() {
	local rc=$?
	vm_cleanup "$rc" || true
	if [[ -n "$tmp" ]]; then
		if [[ $rc != 0 && $rc != 77 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
	fi
	exit "$rc"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

t_all=$(vm_now)
vm_build
mkdir -p "$FERRY_ROOT/build/vm"
tmp=$(mktemp -d "$FERRY_ROOT/build/vm/test-boot.XXXXXX")
head -c "$size" /dev/urandom >"$tmp/in"
want=$(sha256sum <"$tmp/in" | cut -d' ' -f1)

vm_start "$here/jobs/cat-echo.sh"
vm_wait_ready
echo "boot: ${VM_BOOT_SECS}s to ready"
sock=$VM_DIR/ferry.sock

# Host -> guest with socat, as a script would: after its input ends, socat half-closes and then
# waits for QEMU to close (-t 30). Closing at once would make QEMU drop what it has not yet read.
t=$(vm_now)
timeout 30 socat -t 30 STDIO "UNIX-CONNECT:$sock" <"$tmp/in" >/dev/null ||
	fail "socat host->guest failed ($?)"
vm_wait_for '^in [0-9]+ [0-9a-f]{64}$' 30 || fail "guest did not report what it received"
read -r _ got_size got_sum < <(vm_console | grep -E '^in [0-9]+ [0-9a-f]{64}$' | tail -n 1)
echo "host->guest: $size bytes in $(vm_elapsed "$t")s (incl. guest sha256)"
[[ "$got_size" == "$size" ]] || fail "guest received $got_size bytes, host sent $size"
[[ "$got_sum" == "$want" ]] || fail "guest sha256 $got_sum != host $want"

# Guest -> host: read exactly the size, then ack so the guest may power off.
python3 "$here/portio.py" --timeout 30 recv "$sock" "$tmp/out" "$size" ||
	fail "guest->host transfer failed"
back=$(sha256sum <"$tmp/out" | cut -d' ' -f1)
[[ "$back" == "$want" ]] || fail "host got $(stat -c %s "$tmp/out") bytes, sha256 $back != $want"

rc=0
vm_wait_exit 20 || rc=$?
[[ $rc == 0 ]] || fail "guest job exited $rc"
echo "PASS test-vm-boot ($(vm_elapsed "$t_all")s)"
