#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A source that changes while it is sent fails with "changed while being
# sent" (tar's "file changed as we read it") instead of arriving torn and
# reported verified: a racing process rewrites part of it, touches it, or
# replaces it under its name during a (rate-limited) push, and during a
# pull on the guest's side.  Nothing appears at the destination name, and
# a rerun sends the file as it is now.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/root" "$T/src" "$T/back"
start_ferryd "$T/root"
SIZE=2M

# race NAME WHAT: push src/NAME at 1 MB/s while WHAT changes it after 0.7 s.
race_push() {
	local name=$1 what=$2
	mkfile "$T/src/$name" "$SIZE"
	(
		sleep 0.5
		case $what in
		rewrite) printf 'CHANGED' | dd of="$T/src/$name" bs=1 seek=100 conv=notrunc status=none ;;
		touch) touch -d '2001-01-01' "$T/src/$name" ;;
		replace) cp "$T/src/$name" "$T/src/$name.new" && mv "$T/src/$name.new" "$T/src/$name" ;;
		esac
	) &
	local racer=$!
	run_ferry push --to "unix:$FERRYD_SOCK" --max-rate 1M --retry 0 "$T/src/$name" "$name"
	wait "$racer"
	expect_rc 1 "push of a file that was changed ($what) while being sent"
	expect_err "'.*$name': .*$name: changed while being sent" "$what: named as changed"
	assert_no_dest "$T/root/$name"
	assert_no_tmp "$T/root"
	run_ferry push --to "unix:$FERRYD_SOCK" --retry 0 "$T/src/$name" "$name"
	expect_rc 0 "rerun after the file changed ($what)"
	same_file "$T/src/$name" "$T/root/$name"
}
race_push a.bin rewrite
race_push b.bin touch
race_push c.bin replace

# A file nobody touches still goes through at the same pace.
mkfile "$T/src/d.bin" "$SIZE"
run_ferry push --to "unix:$FERRYD_SOCK" --max-rate 1M --retry 0 "$T/src/d.bin" d.bin
expect_rc 0 "push of a file nobody changed"
same_file "$T/src/d.bin" "$T/root/d.bin"

# Pull: ferryd notices the guest's file changing under it.
mkfile "$T/root/p.bin" "$SIZE"
( sleep 0.5; printf 'CHANGED' | dd of="$T/root/p.bin" bs=1 seek=100 conv=notrunc status=none ) &
racer=$!
run_ferry pull --from "unix:$FERRYD_SOCK" --max-rate 1M --retry 0 p.bin "$T/back/"
wait "$racer"
expect_rc 1 "pull of a guest file that changed while being sent"
expect_err "guest: .*p.bin: changed while being sent" "pull: named as changed"
assert_no_dest "$T/back/p.bin"
run_ferry pull --from "unix:$FERRYD_SOCK" --retry 0 p.bin "$T/back/"
expect_rc 0 "rerun of the pull"
same_file "$T/root/p.bin" "$T/back/p.bin"
echo "changed sources: ok"
