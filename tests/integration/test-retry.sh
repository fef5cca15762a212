#!/usr/bin/env bash
# A transport lost mid-transfer is retried: ferry reconnects with backoff
# and sends the files that have no verdict yet; without --retry it fails
# with exit 4 as before.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

rchar() { proc_io "$1" rchar; }
read_past() { [ "$(rchar "$1")" -gt "$2" ]; }
SIZE=$(big 512M 64M)
mkdir -p "$T/root"
mkfile "$T/a.bin" "$SIZE"
mkfile "$T/b.bin" 4096
SOCK=$T/ferryd.sock

# ferryd dies (SIGKILL) once part of a.bin has arrived; a new one comes up
# on the same socket; ferry must get both files across.
start_ferryd_at "unix:$SOCK" "$T/root"
base=$(rchar "$FERRYD_PID")
"$FERRY" push --to "unix:$SOCK" --retry 5 --timeout 10 "$T/a.bin" "$T/b.bin" ./ >"$T/out" 2>"$T/err" &
ferry_pid=$!
wait_until 30 read_past "$FERRYD_PID" $((base + 8 * 1048576)) || fail "ferryd never read 8 MiB"
kill -9 "$FERRYD_PID"
sleep 0.3
start_ferryd_at "unix:$SOCK" "$T/root"
rc=0
wait "$ferry_pid" || rc=$?
[ "$rc" = 0 ] || fail "ferry with --retry exited $rc: $(cat "$T/err")"
grep -q "retrying in" "$T/err" || fail "ferry did not say it retried: $(cat "$T/err")"
same_file "$T/a.bin" "$T/root/a.bin"
same_file "$T/b.bin" "$T/root/b.bin"

# --retry 0: the lost connection is the end (exit 4), nothing at the name.
rm -f "$T/root/a.bin"
base=$(rchar "$FERRYD_PID")
"$FERRY" push --to "unix:$SOCK" --retry 0 --timeout 10 "$T/a.bin" ./ >"$T/out" 2>"$T/err" &
ferry_pid=$!
wait_until 30 read_past "$FERRYD_PID" $((base + 8 * 1048576)) || fail "ferryd never read 8 MiB"
kill -9 "$FERRYD_PID"
rc=0
wait "$ferry_pid" || rc=$?
[ "$rc" = 4 ] || fail "ferry --retry 0 exited $rc, expected 4: $(cat "$T/err")"
grep -q "^ferry: push '$T/a.bin': " "$T/err" || fail "the error does not name the file: $(cat "$T/err")"
assert_no_dest "$T/root/a.bin"
echo "retry: ok"
