#!/usr/bin/env bash
# bench/vm/impact.sh [BUILD_DIR] — bench/impact.sh's comparison inside the QEMU test guest: what
# receiving a large file does to the guest (dirty memory, another program's fdatasync latency,
# wake-up lateness, the copier's CPU), for a raw byte stream through the virtio-serial port (dd,
# and dd | tar x) and for ferry push with ferryd's budgets on and off.
#
# One TCG guest (tests/vm/lib.sh) with VM_MEM (2048) MiB and a fresh sparse ext4 image on
# virtio-blk (cache=none), mounted on /disk; ferryd serves /disk. The guest half,
# bench/vm/impact-job.sh, runs the probes (build/bench/probe.static as /bin/probe) and drives the
# order; this side sends the data and prints the table. See bench/README.md ("vm/impact.sh").
#
# A benchmark, not a test: it prints figures, ratios and the issue's targets and exits 0 whatever
# they are; non-zero only when a copy or a tool fails outright (77: QEMU cannot start).
#
# Environment:
#   IMPACT_SIZE    bytes per copy (default 512M; K/M/G suffixes)
#   IMPACT_RUNS    rounds; every method once per round, samples pooled (default 3)
#   IMPACT_IDLE    seconds of the idle baseline (default 10: ~100 fsync samples a round)
#   IMPACT_SETTLE  seconds the guest waits after deleting and syncing the last destination (1)
#   IMPACT_RATE    the --max-rate of the rate-limited ferry row (default 50M)
#   IMPACT_METHODS the rows (default "dd tar ferry ferry_rate ferry_off"; idle always runs;
#                  also ferry_direct)
#   IMPACT_DISK    size of the guest's ext4 image (default 2 x size + 1G, at least 2G; sparse)
#   VM_MEM         guest RAM in MiB (default here 2048); other VM_* as in tests/vm/lib.sh
set -u -o pipefail
# shellcheck disable=SC2034 # read by lib.sh
BENCH_NAME=vm-impact
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$here/../lib.sh"
VM_MEM=${VM_MEM:-2048}
# shellcheck source=tests/vm/lib.sh
. "$here/../../tests/vm/lib.sh"
export LC_ALL=C

BUILD=$(realpath -m "${1:-build}")
FERRY=$BUILD/ferry
RUNS=${IMPACT_RUNS:-3}
IDLE=${IMPACT_IDLE:-10}
SETTLE=${IMPACT_SETTLE:-1}
RATE_ARG=${IMPACT_RATE:-50M}

for b in "$FERRY" "$BUILD/ferryd" "$BUILD/bench/probe.static"; do
	[[ -x $b ]] || die "'$b' is missing; run 'make all' first"
done
for t in python3 tar mkfs.ext4 truncate numfmt; do
	command -v "$t" >/dev/null || die "'$t' is not installed"
done
SIZE=$(numfmt --from=iec "${IMPACT_SIZE:-512M}") || die "bad IMPACT_SIZE '${IMPACT_SIZE}'"
RATE=$(numfmt --from=iec "$RATE_ARG") || die "bad IMPACT_RATE '$RATE_ARG'"
((SIZE >= 16 << 20)) || die "IMPACT_SIZE must be at least 16M"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "bad IMPACT_RUNS '$RUNS'"
[[ $SETTLE =~ ^[0-9]+$ ]] || die "bad IMPACT_SETTLE '$SETTLE'"
[[ $IDLE =~ ^[1-9][0-9]*$ ]] || die "bad IMPACT_IDLE '$IDLE'"
[[ $VM_MEM =~ ^[0-9]+$ ]] || die "bad VM_MEM '$VM_MEM' (MiB)"
DISK=$((SIZE * 2 + (1 << 30)))
((DISK >= 2 << 30)) || DISK=$((2 << 30))
[[ -z ${IMPACT_DISK:-} ]] || DISK=$(numfmt --from=iec "$IMPACT_DISK") || die "bad IMPACT_DISK '$IMPACT_DISK'"
((DISK >= SIZE + (256 << 20))) || die "IMPACT_DISK must be at least the size + 256M"
ALL_METHODS=(dd tar ferry ferry_rate ferry_direct ferry_off)
read -r -a METHODS <<<"${IMPACT_METHODS:-dd tar ferry ferry_rate ferry_off}"
for m in "${METHODS[@]}"; do
	[[ " ${ALL_METHODS[*]} " == *" $m "* ]] || die "IMPACT_METHODS: unknown method '$m' (${ALL_METHODS[*]})"
done

vm_require_qemu

# The guest: the same binaries the VM tests use (so the cached guest serves both), plus the probe.
# shellcheck disable=SC2034 # read by vm_build
VM_FERRYD=$BUILD/ferryd VM_BINS=$BUILD/bench/probe.static
# shellcheck disable=SC2034
[[ -x $BUILD/ferry.static ]] && VM_FERRY=$BUILD/ferry.static

mkdir -p "$FERRY_ROOT/build/vm"
W=$(mktemp -d "$FERRY_ROOT/build/vm/impact.XXXXXX") || die "cannot create a work directory"
cleanup() {
	local rc=$?
	vm_cleanup "$rc" >/dev/null 2>&1 || true
	[[ -z ${VM_DIR:-} || ! -d $VM_DIR ]] || echo "vm-impact: guest console kept in $VM_DIR" >&2
	rm -rf "$W"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

avail=$(df -B1 --output=avail "$W" | tail -1)
((avail > SIZE + DISK + (256 << 20))) ||
	die "$W has $(numfmt --to=iec "$avail") free; the source and the (sparse) image may need $(numfmt --to=iec $((SIZE + DISK)))"

t_all=$EPOCHREALTIME
# A private copy: a concurrent 'make' must not swap the binary in the middle of a run (the guest's
# are packed into its initramfs).
cp "$FERRY" "$W/ferry" || die "cannot copy $FERRY"
FERRY=$W/ferry
vm_build >/dev/null 2>"$W/build.log" || { cat "$W/build.log" >&2; die "building the guest failed"; }
SRC=$W/src.bin
echo "vm-impact: preparing $(numfmt --to=iec "$SIZE") of random data and a $(numfmt --to=iec "$DISK") ext4 image in $W" >&2
head -c "$SIZE" /dev/urandom >"$SRC" || die "cannot write $SRC"
cat "$SRC" >/dev/null # page-cached on the host
TARBYTES=$(tar c -C "$W" src.bin | wc -c) || die "tar c"
truncate -s "$DISK" "$W/disk.img" || die "cannot create $W/disk.img"
# No lazy init: the guest's ext4lazyinit would otherwise zero inode tables while we measure.
mkfs.ext4 -F -q -E lazy_itable_init=0,lazy_journal_init=0 "$W/disk.img" || die "mkfs.ext4 failed"

# shellcheck disable=SC2034 # read by vm_start
VM_DISK=$W/disk.img
vm_start "$here/impact-job.sh" "$SIZE" "$TARBYTES" "$RUNS" "$IDLE" "$SETTLE" "${METHODS[@]}" ||
	die "cannot start QEMU"
vm_wait_ready || die "the guest did not boot"
vm_wait_for '^impact: (info|FAIL)' 120 || die "the guest job did not start"
info=$(vm_console | sed -n 's/^impact: info //p')
[[ -n $info ]] || die "guest: $(vm_console | sed -n 's/^impact: FAIL: //p')"

SOCK=$VM_DIR/ferry.sock
PORTIO=$FERRY_ROOT/tests/vm/portio.py
# A step may take this long: a copy at 5 MB/s, the settle time and slack.
STEP_SECS=$((SIZE / 5000000 + SETTLE + 60))

# console_line REGEX: the first console line that matches.
console_line() { vm_console | grep -E -m 1 -- "$1"; }

# The copies set SECS and return non-zero when they failed (counted and recorded as KEY.fail).
# ferry_copy STEP KEY [ferry push options...]: the ferry process's wall time; records its --json
# figures.
ferry_copy() {
	local step=$1 key=$2 t0 t1 rc=0
	shift 2
	t0=$EPOCHREALTIME
	"$FERRY" push --to "serial:$SOCK" --json --no-progress "$@" "$SRC" dest.bin >"$W/json" 2>"$W/err" || rc=$?
	t1=$EPOCHREALTIME
	if ((rc != 0)); then
		fail "ferry push ($key, step $step): exit $rc: $(head -c 500 "$W/err")"
		rec "$key.fail" 1
		# The guest waits for the file or for this marker.
		: >"$W/fail-mark"
		"$FERRY" push --to "serial:$SOCK" -q --timeout 20 "$W/fail-mark" ".fail.$step" ||
			die "cannot tell the guest that step $step failed"
		return 1
	fi
	rec "$key.fdirty" "$(awk -v b="$(jnum dirty_peak_bytes "$W/json")" 'BEGIN { printf "%.0f", b / 1048576 }')"
	rec "$key.wb" "$(jnum receiver_writeback "$W/json")"
	rec "$key.psi" "$(jnum receiver_pressure "$W/json")"
	rec "$key.rl" "$(jnum rate_limit "$W/json")"
	SECS=$(elapsed "$t0" "$t1")
}

# raw_copy STEP KEY FILE|- BYTES: portio.py send, from its connection to the guest's "ok".
raw_copy() {
	local out
	if ! out=$(python3 "$PORTIO" --timeout "$STEP_SECS" send "$SOCK" "$3" "$4" 2>"$W/err"); then
		fail "$2 (step $1): $(cat "$W/err")"
		rec "$2.fail" 1
		return 1
	fi
	SECS=$(awk '{ print $4 }' <<<"$out")
}

# --- the steps, in the order the guest runs them -------------------------------------------------
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
bench_start=$EPOCHREALTIME
step=1
while :; do
	vm_wait_for "^impact: (go $step |samples |FAIL)" "$STEP_SECS" || die "the guest stopped (step $step)"
	line=$(console_line "^impact: (go $step |samples |FAIL)")
	read -r _ what _ key round <<<"$line"
	[[ $what == FAIL: ]] && die "guest: ${line#impact: FAIL: }"
	[[ $what == samples ]] && break
	echo "vm-impact: round $round/$RUNS: $key" >&2
	SECS=$IDLE ok=1
	case $key in
	idle) ;;
	dd) raw_copy "$step" dd "$SRC" "$SIZE" || ok=0 ;;
	tar) raw_copy "$step" tar - "$TARBYTES" < <(tar c -C "$W" src.bin) || ok=0 ;;
	ferry) ferry_copy "$step" ferry || ok=0 ;;
	ferry_rate) ferry_copy "$step" ferry_rate --max-rate "$RATE_ARG" || ok=0 ;;
	ferry_direct) ferry_copy "$step" ferry_direct || ok=0 ;;
	ferry_off) ferry_copy "$step" ferry_off || ok=0 ;;
	*) die "the guest runs an unknown method '$key'" ;;
	esac
	vm_wait_for "^impact: (done $step |FAIL)" "$STEP_SECS" || die "the guest did not finish step $step"
	line=$(console_line "^impact: (done $step |FAIL)")
	[[ $line == "impact: FAIL"* ]] && die "guest: ${line#impact: FAIL: }"
	# "impact: done STEP KEY ROUND TICKS BUSY IDLE" (ticks: 100/s)
	read -r _ _ _ _ _ ticks busy gidle <<<"$line"
	if ((ok)); then
		[[ $key != idle ]] && rec "$key.mbps" "$(awk -v n="$SIZE" -v s="$SECS" 'BEGIN { printf "%.0f", n / s / 1e6 }')"
		rec "$key.cpu" "$(awk -v c="$ticks" -v s="$SECS" 'BEGIN { printf "%.0f", c / s }')"
		rec "$key.gcpu" "$(awk -v b="$busy" -v i="$gidle" 'BEGIN { printf "%.0f", (b + i > 0) ? 100 * b / (b + i) : 0 }')"
	fi
	step=$((step + 1))
done
bench_end=$EPOCHREALTIME

# The probes' samples: a tar on the port, then the guest powers off.
nbytes=${line##* }
mkdir -p "$W/p"
python3 "$PORTIO" recv "$SOCK" "$W/samples.tar" "$nbytes" >/dev/null || die "cannot fetch the samples"
tar x -C "$W/p" -f "$W/samples.tar" || die "the samples do not unpack"
rc=0
vm_wait_exit 60 || rc=$?
((rc == 0)) || die "the guest job exited $rc"

# --- report --------------------------------------------------------------------------------------
# pct FILES Q: the Q quantile (nearest rank) of the samples in FILES, in ms.
count() { cat "$@" | wc -l; }
first_mib() { local f v=""; for f in "$@"; do v+="$(head -1 "$f") "; done; tr ' ' '\n' <<<"$v" | sed '/^$/d' | sort -n | awk '{ a[NR] = $1 } END { printf "%.0f", NR ? a[int((NR + 1) / 2)] / 1024 : 0 }'; }

if vm_console | grep -q '^impact: ferryd-def.log: .*RWF_DONTCACHE.*unavailable'; then
	upath="buffered under the dirty budget (RWF_DONTCACHE unavailable in this kernel)"
elif vm_console | grep -q '^impact: ferryd-def.log: '; then
	upath="uncached (RWF_DONTCACHE)"
else
	upath="-"
fi
vm_console | grep -q '^impact: ferryd-direct.log: .*O_DIRECT refused' && dpath=" (ferryd --direct: O_DIRECT refused, it wrote buffered)"

declare -A LABEL=(
	[idle]="idle (no copy, ${IDLE}s)" [dd]="port > dd + fsync" [tar]="port > dd | tar x + sync"
	[ferry]="ferry defaults" [ferry_rate]="ferry push --max-rate $RATE_ARG" [ferry_direct]="ferryd --direct"
	[ferry_off]="ferry, budgets off")
ROWS=(idle "${METHODS[@]}")

echo
echo "ferry impact inside the QEMU test guest: $(numfmt --to=iec "$SIZE") from the host's page cache -> ext4 on virtio-blk (cache=none); $RUNS round(s), probe samples pooled"
echo "guest (TCG, boot ${VM_BOOT_SECS}s): $info"
echo "host: $(nproc) CPUs, load average at start $load_start (>1: others share the CPUs that emulate the guest)"
echo "each copy starts ${SETTLE}s after the previous destination was deleted and synced; every copy is synced before its clock stops"
echo "ferry defaults wrote ${upath}${dpath:-}"
echo "probes in the guest, each its own process: Dirty+Writeback every 20 ms; 4 KiB pwrite+fdatasync every 100 ms on /disk; 10 ms sleep loop"
echo
printf '%-28s %6s %13s %21s %8s %5s %6s %10s %10s\n' "method" "MB/s" "dirty MiB" "fdatasync ms" "wake ms" "CPU" "guest" "fsync p99" "wake p99"
printf '%-28s %6s %6s %6s %6s %7s %7s %8s %5s %6s %10s %10s\n' "" "" "peak" "start" "p50" "p99" "max" "p99" "%" "%" "/ idle" "/ idle"
idle_f=$(pct 0.99 "$W"/p/idle.*.fsync) idle_w=$(pct 0.99 "$W"/p/idle.*.wake)
for k in "${ROWS[@]}"; do
	f=("$W"/p/"$k".*.fsync) w=("$W"/p/"$k".*.wake) dirty=("$W"/p/"$k".*.dirty)
	[[ -e ${f[0]} ]] || continue
	p99f=$(pct 0.99 "${f[@]}") p99w=$(pct 0.99 "${w[@]}")
	R[$k.dirty]=$(peak_mib "${dirty[@]}") R[$k.p99f]=$p99f R[$k.p99w]=$p99w
	R[$k.nf]=$(count "${f[@]}") R[$k.nw]=$(count "${w[@]}")
	printf '%-28s %6s %6s %6s %6s %7s %7s %8s %5s %6s %10s %10s%s\n' "${LABEL[$k]}" "$(median "$k.mbps")" "${R[$k.dirty]}" \
		"$(first_mib "${dirty[@]}")" "$(pct 0.5 "${f[@]}")" "$p99f" "$(pct 1 "${f[@]}")" "$p99w" \
		"$(median "$k.cpu")" "$(median "$k.gcpu")" "$(ratio "$p99f" "$idle_f")" "$(ratio "$p99w" "$idle_w")" "$(nfail "$k")"
done
echo "  (MB/s: median of the rounds, host wall time from the first byte to the synced file (ferry: the whole"
echo "   ferry process); dirty: the guest's Dirty+Writeback, the highest sample of all rounds, and the median"
echo "   first sample; latencies: quantiles of all rounds' samples; CPU: % of one guest CPU over the copy for"
echo "   the copier (dd; dd + tar; ferryd), guest: the whole guest busy (kernel work, probes, the console),"
printf '   samples per method: fsync %s..%s, wake %s..%s)\n' \
	"$(for k in "${ROWS[@]}"; do echo "${R[$k.nf]:-0}"; done | sort -n | head -1)" \
	"$(for k in "${ROWS[@]}"; do echo "${R[$k.nf]:-0}"; done | sort -n | tail -1)" \
	"$(for k in "${ROWS[@]}"; do echo "${R[$k.nw]:-0}"; done | sort -n | head -1)" \
	"$(for k in "${ROWS[@]}"; do echo "${R[$k.nw]:-0}"; done | sort -n | tail -1)"
if ((${R[idle.dirty]:-0} > 16)) || awk -v a="$idle_f" 'BEGIN { exit !(a > 5) }'; then
	echo "  WARNING: the guest was not idle: ${R[idle.dirty]} MiB dirty and fdatasync p99 $idle_f ms with no copy running."
	echo "  (cache=none: a guest fdatasync is an fdatasync of the image on the host's disk, so the host's own"
	echo "  writes show up here.)  Rerun when it is quiet."
fi
echo

off_mbps=$(median ferry_off.mbps)
printf '%-28s %16s %16s %16s %22s\n' "targets (issue)" "peak dirty MiB" "fsync p99/idle" "wake p99/idle" "MB/s / budgets off"
printf '%-28s %16s %16s %16s %22s\n' "" "<= 64" "<= 3" "<= 2" ">= 0.8"
for k in ferry ferry_rate ferry_direct; do
	ran "$k" || continue
	d=${R[$k.dirty]:--} fr=$(ratio "${R[$k.p99f]:--}" "$idle_f") wr=$(ratio "${R[$k.p99w]:--}" "$idle_w")
	if [[ $k == ferry_rate ]]; then
		tr_=$(ratio "$(median "$k.mbps")" "$(awk -v r="$RATE" 'BEGIN { printf "%.0f", r / 1e6 }')")
		tcell="$tr_ of limit $(yn "$tr_" ">=" 0.8)"
	else
		tr_=$(ratio "$(median "$k.mbps")" "$off_mbps")
		tcell="$tr_ $(yn "$tr_" ">=" 0.8)"
	fi
	printf '%-28s %16s %16s %16s %22s\n' "${LABEL[$k]}" "$d $(yn "$d" "<=" 64)" "$fr $(yn "$fr" "<=" 3)" \
		"$wr $(yn "$wr" "<=" 2)" "$tcell"
done
for k in dd tar ferry_off; do
	ran "$k" && printf '%-28s %16s\n' "${LABEL[$k]}" "${R[$k.dirty]:--}"
done
echo "  (the raw copies and budgets off are the issue's counter-examples: their peaks should be far above 64 MiB)"
ran ferry_rate && echo "  (--max-rate is held to its limit, $(numfmt --to=iec "$RATE")/s, not to budgets off)"
echo

echo "ferry's own view (medians, from --json): the receiver's dirty peak for the file and what the sender waited on"
printf '%-28s %12s %14s %12s %12s\n' "" "dirty MiB" "writeback s" "pressure s" "rate s"
for k in ferry ferry_rate ferry_direct ferry_off; do
	ran "$k" || continue
	fd=$(median "$k.fdirty")
	[[ $k == ferry_off || $k == ferry_direct ]] && fd="-" # no budget to track (0 / O_DIRECT)
	printf '%-28s %12s %14s %12s %12s\n' "${LABEL[$k]}" "$fd" "$(median "$k.wb")" "$(median "$k.psi")" "$(median "$k.rl")"
done
echo
echo "host load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wall time: $(awk -v a="$bench_start" -v b="$bench_end" 'BEGIN { printf "%.0f", b - a }') s of steps, $(awk -v a="$t_all" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s in all (guest build, data, image, boot)"

if ((NFAIL > 0)); then
	echo "vm-impact: $NFAIL failure(s) (see above)" >&2
	exit 1
fi
exit 0
