#!/usr/bin/env bash
# bench/fanout.sh [BUILD_DIR] — ferry push to several guests at once by libvirt name.
#
# N ferryd (one per "guest") on Unix sockets, each the channel of a domain of libvirt's test
# driver (-c test:///.../node.xml), so `ferry push --domain 'g*'` runs the real fan-out: one
# session per guest on threads, --max-rate shared through core/budget/share.  Printed:
#   capped     aggregate rate with --max-rate CAP against the cap (target >= 0.95), and Jain's
#              fairness index over the guests' rates (target >= 0.95)
#   uncapped   aggregate rate of N guests against one guest alone, in the same run
# A benchmark, not a test: it exits 0 whatever the figures; non-zero only when a push fails.
#
# Environment:
#   BENCH_GUESTS  guests (default 4)
#   BENCH_SIZE    bytes per guest (default 512M; K/M/G suffixes)
#   BENCH_CAP     the shared --max-rate (default 400M; ferry's suffixes are powers of 1024)
#   BENCH_RUNS    runs of each, the median is printed (default 3)
#   BENCH_DIR     where the guests' roots go (default /dev/shm: the disk is not what is measured)
set -u -o pipefail
# shellcheck disable=SC2034 # read by lib.sh
BENCH_NAME=fanout
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export LC_ALL=C

BUILD=${1:-build}
FERRY=$(realpath "$BUILD/ferry") FERRYD=$(realpath "$BUILD/ferryd")
[[ -x $FERRY && -x $FERRYD ]] || die "'$BUILD/ferry' or '$BUILD/ferryd' is missing; run 'make all' first"
command -v jq >/dev/null || die "jq is not installed"
N=${BENCH_GUESTS:-4}
SIZE=$(numfmt --from=iec "${BENCH_SIZE:-512M}") || die "bad BENCH_SIZE"
CAP=${BENCH_CAP:-400M}
CAP_B=$(numfmt --from=iec "$CAP") || die "bad BENCH_CAP"
RUNS=${BENCH_RUNS:-3}

W=$(mktemp -d "${BENCH_DIR:-/dev/shm}/ferry-fanout.XXXXXX") || die "cannot make a work directory"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"' EXIT

{
	echo "<node>"
	for ((i = 1; i <= N; i++)); do
		mkdir -p "$W/root$i"
		cat <<EOF
  <domain type='test'><name>g$i</name><memory>65536</memory><os><type>hvm</type></os>
    <devices><channel type='unix'><source mode='bind' path='$W/g$i.sock'/>
      <target type='virtio' name='org.ferry.0'/></channel></devices></domain>
EOF
	done
	echo "</node>"
} >"$W/node.xml"
URI=test://$W/node.xml
for ((i = 1; i <= N; i++)); do
	"$FERRYD" --listen "unix:$W/g$i.sock" --root "$W/root$i" 2>"$W/ferryd$i.log" &
	PIDS+=($!)
	wait_sock "$W/g$i.sock" || die "ferryd $i did not come up: $(cat "$W/ferryd$i.log")"
done
head -c "$SIZE" /dev/urandom >"$W/src.bin"

# push NAME DOMAIN... [-- OPTIONS]: one run; records NAME.agg (MiB/s over the wall time of
# the whole command, libvirt look-ups and session ends included), NAME.sum (the guests' own
# rates added up: bytes over each file's seconds, as --json reports them) and, for several
# guests, NAME.jain and NAME.min/max (per guest, MiB/s).
push() {
	local name=$1 t0 t1 rates
	shift
	local doms=() opts=()
	while (($#)) && [[ $1 != -- ]]; do doms+=(--domain "$1"); shift; done
	(($#)) && shift
	opts=("$@")
	for ((i = 1; i <= N; i++)); do rm -f "$W/root$i/x.bin"; done
	t0=$(date +%s.%N)
	"$FERRY" push -c "$URI" "${doms[@]}" --json --no-resume "${opts[@]}" "$W/src.bin" x.bin >"$W/out" 2>"$W/err" ||
		{ fail "$name: ferry exited $?: $(tail -n 3 "$W/err")"; return; }
	t1=$(date +%s.%N)
	local n=$((${#doms[@]} / 2))
	rec "$name.agg" "$(awk -v b="$((SIZE * n))" -v s="$(elapsed "$t0" "$t1")" 'BEGIN { printf "%.1f", b / s / 1048576 }')"
	rates=$(jq -r 'select(.kind == "file") | .bytes / .seconds / 1048576' "$W/out")
	rec "$name.sum" "$(awk '{ s += $1 } END { printf "%.1f", s }' <<<"$rates")"
	if ((n > 1)); then
		rec "$name.jain" "$(awk '{ s += $1; q += $1 * $1; n++ } END { printf "%.4f", s * s / (n * q) }' <<<"$rates")"
		rec "$name.min" "$(sort -g <<<"$rates" | head -n 1 | awk '{ printf "%.1f", $1 }')"
		rec "$name.max" "$(sort -g <<<"$rates" | tail -n 1 | awk '{ printf "%.1f", $1 }')"
	fi
}

all=()
for ((i = 1; i <= N; i++)); do all+=("g$i"); done
for ((r = 0; r < RUNS; r++)); do
	push one g1
	push all "${all[@]}"
	push capped "${all[@]}" -- --max-rate "$CAP"
done

cap_mib=$(awk -v b="$CAP_B" 'BEGIN { printf "%.1f", b / 1048576 }')
printf 'fan-out: %d guests, %s MiB each, median of %d runs, roots in %s\n' "$N" "$((SIZE >> 20))" "$RUNS" "${BENCH_DIR:-/dev/shm}"
printf '%-34s %9s %9s  %s\n' "run" "wall" "sum" "(MiB/s: bytes over the command's wall time; the guests' own rates added)"
printf '%-34s %9s %9s\n' "one guest, uncapped" "$(median one.agg)" "$(median one.sum)"
printf '%-34s %9s %9s  %.2fx one guest (sum); per guest %s-%s, Jain %s\n' "$N guests, uncapped" "$(median all.agg)" \
	"$(median all.sum)" "$(awk -v a="$(median all.sum)" -v b="$(median one.sum)" 'BEGIN { print a / b }')" \
	"$(median all.min)" "$(median all.max)" "$(median all.jain)"
printf '%-34s %9s %9s  %.3f (wall) %.3f (sum) of the cap, %s MiB/s; per guest %s-%s, Jain %s\n' \
	"$N guests, --max-rate $CAP shared" "$(median capped.agg)" "$(median capped.sum)" \
	"$(awk -v a="$(median capped.agg)" -v b="$cap_mib" 'BEGIN { print a / b }')" \
	"$(awk -v a="$(median capped.sum)" -v b="$cap_mib" 'BEGIN { print a / b }')" "$cap_mib" \
	"$(median capped.min)" "$(median capped.max)" "$(median capped.jain)"
[[ $NFAIL == 0 ]]
