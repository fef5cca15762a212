#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Push and pull over TCP on 127.0.0.1 (a random free port): a few sizes and
# a 256 MiB file (64 MiB with FERRY_SMALL=1).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/root" "$T/src" "$T/back"

# A random high port; another one if it is taken.
started=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
	PORT=$((20000 + RANDOM % 40000))
	if START_QUIET=1 start_ferryd_at "tcp:127.0.0.1:$PORT" "$T/root"; then
		started=1
		break
	fi
	grep -qi 'in use' "$FERRYD_LOG" || { cat "$FERRYD_LOG" >&2; fail "ferryd cannot listen on tcp:127.0.0.1:$PORT"; }
done
[ "$started" = 1 ] || fail "no free TCP port found in 10 attempts"
TGT=tcp:127.0.0.1:$PORT

roundtrip() {
	local name=$1 size=$2 dpush dpull
	mkfile "$T/src/$name" "$size"
	run_ferry push --to "$TGT" --json "$T/src/$name" "$name"
	expect_rc 0
	same_file "$T/src/$name" "$T/root/$name"
	check_eq "push $name: json lines" "$(json_lines "$OUT")" 1
	dpush=$(check_json_ok "$OUT" 1 push "$size" tcp)
	run_ferry pull --from "$TGT" --json "$name" "$T/back/$name"
	expect_rc 0
	same_file "$T/src/$name" "$T/back/$name"
	check_eq "pull $name: json lines" "$(json_lines "$OUT")" 1
	dpull=$(check_json_ok "$OUT" 1 pull "$size" tcp)
	check_eq "$name: digest of push and pull" "$dpull" "$dpush"
}

roundtrip empty.bin 0
roundtrip one.bin 1
roundtrip chunk+1.bin $((CHUNK + 1))
BIG=$(big 256M 64M)
note "big file: $BIG bytes"
roundtrip big.bin "$BIG"

# The TCP target also takes "localhost".
run_ferry push --to "tcp:localhost:$PORT" "$T/src/one.bin" one-again.bin
expect_rc 0
same_file "$T/src/one.bin" "$T/root/one-again.bin"

assert_no_tmp "$T/root"
assert_no_tmp "$T/back"
kill -0 "$FERRYD_PID" || fail "ferryd died"
