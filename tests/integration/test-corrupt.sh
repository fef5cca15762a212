#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A byte flipped in the 3rd DATA frame (corrupt-proxy) is repaired: the
# receiver asks for the chunk again (CHUNK_NACK, PROTOCOL.md 9.10), the
# sender re-reads and re-sends it, the file arrives identical with the
# repair counted (retransmits), on push (the guest asks) and on pull (the
# host asks).  A chunk that stays damaged through every try fails its file
# with exit 5: tests/test-session.c, case corrupt.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/root" "$T/src" "$T/back"
SIZE=$((16 * CHUNK))
mkfile "$T/src/c.bin" "$SIZE"
start_ferryd "$T/root"

# Push: the guest sees the bad chunk and asks again.
start_proxy --flip-data 3
run_ferry push --to "unix:$PROXY_SOCK" --chunk-size 1M --json "$T/src/c.bin" c.bin
expect_rc 0 "push through --flip-data 3"
grep -q 'flipped byte' "$PROXY_LOG" || fail "corrupt-proxy flipped nothing: $(cat "$PROXY_LOG")"
same_file "$T/src/c.bin" "$T/root/c.bin"
check_eq "push: retransmits" "$(json_get "$OUT" 1 retransmits)" 1
check_eq "push: chunks" "$(json_get "$OUT" 1 chunks)" 16
assert_no_tmp "$T/root"
kill -0 "$FERRYD_PID" || fail "ferryd died after a corrupted push"

# Two files pulled, the first damaged: both arrive.
cp "$T/src/c.bin" "$T/root/d.bin"
start_proxy --flip-data-back 3
run_ferry pull --from "unix:$PROXY_SOCK" --timeout 10 --json c.bin d.bin "$T/back/"
expect_rc 0 "pull of two files, the first damaged"
grep -q 'flipped byte' "$PROXY_LOG" || fail "corrupt-proxy flipped nothing: $(cat "$PROXY_LOG")"
same_file "$T/src/c.bin" "$T/back/c.bin"
same_file "$T/src/c.bin" "$T/back/d.bin"
check_eq "pull: retransmits of the damaged file" "$(json_get "$OUT" 1 retransmits)" 1
check_eq "pull: retransmits of the other" "$(json_get "$OUT" 2 retransmits)" 0
assert_no_tmp "$T/back"
# The guest's copy is untouched.
same_file "$T/src/c.bin" "$T/root/c.bin"
kill -0 "$FERRYD_PID" || fail "ferryd died after a corrupted pull"
echo "corrupt: ok"
