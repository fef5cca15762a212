#!/usr/bin/env bash
# make demo: a real transfer with telemetry.  ferryd serves a temporary
# directory on a Unix socket (stand-in for a guest), a 256 MiB dataset goes
# in and comes back out, and the digests are compared.
set -euo pipefail
build=${1:-build}
size=${DEMO_SIZE:-256M}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/ferry-demo.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/guest"
echo "== a $size dataset"
head -c "$size" /dev/urandom > "$work/dataset.bin"

echo "== ferryd serving $work/guest on unix:$work/ferry.sock"
"$build/ferryd" --listen "unix:$work/ferry.sock" --root "$work/guest" &
pid=$!
for _ in $(seq 100); do [ -S "$work/ferry.sock" ] && break; sleep 0.05; done

echo "== ferry push (progress on a terminal, then the telemetry of the transfer)"
"$build/ferry" push --to "unix:$work/ferry.sock" --progress -v --json "$work/dataset.bin" dataset.bin \
        | tee "$work/push.json" | python3 -m json.tool
echo "== ferry pull"
"$build/ferry" pull --from "unix:$work/ferry.sock" --progress -v --json dataset.bin "$work/back.bin" \
        | tee "$work/pull.json" | python3 -m json.tool

d1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["digest"])' "$work/push.json")
d2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["digest"])' "$work/pull.json")
echo "== digests: push $d1, pull $d2"
[ "$d1" = "$d2" ] || { echo "ferry demo: digests differ" >&2; exit 1; }
cmp "$work/dataset.bin" "$work/back.bin"
echo "== the file that came back is byte-identical to the one that went in"
