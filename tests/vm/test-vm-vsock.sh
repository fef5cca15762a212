#!/bin/bash
# test-vm-vsock.sh: ferry and ferryd over AF_VSOCK, both inside the test guest, through
# vsock_loopback (CID 1); this host has no vhost-vsock, so that is the only vsock path here.
# The guest job (jobs/vsock-loop.sh) pushes and pulls a 64 MiB file (16 with FERRY_SMALL=1),
# compares, and checks that ferryd's default --allow-cid refuses a local peer. Here: the job's
# PASS line and exit status, and ferry's JSON from the console (status ok, bytes, equal digests).
# Exit 0 pass, 1 fail, 77 skip (QEMU cannot start).
set -euo pipefail
VM_MEM=${VM_MEM:-768} # /data: the file, its copy and the pulled copy
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"

mib=64
[[ "${FERRY_SMALL:-0}" == 1 ]] && mib=16

vm_require_qemu
[[ -x "$FERRY_ROOT/build/ferryd" && -x "$FERRY_ROOT/build/ferry.static" ]] ||
	{ echo "FAIL: build/ferryd and build/ferry.static are needed (make all)" >&2; exit 1; }

trap 'vm_cleanup $?' EXIT
fail() {
	echo "FAIL: $*" >&2
	vm_console | grep '^vsock: ' | tail -n 20 >&2
	exit 1
}

t_all=$(vm_now)
vm_build
vm_start "$here/jobs/vsock-loop.sh" "$mib"
vm_wait_ready
echo "boot: ${VM_BOOT_SECS}s to ready"
rc=0
vm_wait_exit 120 || rc=$?
vm_console | grep '^vsock: ' | grep -v 'json-' || true
[[ $rc == 0 ]] || fail "guest job exited $rc"
vm_console | grep -qx 'vsock: PASS' || fail "no 'vsock: PASS' from the guest"

vm_console | python3 -c '
import json, sys
size = int(sys.argv[1]) << 20
j = {}
for line in sys.stdin:
    for op in ("push", "pull"):
        p = "vsock: json-%s " % op
        if line.startswith(p) and "\x22kind\x22:\x22summary\x22" not in line:
            j[op] = json.loads(line[len(p):])
for op in ("push", "pull"):
    x = j.get(op)
    if not x:
        sys.exit("FAIL: no %s JSON on the console" % op)
    if x.get("status") != "ok" or x.get("bytes") != size or x.get("transport") != "vsock":
        sys.exit("FAIL: %s JSON: %s" % (op, x))
    print("%s: %.1f MB/s, rtt p50 %s us, io %s" % (op, x["mb_per_s"], x["rtt_us"]["p50"], x.get("io")))
if j["push"]["digest"] != j["pull"]["digest"]:
    sys.exit("FAIL: push digest %s != pull digest %s" % (j["push"]["digest"], j["pull"]["digest"]))
print("digest %s on push and pull" % j["push"]["digest"])
' "$mib" || fail "ferry's JSON"
echo "PASS test-vm-vsock ($(vm_elapsed "$t_all")s)"
