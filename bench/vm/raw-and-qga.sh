#!/bin/bash
# raw-and-qga.sh [SIZE_MIB]: on ONE booted TCG guest, move the same SIZE_MIB (64) MiB file
#  (a) over the raw virtio-serial port, no protocol, both ways (REPS rounds, default 3):
#      host file -> port -> guest tmpfs file, and guest tmpfs file -> port -> host file;
#  (b) with ferry push/pull (verification always on), REPS rounds per chunk size in FERRY_CHUNKS
#      (default "1M 256K 4M"; the first is the headline ferry-push / ferry-pull);
#  (c) with qemu-guest-agent guest-file-write / guest-file-read (QGA_CHUNK_MIB, default 4, per write).
# Prints MB/s (10^6 bytes/s) for each, its ratios to the raw port and to qemu-ga in the same
# direction, and the guest's CPU use during the raw and ferry copies (ferryd's user/system time,
# read()/write() calls on the port). A benchmark, not a test: it exits non-zero only when a
# transfer fails or comes back corrupted.
#
# Memory state: the guest's /data tmpfs pages are fresh (first touch) in the first round and
# recycled after; the host files are page-cached. Figures are noisy on a shared machine: compare
# ratios within one run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bench=$root/bench/vm
VM_QGA=1
VM_MEM=${VM_MEM:-1024} # qemu-ga's 48 MiB reads need a few hundred MiB in the guest
# shellcheck source=tests/vm/lib.sh
. "$root/tests/vm/lib.sh"
# shellcheck source=tests/vm/ferry-lib.sh
. "$root/tests/vm/ferry-lib.sh"

size_mib=${1:-${SIZE_MIB:-64}}
size=$((size_mib << 20))
reps=${REPS:-3}
qga_chunk=${QGA_CHUNK_MIB:-4}
chunks=${FERRY_CHUNKS:-1M 256K 4M}

vm_require_qemu

tmp=
cleanup() {
	local rc=$?
	vm_cleanup "$rc" || true
	[[ -z "$tmp" ]] || rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT

# --- (b) ferry ----------------------------------------------------------------------------------
# After the raw rounds the guest job (guest-job.sh with tests/vm/jobs/ferryd-serve.sh appended)
# runs `ferryd --listen serial:/dev/virtio-ports/org.ferry.0 --root /data --max-chunk 4M
# --chunk-size 4M`, so the host's --chunk-size decides the chunk size in both directions.
# bench_ferry pushes $src to /data/ferry.bin and pulls it back. Seconds are the wall clock of the
# `ferry` process: connect, handshake, transfer, fsync, verdict. Around each transfer the guest
# reports ferryd's CPU ticks and syscall counts (vmf_ctl cpu), kept in $tmp/cpu.txt.
# Result lines "NAME BYTES SECONDS MB/s"; non-zero when a transfer fails or comes back different.
bench_ferry_available() {
	[[ -x "$root/build/ferryd" && -x "$FERRY" ]]
}
# ferry_once push|pull CHUNK REP NAME: one timed transfer, with ferryd's CPU before and after.
ferry_once() {
	local op=$1 chunk=$2 r=$3 name=$4 c0 c1 t secs
	c0=$(vmf_ctl cpu) || return 1
	t=$(vm_now)
	if [[ $op == push ]]; then
		vmf_ferry push --json --chunk-size "$chunk" "$src" ferry.bin
	else
		rm -f "$tmp/ferry.back"
		vmf_ferry pull --json --chunk-size "$chunk" ferry.bin "$tmp/ferry.back"
	fi
	secs=$(vm_elapsed "$t")
	[[ $VMF_RC == 0 ]] || { echo "bench: ferry $op: exit $VMF_RC: $(cat "$tmp/err")" >&2; return 1; }
	c1=$(vmf_ctl cpu) || return 1
	echo "$op $chunk $r $secs $(vmf_json "$tmp/out" 1 mb_per_s) $c0 $c1" >>"$tmp/cpu.txt"
	echo "$name $size $secs $(awk -v n="$size" -v s="$secs" 'BEGIN { printf "%.1f", n / s / 1e6 }')"
}
bench_ferry() {
	local chunk tag r first=1
	for chunk in $chunks; do
		tag=-$chunk
		[[ $first == 1 ]] && tag=
		first=0
		for r in $(seq "$reps"); do
			ferry_once push "$chunk" "$r" "ferry-push$tag" || return 1
			ferry_once pull "$chunk" "$r" "ferry-pull$tag" || return 1
			cmp "$src" "$tmp/ferry.back" >&2 ||
				{ echo "bench: ferry pull: the file came back different" >&2; return 1; }
		done
	done
}

# --------------------------------------------------------------------------------------------------
vm_build
mkdir -p "$root/build/vm"
tmp=$(mktemp -d "$root/build/vm/bench.XXXXXX")
VMF_TMP=$tmp
src=$tmp/src.bin
head -c "$size" /dev/urandom >"$src"
cat "$src" >/dev/null # page-cached on the host

with_ferry=0
bench_ferry_available && with_ferry=1
cat "$bench/guest-job.sh" "$root/tests/vm/jobs/ferryd-serve.sh" >"$tmp/job.sh"

vm_start "$tmp/job.sh" "$size" "$reps" "$with_ferry"
vm_wait_ready
echo "# guest: x86_64 under TCG, ${VM_MEM} MiB, boot to ready ${VM_BOOT_SECS}s; file ${size_mib} MiB"

results=$tmp/results
# (a) raw port: lines "h2g R BYTES SECONDS MB/s" / "g2h R ..."
python3 "$root/tests/vm/portio.py" raw "$VM_DIR/ferry.sock" "$src" "$size" --reps "$reps" \
	--out "$tmp/raw.back" | tee "$tmp/raw.txt"
awk '{ print "raw-" $1, $3, $4, $5 }' "$tmp/raw.txt" >>"$results"
vm_wait_for '^bench: raw done' 30

# (b) ferry
if [[ $with_ferry == 1 ]]; then
	vmf_wait_listening
	# The first file of a boot waits for the guest's CRNG (see test-vm-serial.sh): not timed.
	vmf_ctl cpu >/dev/null
	bench_ferry | tee -a "$results"
else
	echo "# ferry: not measured (build/ferry and build/ferryd are needed: make all)" >&2
fi

# (c) qemu-guest-agent
python3 "$bench/qga-file.py" "$VM_DIR/qga.sock" "$src" /data/qga.bin --chunk "$qga_chunk" \
	--back "$tmp/qga.back" | tee -a "$results"

vm_stop

# Summary: median MB/s per kind, and its ratios to the raw port and to qemu-ga, same direction.
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
		qw = ("qga-write" in seen) ? median("qga-write") : 0
		qr = ("qga-read" in seen) ? median("qga-read") : 0
		printf "%-16s %8s  %-12s %s\n", "# transfer", "MB/s", "vs raw port", "vs qemu-ga (same direction)"
		for (r = 1; r <= m; r++) {
			name = order[r]; x = median(name)
			h = name ~ /h2g|write|push/
			base = h ? h2g : g2h
			q = h ? qw : qr
			vs_raw = sprintf("%.3fx", base > 0 ? x / base : 0)
			vs_qga = q > 0 ? sprintf("%.1fx", x / q) : "-"
			printf "%-16s %8.1f  %-12s %s\n", name, x, vs_raw, vs_qga
		}
	}' "$results"

if [[ -s "$tmp/cpu.txt" ]]; then
	echo
	vm_console | sed -n 's/^bench: cpu //p' >"$tmp/cpu-raw.txt"
	python3 "$bench/cpu-table.py" "$tmp/cpu-raw.txt" "$tmp/cpu.txt"
fi
