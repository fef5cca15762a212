#!/usr/bin/env bash
# bench/run.sh [BUILD_DIR] — ferry's throughput against its peers on a Unix socket.
#
# A benchmark, not a test: it prints figures and ratios and exits 0 whatever they
# are.  It exits non-zero only when a transfer or a tool fails outright.
# See bench/README.md for what each figure means.
#
# Environment:
#   BENCH_SIZE        bytes moved per run (default 2G; K/M/G suffixes)
#   BENCH_SWEEP_SIZE  bytes per run of the chunk/window sweep (default 256M)
#   BENCH_RUNS        runs per method, the median is printed (default 3)
#   BENCH_DIR         where the work directory goes (default /var/tmp; not tmpfs)
#   BENCH_SETTLE      seconds to sleep after each delete (default 0 = "recycled"
#                     page cache; 5 gives "settled", see FACTS.md)
#   BENCH_SWEEP=0     skip the sweep
set -u -o pipefail
# shellcheck disable=SC2034 # read by lib.sh
BENCH_NAME=bench
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export LC_ALL=C

BUILD=${1:-build}
FERRY=$BUILD/ferry
FERRYD=$BUILD/ferryd
RAWCOPY=$BUILD/bench/rawcopy
RUNS=${BENCH_RUNS:-3}
SETTLE=${BENCH_SETTLE:-0}


for b in "$FERRY" "$FERRYD" "$RAWCOPY"; do
        [[ -x $b ]] || die "'$b' is missing; run 'make all' first"
done
for t in socat tar cp sync numfmt pgrep; do
        command -v "$t" >/dev/null || die "'$t' is not installed (apt-get install socat)"
done
FERRY=$(realpath "$FERRY") FERRYD=$(realpath "$FERRYD") RAWCOPY=$(realpath "$RAWCOPY")

SIZE=$(numfmt --from=iec "${BENCH_SIZE:-2G}") || die "bad BENCH_SIZE '${BENCH_SIZE}'"
SWEEP_SIZE=$(numfmt --from=iec "${BENCH_SWEEP_SIZE:-256M}") || die "bad BENCH_SWEEP_SIZE"
((SIZE >= 1 << 20)) || die "BENCH_SIZE must be at least 1M"
((SWEEP_SIZE > SIZE)) && SWEEP_SIZE=$SIZE

W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/ferry-bench.XXXXXX") || die "cannot create a work directory"
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
        echo "bench: warning: $W is on $fstype, not a disk; fsync costs nothing there" >&2

# Space: the source, one destination at a time, the sweep file, and slack.
avail=$(df -B1 --output=avail "$W" | tail -1)
while ((SIZE * 2 + SWEEP_SIZE + (512 << 20) > avail && SIZE > (64 << 20))); do
        SIZE=$((SIZE / 2))
        short_disk=1
done
[[ ${short_disk:-} ]] && echo "bench: only $(numfmt --to=iec "$avail") free on $W; size reduced to $(numfmt --to=iec $SIZE)" >&2
# Memory: the source must stay page-cached next to a destination being written.
memavail=$(awk '/^MemAvailable:/ { printf "%.0f", $2 * 1024 }' /proc/meminfo)
while ((SIZE * 2 + SWEEP_SIZE > memavail && SIZE > (64 << 20))); do
        SIZE=$((SIZE / 2))
        short_mem=1
done
[[ ${short_mem:-} ]] && echo "bench: only $(numfmt --to=iec "$memavail") memory available; size reduced to $(numfmt --to=iec $SIZE)" >&2
((SWEEP_SIZE > SIZE)) && SWEEP_SIZE=$SIZE

# Private copies: a concurrent 'make' must not swap a binary in the middle of a run.
mkdir -p "$W/root" "$W/local" "$W/bin"
cp "$FERRY" "$FERRYD" "$RAWCOPY" "$W/bin/" || die "cannot copy the binaries"
FERRY=$W/bin/ferry FERRYD=$W/bin/ferryd RAWCOPY=$W/bin/rawcopy
SRC=$W/src.bin
echo "bench: preparing $(numfmt --to=iec $SIZE) of random data in $W ($fstype)" >&2
head -c "$SIZE" /dev/urandom >"$SRC" || die "cannot write $SRC"
ln "$SRC" "$W/root/src.bin"   # the pull source: same inode, same cached pages
head -c "$SWEEP_SIZE" "$SRC" >"$W/root/sweep.src" || die "cannot write the sweep file"
cat "$SRC" "$W/root/sweep.src" >/dev/null   # page-cached


# --- helpers ------------------------------------------------------------------




# Starts a ferryd; NAME becomes the socket $W/NAME.sock and the pid D_NAME.
start_ferryd() {
        local name=$1; shift
        local env=()
        [[ $name == nouring ]] && env=(FERRY_NO_IO_URING=1)
        env "${env[@]}" "$FERRYD" --listen "unix:$W/$name.sock" --root "$W/root" -q "$@" &
        PIDS+=($!)
        printf -v "D_$name" %s $!
        wait_sock "$W/$name.sock" || die "ferryd ($name) did not start"
}

# Deletes every destination and optionally lets the freed memory settle.
clear_dest() {
        find "$W/root" "$W/local" -mindepth 1 -maxdepth 1 ! -name src.bin ! -name sweep.src -exec rm -rf {} +
        ((SETTLE > 0)) && sleep "$SETTLE"
        return 0
}


mbps() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? n / s / 1e6 : 0) }'; }
per_gib() { awk -v c="$1" -v n="$2" 'BEGIN { printf "%.2f", c * 1073741824 / n }'; }

# Each measurement appends "value" to R[key]; median() prints the middle one.
check_size() { [[ $(stat -c %s "$1" 2>/dev/null) == "$2" ]] || fail "$1: wrong size after $3"; }

# --- methods: each clears the destinations, moves N bytes, records under KEY ---

# ferry_xfer KEY push|pull DAEMON FILE N [ferry options...]
ferry_xfer() {
        local key=$1 dir=$2 d=$3 file=$4 n=$5; shift 5
        local dpid_var=D_$d dest cmd
        local dpid=${!dpid_var}
        local env=()
        [[ $d == nouring ]] && env=(FERRY_NO_IO_URING=1)
        clear_dest
        if [[ $dir == push ]]; then
                dest=$W/root/push.bin
                cmd=(push --to "unix:$W/$d.sock" --json --no-progress "$@" "$file" push.bin)
        else
                dest=$W/local/pull.bin
                cmd=(pull --from "unix:$W/$d.sock" --json --no-progress "$@" "${file##*/}" "$dest")
        fi
        local c0 c1 t0 t1
        c0=$(proc_cpu "$dpid")
        t0=$EPOCHREALTIME
        if ! timed "$W/time.out" env "${env[@]}" "$FERRY" "${cmd[@]}" >"$W/json.out"; then
                fail "ferry ${cmd[*]}"
                rec "$key.fail" 1
                return
        fi
        t1=$EPOCHREALTIME
        c1=$(proc_cpu "$dpid")
        check_size "$dest" "$n" "$key"
        local s
        s=$(elapsed "$t0" "$t1")
        rec "$key.mbps" "$(mbps "$n" "$s")"
        rec "$key.json_mbps" "$(jnum mb_per_s "$W/json.out")"
        rec "$key.p50" "$(jnum p50 "$W/json.out")"
        rec "$key.p99" "$(jnum p99 "$W/json.out")"
        rec "$key.cw" "$(jnum credit_wait_seconds "$W/json.out")"
        local hcpu dcpu_
        hcpu=$(per_gib "$(<"$W/time.out")" "$n")
        dcpu_=$(per_gib "$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')" "$n")
        if [[ $dir == push ]]; then
                rec "$key.scpu" "$hcpu"; rec "$key.rcpu" "$dcpu_"
        else
                rec "$key.scpu" "$dcpu_"; rec "$key.rcpu" "$hcpu"
        fi
}

# raw_xfer KEY SRC DEST N
raw_xfer() {
        local key=$1 src=$2 dest=$3 n=$4
        clear_dest
        rm -f "$W/raw.sock"
        timed "$W/rtime.out" "$RAWCOPY" recv "$W/raw.sock" "$dest" >"$W/raw.out" &
        local rpid=$!
        PIDS+=($rpid)
        wait_sock "$W/raw.sock" || { fail "rawcopy recv did not start"; return; }
        local t0 t1
        t0=$EPOCHREALTIME
        timed "$W/stime.out" "$RAWCOPY" send "$W/raw.sock" "$src" >/dev/null || fail "rawcopy send"
        wait "$rpid" || fail "rawcopy recv"
        t1=$EPOCHREALTIME
        check_size "$dest" "$n" "$key"
        rec "$key.mbps" "$(mbps "$n" "$(elapsed "$t0" "$t1")")"
        rec "$key.scpu" "$(per_gib "$(<"$W/stime.out")" "$n")"
        rec "$key.rcpu" "$(per_gib "$(<"$W/rtime.out")" "$n")"
}

# tar c | socat → socat | tar x, then fsync the file.
tar_xfer() {
        local key=$1 n=$2
        clear_dest
        mkdir "$W/root/tarx"
        rm -f "$W/tar.sock"
        timed "$W/rtime.out" bash -c \
                'socat -u "UNIX-LISTEN:$1" - | tar x -C "$2"' _ "$W/tar.sock" "$W/root/tarx" &
        local rpid=$!
        PIDS+=($rpid)
        wait_sock "$W/tar.sock" || { fail "socat UNIX-LISTEN did not start"; return; }
        sleep 0.05 # socat binds before it listens
        local t0 t1
        t0=$EPOCHREALTIME
        timed "$W/stime.out" bash -c \
                'tar c -C "$1" src.bin | socat -u - "UNIX-CONNECT:$2"' _ "$W" "$W/tar.sock" || fail "tar c | socat"
        wait "$rpid" || fail "socat | tar x"
        sync "$W/root/tarx/src.bin" || fail "sync after tar"
        t1=$EPOCHREALTIME
        check_size "$W/root/tarx/src.bin" "$n" "$key"
        rec "$key.mbps" "$(mbps "$n" "$(elapsed "$t0" "$t1")")"
        rec "$key.scpu" "$(per_gib "$(<"$W/stime.out")" "$n")"
        rec "$key.rcpu" "$(per_gib "$(<"$W/rtime.out")" "$n")"
}

# cp, then fsync the file.
cp_xfer() {
        local key=$1 n=$2 t0 t1
        clear_dest
        t0=$EPOCHREALTIME
        timed "$W/stime.out" bash -c 'cp "$1" "$2" && sync "$2"' _ "$SRC" "$W/root/push.bin" || fail "cp"
        t1=$EPOCHREALTIME
        check_size "$W/root/push.bin" "$n" "$key"
        rec "$key.mbps" "$(mbps "$n" "$(elapsed "$t0" "$t1")")"
        rec "$key.scpu" "$(per_gib "$(<"$W/stime.out")" "$n")"
}

# --- run ----------------------------------------------------------------------

start_ferryd main
start_ferryd nouring
if [[ ${BENCH_SWEEP:-1} != 0 ]]; then
        CHUNKS=(256K 1M 4M)
        WINDOWS=(4M 8M 32M)
        for w in "${WINDOWS[@]}"; do start_ferryd "w$w" --window "$w" --max-chunk 4M; done
fi

# Each round starts one method later, so no method always runs first or
# always follows the same predecessor (whose deleted pages it recycles).
METHODS=(ferry_push raw_push tar cp ferry_pull raw_pull nouring_push nouring_pull)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
bench_start=$EPOCHREALTIME
echo "bench: main comparison, $RUNS runs x ${#METHODS[@]} methods x $(numfmt --to=iec $SIZE)" >&2
run_main() {
        case $1 in
        ferry_push) ferry_xfer ferry_push push main "$SRC" "$SIZE" ;;
        raw_push) raw_xfer raw_push "$SRC" "$W/root/push.bin" "$SIZE" ;;
        tar) tar_xfer tar "$SIZE" ;;
        cp) cp_xfer cp "$SIZE" ;;
        ferry_pull) ferry_xfer ferry_pull pull main "$W/root/src.bin" "$SIZE" ;;
        nouring_push) ferry_xfer nouring_push push nouring "$SRC" "$SIZE" ;;
        nouring_pull) ferry_xfer nouring_pull pull nouring "$W/root/src.bin" "$SIZE" ;;
        raw_pull) raw_xfer raw_pull "$W/root/src.bin" "$W/local/pull.bin" "$SIZE" ;;
        esac
}
for ((r = 0; r < RUNS; r++)); do
        for ((i = 0; i < ${#METHODS[@]}; i++)); do
                run_main "${METHODS[(i + r) % ${#METHODS[@]}]}"
        done
done
main_end=$EPOCHREALTIME

if [[ ${BENCH_SWEEP:-1} != 0 ]]; then
        echo "bench: sweep, $RUNS runs x $((${#CHUNKS[@]} * ${#WINDOWS[@]})) settings x $(numfmt --to=iec $SWEEP_SIZE)" >&2
        JOBS=()
        for c in "${CHUNKS[@]}"; do
                for w in "${WINDOWS[@]}"; do JOBS+=("sw_${c}_$w push w$w $c"); done
        done
        for ((r = 0; r < RUNS; r++)); do
                for ((i = 0; i < ${#JOBS[@]}; i++)); do
                        read -r key dir d c <<<"${JOBS[(i + r * 4) % ${#JOBS[@]}]}"
                        ferry_xfer "$key" "$dir" "$d" "$W/root/sweep.src" "$SWEEP_SIZE" --chunk-size "$c"
                done
        done
fi
bench_end=$EPOCHREALTIME

# --- report -------------------------------------------------------------------


if ((SETTLE > 0)); then
        state="settled: each run starts ${SETTLE}s after the previous destination was deleted"
else
        state="recycled: each run starts right after the previous run's destination was deleted"
fi

echo
echo "ferry bench: $(numfmt --to=iec $SIZE) page-cached random file -> $fstype ($W), Unix socket"
echo "kernel $(uname -r), $(nproc) CPUs, load average at start $load_start (>0.5: others share the CPUs); median of $RUNS runs, methods interleaved run by run"
echo "page cache: $state"
echo "memory: $(numfmt --to=iec "$memavail") available at start; the source stays cached throughout"
echo "every destination is fsynced before its clock stops; ferry also verifies XXH3 per chunk and per file"
echo
printf '%-28s %9s %17s %11s %11s\n' "method" "MB/s" "min-max" "send CPU" "recv CPU"
printf '%-28s %9s %17s %11s %11s\n' "" "(median)" "" "s/GiB" "s/GiB"
row() { printf '%-28s %9s %17s %11s %11s%s\n' "$1" "$(median "$2.mbps")" "$(range "$2.mbps")" "$(median "$2.scpu")" "$(median "$2.rcpu")" "$(nfail "$2")"; }
row "ferry push (ferry->ferryd)" ferry_push
row "raw socket push" raw_push
row "tar c|socat ~ socat|tar x" tar
row "cp" cp
row "ferry pull (ferryd->ferry)" ferry_pull
row "raw socket pull" raw_pull
echo "  (CPU: ferry push: send = host ferry, recv = ferryd; pull: send = ferryd, recv = host ferry;"
echo "   tar: each side's pipeline; cp: cp + sync in one process, shown as send)"
echo

fp=$(median ferry_push.mbps) fl=$(median ferry_pull.mbps)
printf '%-22s %8s %8s   %s\n' "ratio" "push" "pull" "target (issue)"
printf '%-22s %8s %8s   %s\n' "ferry / raw socket" "$(ratio "$fp" "$(median raw_push.mbps)")" "$(ratio "$fl" "$(median raw_pull.mbps)")" "(ceiling: 1.00)"
printf '%-22s %8s %8s   %s\n' "ferry / tar|socat|tar" "$(ratio "$fp" "$(median tar.mbps)")" "$(ratio "$fl" "$(median tar.mbps)")" ">= 2.0"
printf '%-22s %8s %8s   %s\n' "ferry / cp" "$(ratio "$fp" "$(median cp.mbps)")" "$(ratio "$fl" "$(median cp.mbps)")" ">= 0.8"
echo

echo "ferry telemetry (medians, from --json)"
printf '%-12s %9s %11s %11s %16s\n' "" "MB/s" "RTT p50 us" "RTT p99 us" "credit wait s"
for k in ferry_push ferry_pull; do
        printf '%-12s %9s %11s %11s %16s\n' "${k#ferry_}" "$(median "$k.json_mbps")" "$(median "$k.p50")" "$(median "$k.p99")" "$(median "$k.cw")"
done
echo "  (RTT = chunk sent -> chunk acknowledged, measured by the sender of data; pull shows 0"
echo "   when the host does not send data chunks.  credit wait = sender blocked on the window)"

if [[ ${BENCH_SWEEP:-1} != 0 ]]; then
        echo
        echo "ferry push sweep, $(numfmt --to=iec $SWEEP_SIZE), MB/s median (RTT p50 us, credit wait s); default: chunk 1M, window 8M"
        printf '%-8s' "chunk"
        for w in "${WINDOWS[@]}"; do printf ' %28s' "window $w"; done
        echo
        for c in "${CHUNKS[@]}"; do
                printf '%-8s' "$c"
                for w in "${WINDOWS[@]}"; do
                        k=sw_${c}_$w
                        printf ' %28s' "$(median "$k.mbps") ($(median "$k.p50"), $(median "$k.cw"))$(nfail "$k")"
                done
                echo
        done
fi
echo
echo "io_uring (default) vs pread/pwrite (FERRY_NO_IO_URING=1 on both sides), $(numfmt --to=iec $SIZE), same rounds as above"
printf '%-6s %10s %14s %22s %22s\n' "" "MB/s" "no-uring MB/s" "CPU s/GiB send+recv" "no-uring send+recv"
for d in push pull; do
        printf '%-6s %10s %14s %22s %22s%s\n' "$d" "$(median "ferry_$d.mbps")" "$(median "nouring_$d.mbps")" \
                "$(median "ferry_$d.scpu")+$(median "ferry_$d.rcpu")" "$(median "nouring_$d.scpu")+$(median "nouring_$d.rcpu")" "$(nfail "nouring_$d")"
done
echo
echo "wall time: main $(awk -v a="$bench_start" -v b="$main_end" 'BEGIN { printf "%.0f", b - a }') s, total $(awk -v a="$bench_start" -v b="$bench_end" 'BEGIN { printf "%.0f", b - a }') s"

if ((NFAIL > 0)); then
        echo "bench: $NFAIL transfer(s) failed (see above)" >&2
        exit 1
fi
exit 0
