#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Firecracker hybrid vsock: ferry speaks "CONNECT <port>" to the VMM socket
# (here fc-mux in front of a unix-socket ferryd).  The right port carries a
# push and a pull; a port nobody listens on is exit 3, "cannot connect".
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/root" "$T/src" "$T/back"
start_ferryd "$T/root"
[ -x "$TOOLS/fc-mux" ] || fail "$TOOLS/fc-mux is missing (make tests)"
MUX=$T/mux.sock
bg_start "$T/fc-mux.log" "$TOOLS/fc-mux" "$MUX" 1234 "$FERRYD_SOCK"
MUX_PID=$BG_PID
wait_until 20 test -S "$MUX" || { cat "$T/fc-mux.log" >&2; fail "fc-mux did not come up"; }

SIZE=$((5 * CHUNK + 3))
mkfile "$T/src/f.bin" "$SIZE"
run_ferry push --to "fc:$MUX:1234" --json "$T/src/f.bin" f.bin
expect_rc 0 "push over fc"
same_file "$T/src/f.bin" "$T/root/f.bin"
check_json_ok "$OUT" 1 push "$SIZE" fc >/dev/null

run_ferry pull --from "fc:$MUX:1234" --json f.bin "$T/back/f.bin"
expect_rc 0 "pull over fc"
same_file "$T/src/f.bin" "$T/back/f.bin"
check_json_ok "$OUT" 1 pull "$SIZE" fc >/dev/null

run_ferry push --to "fc:$MUX:4321" "$T/src/f.bin" wrong.bin
expect_rc 3 "push over fc to a port nobody listens on"
expect_err "cannot connect" "push over fc to port 4321"
assert_no_dest "$T/root/wrong.bin"
grep -q 'refused a client (port 4321)' "$T/fc-mux.log" || fail "fc-mux did not see port 4321: $(cat "$T/fc-mux.log")"

# The muxer is still there for the next client.
run_ferry push --to "fc:$MUX:1234" "$T/src/f.bin" again.bin
expect_rc 0 "push over fc after a refused one"
same_file "$T/src/f.bin" "$T/root/again.bin"
# Nobody behind the socket at all: exit 3 too.
run_ferry push --to "fc:$T/nothing.sock:1234" "$T/src/f.bin" none.bin
expect_rc 3 "push over fc to a missing socket"
expect_err "cannot connect"

# fc-mux ends on SIGTERM.
kill -TERM "$MUX_PID"
wait_until 10 eval '! kill -0 '"$MUX_PID"' 2>/dev/null' || fail "fc-mux ignored SIGTERM"
grep -q 'fc-mux: exiting' "$T/fc-mux.log" || fail "fc-mux did not exit cleanly: $(cat "$T/fc-mux.log")"
