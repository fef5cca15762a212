#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# AF_VSOCK on the local machine (CID 1, vsock_loopback): push and pull.
# Skipped where the kernel cannot connect a local vsock; the VM tests cover
# vsock inside a guest.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

REASON="AF_VSOCK cannot connect on this machine (no vsock_loopback / vhost-vsock)"
mkdir -p "$T/root" "$T/src" "$T/back"

started=0
for _ in 1 2 3 4 5; do
	PORT=$((20000 + RANDOM % 40000))
	if START_QUIET=1 start_ferryd_at "vsock::$PORT" "$T/root" --allow-cid any; then
		started=1
		break
	fi
	grep -qi 'in use' "$FERRYD_LOG" || skip "$REASON: ferryd: $(tail -n1 "$FERRYD_LOG")"
done
[ "$started" = 1 ] || fail "no free vsock port in 5 attempts"

SIZE=$((2 * CHUNK + 1))
mkfile "$T/src/v.bin" "$SIZE"
run_ferry push --to "vsock:1:$PORT" --timeout 5 --json "$T/src/v.bin" v.bin
if [ "$RC" = 3 ] && grep -qE 'cannot connect.*(not supported|No such device|timed out|reset by peer|Cannot assign|unreachable|Connection refused)' "$ERR"; then
	note "$(head -n1 "$ERR")"
	skip "$REASON"
fi
expect_rc 0 "push over vsock to CID 1"
same_file "$T/src/v.bin" "$T/root/v.bin"
check_json_ok "$OUT" 1 push "$SIZE" vsock >/dev/null
run_ferry pull --from "vsock:1:$PORT" --json v.bin "$T/back/v.bin"
expect_rc 0 "pull over vsock from CID 1"
same_file "$T/src/v.bin" "$T/back/v.bin"
check_json_ok "$OUT" 1 pull "$SIZE" vsock >/dev/null

# The default --allow-cid (2, the host) refuses a local peer.
stop_pid "$FERRYD_PID"
START_QUIET=1 start_ferryd_at "vsock::$PORT" "$T/root" || fail "ferryd cannot listen on vsock::$PORT again"
run_ferry push --to "vsock:1:$PORT" --timeout 5 "$T/src/v.bin" refused.bin
[ "$RC" = 3 ] || [ "$RC" = 4 ] || { show_run >&2; fail "a peer with CID 1 was not refused (exit $RC)"; }
assert_no_dest "$T/root/refused.bin"
wait_until 5 grep -q 'refused a vsock connection' "$FERRYD_LOG" || fail "ferryd did not log the refusal"
