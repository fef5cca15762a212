#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ferryd --read-only serves pulls and refuses every push, directory and
# link (nothing is made or removed under its root); --write-only takes
# pushes and refuses pulls and --checksum's content digests; --user gives
# up root once the listener and the root are open (files arrive owned by
# that user), and no_new_privs is always set.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/root/d" "$T/src/t/sub" "$T/back"
printf 'served\n' >"$T/root/d/s.txt"
printf 'old stale\n' >"$T/root/d/.ferry-x.bin.0badf00d.tmp"
touch -d '3 days ago' "$T/root/d/.ferry-x.bin.0badf00d.tmp"
mkfile "$T/src/a.bin" 2M
printf 't\n' >"$T/src/t/sub/t.txt"
listing() { (cd "$T/root" && find . | LC_ALL=C sort); }

# ---- --read-only
start_ferryd "$T/root" --read-only
before=$(listing)
run_ferry pull --from "unix:$FERRYD_SOCK" d/s.txt "$T/back/"
expect_rc 0 "pull from a read-only ferryd"
same_file "$T/root/d/s.txt" "$T/back/s.txt"
run_ferry push --to "unix:$FERRYD_SOCK" "$T/src/a.bin" d/
expect_rc 1 "push to a read-only ferryd"
expect_err "guest: .*read-only \(--read-only\)" "push: the refusal says why"
run_ferry push --to "unix:$FERRYD_SOCK" "$T/src/t" d/
expect_rc 1 "push of a tree to a read-only ferryd"
[ "$(listing)" = "$before" ] || fail "a read-only root changed: $(diff <(echo "$before") <(listing) | head -5)"
stop_pid "$FERRYD_PID"

# ---- --write-only
start_ferryd "$T/root" --write-only
run_ferry push --to "unix:$FERRYD_SOCK" "$T/src/a.bin" in.bin
expect_rc 0 "push to a write-only ferryd"
same_file "$T/src/a.bin" "$T/root/in.bin"
run_ferry pull --from "unix:$FERRYD_SOCK" d/s.txt "$T/back/s2.txt"
expect_rc 1 "pull from a write-only ferryd"
expect_err "guest: .*gives none \(--write-only\)" "pull: the refusal says why"
assert_no_dest "$T/back/s2.txt"
# --checksum: the digest of what is there is not told; the file goes again.
run_ferry push --to "unix:$FERRYD_SOCK" --checksum --json "$T/src/a.bin" in.bin
expect_rc 0 "push --checksum to a write-only ferryd"
check_eq "--checksum on a write-only ferryd: bytes sent" "$(json_get "$OUT" 1 bytes)" 2097152
stop_pid "$FERRYD_PID"

[ "$(id -u)" = 0 ] || skip "--user needs root to test (the rest passed)"
# ---- --user: root until listening, then nobody.
chmod 0777 "$T/root"
start_ferryd "$T/root" --user nobody
grep -q 'running as uid' "$FERRYD_LOG" || fail "--user: not said: $(cat "$FERRYD_LOG")"
uid=$(awk '$1 == "Uid:" { print $2 " " $3 " " $4 " " $5 }' "/proc/$FERRYD_PID/status")
nobody=$(id -u nobody)
check_eq "ferryd's real, effective, saved and fs uid" "$uid" "$nobody $nobody $nobody $nobody"
check_eq "no_new_privs" "$(awk '$1 == "NoNewPrivs:" { print $2 }' "/proc/$FERRYD_PID/status")" 1
run_ferry push --to "unix:$FERRYD_SOCK" "$T/src/a.bin" mine.bin
expect_rc 0 "push to ferryd --user nobody"
check_eq "owner of a file ferryd --user nobody wrote" "$(stat -c %u "$T/root/mine.bin")" "$nobody"
run_ferry push --to "unix:$FERRYD_SOCK" "$T/src/a.bin" d/no.bin
expect_rc 1 "push into a directory nobody may not write"
stop_pid "$FERRYD_PID"
echo "access: ok"
