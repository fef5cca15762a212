#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A byte flipped in the 3rd DATA frame (corrupt-proxy) fails the file with
# exit 5: named on stderr as corrupted, nothing at the destination name; on
# push (guest side) and on pull (host side).  The chunks verified before the
# damaged one stay as a partial file (the damage was the stream's), and the
# same command without the proxy resumes after them.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/root" "$T/src" "$T/back"
SIZE=$((16 * CHUNK))
mkfile "$T/src/c.bin" "$SIZE"
start_ferryd "$T/root"

# Push: the guest sees the bad chunk.
start_proxy --flip-data 3
run_ferry push --to "unix:$PROXY_SOCK" --chunk-size 1M --json "$T/src/c.bin" c.bin
expect_rc 5 "push through --flip-data 3"
expect_err "push '$T/src/c.bin'.*corrupted" "push through --flip-data 3"
check_eq "push: json status" "$(json_get "$OUT" 1 status)" error
grep -q 'flipped byte' "$PROXY_LOG" || fail "corrupt-proxy flipped nothing: $(cat "$PROXY_LOG")"
assert_no_dest "$T/root/c.bin"
wait_until 10 test -n "$(part_files "$T/root")" || fail "no partial file after a corrupted push"
assert_resumable "$T/root" "after a corrupted push"
check_eq "root after a corrupted push" "$(find "$T/root" -mindepth 1 | wc -l)" 2
kill -0 "$FERRYD_PID" || fail "ferryd died after a corrupted push"

# The same push without the proxy works (the damage was the proxy's), after
# the two good chunks.
run_ferry push --to "unix:$FERRYD_SOCK" --chunk-size 1M --json "$T/src/c.bin" c.bin
expect_rc 0
same_file "$T/src/c.bin" "$T/root/c.bin"
check_eq "push after the damage: bytes_skipped" "$(json_get "$OUT" 1 bytes_skipped)" $((2 << 20))
assert_no_tmp "$T/root"

# Two files pulled, the first one damaged: the second still arrives.
cp "$T/src/c.bin" "$T/root/d.bin"
start_proxy --flip-data-back 3
run_ferry pull --from "unix:$PROXY_SOCK" --timeout 10 c.bin d.bin "$T/back/"
expect_rc 5 "pull of two files, the first damaged"
expect_err "pull 'c.bin'.*corrupted"
grep -q "'d.bin'" "$ERR" && fail "d.bin reported as failed: $(cat "$ERR")"
assert_no_dest "$T/back/c.bin"
same_file "$T/src/c.bin" "$T/back/d.bin"
assert_resumable "$T/back" "after a damaged pull of two files"
kill -0 "$FERRYD_PID" || fail "ferryd died after a corrupted pull"

# Pull of one file: the host sees the bad chunk.  (--timeout 10: should the
# host wait for a FILE_END that the guest need not send after a failure
# status, this fails in 10 s rather than 30.)
mkdir -p "$T/back1"
start_proxy --flip-data-back 3
run_ferry pull --from "unix:$PROXY_SOCK" --chunk-size 1M --timeout 10 --json c.bin "$T/back1/c.bin"
expect_rc 5 "pull through --flip-data-back 3"
expect_err "pull 'c.bin'.*corrupted" "pull through --flip-data-back 3"
check_eq "pull: json status" "$(json_get "$OUT" 1 status)" error
grep -q 'flipped byte' "$PROXY_LOG" || fail "corrupt-proxy flipped nothing: $(cat "$PROXY_LOG")"
assert_no_dest "$T/back1/c.bin"
assert_resumable "$T/back1" "after a corrupted pull"
check_eq "local directory after a corrupted pull" "$(find "$T/back1" -mindepth 1 | wc -l)" 2
run_ferry pull --from "unix:$FERRYD_SOCK" --chunk-size 1M --json c.bin "$T/back1/c.bin"
expect_rc 0 "pull after the damage"
same_file "$T/src/c.bin" "$T/back1/c.bin"
check_eq "pull after the damage: bytes_skipped" "$(json_get "$OUT" 1 bytes_skipped)" $((2 << 20))
assert_no_tmp "$T/back1"
# The guest's copy is untouched.
same_file "$T/src/c.bin" "$T/root/c.bin"
kill -0 "$FERRYD_PID" || fail "ferryd died after a corrupted pull"
