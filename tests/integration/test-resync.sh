#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ferryd finds the first frame again in a stream that starts with junk
# (leftovers of an earlier session, magic starts, a truncated header):
# push and pull through corrupt-proxy --garbage succeed with the right bytes.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/root" "$T/src" "$T/back"
start_ferryd "$T/root"
SIZE=$((4 * CHUNK + 99))
mkfile "$T/src/r.bin" "$SIZE"

start_proxy --garbage 5000
run_ferry push --to "unix:$PROXY_SOCK" --json "$T/src/r.bin" r.bin
expect_rc 0 "push after 5000 bytes of garbage"
grep -q 'sent 5000 bytes of garbage' "$PROXY_LOG" || fail "corrupt-proxy sent no garbage: $(cat "$PROXY_LOG")"
same_file "$T/src/r.bin" "$T/root/r.bin"
check_json_ok "$OUT" 1 push "$SIZE" >/dev/null

# Garbage of other lengths, including one shorter than a frame header.
for n in 1 15 16 100000; do
	start_proxy --garbage "$n"
	run_ferry pull --from "unix:$PROXY_SOCK" --json r.bin "$T/back/r$n.bin"
	expect_rc 0 "pull after $n bytes of garbage"
	same_file "$T/src/r.bin" "$T/back/r$n.bin"
	check_json_ok "$OUT" 1 pull "$SIZE" >/dev/null
done
assert_no_tmp "$T/root"
assert_no_tmp "$T/back"
kill -0 "$FERRYD_PID" || fail "ferryd died"
