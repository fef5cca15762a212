#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The disk a peer can make the receiver hold is bounded by what it sent: a
# FILE_BEGIN of 1 GiB followed by one 4k chunk and a disconnect leaves a
# partial (kept for resume) with at most 64 MiB reserved, not 1 GiB, and
# one that sent nothing at all leaves nothing.  Both ways: a hostile guest
# against ferry pull, a hostile host against ferryd.  A real transfer of a
# file larger than the reserved stretch still arrives whole.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

HOSTILE=$TOOLS/hostile
[ -x "$HOSTILE" ] || fail "$HOSTILE is missing (make tests)"
MiB=1048576
GiB=$((1024 * MiB))
LIMIT=$((65 * MiB)) # 64 MiB ahead, and the chunk itself

# sessions_done N: ferryd logged the end of N sessions.
sessions_done() { [ "$(grep -c 'session: ' "$FERRYD_LOG")" -ge "$1" ]; }
# held DIR: bytes allocated to the receiver's partial files in DIR.
held() { find "$1" -name '.ferry-*' -type f -printf '%b\n' | awk '{ s += $1 * 512 } END { print s + 0 }'; }

# A probe: can this filesystem reserve at all?  (If not, nothing is held
# either way and the test proves nothing.)
fallocate -l 8M "$T/probe" 2>/dev/null || skip "fallocate is not supported on $T's filesystem"
rm -f "$T/probe"

# ---- ferry pull from a hostile guest.
mkdir -p "$T/back" "$T/back0"
bg_start "$T/guest1.out" "$HOSTILE" guest "$T/g1.sock" reserve $GiB 1
wait_until 10 test -S "$T/g1.sock" || fail "hostile guest did not come up"
run_ferry pull --from "unix:$T/g1.sock" --retry 0 big.bin "$T/back/"
[ "$RC" != 0 ] || fail "a pull the guest broke off succeeded"
h=$(held "$T/back")
note "pull, 1 GiB announced, 4 KiB sent: $h bytes held by $(find "$T/back" -name '.ferry-*' | wc -l) partial files"
[ -n "$(part_files "$T/back")" ] || fail "no partial kept for resume: $(ls -A "$T/back")"
[ "$h" -le "$LIMIT" ] || fail "the host holds $h bytes for a partial of 4 KiB"

bg_start "$T/guest2.out" "$HOSTILE" guest "$T/g2.sock" reserve $GiB 0
wait_until 10 test -S "$T/g2.sock" || fail "hostile guest did not come up"
run_ferry pull --from "unix:$T/g2.sock" --retry 0 big.bin "$T/back0/"
[ "$RC" != 0 ] || fail "a pull the guest broke off succeeded"
[ -z "$(tmp_files "$T/back0")" ] || fail "a partial nothing was written to was kept: $(tmp_files "$T/back0")"

# ---- ferryd from a hostile host.
mkdir -p "$T/root"
start_ferryd "$T/root"
"$HOSTILE" host "$FERRYD_SOCK" begin $GiB 1 h1.bin >/dev/null
"$HOSTILE" host "$FERRYD_SOCK" begin $GiB 0 h0.bin >/dev/null
wait_until 10 sessions_done 2 || fail "ferryd did not end both sessions: $(cat "$FERRYD_LOG")"
h=$(held "$T/root")
note "ferryd, 1 GiB announced, 4 KiB sent: $h bytes held"
[ "$h" -le "$LIMIT" ] || fail "ferryd holds $h bytes for a partial of 4 KiB"
[ -z "$(find "$T/root" -name '.ferry-h0.bin*')" ] || fail "ferryd kept a partial nothing was written to"
[ -n "$(find "$T/root" -name '.ferry-h1.bin*.part')" ] || fail "ferryd kept no partial of h1.bin to resume"

# ---- a real file past the reserved stretch, and a full disk still said
# before the data (the whole size is checked up front).
mkfile "$T/big.bin" "$(big 150M 70M)"
run_ferry push --to "unix:$FERRYD_SOCK" "$T/big.bin" big.bin
expect_rc 0 "a push of a file larger than the reserved stretch"
same_file "$T/big.bin" "$T/root/big.bin"
fs_size=$(df -B1 --output=size "$T/root" | tail -1)
"$HOSTILE" host "$FERRYD_SOCK" begin $((fs_size * 2)) 1 huge.bin >/dev/null
wait_until 10 sessions_done 4 || fail "ferryd did not end the session: $(cat "$FERRYD_LOG")"
[ -z "$(find "$T/root" -name '.ferry-huge.bin*')" ] || fail "a file larger than the free space was begun"
echo "reserve: ok"
