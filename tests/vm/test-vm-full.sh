#!/bin/bash
# test-vm-full.sh: a full destination in the guest. The guest (jobs/ferryd-serve.sh, root /data)
# mounts a 16 MiB tmpfs on /data/small; one `ferry push` of a 64 MiB file and a 100 KB file into
# it must: exit 1, say on stderr "guest: ... no space left on device" naming the big file, still
# deliver the small one intact, and leave neither the big file nor a .ferry-*.tmp in
# /data/small. Then a 1 MiB push into the same directory succeeds (the space came back).
# Exit 0 pass, 1 fail, 77 skip (QEMU cannot start).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/vm/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/vm/ferry-lib.sh
. "$here/ferry-lib.sh"

vm_require_qemu
vmf_require_build

cleanup() {
	local rc=$?
	vm_cleanup "$rc" || true
	vmf_tmp_cleanup "$rc"
	exit "$rc"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	[[ -z "$VM_DIR" ]] || vm_console | sed -n 's/^ferryd.log: //p' | tail -n 20 >&2
	exit 1
}

t_all=$(vm_now)
vm_build
vmf_tmp_init test-full
src=$VMF_TMP/src back=$VMF_TMP/back
mkdir -p "$src" "$back"
vm_start "$VMF_JOB"
head -c $((64 << 20)) /dev/urandom >"$src/too-big.bin"
head -c 100000 /dev/urandom >"$src/fits.bin"
head -c $((1 << 20)) /dev/urandom >"$src/later.bin"
vm_wait_ready
vmf_wait_listening
echo "boot: ${VM_BOOT_SECS}s to ready"

vmf_ctl tmpfs small 16m >/dev/null || fail "cannot mount the small tmpfs in the guest"

t=$(vm_now)
vmf_ferry push --json "$src/too-big.bin" "$src/fits.bin" small/
echo "push 64 MiB + 100 KB into 16 MiB: exit $VMF_RC in $(vm_elapsed "$t")s; stderr:"
sed 's/^/  /' "$VMF_TMP/err"
[[ $VMF_RC == 1 ]] || fail "ferry exited $VMF_RC, want 1 (a file failed)"
line=$(grep 'too-big\.bin' "$VMF_TMP/err" || true)
[[ -n "$line" ]] || fail "stderr does not name too-big.bin"
grep -q 'guest:' <<<"$line" || fail "stderr does not say the error came from the guest: $line"
grep -qi 'no space left on device' <<<"$line" || fail "stderr does not say 'no space left on device': $line"
! grep -q 'fits\.bin' "$VMF_TMP/err" || fail "stderr mentions fits.bin, which should have arrived"
python3 - "$VMF_TMP/out" <<-'PY' || fail "ferry's JSON"
	import json, sys
	j = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{") and '"kind":"summary"' not in l]
	st = {x["source"].rsplit("/", 1)[-1]: x for x in j}
	big, ok = st.get("too-big.bin"), st.get("fits.bin")
	if not big or big.get("status") == "ok" or "no space" not in big.get("error", ""):
	    sys.exit("FAIL: too-big.bin JSON: %s" % big)
	if not ok or ok.get("status") != "ok" or ok.get("bytes") != 100000:
	    sys.exit("FAIL: fits.bin JSON: %s" % ok)
PY

listing=$(vmf_ctl ls small) || fail "guest ls failed"
echo "guest /data/small after the push:"
sed 's/^/  /' <<<"$listing"
! grep -q 'too-big' <<<"$listing" || fail "something named too-big is in /data/small"
! grep -q '\.ferry-' <<<"$listing" || fail "a temporary .ferry-* file remains in /data/small"
grep -q ' fits\.bin$' <<<"$listing" || fail "fits.bin is not in /data/small"

vmf_ferry pull "small/fits.bin" "$back/fits.bin"
[[ $VMF_RC == 0 ]] || fail "pull small/fits.bin: exit $VMF_RC: $(cat "$VMF_TMP/err")"
cmp "$src/fits.bin" "$back/fits.bin" || fail "fits.bin came back different"

vmf_ferry push "$src/later.bin" small/later.bin
[[ $VMF_RC == 0 ]] || fail "a 1 MiB push after the failure: exit $VMF_RC: $(cat "$VMF_TMP/err")"
echo "PASS no space: exit 1, 'guest: ... no space left on device' for too-big.bin, fits.bin ok, nothing left behind, later push ok"

rc=0
vmf_stop_guest 30 || rc=$?
[[ $rc == 0 ]] || fail "guest job exited $rc"
echo "PASS test-vm-full ($(vm_elapsed "$t_all")s)"
