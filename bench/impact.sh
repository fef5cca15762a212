#!/usr/bin/env bash
# bench/impact.sh [BUILD_DIR] — what receiving a large file does to the rest of
# the machine: dirty memory, another program's fdatasync latency, wake-up
# lateness and the copier's CPU, for cp, tar|socat|tar and ferry's write paths.
#
# A benchmark, not a test: it prints figures, ratios and the issue's targets
# and exits 0 whatever they are.  It exits non-zero only when a copy or a tool
# fails outright.  See bench/README.md ("impact.sh") for what each figure means.
#
# Environment:
#   IMPACT_SIZE    bytes per copy (default 4G; K/M/G suffixes)
#   IMPACT_RUNS    rounds; every method once per round, samples pooled (default 3)
#   IMPACT_DIR     where the work directory goes (default /var/tmp; not tmpfs)
#   IMPACT_SETTLE  seconds to wait after each delete (default 5 = "settled"
#                  page cache; 0 = "recycled", see FACTS.md)
#   IMPACT_IDLE    seconds of the idle baseline (default 5)
#   IMPACT_RATE    the --max-rate of the rate-limited ferry row (default 200M)
#   IMPACT_METHODS the rows to run (default: all of them; idle always runs):
#                  cp tar ferry ferry_rate ferry_buf ferry_direct ferry_off
set -u -o pipefail
# shellcheck disable=SC2034 # read by lib.sh
BENCH_NAME=impact
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export LC_ALL=C

BUILD=${1:-build}
FERRY=$BUILD/ferry
FERRYD=$BUILD/ferryd
PROBE=$BUILD/bench/probe
RUNS=${IMPACT_RUNS:-3}
SETTLE=${IMPACT_SETTLE:-5}
IDLE=${IMPACT_IDLE:-5}
RATE_ARG=${IMPACT_RATE:-200M}


for b in "$FERRY" "$FERRYD" "$PROBE"; do
        [[ -x $b ]] || die "'$b' is missing; run 'make all' first"
done
for t in socat tar cp sync numfmt pgrep; do
        command -v "$t" >/dev/null || die "'$t' is not installed (apt-get install socat)"
done
FERRY=$(realpath "$FERRY") FERRYD=$(realpath "$FERRYD") PROBE=$(realpath "$PROBE")

SIZE=$(numfmt --from=iec "${IMPACT_SIZE:-4G}") || die "bad IMPACT_SIZE '${IMPACT_SIZE}'"
RATE=$(numfmt --from=iec "$RATE_ARG") || die "bad IMPACT_RATE '$RATE_ARG'"
((SIZE >= 64 << 20)) || die "IMPACT_SIZE must be at least 64M"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "bad IMPACT_RUNS '$RUNS'"
[[ $SETTLE =~ ^[0-9]+$ ]] || die "bad IMPACT_SETTLE '$SETTLE'"
[[ $IDLE =~ ^[1-9][0-9]*$ ]] || die "bad IMPACT_IDLE '$IDLE'"
ALL_METHODS=(cp tar ferry ferry_rate ferry_buf ferry_direct ferry_off)
read -r -a METHODS <<<"${IMPACT_METHODS:-${ALL_METHODS[*]}}"
for m in "${METHODS[@]}"; do
        [[ " ${ALL_METHODS[*]} " == *" $m "* ]] || die "IMPACT_METHODS: unknown method '$m' (${ALL_METHODS[*]})"
done
METHODS=(idle "${METHODS[@]}")

W=$(mktemp -d "${IMPACT_DIR:-/var/tmp}/ferry-impact.XXXXXX") || die "cannot create a work directory"
PIDS=()
cleanup() {
        local p
        for p in "${PIDS[@]}"; do kill_tree "$p"; done
        for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
        rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fstype=$(stat -f -c %T "$W")
[[ $fstype == tmpfs || $fstype == ramfs ]] &&
        echo "impact: warning: $W is on $fstype, not a disk; fsync costs nothing there" >&2

# Space: the source, one destination at a time, and slack.
avail=$(df -B1 --output=avail "$W" | tail -1)
while ((SIZE * 2 + (512 << 20) > avail && SIZE > (64 << 20))); do
        SIZE=$((SIZE / 2))
        short_disk=1
done
[[ ${short_disk:-} ]] && echo "impact: only $(numfmt --to=iec "$avail") free on $W; size reduced to $(numfmt --to=iec $SIZE)" >&2
# Memory: the source stays page-cached next to a destination written through
# the page cache (cp, tar, --buffered), plus 1 GiB for everything else.
memavail=$(awk '/^MemAvailable:/ { printf "%.0f", $2 * 1024 }' /proc/meminfo)
while ((SIZE * 2 + (1 << 30) > memavail && SIZE > (64 << 20))); do
        SIZE=$((SIZE / 2))
        short_mem=1
done
[[ ${short_mem:-} ]] && echo "impact: only $(numfmt --to=iec "$memavail") memory available; size reduced to $(numfmt --to=iec $SIZE)" >&2

# Private copies: a concurrent 'make' must not swap a binary in the middle of a run.
mkdir -p "$W/root" "$W/bin" "$W/s"
cp "$FERRY" "$FERRYD" "$PROBE" "$W/bin/" || die "cannot copy the binaries"
FERRY=$W/bin/ferry FERRYD=$W/bin/ferryd PROBE=$W/bin/probe
SRC=$W/src.bin
echo "impact: preparing $(numfmt --to=iec $SIZE) of random data in $W ($fstype)" >&2
head -c "$SIZE" /dev/urandom >"$SRC" || die "cannot write $SRC"
sync "$SRC"                   # on disk: no writeback of ours left for the probes to see
cat "$SRC" >/dev/null         # page-cached


# --- helpers ------------------------------------------------------------------




# start_ferryd NAME OPTIONS...: a ferryd on $W/s/NAME.sock, pid in D_NAME,
# log (default verbosity: it says when a write path is unavailable) in $W/NAME.log.
start_ferryd() {
        local name=$1; shift
        "$FERRYD" --listen "unix:$W/s/$name.sock" --root "$W/root" "$@" 2>"$W/$name.log" &
        PIDS+=($!)
        printf -v "D_$name" %s $!
        wait_sock "$W/s/$name.sock" || die "ferryd ($name) did not start: $(cat "$W/$name.log")"
}

# Deletes the destinations, puts whatever is left dirty on disk, and lets the
# freed memory settle (or not, with IMPACT_SETTLE=0).
clear_dest() {
        find "$W/root" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
        sync -f "$W/root"
        ((SETTLE > 0)) && sleep "$SETTLE"
        return 0
}


sum() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + b }'; }
check_size() { [[ $(stat -c %s "$1" 2>/dev/null) == "$2" ]] || fail "$1: wrong size after $3"; }

# Each copy appends "value" to R[key]; median() prints the middle one.

# --- probes: three processes, one per probe, each alone in its thread ---------

probes_start() {
        local tag=$1
        "$PROBE" dirty >"$W/p/$tag.dirty" & P_DIRTY=$!
        "$PROBE" fsync "$W/p" >"$W/p/$tag.fsync" & P_FSYNC=$!
        "$PROBE" wake >"$W/p/$tag.wake" & P_WAKE=$!
        PIDS+=("$P_DIRTY" "$P_FSYNC" "$P_WAKE")
}
probes_stop() {
        kill -TERM "$P_DIRTY" "$P_FSYNC" "$P_WAKE" 2>/dev/null
        wait "$P_DIRTY" || fail "probe dirty"
        wait "$P_FSYNC" || fail "probe fsync"
        wait "$P_WAKE" || fail "probe wake"
}
# pct FILES Q: the Q quantile (nearest rank) of the samples in FILES, in ms.
count() { cat "$@" | wc -l; }

# --- methods: each moves SIZE bytes into $W/root, fsynced, CPU seconds to $W/cpu --

cp_copy() {
        timed "$W/cpu" bash -c 'cp "$1" "$2" && sync "$2"' _ "$SRC" "$W/root/dest.bin" || fail "cp"
        check_size "$W/root/dest.bin" "$SIZE" cp
}

tar_copy() {
        mkdir "$W/root/tarx"
        rm -f "$W/s/tar.sock"
        timed "$W/rcpu" bash -c 'socat -u "UNIX-LISTEN:$1" - | tar x -C "$2"' _ "$W/s/tar.sock" "$W/root/tarx" &
        local rpid=$!
        PIDS+=("$rpid")
        wait_sock "$W/s/tar.sock" || { fail "socat UNIX-LISTEN did not start"; return; }
        sleep 0.05 # socat binds before it listens
        timed "$W/scpu" bash -c 'tar c -C "$1" src.bin | socat -u - "UNIX-CONNECT:$2"' _ "$W" "$W/s/tar.sock" || fail "tar c | socat"
        wait "$rpid" || fail "socat | tar x"
        sync "$W/root/tarx/src.bin" || fail "sync after tar"
        sum "$(cat "$W/scpu")" "$(cat "$W/rcpu")" >"$W/cpu"
        check_size "$W/root/tarx/src.bin" "$SIZE" tar
}

# ferry_copy KEY DAEMON [ferry push options...]
ferry_copy() {
        local key=$1 d=$2; shift 2
        local dvar=D_$d
        local dpid=${!dvar} c0 c1
        c0=$(proc_cpu "$dpid")
        if ! timed "$W/hcpu" "$FERRY" push --to "unix:$W/s/$d.sock" --json --no-progress "$@" "$SRC" dest.bin >"$W/json"; then
                fail "ferry push ($key)"
                rec "$key.fail" 1
        fi
        c1=$(proc_cpu "$dpid")
        awk -v h="$(cat "$W/hcpu")" -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", h + b - a }' >"$W/cpu"
        awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }' >"$W/dcpu"
        check_size "$W/root/dest.bin" "$SIZE" "$key"
        rec "$key.fdirty" "$(awk -v b="$(jnum dirty_peak_bytes "$W/json")" 'BEGIN { printf "%.0f", b / 1048576 }')"
        rec "$key.wb" "$(jnum receiver_writeback "$W/json")"
        rec "$key.psi" "$(jnum receiver_pressure "$W/json")"
        rec "$key.rl" "$(jnum rate_limit "$W/json")"
}

# measure KEY ROUND: one copy of KEY (or the idle baseline) under the probes.
measure() {
        local key=$1 round=$2 t0 t1 s
        clear_dest
        echo "impact: round $((round + 1))/$RUNS: $key" >&2
        probes_start "$key.$round"
        sleep 0.2 # the probes are running and have their first samples
        t0=$EPOCHREALTIME
        case $key in
        idle) sleep "$IDLE"; echo 0 >"$W/cpu" ;;
        cp) cp_copy ;;
        tar) tar_copy ;;
        ferry) ferry_copy ferry def ;;
        ferry_rate) ferry_copy ferry_rate def --max-rate "$RATE_ARG" ;;
        ferry_buf) ferry_copy ferry_buf buf ;;
        ferry_direct) ferry_copy ferry_direct direct ;;
        ferry_off) ferry_copy ferry_off off ;;
        esac
        t1=$EPOCHREALTIME
        probes_stop
        rec "$key.d0" "$(head -1 "$W/p/$key.$round.dirty" | awk '{ printf "%.0f", $1 / 1024 }')"
        s=$(elapsed "$t0" "$t1")
        [[ $key != idle ]] && rec "$key.mbps" "$(awk -v n="$SIZE" -v s="$s" 'BEGIN { printf "%.0f", n / s / 1e6 }')"
        rec "$key.cpu" "$(awk -v c="$(cat "$W/cpu")" -v s="$s" 'BEGIN { printf "%.0f", 100 * c / s }')"
        [[ $key == ferry* ]] && rec "$key.dcpu" "$(awk -v c="$(cat "$W/dcpu")" -v s="$s" 'BEGIN { printf "%.0f", 100 * c / s }')"
        return 0
}

# --- run ----------------------------------------------------------------------

mkdir -p "$W/p"
start_ferryd def
start_ferryd buf --buffered
start_ferryd direct --direct
# Budgets off: page-cache writes with no dirty limit, no CPU or IO priority,
# and no pressure feedback (the PSI window shrink is a budget too).
start_ferryd off --buffered --dirty-limit 0 --nice 0 --io-class none --psi-path off

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
bench_start=$EPOCHREALTIME
for ((r = 0; r < RUNS; r++)); do
        for ((i = 0; i < ${#METHODS[@]}; i++)); do
                measure "${METHODS[(i + r) % ${#METHODS[@]}]}" "$r"
        done
done
bench_end=$EPOCHREALTIME

# --- report -------------------------------------------------------------------

if ((SETTLE > 0)); then
        state="settled: each copy starts ${SETTLE}s after the previous destination was deleted and synced"
else
        state="recycled: each copy starts right after the previous destination was deleted and synced"
fi
if grep -q "RWF_DONTCACHE.*unavailable" "$W/def.log"; then
        upath="buffered under the dirty budget (RWF_DONTCACHE unavailable, see ferryd's log)"
else
        upath="uncached (RWF_DONTCACHE)"
fi
grep -q "O_DIRECT refused" "$W/direct.log" && dpath=" (O_DIRECT refused: it wrote buffered)"

echo
echo "ferry impact: $(numfmt --to=iec $SIZE) page-cached random file -> $fstype ($W), Unix socket; $RUNS round(s), probe samples pooled"
echo "kernel $(uname -r), $(nproc) CPUs, $(numfmt --to=iec "$memavail") memory available, load average at start $load_start (>0.5: others share the CPUs)"
echo "page cache: $state"
echo "ferry defaults wrote $upath${dpath:-}; every copy is fsynced before its clock stops"
echo "probes, each its own process: Dirty+Writeback every 20 ms; 4 KiB pwrite+fdatasync every 100 ms on the same disk; 10 ms sleep loop"
echo
printf '%-28s %6s %13s %21s %8s %5s %10s %10s\n' "method" "MB/s" "dirty MiB" "fdatasync ms" "wake ms" "CPU" "fsync p99" "wake p99"
printf '%-28s %6s %6s %6s %6s %7s %7s %8s %5s %10s %10s\n' "" "" "peak" "start" "p50" "p99" "max" "p99" "%" "/ idle" "/ idle"
idle_f=$(pct 0.99 "$W"/p/idle.*.fsync) idle_w=$(pct 0.99 "$W"/p/idle.*.wake)
declare -A LABEL=(
        [idle]="idle (no copy, ${IDLE}s)" [cp]="cp + sync" [tar]="tar c|socat ~ socat|tar x"
        [ferry]="ferry defaults" [ferry_rate]="ferry push --max-rate $RATE_ARG" [ferry_buf]="ferryd --buffered"
        [ferry_direct]="ferryd --direct" [ferry_off]="ferry, budgets off")
for k in "${METHODS[@]}"; do
        f=("$W"/p/"$k".*.fsync) w=("$W"/p/"$k".*.wake)
        p99f=$(pct 0.99 "${f[@]}") p99w=$(pct 0.99 "${w[@]}")
        R[$k.dirty]=$(peak_mib "$W"/p/"$k".*.dirty) R[$k.p99f]=$p99f R[$k.p99w]=$p99w
        R[$k.nf]=$(count "${f[@]}") R[$k.nw]=$(count "${w[@]}")
        printf '%-28s %6s %6s %6s %6s %7s %7s %8s %5s %10s %10s%s\n' "${LABEL[$k]}" "$(median "$k.mbps")" "${R[$k.dirty]}" \
                "$(median "$k.d0")" \
                "$(pct 0.5 "${f[@]}")" "$p99f" "$(pct 1 "${f[@]}")" "$p99w" "$(median "$k.cpu")" \
                "$(awk -v a="$p99f" -v b="$idle_f" 'BEGIN { printf "%.2f", a / b }')" \
                "$(awk -v a="$p99w" -v b="$idle_w" 'BEGIN { printf "%.2f", a / b }')" "$(nfail "$k")"
done
echo "  (MB/s: median of the rounds, wall time to the fsynced file; dirty: Dirty+Writeback, the highest sample"
echo "   of all rounds, and the median first sample (what others had dirty when the copy started);"
echo "   latencies: quantiles of all rounds' samples; CPU: % of one CPU over the copy, cp = cp + sync,"
echo "   tar = both tars and socats, ferry = ferry + ferryd; samples per copy: fsync ~10/s, wake ~100/s,"
printf '   here fsync %s..%s and wake %s..%s per method)\n' \
        "$(for k in "${METHODS[@]}"; do echo "${R[$k.nf]}"; done | sort -n | head -1)" \
        "$(for k in "${METHODS[@]}"; do echo "${R[$k.nf]}"; done | sort -n | tail -1)" \
        "$(for k in "${METHODS[@]}"; do echo "${R[$k.nw]}"; done | sort -n | head -1)" \
        "$(for k in "${METHODS[@]}"; do echo "${R[$k.nw]}"; done | sort -n | tail -1)"
# Others' work on a shared machine shows up in every column; the idle row is where it can be seen.
if ((${R[idle.dirty]} > 16)) || awk -v a="$idle_f" 'BEGIN { exit !(a > 5) }'; then
        echo "  WARNING: the machine was not idle: ${R[idle.dirty]} MiB dirty and fdatasync p99 $idle_f ms with no copy running."
        echo "  Others are writing to this disk; every figure below includes their work.  Rerun when it is quiet."
fi
echo

# The issue's targets, next to the figures; nothing checks them.
off_mbps=$(median ferry_off.mbps)
printf '%-28s %16s %16s %16s %22s\n' "targets (issue)" "peak dirty MiB" "fsync p99/idle" "wake p99/idle" "MB/s / budgets off"
printf '%-28s %16s %16s %16s %22s\n' "" "<= 64" "<= 3" "<= 2" ">= 0.8"
for k in ferry ferry_rate ferry_buf ferry_direct; do
        ran "$k" || continue
        d=${R[$k.dirty]} fr=$(ratio "${R[$k.p99f]}" "$idle_f") wr=$(ratio "${R[$k.p99w]}" "$idle_w")
        if [[ $k == ferry_rate ]]; then
                # A limit asks for less: the target is the limit itself.
                tr_=$(ratio "$(median "$k.mbps")" "$(awk -v r="$RATE" 'BEGIN { printf "%.0f", r / 1e6 }')")
                tcell="$tr_ of limit $(yn "$tr_" ">=" 0.8)"
        else
                tr_=$(ratio "$(median "$k.mbps")" "$off_mbps")
                tcell="$tr_ $(yn "$tr_" ">=" 0.8)"
        fi
        printf '%-28s %16s %16s %16s %22s\n' "${LABEL[$k]}" "$d $(yn "$d" "<=" 64)" "$fr $(yn "$fr" "<=" 3)" \
                "$wr $(yn "$wr" "<=" 2)" "$tcell"
done
ran cp && printf '%-28s %16s   (issue: GiB-scale peaks without ferry)\n' "${LABEL[cp]}" "${R[cp.dirty]}"
ran tar && printf '%-28s %16s\n' "${LABEL[tar]}" "${R[tar.dirty]}"
echo "  (the issue's targets are for ferry defaults; the other ferry rows show the same figures for each"
echo "   write path.  --max-rate is held to its limit ($(numfmt --to=iec "$RATE")/s), not to budgets off)"
echo

echo "ferry's own view (medians; from --json but ferryd CPU): the receiver's dirty peak for the file, what the sender"
echo "waited on, and the part of the CPU column that is ferryd's (in a real guest, the host's ferry runs elsewhere)"
printf '%-28s %12s %14s %12s %12s %12s\n' "" "dirty MiB" "writeback s" "pressure s" "rate s" "ferryd CPU%"
for k in ferry ferry_rate ferry_buf ferry_direct ferry_off; do
        ran "$k" || continue
        fd=$(median "$k.fdirty")
        [[ $k == ferry_off || $k == ferry_direct ]] && fd="-" # no budget to track (0 / O_DIRECT)
        printf '%-28s %12s %14s %12s %12s %12s\n' "${LABEL[$k]}" "$fd" "$(median "$k.wb")" "$(median "$k.psi")" "$(median "$k.rl")" "$(median "$k.dcpu")"
done
echo
echo "load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wall time: $(awk -v a="$bench_start" -v b="$bench_end" 'BEGIN { printf "%.0f", b - a }') s (without preparing the source)"

if ((NFAIL > 0)); then
        echo "impact: $NFAIL failure(s) (see above)" >&2
        exit 1
fi
exit 0
