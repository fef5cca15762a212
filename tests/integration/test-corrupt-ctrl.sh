#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One flipped byte in a control payload (corrupt-proxy --flip-ctrl) is
# found by the payload check (feature bit 8, PROTOCOL.md 9.14): a verdict
# turned from SEND to SKIP, a file name, a directory's mode, a symlink's
# target, a pulled file's mode.  Each time ferry fails with a clear error
# naming the damaged frame, exits non-zero, and nothing is left at any
# destination name - neither the right one nor the one the damage spelt -
# and a clean rerun then delivers.  ferryd keeps serving throughout.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/root" "$T/src/tree/sub" "$T/back"
mkfile "$T/src/a.bin" $((3 * CHUNK + 17))
mkfile "$T/src/tree/sub/f" 5000
ln -s sub/f "$T/src/tree/link"
chmod 0750 "$T/src/tree/sub"
start_ferryd "$T/root"

# damaged WHAT: the last run failed because of the payload check.
damaged() {
	[ "$RC" != 0 ] || { show_run >&2; fail "$1: ferry exited 0 through a damaged control frame"; }
	grep -q 'flipped byte' "$PROXY_LOG" || fail "$1: corrupt-proxy flipped nothing: $(cat "$PROXY_LOG")"
	expect_err "$2.*payload check mismatch \(damaged in transit\)" "$1"
	kill -0 "$FERRYD_PID" || fail "ferryd died after: $1"
	assert_no_tmp "$T/root"
}

# RESUME_STATE (guest -> host) verdict, payload byte 4: SEND (0) ^ 2 = SKIP.
start_proxy --flip-ctrl-back 0x17:1:4:0x02
run_ferry push --to "unix:$PROXY_SOCK" "$T/src/a.bin" a.bin
damaged "RESUME_STATE SEND->SKIP" "RESUME_STATE"
assert_no_dest "$T/root/a.bin"

# FILE_BEGIN (host -> guest) dest, payload byte 42 (its first byte): a.bin -> `.bin.
start_proxy --flip-ctrl 0x10:1:42:0x01
run_ferry push --to "unix:$PROXY_SOCK" "$T/src/a.bin" a.bin
damaged "FILE_BEGIN dest" "FILE_BEGIN"
assert_no_dest "$T/root/a.bin"
assert_no_dest "$T/root/\`.bin"
[ -z "$(ls -A "$T/root")" ] || fail "FILE_BEGIN dest: the root holds $(ls -A "$T/root")"

# MKDIR (host -> guest) mode, payload byte 8: 0750 -> 0752 ... of the
# tree's top directory, the first MKDIR.
start_proxy --flip-ctrl 0x21:1:8:0x02
run_ferry push --to "unix:$PROXY_SOCK" "$T/src/tree/" tree
damaged "MKDIR mode" "MKDIR"
assert_no_dest "$T/root/tree"

# SYMLINK (host -> guest) target, payload byte 24 + 2 + len("tree/link") + 2.
start_proxy --flip-ctrl 0x22:1:$((24 + 2 + 9 + 2)):0x01
run_ferry push --to "unix:$PROXY_SOCK" "$T/src/tree/" tree
damaged "SYMLINK target" "SYMLINK"
[ ! -L "$T/root/tree/link" ] || fail "SYMLINK target: a link arrived: $(readlink "$T/root/tree/link")"

# Pull: FILE_BEGIN (guest -> host) mode, payload byte 16.
cp "$T/src/a.bin" "$T/root/p.bin"
start_proxy --flip-ctrl-back 0x10:1:16:0x02
run_ferry pull --from "unix:$PROXY_SOCK" p.bin "$T/back/"
damaged "pulled FILE_BEGIN mode" "FILE_BEGIN"
assert_no_dest "$T/back/p.bin"
assert_no_tmp "$T/back"
rm "$T/root/p.bin"

# Clean reruns deliver everything, attributes and all.
run_ferry push --to "unix:$FERRYD_SOCK" "$T/src/a.bin" a.bin
expect_rc 0 "clean push"
same_file "$T/src/a.bin" "$T/root/a.bin"
run_ferry push --to "unix:$FERRYD_SOCK" "$T/src/tree/" tree
expect_rc 0 "clean tree push"
check_eq "tree/link" "$(readlink "$T/root/tree/link")" "sub/f"
check_eq "tree/sub mode" "$(stat -c %a "$T/root/tree/sub")" 750
same_file "$T/src/tree/sub/f" "$T/root/tree/sub/f"

# A SKIP vouches with the receiver's recorded digest (9.14): a rerun skips
# the file it has (no chunk sent) and reports the digest the receiver
# recorded, the digest of the verified copy.  A source changed in place
# behind the same size and mtime passes the quick check, as with rsync; the
# content check (--checksum) finds it and sends what differs.
rm -f "$T/root/a.bin"
run_ferry push --to "unix:$FERRYD_SOCK" --json "$T/src/a.bin" a.bin
expect_rc 0 "push (verified)"
check_eq "push: sent" "$(json_get "$OUT" 1 skipped)" false
want=$(json_get "$OUT" 1 digest)
run_ferry push --to "unix:$FERRYD_SOCK" --json "$T/src/a.bin" a.bin
expect_rc 0 "rerun"
check_eq "rerun: chunks sent" "$(json_get "$OUT" 1 chunks)" 0
check_eq "rerun: skipped" "$(json_get "$OUT" 1 skipped)" true
check_eq "rerun: the digest the receiver vouched with" "$(json_get "$OUT" 1 digest)" "$want"
touch -r "$T/src/a.bin" "$T/stamp"
printf 'XYZ' | dd of="$T/src/a.bin" bs=1 seek=100 conv=notrunc status=none
touch -r "$T/stamp" "$T/src/a.bin"
run_ferry push --to "unix:$FERRYD_SOCK" --json --checksum "$T/src/a.bin" a.bin
expect_rc 0 "--checksum push of a source changed behind its size and mtime"
same_file "$T/src/a.bin" "$T/root/a.bin"
check_eq "changed source: skipped" "$(json_get "$OUT" 1 skipped)" false
echo "corrupt-ctrl: ok"
