#!/bin/bash
# raw-and-qga.sh [SIZE_MIB]: on ONE booted TCG guest, move the same SIZE_MIB (64) MiB file through
# the same virtio-serial port, REPS (3) rounds, alternating in each round:
#  (a) raw port, no protocol: host file -> port -> guest `dd bs=1M` -> tmpfs file ("raw-h2g"),
#  (b) ferry push of that file for each chunk size in FERRY_CHUNKS (default "1M"),
#  (a) raw port back: guest tmpfs file -> `dd bs=1M` -> port -> host file ("raw-g2h"),
#  (b) ferry pull for each chunk size (verification always on);
#  (c) then, unless QGA=0, qemu-guest-agent guest-file-write / guest-file-read (QGA_CHUNK_MIB, 4).
# Odd rounds run raw first, even rounds ferry first. During a raw round ferryd is stopped and dd owns
# the port (ferryd-serve.sh's "raw" command).
# Prints MB/s for each, the ratios to the raw port and qemu-ga in the same direction, and the guest
# CPU per byte (cpu-table.py): user and system seconds per GiB of the raw dd and of ferryd (from
# /proc/PID/stat in the guest), their ratio, and ferryd's port calls and context switches per MiB.
# A benchmark, not a test: it exits non-zero only when a transfer fails or comes back corrupted.
#
# Builds: FERRY_BUILD (host's ferry, default build), VM_FERRYD (the guest's ferryd, default
# build/ferryd), e.g.
#   FERRY_BUILD=build/me VM_FERRYD=$PWD/build/me/ferryd VM_FERRY=$PWD/build/me/ferry.static \
#     QGA=0 bench/vm/raw-and-qga.sh 64
# The guest is built in VM_OUT (default build/vm/guest; cached by content, so builds alternate).
#
# Memory state: the guest's /data tmpfs pages are fresh (first touch) in the first round and
# recycled after; the host files are page-cached. Figures are noisy on a shared machine (TCG: the
# guest's CPU is the bottleneck): compare within one run, and say the host's load.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bench=$root/bench/vm
with_qga=${QGA:-1}
VM_QGA=$with_qga
VM_MEM=${VM_MEM:-1024} # qemu-ga's 48 MiB reads need a few hundred MiB in the guest
# shellcheck source=tests/vm/lib.sh
. "$root/tests/vm/lib.sh"
# shellcheck source=tests/vm/ferry-lib.sh
. "$root/tests/vm/ferry-lib.sh"

size_mib=${1:-${SIZE_MIB:-64}}
size=$((size_mib << 20))
reps=${REPS:-3}
qga_chunk=${QGA_CHUNK_MIB:-4}
chunks=${FERRY_CHUNKS:-1M}

vm_require_qemu

tmp=
cleanup() {
	local rc=$?
	vm_cleanup "$rc" || true
	[[ -z "$tmp" ]] || rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT

# ferry_once push|pull CHUNK REP: one timed transfer, with ferryd's CPU before and after.
# Seconds are the wall clock of the `ferry` process: connect, handshake, transfer, fsync, verdict.
ferry_once() {
	local op=$1 chunk=$2 r=$3 c0 c1 t secs
	# A push onto an identical file would be skipped: start from nothing.
	[[ $op == push ]] && { vmf_ctl rm ferry.bin >/dev/null || return 1; }
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
	if [[ $op == pull ]] && ! cmp "$src" "$tmp/ferry.back" >&2; then
		echo "bench: ferry pull: the file came back different" >&2
		return 1
	fi
	# "cpu UTIME STIME SYSCR SYSCW RCHAR WCHAR BUSY IDLE VCSW NVCSW", before and after
	echo "$c0 $c1" | awk -v k="ferry-$op" -v c="$chunk" -v r="$r" -v n="$size" -v s="$secs" '{
		printf "%s %s %d %d %s %d %d %d %d %d %d %d %d\n", k, c, r, n, s,
			$13 - $2, $14 - $3, $15 - $4, $16 - $5, $17 - $6, $18 - $7, $21 - $10, $22 - $11 }' >>"$rows"
	echo "ferry-$op $chunk $r $secs s $(awk -v n="$size" -v s="$secs" 'BEGIN { printf "%.1f", n / s / 1e6 }') MB/s"
}

# raw_once in|out REP: dd owns the port in the guest (ferryd stopped), portio.py on the host.
# Seconds (portio.py's own clock, so not python's start-up): from the host's connection to the
# guest's "ok" (in), or to the last byte (out).
raw_once() {
	local dir=$1 r=$2 out line secs u s
	vmf_ctl_start raw "$dir" raw.bin "$size" || return 1
	vm_wait_for "^raw: ready $VMF_CTL_N\$" 60 || return 1
	if [[ $dir == in ]]; then
		line=$(python3 "$root/tests/vm/portio.py" send "$VM_DIR/ferry.sock" "$src" "$size") ||
			return 1
	else
		line=$(python3 "$root/tests/vm/portio.py" recv --linger 0 "$VM_DIR/ferry.sock" \
			"$tmp/raw.back" "$size") || return 1
	fi
	secs=$(awk '{ print $4 }' <<<"$line") # "send|recv 1 BYTES SECONDS MB/s"
	out=$(vmf_ctl_wait) || return 1
	read -r _ u s <<<"$(grep '^raw ' <<<"$out")"
	if [[ $dir == in ]]; then
		[[ "$(sed -n 's/^sha256 //p' <<<"$out")" == "$src_sha" ]] ||
			{ echo "bench: raw in: the guest got different bytes" >&2; return 1; }
		echo "raw-h2g - $r $size $secs $u $s" >>"$rows"
	else
		cmp "$src" "$tmp/raw.back" >&2 || { echo "bench: raw out: the file came back different" >&2; return 1; }
		echo "raw-g2h - $r $size $secs $u $s" >>"$rows"
	fi
	echo "raw-$dir $r $secs s $(awk -v n="$size" -v s="$secs" 'BEGIN { printf "%.1f", n / s / 1e6 }') MB/s"
}

# One round: raw and ferry alternate, each direction; odd rounds put raw first.
bench_round() {
	local r=$1 c dir op
	for dir in in out; do
		[[ $dir == in ]] && op=push || op=pull
		if ((r % 2)); then
			raw_once "$dir" "$r" || return 1
			for c in $chunks; do ferry_once "$op" "$c" "$r" || return 1; done
		else
			for c in $chunks; do ferry_once "$op" "$c" "$r" || return 1; done
			raw_once "$dir" "$r" || return 1
		fi
	done
}

# --------------------------------------------------------------------------------------------------
VM_FERRYD=${VM_FERRYD:-$root/build/ferryd}
[[ -x "$VM_FERRYD" && -x "$FERRY" ]] ||
	{ echo "bench: $VM_FERRYD and $FERRY are needed (make all; FERRY_BUILD, VM_FERRYD)" >&2; exit 1; }
vm_build
mkdir -p "$root/build/vm"
tmp=$(mktemp -d "$root/build/vm/bench.XXXXXX")
VMF_TMP=$tmp
src=$tmp/src.bin
head -c "$size" /dev/urandom >"$src"
cat "$src" >/dev/null # page-cached on the host
src_sha=$(sha256sum <"$src" | cut -d' ' -f1)
rows=$tmp/rows
results=$tmp/results

cat "$bench/guest-job.sh" "$root/tests/vm/jobs/ferryd-serve.sh" >"$tmp/job.sh"
vm_start "$tmp/job.sh"
vm_wait_ready
echo "# guest: x86_64 under TCG, ${VM_MEM} MiB, boot to ready ${VM_BOOT_SECS}s; file ${size_mib} MiB;" \
	"host load: $(cut -d' ' -f1-3 /proc/loadavg)"
vmf_wait_listening
# The first file of a boot waits for the guest's CRNG (see test-vm-serial.sh): not timed.
vmf_ctl cpu >/dev/null

# (a) and (b), alternating
for r in $(seq "$reps"); do
	bench_round "$r"
done
echo "# host load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# (c) qemu-guest-agent: "qga-write|qga-read BYTES SECONDS MB/s"
if [[ $with_qga == 1 ]]; then
	python3 "$bench/qga-file.py" "$VM_DIR/qga.sock" "$src" /data/qga.bin --chunk "$qga_chunk" \
		--back "$tmp/qga.back" | tee -a "$results"
fi

vm_stop

echo
python3 "$bench/cpu-table.py" "$rows"
if [[ -s "$results" ]]; then
	# qemu-ga against the raw port and ferry (median MB/s, same direction)
	awk '$1 ~ /^(raw|ferry)-/ && ($2 == "-" || $2 == c) { print $1, $4 / $5 / 1e6 }' \
		c="${chunks%% *}" "$rows" >>"$results.mbps"
	awk '{ print $1, $4 }' "$results" >>"$results.mbps"
	echo
	awk '
		function median(key,   n, p, q, t, arr) {
			n = split(v[key], arr, " ")
			for (p = 1; p <= n; p++)
				for (q = p + 1; q <= n; q++)
					if (arr[q] + 0 < arr[p] + 0) { t = arr[p]; arr[p] = arr[q]; arr[q] = t }
			return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
		}
		{ v[$1] = v[$1] " " $2; if (!($1 in seen)) { seen[$1] = 1; order[++m] = $1 } }
		END {
			qw = median("qga-write"); qr = median("qga-read")
			printf "%-16s %8s  %s\n", "# transfer", "MB/s", "vs qemu-ga (same direction)"
			for (r = 1; r <= m; r++) {
				name = order[r]; x = median(name)
				q = name ~ /h2g|write|push/ ? qw : qr
				printf "%-16s %8.1f  %s\n", name, x, q > 0 ? sprintf("%.1fx", x / q) : "-"
			}
		}' "$results.mbps"
fi
