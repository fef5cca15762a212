#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A full disk on either side: a 32 MiB file into an 8 MiB tmpfs fails with
# exit 1 and "no space left on device" naming the file (from the guest on
# push, locally on pull); nothing at the destination, no temporary file.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root to mount a tmpfs"
mkdir -p "$T/full" "$T/lfull" "$T/root" "$T/src"
mount -t tmpfs -o size=8m tmpfs "$T/full" 2>/dev/null || skip "cannot mount a tmpfs here (mount -t tmpfs failed)"
CLEANUP_CMDS+=("umount -l '$T/full'")
mount -t tmpfs -o size=8m tmpfs "$T/lfull" || fail "mounted one tmpfs but not a second"
CLEANUP_CMDS+=("umount -l '$T/lfull'")

SIZE=$((32 * CHUNK))
mkfile "$T/src/big.bin" "$SIZE"
mkfile "$T/src/fits.bin" $((2 * CHUNK))

# ---- push into a full guest root.
start_ferryd "$T/full"
run_ferry push --to "unix:$FERRYD_SOCK" --json "$T/src/big.bin" big.bin
expect_rc 1 "push of 32 MiB into 8 MiB"
expect_err "^ferry: push '$T/src/big.bin': guest: .*[Nn]o space left on device" "push of 32 MiB into 8 MiB"
check_eq "push: json status" "$(json_get "$OUT" 1 status)" error
json_get "$OUT" 1 error | grep -q 'o space left on device' || fail "push: json error: $(json_get "$OUT" 1 error)"
assert_no_dest "$T/full/big.bin"
assert_no_tmp "$T/full" 10
check_eq "guest tmpfs after the failed push" "$(find "$T/full" -mindepth 1 | wc -l)" 0
check_eq "guest tmpfs usage after the failed push" "$(df --output=used -B1 "$T/full" | tail -n1 | tr -d ' ')" 0
# The same session machinery still takes a file that fits.
run_ferry push --to "unix:$FERRYD_SOCK" "$T/src/fits.bin" fits.bin
expect_rc 0 "push of a file that fits"
same_file "$T/src/fits.bin" "$T/full/fits.bin"
# Several files, the big one in the middle: only it fails.
mkfile "$T/src/fits2.bin" 100000
mkdir -p "$T/full/d"
run_ferry push --to "unix:$FERRYD_SOCK" "$T/src/fits.bin" "$T/src/big.bin" "$T/src/fits2.bin" d/
expect_rc 1 "push of three files, the middle one too big"
expect_err "push '$T/src/big.bin': guest: .*[Nn]o space left on device"
check_eq "failed files named on stderr" "$(grep -c "^ferry: push" "$ERR")" 1
same_file "$T/src/fits.bin" "$T/full/d/fits.bin"
same_file "$T/src/fits2.bin" "$T/full/d/fits2.bin"
assert_no_dest "$T/full/d/big.bin"
assert_no_tmp "$T/full" 10
stop_pid "$FERRYD_PID"

# ---- pull into a full local file system (--timeout 10: see test-corrupt).
start_ferryd "$T/root"
cp "$T/src/big.bin" "$T/root/big.bin"
run_ferry pull --from "unix:$FERRYD_SOCK" --timeout 10 --json big.bin "$T/lfull/big.bin"
expect_rc 1 "pull of 32 MiB into 8 MiB"
expect_err "^ferry: pull 'big.bin': .*[Nn]o space left on device" "pull of 32 MiB into 8 MiB"
grep -q 'guest:' "$ERR" && fail "pull into a full local disk blames the guest: $(cat "$ERR")"
assert_no_dest "$T/lfull/big.bin"
assert_no_tmp "$T/lfull" 5
check_eq "local tmpfs after the failed pull" "$(find "$T/lfull" -mindepth 1 | wc -l)" 0
kill -0 "$FERRYD_PID" || fail "ferryd died"
