#!/bin/bash
# raw-and-qga.sh [SIZE_MIB]: on ONE booted TCG guest, move the same SIZE_MIB (64) MiB file through
# the same virtio-serial port, REPS (3) rounds, alternating in each round:
#  (a) raw port, no protocol: host file -> port -> guest `dd bs=1M` -> tmpfs file ("raw-h2g"), and
#      the same with bench/hashcopy for dd ("hashcopy-h2g"): the same blocks, with ferry's chunk
#      digest of each - what hashing every byte in the guest costs by itself,
#  (b) ferry push of that file for each chunk size in FERRY_CHUNKS (default "1M"),
#  (a) raw port back: guest tmpfs file -> `dd bs=1M` -> port -> host file ("raw-g2h"), and
#      hashcopy ("hashcopy-g2h"),
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
# STRACE=1: after the rounds, one more push and pull (of build a) under `strace -c -f` in the
# guest (the host's strace and its libraries are pushed into the guest first); prints the tables.
# strace slows ferryd down: those transfers are not in the figures.
# PERF=1: likewise, `perf record -a -g` of the whole guest around one raw copy and one ferry transfer
# each way (the host's perf and its libraries pushed into the guest); prints perf report's tables.
# FERRY_B=BUILD_DIR (with its ferry and ferryd) adds, in every round next to each ferry transfer
# (after it in odd rounds, before in even ones), the same transfer by that build (its ferry on the host, its ferryd in the guest, shown
# as CHUNK:b): two builds compared in one run, against the same raw rounds. FERRY_B_ARGS: ferryd
# options for build b only (FERRY_B=BUILD_A FERRY_B_ARGS=--no-io-uring compares an option).
# BENCH_DATA=text|random (random): the file's content (text: /usr/include's tar, repeated).
# The host's files (source, what comes back) are in BENCH_HOST_DIR (/dev/shm): the host's disk and
# ferry's fsync on the host are not what this measures.
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
# Seconds are the wall clock of the `ferry` process: start-up, connect, handshake, transfer, fsync,
# verdict, exit; its own clock (the --json summary's seconds: connect to verdict) is kept too.
ferry_once() {
	local op=$1 chunk=$2 r=$3 tag=$2
	if [[ -n "${FERRY_B:-}" ]] && ((r % 2)); then
		ferry_with a "$op" "$chunk" "$r" "$tag" || return 1
		ferry_with b "$op" "$chunk" "$r" "$tag:b" || return 1
	elif [[ -n "${FERRY_B:-}" ]]; then
		ferry_with b "$op" "$chunk" "$r" "$tag:b" || return 1
		ferry_with a "$op" "$chunk" "$r" "$tag" || return 1
	else
		ferry_with a "$op" "$chunk" "$r" "$tag"
	fi
}

# ferry_with a|b push|pull CHUNK REP TAG: one transfer by build a (FERRY_BUILD, VM_FERRYD) or b.
ferry_with() {
	local which=$1 op=$2 chunk=$3 r=$4 tag=$5 c0 c1 t secs FERRY=$FERRY
	if [[ $which != "$using" ]]; then
		vmf_ctl use "$([[ $which == a ]] && echo ferryd || echo "ferryd-b ${FERRY_B_ARGS:-}")" >/dev/null || return 1
		using=$which
	fi
	[[ $which == b ]] && FERRY=$ferry_b
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
	# ferry's own clock (its --json summary): from before it connects to its end, as portio.py
	# times the raw port from its connection; the wall clock adds ferry's start-up and exit.
	own=$(sed -n 's/.*"kind":"summary".*"seconds":\([0-9.]*\).*/\1/p' "$tmp/out" | tail -n 1)
	# "cpu UTIME STIME SYSCR SYSCW RCHAR WCHAR BUSY IDLE VCSW NVCSW", before and after
	echo "$c0 $c1" | awk -v k="ferry-$op" -v c="$tag" -v r="$r" -v n="$size" -v s="$secs" -v o="${own:-0}" '{
		printf "%s %s %d %d %s %d %d %d %d %d %d %d %d %d %d %s\n", k, c, r, n, s, $13 - $2, $14 - $3,
			$19 - $8, $20 - $9, $15 - $4, $16 - $5, $17 - $6, $18 - $7, $21 - $10, $22 - $11, o }' >>"$rows"
	echo "ferry-$op $tag $r $secs s $(awk -v n="$size" -v s="$secs" 'BEGIN { printf "%.1f", n / s / 1e6 }') MB/s" \
		"(own clock ${own:-?} s)"
}

# raw_once in|out REP [hash]: dd (hash: hashcopy) owns the port in the guest (ferryd stopped),
# portio.py on the host. Seconds (portio.py's own clock, so not python's start-up): from the host's
# connection to the guest's "ok" (in), or to the last byte (out).
raw_once() {
	local dir=$1 r=$2 how=${3:-} out line secs u s busy idle kind=raw
	[[ $how == hash ]] && kind=hashcopy
	vmf_ctl_start raw "$dir" raw.bin "$size" $how || return 1
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
	read -r _ u s busy idle <<<"$(grep '^raw ' <<<"$out")"
	if [[ $dir == in ]]; then
		[[ "$(sed -n 's/^sha256 //p' <<<"$out")" == "$src_sha" ]] ||
			{ echo "bench: $kind in: the guest got different bytes" >&2; return 1; }
		echo "$kind-h2g - $r $size $secs $u $s $busy $idle" >>"$rows"
	else
		cmp "$src" "$tmp/raw.back" >&2 || { echo "bench: $kind out: the file came back different" >&2; return 1; }
		echo "$kind-g2h - $r $size $secs $u $s $busy $idle" >>"$rows"
	fi
	echo "$kind-$dir $r $secs s $(awk -v n="$size" -v s="$secs" 'BEGIN { printf "%.1f", n / s / 1e6 }') MB/s"
}

# One round: raw and ferry alternate, each direction; odd rounds put raw first.
bench_round() {
	local r=$1 c dir op
	for dir in in out; do
		[[ $dir == in ]] && op=push || op=pull
		if ((r % 2)); then
			raw_once "$dir" "$r" || return 1
			raw_once "$dir" "$r" hash || return 1
			for c in $chunks; do ferry_once "$op" "$c" "$r" || return 1; done
		else
			for c in $chunks; do ferry_once "$op" "$c" "$r" || return 1; done
			raw_once "$dir" "$r" hash || return 1
			raw_once "$dir" "$r" || return 1
		fi
	done
}

# --------------------------------------------------------------------------------------------------
VM_FERRYD=${VM_FERRYD:-$root/build/ferryd}
[[ -x "$VM_FERRYD" && -x "$FERRY" ]] ||
	{ echo "bench: $VM_FERRYD and $FERRY are needed (make all; FERRY_BUILD, VM_FERRYD)" >&2; exit 1; }
hashcopy=$FERRY_BUILD/bench/hashcopy.static
[[ -x $hashcopy ]] || { echo "bench: $hashcopy is needed (make all)" >&2; exit 1; }
VM_BINS="${VM_BINS-} $hashcopy"
using=a
ferry_b=
if [[ -n "${FERRY_B:-}" ]]; then
	case "$FERRY_B" in /*) ;; *) FERRY_B=$root/$FERRY_B ;; esac
	ferry_b=$FERRY_B/ferry
	[[ -x $ferry_b && -x $FERRY_B/ferryd ]] || { echo "bench: FERRY_B: no ferry and ferryd in $FERRY_B" >&2; exit 1; }
fi
host_dir=${BENCH_HOST_DIR:-/dev/shm}
[[ -d $host_dir && -w $host_dir ]] || host_dir=$root/build/vm
mkdir -p "$root/build/vm"
tmp=$(mktemp -d "$host_dir/ferry-vm-bench.XXXXXX")
if [[ -n "$ferry_b" ]]; then
	cp "$FERRY_B/ferryd" "$tmp/ferryd-b.static" # /bin/ferryd-b in the guest
	VM_BINS="${VM_BINS-} $tmp/ferryd-b.static"
	VM_OUT=${VM_OUT%/}-ab # not the cached one-build guest
fi
vm_build
VMF_TMP=$tmp
src=$tmp/src.bin
# BENCH_DATA=text: a tar of /usr/include, repeated to the size (zstd -1 shrinks it ~5x) - with
# FERRY_B=the same build FERRY_B_ARGS="--compress off", compression on against off in one run.
if [[ ${BENCH_DATA:-random} == text ]]; then
	tar cf - -C /usr/include . 2>/dev/null >"$tmp/corpus.tar"
	while (($(stat -c %s "$src" 2>/dev/null || echo 0) < size)); do cat "$tmp/corpus.tar" >>"$src"; done
	truncate -s "$size" "$src"
	rm -f "$tmp/corpus.tar"
else
	head -c "$size" /dev/urandom >"$src"
fi
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

# push_tool NAME DIR: the host's program NAME with its shared libraries and loader (DIR/ld.so) into
# the guest's /data/DIR, where the job's strace and perf commands run them from.
push_tool() {
	local prog lib
	prog=$(command -v "$1") || { echo "# $1: not installed on the host" >&2; return 1; }
	mkdir -p "$tmp/$2"
	cp "$prog" "$tmp/$2/$1"
	ldd "$prog" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
		case "$lib" in */ld-linux*) cp -L "$lib" "$tmp/$2/ld.so" ;; *) cp -L "$lib" "$tmp/$2/" ;; esac
	done
	vmf_ferry push "$tmp/$2" . || { echo "bench: pushing $1 failed: $(cat "$tmp/err")" >&2; return 1; }
}

# strace_round: syscalls of ferryd in the guest for one push and one pull (STRACE=1).
strace_round() {
	local op
	push_tool strace st || return 0
	local which
	for which in a ${FERRY_B:+b}; do
	if [[ $which != "$using" ]]; then
		vmf_ctl use "$([[ $which == a ]] && echo ferryd || echo "ferryd-b ${FERRY_B_ARGS:-}")" >/dev/null || return 1
		using=$which
	fi
	for op in push pull; do
		[[ $op == push ]] && { vmf_ctl rm ferry.bin >/dev/null || return 1; }
		vmf_ctl strace on st >/dev/null || return 1
		if [[ $op == push ]]; then
			vmf_ferry push --chunk-size "${chunks%% *}" "$src" ferry.bin
		else
			rm -f "$tmp/ferry.back"
			vmf_ferry pull --chunk-size "${chunks%% *}" ferry.bin "$tmp/ferry.back"
		fi
		[[ $VMF_RC == 0 ]] || { echo "bench: ferry $op under strace: exit $VMF_RC: $(cat "$tmp/err")" >&2; return 1; }
		echo "# strace -c -f of ferryd (build $which), ferry $op of ${size_mib} MiB, chunk ${chunks%% *} (the"
		echo "# control command's own session is in it too)"
		vmf_ctl strace off | sed 's/^/#   /'
	done
	done
}
[[ ${STRACE:-0} == 1 ]] && { strace_round || exit 1; }

# perf_names BINARY: perf in the guest leaves the static ferryd's own code as "[.] 0xOFFSET" (an
# offset into its first mapping, at 0x400000): name those with the host's addr2line.
perf_names() {
	local line addr fn
	while IFS= read -r line; do
		if [[ $line =~ \[\.\]\ 0x([0-9a-f]+) ]] && command -v addr2line >/dev/null; then
			addr=$(printf '0x%x' $((0x${BASH_REMATCH[1]} + 0x400000)))
			fn=$(addr2line -f -e "$1" "$addr" | head -n 1)
			line=${line/0x${BASH_REMATCH[1]}/$fn}
		fi
		printf '%s\n' "$line"
	done
}

# perf_round: where the guest's CPU goes (PERF=1): `perf record -a -g` of the whole guest around one
# raw copy and one ferry transfer (build a) each way; prints perf report by command and symbol.
perf_round() {
	local dir op rows=$tmp/perf-rows # (dynamic scope: not in the figures)
	push_tool perf pf || return 0
	if [[ $using != a ]]; then
		vmf_ctl use ferryd >/dev/null || return 1
		using=a
	fi
	for dir in in out; do
		[[ $dir == in ]] && op=push || op=pull
		vmf_ctl perf on pf >/dev/null || return 1
		raw_once "$dir" perf >/dev/null || return 1
		echo "# perf: raw-$dir (the guest's dd), ${size_mib} MiB"
		vmf_ctl perf off dd | sed 's/^/#   /'
		vmf_ctl perf on pf >/dev/null || return 1
		ferry_with a "$op" "${chunks%% *}" perf "${chunks%% *}" >/dev/null || return 1
		echo "# perf: ferry $op (ferryd), ${size_mib} MiB, chunk ${chunks%% *} (the control commands too)"
		vmf_ctl perf off | perf_names "$VM_FERRYD" | sed 's/^/#   /'
	done
}
[[ ${PERF:-0} == 1 ]] && { perf_round || exit 1; }

# (c) qemu-guest-agent: "qga-write|qga-read BYTES SECONDS MB/s"
if [[ $with_qga == 1 ]]; then
	python3 "$bench/qga-file.py" "$VM_DIR/qga.sock" "$src" /data/qga.bin --chunk "$qga_chunk" \
		--back "$tmp/qga.back" | tee -a "$results"
fi

vm_stop

echo
echo "# rows (KIND CHUNK R BYTES WALL_S USER SYS BUSY IDLE [SYSCR SYSCW RCHAR WCHAR VCSW NVCSW OWN_S]; ticks, 10 ms):"
sed 's/^/#   /' "$rows"
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
