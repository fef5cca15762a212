#!/usr/bin/env bash
# bench/compress.sh [BUILD_DIR] — what --compress does, against --compress off in
# the same run (issue 11): ferry push over a Unix socket into a local ferryd,
# alternating the modes, medians of BENCH_RUNS (5).
#
#   text, --max-rate CAP  a tar of /usr/include through a channel capped at
#                         CAP (default 100M): auto and zstd against off
#   random, uncapped      incompressible data on a fast socket: auto must not
#                         lose against off
#   text, uncapped        the fast socket again, with text: auto on one core
#                         (--compress-threads 0) and with the default helper
#                         threads, against off
#
# Prints MB/s (raw bytes per wall second, to fsync on the receiver), the bytes
# that crossed, the share of chunks compressed, and the ratios.  A benchmark:
# it never fails on a number.
#
# Environment: BENCH_RUNS (5), BENCH_CAP (100M), BENCH_RAND_SIZE (512M),
# BENCH_DIR (/var/tmp).
set -u -o pipefail
# shellcheck disable=SC2034 # read by lib.sh
BENCH_NAME=compress
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export LC_ALL=C

BUILD=${1:-build}
RUNS=${BENCH_RUNS:-5}
CAP=${BENCH_CAP:-100M}
for b in ferry ferryd; do [[ -x $BUILD/$b ]] || die "'$BUILD/$b' is missing; run 'make all' first"; done
command -v jq >/dev/null || die "jq is not installed"
W=$(mktemp -d "${BENCH_DIR:-/var/tmp}/ferry-compress.XXXXXX") || die "no work directory"
PID=
cleanup() { [[ -n $PID ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$W/root" "$W/bin"
cp "$BUILD/ferry" "$BUILD/ferryd" "$W/bin/"

tar cf "$W/text.tar" -C /usr/include . 2>/dev/null || die "cannot make the text corpus"
head -c "$(numfmt --from=iec "${BENCH_RAND_SIZE:-512M}")" /dev/urandom >"$W/rand.bin"
"$W/bin/ferryd" --listen "unix:$W/sock" --root "$W/root" 2>"$W/ferryd.log" &
PID=$!
wait_sock "$W/sock" || die "ferryd did not start: $(cat "$W/ferryd.log")"

# one KEY SRC MODE [ferry options]: a push, its figures recorded under KEY.
one() {
        local key=$1 src=$2 mode=$3
        shift 3
        rm -f "$W/root/dst"
        if ! "$W/bin/ferry" push --json --no-resume --compress "$mode" "$@" --to "unix:$W/sock" "$src" dst >"$W/out" 2>"$W/err"; then
                fail "$key: $(tail -1 "$W/err")"
                rec "$key.fail" 1
                return
        fi
        local s
        s=$(grep '"kind":"summary"' "$W/out")
        rec "$key" "$(jq -r '.bytes_sent / .seconds / 1e6' <<<"$s")"
        rec "$key.wire" "$(jq -r '.wire_bytes' <<<"$s")"
        rec "$key.share" "$(jq -r '.compressed_share' <<<"$s")"
}

echo "compress: text $(numfmt --to=iec "$(stat -c %s "$W/text.tar")") (tar of /usr/include) at --max-rate $CAP; random $(numfmt --to=iec "$(stat -c %s "$W/rand.bin")") uncapped; $RUNS runs each, alternating" >&2
for ((i = 0; i < RUNS; i++)); do
        for m in off auto zstd; do one "text.$m" "$W/text.tar" "$m" --max-rate "$CAP"; done
        for m in off auto; do one "rand.$m" "$W/rand.bin" "$m"; done
        one text-fast.off "$W/text.tar" off
        one text-fast.auto1 "$W/text.tar" auto --compress-threads 0
        one text-fast.auto "$W/text.tar" auto
done

printf '%-26s %10s %14s %8s %10s\n' case MB/s wire_bytes share "vs off"
for c in text.off text.auto text.zstd rand.off rand.auto text-fast.off text-fast.auto1 text-fast.auto; do
        base=${c%.*}.off
        printf '%-26s %10.1f %14s %8s %10s%s\n' "$c" "$(median "$c")" "$(median "$c.wire")" "$(median "$c.share")" \
                "$(ratio "$(median "$c")" "$(median "$base")")" "$(nfail "$c")"
done
echo "helper threads (text, uncapped): auto $(ratio "$(median text-fast.auto)" "$(median text-fast.auto1)")x auto on one core; $(nproc) cores here, ferryd on the same ones"
echo "targets: text auto >= 1.5x off at $CAP: $(yn "$(ratio "$(median text.auto)" "$(median text.off)")" '>=' 1.5); random auto >= 0.95x off: $(yn "$(ratio "$(median rand.auto)" "$(median rand.off)")" '>=' 0.95)"
exit $((NFAIL > 0))
