#!/usr/bin/env bash
# bench/ab.sh BUILD_A BUILD_B — two builds of ferry on the same path in the same
# run: push and pull of one file over a Unix socket into a local ferryd of the
# same build, A and B alternating, medians of BENCH_RUNS (5) and the ratio B/A;
# and ferryd's CPU time per GB moved, which a busy machine disturbs less.
# For a change that should not move a figure (a refactor), and for one that
# should.  A benchmark: it never fails on a number.
#
# Environment: BENCH_SIZE (1G), BENCH_RUNS (5), BENCH_DIR (/var/tmp),
# A_ARGS / B_ARGS (extra ferry options for each build, e.g. B_ARGS="--compress off"),
# A_FERRYD_ARGS / B_FERRYD_ARGS (extra ferryd options; bench/telemetry.sh).
set -u -o pipefail
# shellcheck disable=SC2034 # read by lib.sh
BENCH_NAME=ab
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export LC_ALL=C
[[ $# -eq 2 ]] || die "usage: bench/ab.sh BUILD_A BUILD_B"
RUNS=${BENCH_RUNS:-5}
SIZE=$(numfmt --from=iec "${BENCH_SIZE:-1G}") || die "bad BENCH_SIZE"
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/ferry-ab.XXXXXX") || die "no work directory"
PIDS=()
declare -A DPID
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
head -c "$SIZE" /dev/urandom >"$W/src.bin"
for v in A B; do
        b=$([[ $v == A ]] && echo "$1" || echo "$2")
        mkdir -p "$W/$v/bin" "$W/$v/root" "$W/$v/back"
        cp "$b/ferry" "$b/ferryd" "$W/$v/bin/" || die "no binaries in '$b'"
        cp "$W/src.bin" "$W/$v/root/src.bin"
        dargs=$([[ $v == A ]] && echo "${A_FERRYD_ARGS:-}" || echo "${B_FERRYD_ARGS:-}")
        # shellcheck disable=SC2086
        "$W/$v/bin/ferryd" --listen "unix:$W/$v/sock" --root "$W/$v/root" $dargs 2>"$W/$v/ferryd.log" &
        PIDS+=($!)
        DPID[$v]=$!
        wait_sock "$W/$v/sock" || die "ferryd $v did not start"
done
# one V OP: a push (into the root) or a pull (back out), MB/s recorded.
one() {
        local v=$1 op=$2 args
        args=$([[ $v == A ]] && echo "${A_ARGS:-}" || echo "${B_ARGS:-}")
        rm -f "$W/$v/root/dst.bin" "$W/$v/back/src.bin"
        local t0 t1 c0 c1
        c0=$(proc_cpu "${DPID[$v]}")
        t0=$(date +%s.%N)
        if [[ $op == push ]]; then
                # shellcheck disable=SC2086
                "$W/$v/bin/ferry" push --no-resume $args --to "unix:$W/$v/sock" "$W/src.bin" dst.bin 2>>"$W/err" || { fail "$v $op"; return; }
        else
                # shellcheck disable=SC2086
                "$W/$v/bin/ferry" pull --no-resume $args --from "unix:$W/$v/sock" src.bin "$W/$v/back/" 2>>"$W/err" || { fail "$v $op"; return; }
        fi
        t1=$(date +%s.%N)
        c1=$(proc_cpu "${DPID[$v]}")
        rec "$v.$op" "$(awk -v s="$SIZE" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", s / (b - a) / 1e6 }')"
        rec "$v.$op.cpu" "$(awk -v s="$SIZE" -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", (b - a) / (s / 1e9) }')"
}
echo "ab: $(numfmt --to=iec "$SIZE") over a Unix socket, A=$1 ${A_ARGS:-} ${A_FERRYD_ARGS:-} B=$2 ${B_ARGS:-} ${B_FERRYD_ARGS:-}, $RUNS runs alternating" >&2
for ((i = 0; i < RUNS; i++)); do
        if ((i % 2)); then order="B A"; else order="A B"; fi
        for op in push pull; do for v in $order; do one "$v" "$op"; done; done
done
printf '%-6s %10s %10s %8s %22s %22s\n' op "A MB/s" "B MB/s" "B/A" "A range" "B range"
for op in push pull; do
        printf '%-6s %10s %10s %8s %22s %22s\n' "$op" "$(median "A.$op")" "$(median "B.$op")" \
                "$(ratio "$(median "B.$op")" "$(median "A.$op")")" "$(range "A.$op")" "$(range "B.$op")"
done
printf '%-6s %10s %10s %8s %22s %22s\n' "ferryd" "A CPU s/GB" "B CPU s/GB" "B/A" "A range" "B range"
for op in push pull; do
        printf '%-6s %10s %10s %8s %22s %22s\n' "$op" "$(median "A.$op.cpu")" "$(median "B.$op.cpu")" \
                "$(ratio "$(median "B.$op.cpu")" "$(median "A.$op.cpu")")" "$(range "A.$op.cpu")" "$(range "B.$op.cpu")"
done
exit $((NFAIL > 0))
