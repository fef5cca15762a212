#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Compression (PROTOCOL.md 9.9) with real peers:
# - a hostile host (tools/zstd-peer) sends ferryd a zstd bomb, a lying raw
#   length and a payload that is not zstd: each is that file's EBADMSG,
#   nothing at its name, and ferryd goes on (a good compressed file in the
#   same session and a normal push after it arrive);
# - text pushed and pulled with --compress zstd crosses compressed and
#   arrives identical - pulled, only from a ferryd --compress zstd: by
#   default ferryd takes compressed chunks but sends its own raw (the
#   guest's CPU is its workload's); a byte flipped in a compressed chunk
#   (corrupt-proxy) is asked for again and repaired;
# - ferryd --compress off refuses compression: nothing crosses compressed.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip "jq is not installed"
[ -x "$TOOLS/zstd-peer" ] || fail "$TOOLS/zstd-peer is missing (make tests)"

mkdir -p "$T/root" "$T/src" "$T/back"
start_ferryd "$T/root"

"$TOOLS/zstd-peer" "$FERRYD_SOCK" >"$T/peer.out" 2>&1 || fail "zstd-peer: $(cat "$T/peer.out")"
grep -q '^bomb.bin: FILE_STATUS 16 .*decompress' "$T/peer.out" || fail "bomb: $(cat "$T/peer.out")"
grep -q '^lie.bin: FILE_STATUS 16 ' "$T/peer.out" || fail "lying length: $(cat "$T/peer.out")"
grep -q '^junk.bin: FILE_STATUS 16 ' "$T/peer.out" || fail "junk: $(cat "$T/peer.out")"
grep -q '^ok.bin: FILE_STATUS 0 ' "$T/peer.out" || fail "good file: $(cat "$T/peer.out")"
kill -0 "$FERRYD_PID" || fail "ferryd died"
for f in bomb.bin lie.bin junk.bin; do assert_no_dest "$T/root/$f"; done
check_eq "ok.bin size" "$(filesize "$T/root/ok.bin")" 65536
assert_no_tmp "$T/root" 5

# Text, pushed and pulled compressed.
for ((i = 0; i < 40000; i++)); do echo "line $i: ferry moves large files between a host and its guests"; done >"$T/src/text.txt"
SIZE=$(filesize "$T/src/text.txt")
run_ferry push --compress zstd --json --to "unix:$FERRYD_SOCK" "$T/src/text.txt" text.txt
expect_rc 0 "compressed push"
same_file "$T/src/text.txt" "$T/root/text.txt"
wire=$(json_get "$OUT" 1 wire_bytes)
((wire * 3 < SIZE)) || fail "push: $wire bytes crossed for $SIZE of text"
((${wire:-0} > 0)) || fail "push: no wire_bytes in the report"
check_eq "push: summary compressed_share" "$(grep '"kind":"summary"' "$OUT" | jq -r .compressed_share)" 1
run_ferry pull --compress zstd --json --from "unix:$FERRYD_SOCK" text.txt "$T/back/"
expect_rc 0 "pull from a default ferryd"
same_file "$T/src/text.txt" "$T/back/text.txt"
check_eq "pull from a default ferryd: sent raw" "$(json_get "$OUT" 1 wire_bytes)" "$SIZE"
stop_pid "$FERRYD_PID"
start_ferryd "$T/root" --compress zstd
rm -f "$T/back/text.txt"
run_ferry pull --compress zstd --json --from "unix:$FERRYD_SOCK" text.txt "$T/back/"
expect_rc 0 "compressed pull"
same_file "$T/src/text.txt" "$T/back/text.txt"
wire=$(json_get "$OUT" 1 wire_bytes)
((wire * 3 < SIZE)) || fail "pull: $wire bytes crossed for $SIZE of text"

# A flipped byte inside a compressed chunk: asked for again, repaired.
rm -f "$T/root/text.txt"
start_proxy --flip-data 2
run_ferry push --compress zstd --chunk-size 64K --retry 0 --json --to "unix:$PROXY_SOCK" "$T/src/text.txt" text.txt
expect_rc 0 "a damaged compressed chunk"
grep -q 'flipped byte' "$PROXY_LOG" || fail "corrupt-proxy flipped nothing: $(cat "$PROXY_LOG")"
same_file "$T/src/text.txt" "$T/root/text.txt"
check_eq "damaged compressed chunk: retransmits" "$(json_get "$OUT" 1 retransmits)" 1

# auto, per chunk: a file of text, then random bytes, then zeros (48 MiB
# each) through a channel capped at 40 MB/s.  Auto starts raw; its samples
# see text that would move many times faster through the cap, it tries
# compression, which wins.  The random chunks go raw (zstd cannot shrink
# them; a try over them is no verdict), the zeros compressed.
CH=256
PART=$((48 << 20))
for ((i = 0; i < 20; i++)); do cat "$T/src/text.txt"; done >"$T/textn"
{ head -c $PART "$T/textn"
  head -c $PART /dev/urandom
  head -c $PART /dev/zero; } >"$T/src/mixed.bin"
rm -f "$T/textn"
check_eq "mixed file size" "$(filesize "$T/src/mixed.bin")" $((3 * PART))
run_ferry push --compress auto --max-rate 40M --chunk-size ${CH}K --no-resume --json \
	--to "unix:$FERRYD_SOCK" "$T/src/mixed.bin" mixed.bin
expect_rc 0 "auto: a mixed file"
same_file "$T/src/mixed.bin" "$T/root/mixed.bin"
rm -f "$T/root/mixed.bin" "$T/src/mixed.bin"
wire=$(json_get "$OUT" 1 wire_bytes)
zchunks=$(json_get "$OUT" 1 chunks_compressed)
note "mixed: $wire bytes crossed, $zchunks of $((3 * PART / (CH << 10))) chunks compressed"
# The random part crosses whole.  Of the text and of the zeros, what goes
# raw before compression is tried: a raw window (8 MiB) and the chunks
# read ahead with it (a window's worth), each at most 20 MiB of 48.
((wire >= PART)) || fail "mixed: $wire bytes crossed, less than its random part"
((wire < PART + (40 << 20))) || fail "mixed: $wire bytes crossed for 48 MiB each of text, random and zeros: auto compressed too little"
# Most text and zero chunks compressed (28 MiB of each at least); no random one.
part_chunks=$((PART / (CH << 10)))
((zchunks >= 2 * (28 << 20) / (CH << 10) && zchunks <= 2 * part_chunks)) ||
	fail "mixed: $zchunks chunks compressed (want most of the $((2 * part_chunks)) text and zero chunks, no random one)"

# A guest that refuses compression.
stop_pid "$FERRYD_PID"
start_ferryd "$T/root" --compress off
run_ferry push --compress zstd --no-resume --json --to "unix:$FERRYD_SOCK" "$T/src/text.txt" text2.txt
expect_rc 0 "push to ferryd --compress off"
same_file "$T/src/text.txt" "$T/root/text2.txt"
check_eq "--compress off: wire_bytes" "$(json_get "$OUT" 1 wire_bytes)" "$SIZE"
check_eq "--compress off: chunks_compressed" "$(json_get "$OUT" 1 chunks_compressed)" 0
echo "zstd: ok"
