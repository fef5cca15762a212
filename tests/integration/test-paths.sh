#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ferryd stays inside its root: '..', absolute paths outside it and
# symlinks pointing out are refused with "path escapes the root" (exit 1)
# on push and on pull, and nothing is created outside the root.  An absolute
# path inside the root works; a missing directory is "no such file or
# directory".
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/root" "$T/src" "$T/back" "$T/outside"
ln -s "$T/outside" "$T/root/link"
echo "not yours" >"$T/secret"
echo "not yours either" >"$T/outside/secret"
mkfile "$T/src/p.bin" 70000
start_ferryd "$T/root"
TGT=unix:$FERRYD_SOCK

snapshot() { (cd "$T" && find . -path ./root -prune -o -path ./back -prune -o -path ./src -prune -o -print | LC_ALL=C sort | grep -v -E '\./(run\.|ferryd\.|d[0-9]+\.sock)'); }
before=$(snapshot)
outside_unchanged() {
	local now
	now=$(snapshot)
	[ "$now" = "$before" ] || fail "$1: something changed outside the root:$(diff <(echo "$before") <(echo "$now") | grep '^[<>]' | tr '\n' ' ')"
}

# push_refused DEST
push_refused() {
	run_ferry push --to "$TGT" --json "$T/src/p.bin" "$1"
	expect_rc 1 "push to '$1'"
	expect_err "push '$T/src/p.bin'.*path escapes the root" "push to '$1'"
	check_eq "push to '$1': json status" "$(json_get "$OUT" 1 status)" error
	outside_unchanged "push to '$1'"
}
push_refused ../x
assert_no_dest "$T/x"
push_refused ../../x
push_refused "$T/outside/x"
assert_no_dest "$T/outside/x"
push_refused link/x
assert_no_dest "$T/outside/x"
push_refused link
# A trailing '/' (into a directory) does not help either.
push_refused ../
push_refused link/
assert_no_dest "$T/outside/p.bin"
assert_no_dest "$T/p.bin"
check_eq "temporary files outside the root" "$(tmp_files "$T/outside")$(find "$T" -maxdepth 1 -name '.ferry-*')" ""

# pull_refused REMOTE
pull_refused() {
	run_ferry pull --from "$TGT" "$1" "$T/back/got"
	expect_rc 1 "pull of '$1'"
	expect_err "pull '$1'.*path escapes the root" "pull of '$1'"
	assert_no_dest "$T/back/got"
}
pull_refused ../secret
pull_refused link/secret
pull_refused "$T/secret"
pull_refused "$T/outside/secret"
check_eq "local directory after refused pulls" "$(find "$T/back" -mindepth 1 | wc -l)" 0

# An absolute path inside the root is fine, both ways.
run_ferry push --to "$TGT" "$T/src/p.bin" "$T/root/abs.bin"
expect_rc 0 "push to an absolute path inside the root"
same_file "$T/src/p.bin" "$T/root/abs.bin"
run_ferry pull --from "$TGT" "$T/root/abs.bin" "$T/back/abs.bin"
expect_rc 0 "pull of an absolute path inside the root"
same_file "$T/src/p.bin" "$T/back/abs.bin"
# '..' that stays inside is fine too.
mkdir -p "$T/root/sub"
run_ferry push --to "$TGT" "$T/src/p.bin" sub/../dotdot.bin
expect_rc 0 "push to sub/../dotdot.bin"
same_file "$T/src/p.bin" "$T/root/dotdot.bin"

# A missing directory.
run_ferry push --to "$TGT" "$T/src/p.bin" nodir/x
expect_rc 1 "push to nodir/x"
expect_err "push '$T/src/p.bin'.*[Nn]o such file or directory" "push to nodir/x"
assert_no_dest "$T/root/nodir"

outside_unchanged "the whole test"
assert_no_tmp "$T/root"
check_eq "root contents" "$(cd "$T/root" && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')" "./abs.bin ./dotdot.bin ./link ./sub "
kill -0 "$FERRYD_PID" || fail "ferryd died"
