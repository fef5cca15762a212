#!/usr/bin/env bash
# bench/smallfiles.sh [BUILD_DIR] — many small files: `ferry push DIR/` of a tree against
# tar c|socat ~ socat|tar x, rsync -a and cp -a, into a directory on disk.
#
# A benchmark, not a test: it prints figures and ratios and exits 0 whatever they
# are.  It exits non-zero only when a transfer or a tool fails outright.
# See bench/README.md ("smallfiles.sh") for what each figure means.
#
# Environment:
#   SMALL_FILES       files in the small set (default 20000)
#   SMALL_SIZE        bytes per small file (default 4K; K/M suffixes)
#   MIXED_FILES       files of 64 B..256 KiB (log-uniform) in the mixed set (default 5000)
#   MIXED_BIG         files of 8 MiB in the mixed set (default 8)
#   BENCH_MIXED_SRC   a directory to copy as the mixed set instead (e.g. /usr/include)
#   BENCH_RUNS        runs per method, the median is printed (default 3)
#   BENCH_METHODS     methods to run (default "ferry tar rsync cp"; also ferry_nr:
#                     ferry --no-resume, what asking before each file costs)
#   BENCH_DIR         where the work directory goes (default /var/tmp; not tmpfs)
#   BENCH_STRACE      ferryd's syscall profile (strace -c -f, one untimed run):
#                     auto (default: when ferry < 0.8x tar in files/s), 1, 0
#   BENCH_KEEP=1      leave the work directory (deleting ~100k files takes a while)
# shellcheck disable=SC2016,SC2317  # bash -c scripts read "$1"; cleanup runs from the trap
set -u -o pipefail
# shellcheck disable=SC2034 # read by lib.sh
BENCH_NAME=smallfiles
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export LC_ALL=C

BUILD=${1:-build}
FERRY=$BUILD/ferry
FERRYD=$BUILD/ferryd
RUNS=${BENCH_RUNS:-3}
NSMALL=${SMALL_FILES:-20000}
NMIXED=${MIXED_FILES:-5000}
NBIG=${MIXED_BIG:-8}
MIXED_SRC=${BENCH_MIXED_SRC:-}
STRACE=${BENCH_STRACE:-auto}
read -r -a METHODS <<<"${BENCH_METHODS:-ferry tar rsync cp}"
PER_DIR=1000 # small files per directory


for b in "$FERRY" "$FERRYD"; do
        [[ -x $b ]] || die "'$b' is missing; run 'make all' first"
done
for t in socat tar rsync cp sync split perl numfmt pgrep; do
        command -v "$t" >/dev/null || die "'$t' is not installed (apt-get install socat rsync)"
done
FERRY=$(realpath "$FERRY") FERRYD=$(realpath "$FERRYD")
SMALL_SIZE=$(numfmt --from=iec "${SMALL_SIZE:-4K}") || die "bad SMALL_SIZE '${SMALL_SIZE}'"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "bad BENCH_RUNS '$RUNS'"
[[ $NSMALL =~ ^[1-9][0-9]*$ ]] || die "bad SMALL_FILES '$NSMALL'"
[[ $NMIXED =~ ^[0-9]+$ && $NBIG =~ ^[0-9]+$ ]] || die "bad MIXED_FILES or MIXED_BIG"
((SMALL_SIZE >= 1)) || die "SMALL_SIZE must be at least 1"
[[ -z $MIXED_SRC || -d $MIXED_SRC ]] || die "BENCH_MIXED_SRC '$MIXED_SRC' is not a directory"
for m in "${METHODS[@]}"; do
        [[ $m =~ ^(ferry|ferry_nr|tar|rsync|cp)$ ]] || die "unknown method '$m' in BENCH_METHODS"
done
[[ " ${METHODS[*]} " == *" ferry "* ]] || die "BENCH_METHODS must include ferry"

W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/ferry-small.XXXXXX") || die "cannot create a work directory"
PIDS=()
cleanup() {
        local p t0
        for p in "${PIDS[@]}"; do kill_tree "$p"; done
        for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
        if [[ ${BENCH_KEEP:-0} == 1 ]]; then
                echo "smallfiles: kept $W" >&2
                return
        fi
        t0=$EPOCHREALTIME
        echo "smallfiles: deleting $W ..." >&2
        rm -rf "$W"
        echo "smallfiles: deleted in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fstype=$(stat -f -c %T "$W")
[[ $fstype == tmpfs || $fstype == ramfs ]] &&
        echo "smallfiles: warning: $W is on $fstype, not a disk; sync costs nothing there" >&2

# Private copies: a concurrent 'make' must not swap a binary in the middle of a run.
mkdir -p "$W/bin" "$W/src/small" "$W/src/mixed" "$W/dst"
cp "$FERRY" "$FERRYD" "$W/bin/" || die "cannot copy the binaries"
FERRY=$W/bin/ferry FERRYD=$W/bin/ferryd

# --- data sets ----------------------------------------------------------------

echo "smallfiles: preparing the data sets in $W ($fstype)" >&2
# small: NSMALL files of SMALL_SIZE random bytes, PER_DIR per directory.
for ((d = 0; d * PER_DIR < NSMALL; d++)); do
        n=$((NSMALL - d * PER_DIR))
        ((n > PER_DIR)) && n=$PER_DIR
        printf -v sub '%s/src/small/d%03d' "$W" "$d"
        mkdir "$sub" || die "mkdir $sub"
        head -c $((n * SMALL_SIZE)) /dev/urandom | split -b "$SMALL_SIZE" -a 4 -d - "$sub/f" || die "cannot write $sub"
done
# mixed: a copy of BENCH_MIXED_SRC, or NMIXED files of 64 B..256 KiB (log-uniform,
# fixed seed, slices of one random pool) in 50 directories two levels deep, plus
# NBIG files of 8 MiB of fresh random data.
if [[ -n $MIXED_SRC ]]; then
        cp -a "$MIXED_SRC/." "$W/src/mixed/" || die "cannot copy $MIXED_SRC"
        mixed_what="a copy of $MIXED_SRC"
else
        perl -e '
                use strict;
                my ($dir, $n, $nbig) = @ARGV;
                srand(42);
                open(my $r, "<", "/dev/urandom") or die "urandom: $!";
                my $pool;
                read($r, $pool, 1 << 20) == 1 << 20 or die "urandom: short read";
                my %made;
                for my $i (0 .. $n - 1) {
                        my $sz = int(exp(log(64) + rand(log(262144) - log(64))));
                        my $d = sprintf("%s/d%02d", $dir, $i % 10);
                        my $e = sprintf("%s/e%d", $d, int($i / 10) % 5);
                        for my $x ($d, $e) { $made{$x}++ or mkdir($x) or die "mkdir $x: $!" }
                        open(my $f, ">", sprintf("%s/f%05d", $e, $i)) or die "$e: $!";
                        print $f substr($pool, int(rand((1 << 20) - $sz)), $sz);
                        close($f) or die "$e: $!";
                }
                for my $i (0 .. $nbig - 1) {
                        my $buf;
                        read($r, $buf, 8 << 20) == 8 << 20 or die "urandom: short read";
                        open(my $f, ">", "$dir/big$i") or die "$dir: $!";
                        print $f $buf;
                        close($f) or die "$dir: $!";
                }' "$W/src/mixed" "$NMIXED" "$NBIG" || die "cannot write the mixed set"
        mixed_what="$NMIXED files of 64 B..256 KiB (log-uniform) + $NBIG x 8 MiB"
fi
sync -f "$W" # the sources are clean and page-cached before the first run

# count DIR: "FILES BYTES DIRS" of the regular files and directories under DIR.
count() { find "$1" -mindepth 1 \( -type f -printf 'f %s\n' \) -o \( -type d -printf 'd\n' \) |
                awk '$1 == "f" { n++; b += $2 } $1 == "d" { d++ } END { printf "%d %d %d\n", n, b, d }'; }
declare -A NF NB ND
for ds in small mixed; do
        read -r NF[$ds] NB[$ds] ND[$ds] < <(count "$W/src/$ds")
done
SETS=(small mixed)
((NF[mixed] > 0)) || SETS=(small)

# Space: every run writes into its own directory and nothing is deleted until the end.
need=0
for ds in "${SETS[@]}"; do need=$((need + (NB[$ds] + NF[$ds] * 4096) * RUNS * (${#METHODS[@]} + 1))); done
avail=$(df -B1 --output=avail "$W" | tail -1)
((need + (512 << 20) < avail)) || die "needs about $(numfmt --to=iec $need) on $W, $(numfmt --to=iec "$avail") free (lower BENCH_RUNS or SMALL_FILES)"


# --- helpers ------------------------------------------------------------------


# The number after "KEY": in the "tree" line of ferry's --json.
jtree() { grep '"kind":"tree"' "$2" | sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p" | head -1; }



per_s() { awk -v n="$1" -v s="$2" -v d="$3" 'BEGIN { printf "%.1f", (s > 0 ? n / s / d : 0) }'; }
addf() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a + b }'; }


# result KEY DS DEST T0 T1 CPU: checks DEST against the source, records the run.
result() {
        local key=$1 ds=$2 dest=$3 f b d
        read -r f b d < <(count "$dest")
        if [[ $f != "${NF[$ds]}" || $b != "${NB[$ds]}" ]]; then
                fail "$key: $dest holds $f files, $b bytes; expected ${NF[$ds]}, ${NB[$ds]}"
                rec "$key.fail" 1
                return
        fi
        local s
        s=$(elapsed "$4" "$5")
        rec "$key.fps" "$(per_s "$f" "$s" 1)"
        rec "$key.mbps" "$(per_s "$b" "$s" 1e6)"
        rec "$key.cpu" "$6"
}

# --- methods: each moves data set DS into the fresh directory DEST ---

start_ferryd() { # NAME [wrapper...]: ferryd on $W/NAME.sock, root $W/dst; sets DPID
        local name=$1
        shift
        "$@" "$FERRYD" --listen "unix:$W/$name.sock" --root "$W/dst" -q &
        PIDS+=("$!")
        DPID=$!
        wait_sock "$W/$name.sock" || die "ferryd ($name) did not start"
}

# ferry: every file is verified and durable (batched syncfs) before ferry exits.
m_ferry() {
        local key=$1 ds=$2 dest=$3 t0 t1 c0 c1
        c0=$(proc_cpu "$FERRYD_PID")
        t0=$EPOCHREALTIME
        if ! timed "$W/s.cpu" "$FERRY" push --to "unix:$W/d.sock" --json --no-progress ${FERRY_EXTRA:-} "$W/src/$ds/" "${dest#"$W/dst/"}" \
                >"$W/json.out" 2>"$W/err.out"; then
                fail "ferry push $ds: $(tail -n 3 "$W/err.out")"
                rec "$key.fail" 1
                return
        fi
        t1=$EPOCHREALTIME
        c1=$(proc_cpu "$FERRYD_PID")
        rec "$key.json_fps" "$(jtree files_per_s "$W/json.out")"
        rec "$key.json_mbps" "$(jtree mb_per_s "$W/json.out")"
        rec "$key.busy" "$(jtree receiver_busy "$W/json.out")"
        rec "$key.psi" "$(jtree receiver_pressure "$W/json.out")"
        result "$key" "$ds" "$dest" "$t0" "$t1" "$(addf "$(cat "$W/s.cpu")" "$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')")"
}

# ferry --no-resume: no RESUME_QUERY per file (the price of resume).
m_ferry_nr() { FERRY_EXTRA=--no-resume m_ferry "$@"; }

# tar c | socat → socat | tar x, then sync -f (syncfs) for durability.
m_tar() {
        local key=$1 ds=$2 dest=$3 t0 t1 rpid
        rm -f "$W/tar.sock"
        timed "$W/r.cpu" bash -c 'socat -u "UNIX-LISTEN:$1" - | tar x -C "$2"' _ "$W/tar.sock" "$dest" &
        rpid=$!
        PIDS+=("$rpid")
        wait_sock "$W/tar.sock" || { fail "socat UNIX-LISTEN did not start"; rec "$key.fail" 1; return; }
        sleep 0.05 # socat binds before it listens
        t0=$EPOCHREALTIME
        timed "$W/s.cpu" bash -c 'tar c -C "$1" . | socat -u - "UNIX-CONNECT:$2"' _ "$W/src/$ds" "$W/tar.sock" ||
                fail "tar c | socat ($ds)"
        wait "$rpid" || fail "socat | tar x ($ds)"
        sync -f "$dest" || fail "sync -f after tar"
        t1=$EPOCHREALTIME
        result "$key" "$ds" "$dest" "$t0" "$t1" "$(addf "$(cat "$W/s.cpu")" "$(cat "$W/r.cpu")")"
}

m_rsync() {
        local key=$1 ds=$2 dest=$3 t0 t1
        t0=$EPOCHREALTIME
        timed "$W/s.cpu" bash -c 'rsync -a "$1/" "$2/" && sync -f "$2"' _ "$W/src/$ds" "$dest" || fail "rsync -a ($ds)"
        t1=$EPOCHREALTIME
        result "$key" "$ds" "$dest" "$t0" "$t1" "$(cat "$W/s.cpu")"
}

m_cp() {
        local key=$1 ds=$2 dest=$3 t0 t1
        t0=$EPOCHREALTIME
        timed "$W/s.cpu" bash -c 'cp -a "$1/." "$2/" && sync -f "$2"' _ "$W/src/$ds" "$dest" || fail "cp -a ($ds)"
        t1=$EPOCHREALTIME
        result "$key" "$ds" "$dest" "$t0" "$t1" "$(cat "$W/s.cpu")"
}

# --- run ----------------------------------------------------------------------

# Every destination exists before the first run: ext4 here is slow to create
# files right after a delete (FACTS.md), so nothing is deleted until the end.
for ((r = 0; r < RUNS; r++)); do
        for ds in "${SETS[@]}"; do
                for m in "${METHODS[@]}"; do mkdir "$W/dst/$ds.$m.$r" || die "mkdir"; done
        done
done
for ds in "${SETS[@]}"; do mkdir "$W/dst/strace.$ds" || die "mkdir"; done

start_ferryd d
FERRYD_PID=$DPID
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
bench_start=$EPOCHREALTIME
echo "smallfiles: $RUNS runs x ${#METHODS[@]} methods x ${#SETS[@]} data sets" >&2
# Each round starts one method later, so no method always runs first.
for ((r = 0; r < RUNS; r++)); do
        for ds in "${SETS[@]}"; do
                for ((i = 0; i < ${#METHODS[@]}; i++)); do
                        m=${METHODS[(i + r) % ${#METHODS[@]}]}
                        "m_$m" "$ds.$m" "$ds" "$W/dst/$ds.$m.$r"
                done
        done
done
bench_end=$EPOCHREALTIME

# --- report -------------------------------------------------------------------

has() { [[ " ${METHODS[*]} " == *" $1 "* ]]; }
declare -A LABEL=([ferry]="ferry push DIR/ (->ferryd)" [ferry_nr]="ferry push --no-resume" [tar]="tar c|socat ~ socat|tar x"
                  [rsync]="rsync -a (local)" [cp]="cp -a (local ceiling)")

echo
echo "ferry small-file bench: trees over a Unix socket -> $fstype ($W)"
echo "kernel $(uname -r), $(nproc) CPUs, load average at start $load_start (>0.5: others share the CPUs); median of $RUNS runs, methods interleaved"
echo "small: ${NF[small]} files x $(numfmt --to=iec "$SMALL_SIZE") in ${ND[small]} directories ($(numfmt --to=iec "${NB[small]}"))"
((NF[mixed] > 0)) && echo "mixed: $mixed_what: ${NF[mixed]} files in ${ND[mixed]} directories ($(numfmt --to=iec "${NB[mixed]}"))"
echo "every run writes into its own fresh directory; nothing is deleted until the end (page cache: never recycled)"
echo "durable before the clock stops: ferry commits every file (batched syncfs) and verifies XXH3; the others end with sync -f"
echo
printf '%-6s %-28s %9s %13s %8s %8s\n' "set" "method" "files/s" "min-max" "MB/s" "CPU s"
for ds in "${SETS[@]}"; do
        for m in "${METHODS[@]}"; do
                printf '%-6s %-28s %9s %13s %8s %8s%s\n' "$ds" "${LABEL[$m]}" "$(median "$ds.$m.fps")" "$(range "$ds.$m.fps" "%.0f-%.0f")" \
                        "$(median "$ds.$m.mbps")" "$(median "$ds.$m.cpu")" "$(nfail "$ds.$m")"
        done
done
echo "  (files/s and MB/s: wall clock of the whole copy; CPU s: user+sys of both sides, ferryd included)"
echo
printf '%-24s' "ratio, files/s"
for ds in "${SETS[@]}"; do printf ' %8s' "$ds"; done
printf '   %s\n' "target (issue)"
for m in ferry_nr tar rsync cp; do
        has "$m" || continue
        printf '%-24s' "ferry / ${m}"
        for ds in "${SETS[@]}"; do printf ' %8s' "$(ratio "$(median "$ds.ferry.fps")" "$(median "$ds.$m.fps")")"; done
        case $m in
        tar) printf '   %s\n' ">= 1.0 (verification on)" ;;
        cp) printf '   %s\n' "(local ceiling)" ;;
        *) echo ;;
        esac
done
echo
echo "ferry's own view (--json tree line, medians):"
for ds in "${SETS[@]}"; do
        printf '  %-6s %s files/s, %s MB/s; sender waited %s s for the receiver (receiver_busy), %s s for pressure (receiver_pressure)\n' \
                "$ds" "$(median "$ds.ferry.json_fps")" "$(median "$ds.ferry.json_mbps")" "$(median "$ds.ferry.busy")" "$(median "$ds.ferry.psi")"
done
echo "wall time of the runs: $(awk -v a="$bench_start" -v b="$bench_end" 'BEGIN { printf "%.0f", b - a }') s"

# ferryd's syscall profile: one untimed push of each set where ferry is far
# below tar (or of every set with BENCH_STRACE=1), into a fresh directory.
for ds in "${SETS[@]}"; do
        rt=$(ratio "$(median "$ds.ferry.fps")" "$(median "$ds.tar.fps")")
        [[ $STRACE == 1 || ($STRACE == auto && $rt != - && $(awk -v r="$rt" 'BEGIN { print (r < 0.8) }') == 1) ]] || continue
        if ! command -v strace >/dev/null; then
                echo "(strace is not installed: no syscall profile)"
                break
        fi
        echo
        echo "ferryd syscall profile, $ds set (strace -c -f, one untimed push; ferry / tar = $rt in files/s):"
        start_ferryd "st-$ds" strace -c -f -o "$W/strace.$ds.out"
        t0=$EPOCHREALTIME
        "$FERRY" push --to "unix:$W/st-$ds.sock" --no-progress -q "$W/src/$ds/" "strace.$ds" || fail "ferry push under strace"
        t1=$EPOCHREALTIME
        for p in $(pgrep -P "$DPID"); do kill -TERM "$p"; done # ferryd, strace's child
        wait "$DPID"
        awk -v n="${NF[$ds]}" 'NR == 1 { print; next } /^-----/ { next }
                $NF == "total" { printf "%s\n  (%.1f syscalls per file)\n", $0, $4 / n; next }
                ++k <= 12 { print }' "$W/strace.$ds.out"
        echo "  (under strace: $(per_s "${NF[$ds]}" "$(elapsed "$t0" "$t1")" 1) files/s; seconds are ferryd's time in each call)"
done

if ((NFAIL > 0)); then
        echo "smallfiles: $NFAIL transfer(s) failed (see above)" >&2
        exit 1
fi
exit 0
