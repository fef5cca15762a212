#!/usr/bin/env bash
# make demo: a real transfer with telemetry.
#
# With QEMU (qemu-system-x86_64 that can start a machine): boots the throwaway test guest
# (tests/vm: a Debian kernel, busybox and the static ferryd, under TCG), where ferryd serves
# /data on the virtio-serial port org.ferry.0; pushes a 256 MiB dataset in through QEMU's chardev
# socket with the progress bar and the JSON telemetry, has the guest compute its own sha256,
# pulls the file back, compares digests and bytes, and powers the guest off.
# Without QEMU (or DEMO_VM=0, or when the guest cannot be built): the same round trip against a
# ferryd on a Unix socket, standing in for the guest.
#
#   scripts/demo.sh [BUILD_DIR]      DEMO_SIZE (256M), DEMO_VM=0 (Unix socket only)
set -euo pipefail
build=${1:-build}
size=${DEMO_SIZE:-256M}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "$build" in /*) ;; *) build=$(cd "$build" && pwd) ;; esac
work=$(mktemp -d "${TMPDIR:-/var/tmp}/ferry-demo.XXXXXX")
pid=
in_vm=0

cleanup() {
	local rc=$?
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	[ "$in_vm" = 1 ] && vm_cleanup "$rc"
	wait 2>/dev/null
	rm -rf "$work"
	return "$rc"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
# ferry --json prints one object per file, then the run's summary: the file's is the first line.
digest_of() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["digest"])' "$1"; }
# telemetry FILE: the JSON object ferry printed for the file, pretty, then the figures that matter
# in one line.
telemetry() {
	head -n 1 "$1" | python3 -m json.tool
	python3 - "$1" <<-'EOF'
		import json, sys
		j = json.loads(open(sys.argv[1]).readline())
		r = j["rtt_us"]
		print("-> %s %s: %d bytes in %.2f s = %.1f MB/s, %d chunks, chunk round trip p50 %.1f ms / p99 %.1f ms, "
		      "waited for credit %.2f s, file I/O %s"
		      % (j["op"], j["status"], j["bytes"], j["seconds"], j["mb_per_s"], j["chunks"],
		         r["p50"] / 1000, r["p99"] / 1000, j.get("credit_wait_seconds", 0), j["io"]))
	EOF
}

# --- the VM demo ----------------------------------------------------------------------------------
vm_demo() {
	local bytes mib sums guest_sha host_sha d1 d2 rc
	bytes=$(numfmt --from=iec "$size")
	mib=$(((bytes + (1 << 20) - 1) >> 20))
	# /data in the guest is a tmpfs (60% of its RAM): room for the file and its temporary copy.
	VM_MEM=${VM_MEM:-$((mib * 3 + 512 > 1024 ? mib * 3 + 512 : 1024))}
	VM_FERRYD=$build/ferryd
	[ -x "$build/ferry.static" ] && VM_FERRY=$build/ferry.static
	FERRY_BUILD=$build
	# shellcheck source=tests/vm/lib.sh
	. "$root/tests/vm/lib.sh"
	# shellcheck source=tests/vm/ferry-lib.sh
	. "$root/tests/vm/ferry-lib.sh"
	VMF_TMP=$work
	in_vm=1

	say "a $size dataset of random bytes on the host"
	head -c "$bytes" /dev/urandom >"$work/dataset.bin"

	say "booting a throwaway guest under QEMU (TCG, ${VM_MEM} MiB): Debian's kernel, busybox, the static ferryd"
	echo "   (the guest's job: ferryd --listen serial:/dev/virtio-ports/org.ferry.0 --root /data)"
	vm_start "$VMF_JOB"
	vm_wait_ready 60
	vmf_wait_listening
	echo "   up in ${VM_BOOT_SECS}s; the host talks to it through QEMU's chardev socket $VM_DIR/ferry.sock"

	say "ferry push: host -> guest over virtio-serial, every 1 MiB chunk hashed (XXH3-64), the file too (XXH3-128);"
	echo "   ferryd writes .ferry-dataset.bin.*.part (+ a journal, so a rerun resumes), fsyncs, checks the"
	echo "   digest, then renames it into place"
	"$FERRY" push --to "serial:$VM_DIR/ferry.sock" --progress -v --json "$work/dataset.bin" dataset.bin \
		>"$work/push.json"
	telemetry "$work/push.json"

	say "the guest's own opinion: sha256sum /data/dataset.bin, run inside the guest (slow: its CPU is emulated)"
	sums=$(vmf_ctl sums dataset.bin)
	guest_sha=$(awk '{ print $1 }' <<<"$sums")
	host_sha=$(sha256sum <"$work/dataset.bin" | cut -d' ' -f1)
	echo "   guest $guest_sha"
	echo "   host  $host_sha"
	[ "$guest_sha" = "$host_sha" ] || { echo "ferry demo: the guest's sha256 differs from the host's" >&2; return 1; }

	say "ferry pull: guest -> host, the same checks the other way"
	"$FERRY" pull --from "serial:$VM_DIR/ferry.sock" --progress -v --json dataset.bin "$work/back.bin" \
		>"$work/pull.json"
	telemetry "$work/pull.json"

	d1=$(digest_of "$work/push.json")
	d2=$(digest_of "$work/pull.json")
	say "digests: push $d1, pull $d2"
	[ "$d1" = "$d2" ] || { echo "ferry demo: digests differ" >&2; return 1; }
	cmp "$work/dataset.bin" "$work/back.bin"
	echo "   and the file that came back is byte-identical to the one that went in ($bytes bytes)"

	say "powering the guest off"
	rc=0
	vmf_stop_guest 30 || rc=$?
	vm_console | sed -n 's/^ferryd.log: /   guest: /p'
	[ "$rc" = 0 ] || { echo "ferry demo: the guest's job exited $rc" >&2; return 1; }
	echo "   done: QEMU exited, the guest and its /data are gone"
}

# --- the Unix-socket demo (fallback) --------------------------------------------------------------
unix_demo() {
	mkdir -p "$work/guest"
	say "a $size dataset"
	head -c "$size" /dev/urandom >"$work/dataset.bin"

	say "ferryd serving $work/guest on unix:$work/ferry.sock (a stand-in for a guest)"
	"$build/ferryd" --listen "unix:$work/ferry.sock" --root "$work/guest" &
	pid=$!
	for _ in $(seq 100); do [ -S "$work/ferry.sock" ] && break; sleep 0.05; done

	say "ferry push (progress on a terminal, then the telemetry of the transfer)"
	"$build/ferry" push --to "unix:$work/ferry.sock" --progress -v --json "$work/dataset.bin" dataset.bin \
		>"$work/push.json"
	telemetry "$work/push.json"
	say "ferry pull"
	"$build/ferry" pull --from "unix:$work/ferry.sock" --progress -v --json dataset.bin "$work/back.bin" \
		>"$work/pull.json"
	telemetry "$work/pull.json"

	d1=$(digest_of "$work/push.json")
	d2=$(digest_of "$work/pull.json")
	say "digests: push $d1, pull $d2"
	[ "$d1" = "$d2" ] || { echo "ferry demo: digests differ" >&2; return 1; }
	cmp "$work/dataset.bin" "$work/back.bin"
	echo "== the file that came back is byte-identical to the one that went in"
}

# --- which one ------------------------------------------------------------------------------------
why=
if [ "${DEMO_VM:-1}" = 0 ]; then
	why="DEMO_VM=0"
elif ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
	why="qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
elif ! err=$(echo quit | timeout 20 qemu-system-x86_64 -nodefaults -display none -machine none \
	-accel "${VM_ACCEL:-tcg}" -monitor stdio 2>&1 >/dev/null); then
	why="qemu-system-x86_64 cannot start a machine: ${err:-timed out}"
elif ! file -L "$build/ferryd" 2>/dev/null | grep -Eq 'statically linked|static-pie'; then
	why="$build/ferryd is not a static binary, so it cannot run in the guest"
else
	say "building (or reusing) the test guest: tests/vm/mkguest.sh, cached in build/vm"
	if ! (VM_FERRYD=$build/ferryd VM_FERRY=$build/ferry.static FERRY_ROOT=$root \
		bash -c '. "$FERRY_ROOT/tests/vm/lib.sh"; [ -x "$VM_FERRY" ] || VM_FERRY=; vm_build'); then
		why="the guest could not be built (see above; its kernel comes from Debian's archive)"
	fi
fi

if [ -z "$why" ]; then
	vm_demo
else
	echo "ferry demo: no VM: $why."
	echo "ferry demo: falling back to ferryd on a Unix socket on this host."
	unix_demo
fi
