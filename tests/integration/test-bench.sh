#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ferry bench (issue 12) against a real ferryd on a unix socket, small sizes:
# - the JSON: a raw ceiling > 0 each way, every cell ok with mb_per_s > 0,
#   each ratio its mb_per_s over the raw ceiling of its direction, chunk
#   round trips ordered, the capped cell saying what it ran with;
# - nothing left behind: ferryd's root as it was (its scratch directory is
#   gone once ferry bench has exited), our --tmpdir empty;
# - bench mode's wire rules with a crafted peer (tools/bench-peer): without
#   bit 7 a sink, a source and a scratch directory each end the session with
#   EPROTO; with it, each does its job; a guest that answers an ordinary
#   pull with a bench file is refused and nothing is written; ferry bench
#   against a guest without bit 7 says so;
# - the SVG renders in a real browser: headless Chromium takes a screenshot,
#   and the PNG (decoded here with zlib) is not blank.  Without chromium the
#   test ends, after every other check, with a skip.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip "jq is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
[ -x "$TOOLS/bench-peer" ] || fail "$TOOLS/bench-peer is missing (make tests)"

mkdir -p "$T/root/keep" "$T/tmp"
echo "left alone" >"$T/root/keep/note"
before=$(tree_listing "$T/root")
# 4M chunks on both sides, so the 4M cell runs as asked; a 2M cell, a 4M cell
# and ferryd's 8M window make the window sweep's 32M cell a capped one.
start_ferryd "$T/root" --max-chunk 4M --chunk-size 4M

# ---- ferry bench, small ----------------------------------------------------
run_ferry bench --to "unix:$FERRYD_SOCK" --size 4M --duration 0.2 --chunks 64K,4M --windows 2M,32M \
	--tmpdir "$T/tmp" --json --svg "$T/bench.svg"
expect_rc 0 "ferry bench"
J=$OUT
jq -e . "$J" >/dev/null || fail "ferry bench --json is not one JSON document: $(head -c 300 "$J")"
check_eq "status" "$(jq -r .status "$J")" ok
check_eq "failed" "$(jq -r .failed "$J")" 0
for d in push pull; do
	jq -e --arg d "$d" '.raw_mb_per_s[$d] > 0' "$J" >/dev/null || fail "raw_mb_per_s.$d: $(jq -c .raw_mb_per_s "$J")"
	jq -e --arg d "$d" '[.raw[] | select(.direction == $d and .status == "ok" and .ratio == 1)] | length == 1' "$J" \
		>/dev/null || fail "no raw $d cell at ratio 1: $(jq -c .raw "$J")"
done
# chunk 64K,4M + window 2M,32M (at 1M) + 3 data cells, each way
check_eq "cells" "$(jq '.cells | length' "$J")" 14
jq -e '[.cells[] | .status == "ok" and .mb_per_s > 0 and .files >= 1 and .bytes == .files * 4194304] | all' "$J" \
	>/dev/null || fail "a cell without a throughput: $(jq -c '[.cells[] | {direction, chunk, window, status, mb_per_s, files, error}]' "$J")"
# ratio = mb_per_s / raw_mb_per_s of the cell's direction (to the rounding of the printed figures)
jq -e '.raw_mb_per_s as $raw | [.cells[] | ((.ratio - .mb_per_s / $raw[.direction]) | fabs) <= 0.0005 + 0.001 * .ratio] | all' \
	"$J" >/dev/null || fail "ratios do not match: $(jq -c '[.raw_mb_per_s, (.cells[] | {direction, mb_per_s, ratio})]' "$J")"
# round trips: the sender's own (push) in order; a pull's come from ferryd, without p90
jq -e '[.cells[] | select(.direction == "push") | .rtt_us | .count > 0 and .p50 <= .p90 and .p90 <= .p99 and .p99 <= .max] | all' \
	"$J" >/dev/null || fail "push round trips out of order: $(jq -c '[.cells[] | select(.direction == "push") | .rtt_us]' "$J")"
jq -e '[.cells[] | select(.direction == "pull") | .rtt_us.p90 == null and .rtt_us.measured_by == "ferryd"] | all' "$J" \
	>/dev/null || fail "pull round trips: $(jq -c '[.cells[] | select(.direction == "pull") | .rtt_us]' "$J")"
jq -e '[.cells[] | select(.direction == "push") | .waits_s | type == "object" and has("receiver_busy")] | all' "$J" \
	>/dev/null || fail "push waits by cause: $(jq -c '[.cells[] | .waits_s]' "$J")"
# the chunk sizes ran as asked; ferryd's 8M window capped the 32M push
check_eq "64K chunks" "$(jq '[.cells[] | select(.chunk == 65536) | .chunk_used] | unique | .[0]' "$J")" 65536
check_eq "4M chunks" "$(jq '[.cells[] | select(.chunk == 4194304) | .chunk_used] | unique | .[0]' "$J")" 4194304
check_eq "32M push window" "$(jq '.cells[] | select(.direction == "push" and .window == 33554432) | .window_used' "$J")" 8388608
# text compresses when asked to, random never does
jq -e '[.cells[] | select(.compress == "auto" and .data == "text") | .wire_bytes < .bytes] | all' "$J" >/dev/null ||
	note "compress auto chose not to compress text here (its choice: it measures)"
jq -e '[.cells[] | select(.compress == "off") | .chunks_compressed == 0] | all' "$J" >/dev/null ||
	fail "compress off, yet chunks crossed compressed"

# Nothing left: ferryd removed its scratch directory before it said BYE.
check_eq "ferryd's root after ferry bench" "$(tree_listing "$T/root")" "$before"
[ -z "$(ls -A "$T/tmp")" ] || fail "ferry bench left files in its --tmpdir: $(ls -A "$T/tmp")"

# The table, for a person: the same run's shape.
run_ferry bench --to "unix:$FERRYD_SOCK" --size 1M --duration 0 --chunks 1M --windows 8M --no-data --tmpdir "$T/tmp"
expect_rc 0 "ferry bench (table)"
grep -qE '^push raw +1M +8M off +random +[0-9.]+ +1\.000' "$OUT" || { show_run >&2; fail "no raw push row in the table"; }
grep -qE '^pull e2e +1M +8M off +random +[0-9.]+ +[0-9.]+' "$OUT" || { show_run >&2; fail "no e2e pull row in the table"; }
check_eq "ferryd's root after the table run" "$(tree_listing "$T/root")" "$before"

# Usage errors.
run_ferry bench --to "unix:$FERRYD_SOCK" --directions sideways
expect_rc 2 "--directions sideways"
expect_err "not push, pull or both"
run_ferry bench --to "unix:$FERRYD_SOCK" --chunks 1K
expect_rc 2 "--chunks 1K"

# ---- bench mode on the wire, with a crafted peer ----------------------------
"$TOOLS/bench-peer" host "$FERRYD_SOCK" >"$T/peer.out" 2>&1 || { cat "$T/peer.out" >&2; fail "bench-peer host"; }
for what in "FILE_BEGIN FY_FB_BENCH" "GET FY_GET_BENCH" "MKDIR FY_MK_SCRATCH"; do
	grep -q "^ok: $what without bit 7: ERROR 15 .*bench mode (feature bit 7) was not agreed" "$T/peer.out" ||
		fail "$what without bit 7 was not refused: $(cat "$T/peer.out")"
done
grep -q '^ok: a bench file sunk: FILE_STATUS 0' "$T/peer.out" || fail "sink: $(cat "$T/peer.out")"
grep -q '^ok: bench GET: 10000 bytes in 3 chunks, digests right' "$T/peer.out" || fail "source: $(cat "$T/peer.out")"
kill -0 "$FERRYD_PID" || fail "ferryd died"
check_eq "ferryd's root after bench-peer" "$(tree_listing "$T/root")" "$before"

# A guest that answers an ordinary pull with a bench file: refused, nothing written.
mkdir -p "$T/pulled"
bg_start "$T/guest.log" "$TOOLS/bench-peer" guest "$T/g.sock" lie
wait_until 10 grep -q listening "$T/guest.log" || fail "bench-peer guest did not come up: $(cat "$T/guest.log")"
run_ferry pull --retry 0 --from "unix:$T/g.sock" x.bin "$T/pulled/"
expect_rc 4 "a bench file for an ordinary GET"
expect_err "bench file, but we asked for no bench data"
[ -z "$(ls -A "$T/pulled")" ] || fail "a bench file was written: $(ls -A "$T/pulled")"

# A guest without bench mode.
bg_start "$T/guest2.log" "$TOOLS/bench-peer" guest "$T/g2.sock" nobench
wait_until 10 grep -q listening "$T/guest2.log" || fail "bench-peer guest did not come up: $(cat "$T/guest2.log")"
run_ferry bench --to "unix:$T/g2.sock" --size 1M --tmpdir "$T/tmp"
expect_rc 1 "ferry bench against a guest without bit 7"
expect_err "does not offer bench mode \(feature bit 7\)"

# ---- the picture, in a real browser ----------------------------------------
grep -q '<svg' "$T/bench.svg" || fail "--svg wrote no SVG: $(head -c 200 "$T/bench.svg")"
python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$T/bench.svg" ||
	fail "the SVG is not well-formed XML"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || skip "chromium is not installed (apt-get install chromium): the SVG was not rendered"
timeout -k 5 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="$(mktemp -d "$T/chrome.XXXXXX")" --screenshot="$T/bench.png" --window-size=1000,460 \
	"file://$T/bench.svg" >"$T/chromium.log" 2>&1 || { tail -20 "$T/chromium.log" >&2; fail "chromium failed"; }
[ -s "$T/bench.png" ] || fail "chromium made no screenshot: $(tail -5 "$T/chromium.log")"
# Decode the PNG (zlib, the five row filters) and count its colours: a blank
# page is one colour; the plots have axes, grid, text, lines in several.
python3 - "$T/bench.png" <<'EOF' || fail "the screenshot of the SVG looks blank"
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat = 8, b''
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b'IHDR':
        w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
    elif kind == b'IDAT':
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, colours, ink = bytearray(stride), {}, 0
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        colours[px] = colours.get(px, 0) + 1
    prev = line
bg = max(colours.values())
ink = w * h - bg
# the two directions' lines: push blue (#1f77b4), pull orange (#ff7f0e)
def near(rgb):
    return sum(n for px, n in colours.items() if all(abs(px[k] - rgb[k]) <= 40 for k in range(3)))
push, pull = near((31, 119, 180)), near((255, 127, 14))
print(f'{w}x{h}, {len(colours)} colours, {100 * ink / (w * h):.1f}% not background, '
      f'{push} push-blue and {pull} pull-orange pixels')
sys.exit(0 if len(colours) >= 16 and ink >= w * h // 100 and push >= 50 and pull >= 50 else 1)
EOF
note "the SVG rendered in $("$CHROMIUM" --version 2>/dev/null | head -1)"
