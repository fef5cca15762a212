#!/bin/bash
# raw-and-qga.sh [SIZE_MIB]: on ONE booted TCG guest, move the same SIZE_MIB (64) MiB file
#  (a) over the raw virtio-serial port, no protocol, both ways (REPS rounds, default 3):
#      host file -> port -> guest tmpfs file, and guest tmpfs file -> port -> host file;
#  (b) with ferry push/pull             -- TODO(ferry): see bench_ferry below;
#  (c) with qemu-guest-agent guest-file-write / guest-file-read (QGA_CHUNK_MIB, default 4, per write).
# Prints MB/s (10^6 bytes/s) for each, and ratios against the raw port. A benchmark, not a test:
# it exits non-zero only when a transfer fails or comes back corrupted.
#
# Memory state: the guest's /data tmpfs pages are fresh (first touch) in every run; the host
# files are page-cached. Figures are noisy on a shared machine: compare ratios within one run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bench=$root/bench/vm
VM_QGA=1
VM_MEM=${VM_MEM:-1024} # qemu-ga's 48 MiB reads need a few hundred MiB in the guest
# shellcheck source=tests/vm/lib.sh
. "$root/tests/vm/lib.sh"

size_mib=${1:-${SIZE_MIB:-64}}
size=$((size_mib << 20))
reps=${REPS:-3}
qga_chunk=${QGA_CHUNK_MIB:-4}

vm_require_qemu

tmp=
cleanup() {
	local rc=$?
	vm_cleanup "$rc" || true
	[[ -z "$tmp" ]] || rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT

# --- (b) ferry: TODO(ferry) ---------------------------------------------------------------------
# The ferry engineer fills these two in. When bench_ferry_available succeeds, the guest job starts
#   ferryd --listen serial:/dev/virtio-ports/org.ferry.0 --root /data
# after the raw rounds (so vm_build must have baked the real build/ferryd into the guest), and
# bench_ferry SRC runs on the host against $VM_DIR/ferry.sock. It should print result lines in
# the same shape as the others, "NAME BYTES SECONDS MB/s", e.g. "ferry-push ..." / "ferry-pull ...",
# and return non-zero when the file does not come back identical.
bench_ferry_available() {
	# TODO(ferry): e.g. [[ -x "$root/build/ferryd" && -x "$root/build/ferry" ]]
	return 1
}
bench_ferry() {
	local src=$1
	# TODO(ferry): something like
	#   t=$(vm_now)
	#   "$root/build/ferry" push --to "serial:$VM_DIR/ferry.sock" --json "$src" /
	#   echo "ferry-push $(stat -c %s "$src") $(vm_elapsed "$t") ..."
	#   "$root/build/ferry" pull --from "serial:$VM_DIR/ferry.sock" "/${src##*/}" "$tmp/ferry.back"
	#   cmp "$src" "$tmp/ferry.back"
	: "$src"
	echo "# ferry: not measured yet (TODO(ferry): bench_ferry in bench/vm/raw-and-qga.sh)" >&2
}

# --------------------------------------------------------------------------------------------------
vm_build
mkdir -p "$root/build/vm"
tmp=$(mktemp -d "$root/build/vm/bench.XXXXXX")
src=$tmp/src.bin
head -c "$size" /dev/urandom >"$src"
cat "$src" >/dev/null # page-cached on the host

with_ferry=0
bench_ferry_available && with_ferry=1

vm_start "$bench/guest-job.sh" "$size" "$reps" "$with_ferry"
vm_wait_ready
echo "# guest: x86_64 under TCG, ${VM_MEM} MiB, boot to ready ${VM_BOOT_SECS}s; file ${size_mib} MiB"

results=$tmp/results
# (a) raw port: lines "h2g R BYTES SECONDS MB/s" / "g2h R ..."
python3 "$root/tests/vm/portio.py" raw "$VM_DIR/ferry.sock" "$src" "$size" --reps "$reps" \
	--out "$tmp/raw.back" | tee "$tmp/raw.txt"
awk '{ print "raw-" $1, $3, $4, $5 }' "$tmp/raw.txt" >>"$results"
vm_wait_for '^bench: idle' 30

# (b) ferry
if [[ $with_ferry == 1 ]]; then
	bench_ferry "$src" | tee -a "$results"
else
	bench_ferry "$src"
fi

# (c) qemu-guest-agent
python3 "$bench/qga-file.py" "$VM_DIR/qga.sock" "$src" /data/qga.bin --chunk "$qga_chunk" \
	--back "$tmp/qga.back" | tee -a "$results"

vm_stop

# Summary: median MB/s per kind, and its ratio to the raw port in the same direction.
echo
awk '
	function median(key,   n, p, q, t, arr) {
		n = split(v[key], arr, " ")
		for (p = 1; p <= n; p++)
			for (q = p + 1; q <= n; q++)
				if (arr[q] + 0 < arr[p] + 0) { t = arr[p]; arr[p] = arr[q]; arr[q] = t }
		return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
	}
	{ v[$1] = v[$1] " " $4; if (!($1 in seen)) { seen[$1] = 1; order[++m] = $1 } }
	END {
		h2g = median("raw-h2g"); g2h = median("raw-g2h")
		printf "%-14s %10s  %s\n", "# transfer", "MB/s", "vs raw port, same direction"
		for (r = 1; r <= m; r++) {
			name = order[r]; x = median(name)
			base = (name ~ /h2g|write|push/) ? h2g : g2h
			ratio = base > 0 ? x / base : 0
			printf "%-14s %10.1f  %.3fx\n", name, x, ratio
		}
	}' "$results"
