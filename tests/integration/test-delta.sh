#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --checksum on a destination that differs in a few places sends a delta
# (PROTOCOL.md 9.13): only the chunks that differ cross, the rest are kept
# from the receiver's own copy, and the file is identical after - pushed
# and pulled, through the real ferry and ferryd.  A destination that
# differs everywhere (as one changed between the check and the copy would)
# still ends identical, every keep asked for.  A hostile host that claims chunks of
# ferryd's files (keeps it never checked for) learns nothing from a
# --write-only ferryd and changes nothing it could not write anyway.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || skip "jq is not installed"
HOSTILE=$TOOLS/hostile
[ -x "$HOSTILE" ] || fail "$HOSTILE is missing (make tests)"
mkdir -p "$T/root" "$T/src" "$T/back"
start_ferryd "$T/root"
summary() { jq -r "select(.kind == \"summary\") | .$1" "$OUT"; }

# 32 MiB in 1 MiB chunks; the destination changes in 3 of them.
mkfile "$T/src/img.bin" 32M
run_ferry push --to "unix:$FERRYD_SOCK" "$T/src/img.bin" img.bin
expect_rc 0 "first copy"
for at in 1 17 31; do
	printf 'CHANGED' | dd of="$T/root/img.bin" bs=1M seek="$at" conv=notrunc status=none
done
touch -r "$T/src/img.bin" "$T/root/img.bin" # the quick check cannot see it
run_ferry push --json --checksum --to "unix:$FERRYD_SOCK" "$T/src/img.bin" img.bin
expect_rc 0 "--checksum push of a file that differs in 3 chunks"
same_file "$T/src/img.bin" "$T/root/img.bin"
check_eq "delta push: chunks kept" "$(summary chunks_kept)" 29
check_eq "delta push: bytes on the wire" "$(summary wire_bytes)" $((3 << 20))
check_eq "delta push: retransmits (none damaged)" "$(jq -r 'select(.kind == "file") | .retransmits' "$OUT")" 0
assert_no_tmp "$T/root"

# Pulled: the guest sends the delta of the host's copy.
run_ferry pull --from "unix:$FERRYD_SOCK" img.bin "$T/back/"
expect_rc 0 "pull"
printf 'HOST' | dd of="$T/back/img.bin" bs=1M seek=9 conv=notrunc status=none
run_ferry pull --json --checksum --from "unix:$FERRYD_SOCK" img.bin "$T/back/"
expect_rc 0 "--checksum pull of a file that differs in 1 chunk"
same_file "$T/root/img.bin" "$T/back/img.bin"
check_eq "delta pull: chunks kept" "$(summary chunks_kept)" 31
check_eq "delta pull: bytes on the wire" "$(summary wire_bytes)" $((1 << 20))
assert_no_tmp "$T/back"

# Differs everywhere, same size: every keep is asked for, it all crosses.
mkfile "$T/root/img.bin" 32M
run_ferry push --json --checksum --to "unix:$FERRYD_SOCK" "$T/src/img.bin" img.bin
expect_rc 0 "--checksum push over a different file of the same size"
same_file "$T/src/img.bin" "$T/root/img.bin"
check_eq "all different: chunks kept" "$(summary chunks_kept)" 0
check_eq "all different: bytes on the wire" "$(summary wire_bytes)" $((32 << 20))

# Identical: skipped, nothing crosses.
run_ferry push --json --checksum --to "unix:$FERRYD_SOCK" "$T/src/img.bin" img.bin
expect_rc 0 "--checksum push of an identical file"
check_eq "identical: files skipped" "$(summary files_skipped)" 1
check_eq "identical: bytes on the wire" "$(summary wire_bytes)" 0

# ---- a hostile host: keeps it never asked about (no RESUME_QUERY), all
# claiming zeros.  Of a file of zeros, they are kept (as a copy would be);
# of another file, each is asked for and the file is left alone when the
# chunks never come.
head -c 40960 /dev/zero >"$T/root/z.bin"
mkfile "$T/root/r.bin" 40960
cp "$T/root/r.bin" "$T/r.orig"
out=$("$HOSTILE" --for 10 host "$FERRYD_SOCK" delta 40960 z.bin)
[ "$out" = "hostile: delta: 10 keeps, 0 asked for, status 0" ] || fail "keeps of a file of zeros: $out"
out=$("$HOSTILE" --for 10 host "$FERRYD_SOCK" delta 40960 r.bin)
[ "$out" = "hostile: delta: 10 keeps, 10 asked for, status -1" ] || fail "keeps of another file: $out"
wait_until 10 _no_tmp "$T/root" || fail "a failed delta left: $(tmp_files "$T/root")"
same_file "$T/r.orig" "$T/root/r.bin"
# --write-only: no oracle - every keep is asked for, even of the zeros.
stop_pid "$FERRYD_PID"
start_ferryd "$T/root" --write-only
out=$("$HOSTILE" --for 10 host "$FERRYD_SOCK" delta 40960 z.bin)
[ "$out" = "hostile: delta: 10 keeps, 10 asked for, status -1" ] || fail "--write-only answered keeps: $out"
echo "delta: ok"
