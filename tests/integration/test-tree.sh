#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Directory trees (PROTOCOL.md 9.7): `ferry push SRC DEST` sends SRC as
# DEST/SRC (DEST made when missing), `ferry push SRC/ DEST` sends SRC's
# contents into DEST.  Every entry arrives with its mode and mtime;
# symlinks stay symlinks with the same target (also their mtime); empty
# directories arrive; a sparse file with a 1 GiB hole arrives identical
# and still sparse.  A second push of the same tree overwrites in place.
# The receiver never writes outside its root, whatever symlinks the
# destination holds.  A FIFO is named and skipped (exit 1), the rest
# arrives.  --json: one line per file and a tree line whose counts match
# the tree.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || skip "jq is not installed"

SRC=$T/src/tree      # the main tree
ROOT=$T/root         # ferryd's root
OUTSIDE=$T/outside   # outside the root: must never change
mkdir -p "$ROOT" "$OUTSIDE" "$T/src"

# --- the tree ---------------------------------------------------------------
# Files of 0, 1, 5000 bytes and 3 MiB, three levels of directories, an empty
# directory, a 0600 file in a 0750 directory, a relative, an absolute (out of
# the tree), a directory and a dangling symlink, a sparse file with a hole of
# more than 1 GiB, and fixed mtimes on files, directories and symlinks.
mkdir -p "$SRC/d1/d2/d3" "$SRC/empty" "$SRC/priv" "$SRC/d1/also empty"
: >"$SRC/zero"
printf x >"$SRC/one"
mkfile "$SRC/d1/five" 5000
mkfile "$SRC/d1/d2/d3/deep" 5000
: >"$SRC/d1/d2/d3/deep-zero"
mkfile "$SRC/d1/d2/big" "$(big 3M 256K)"
mkfile "$SRC/priv/secret" 1
chmod 0600 "$SRC/priv/secret"
chmod 0750 "$SRC/priv"
chmod 0755 "$SRC/d1/five"
chmod 0444 "$SRC/one"
ln -s d2/d3/deep "$SRC/d1/rel"
ln -s /etc/passwd "$SRC/passwd"
ln -s d1/d2 "$SRC/dirlink"
ln -s ../nowhere "$SRC/d1/dangling"
SPARSE=$SRC/d1/sparse.img
truncate -s 1100M "$SPARSE"
printf 'head' | dd of="$SPARSE" conv=notrunc status=none
printf 'middle' | dd of="$SPARSE" bs=1M seek=600 conv=notrunc status=none
printf 'tail' | dd of="$SPARSE" bs=1 seek=$((1100 * 1048576 - 4)) conv=notrunc status=none
[ "$(filesize "$SPARSE")" = $((1100 * 1048576)) ] || fail "setup: sparse file size"
# Holes only, and data followed by a hole up to the end.
truncate -s 16M "$SRC/d1/d2/holes-only.img"
printf 'abc' >"$SRC/d1/tail-hole.img"
truncate -s 40M "$SRC/d1/tail-hole.img"
# Names JSON must escape, and one that is not ASCII.
printf q >"$SRC/d1/we\"ird\\name \303\251"
# mtimes: files and symlinks first, then directories deepest first (creating
# an entry changes its directory's mtime).
touch -d '2001-02-03 04:05:06.123456789' "$SRC/zero" "$SRC/d1/five" "$SPARSE"
touch -d '1999-12-31 23:59:59' "$SRC/one" "$SRC/priv/secret" "$SRC/d1/d2/big"
touch -h -d '2005-05-05 05:05:05.5' "$SRC/d1/rel" "$SRC/passwd" "$SRC/dirlink" "$SRC/d1/dangling"
touch -d '2010-10-10 10:10:10' "$SRC/d1/d2/d3" "$SRC/empty" "$SRC/d1/also empty"
touch -d '2011-11-11 11:11:11' "$SRC/d1/d2" "$SRC/priv"
touch -d '2012-12-12 12:12:12' "$SRC/d1"
touch -d '2013-01-13 13:13:13' "$SRC"

NFILES=$(find "$SRC" -type f | wc -l)
NDIRS=$(find "$SRC" -type d | wc -l)
NLINKS=$(find "$SRC" -type l | wc -l)
PASSWD_SUM=$(cksum </etc/passwd)

start_ferryd "$ROOT"
TGT=unix:$FERRYD_SOCK

# --- helpers ----------------------------------------------------------------

# listing DIR: name, type, mode and mtime (ns) of every entry, never following
# a symlink (stat without -L is lstat).
listing() { (cd "$1" && find . -print0 | LC_ALL=C sort -z | xargs -0 stat -c '%n|%F|%a|%.9Y'); }

# outside_untouched: nothing appeared outside the root, /etc/passwd is as it was.
outside_untouched() {
	local got
	got=$(cd "$OUTSIDE" && find . -print0 | LC_ALL=C sort -z | xargs -0 stat -c '%n|%F|%s' | tr '\n' ' ')
	check_eq "outside the root ($1)" "$got" "$(cat "$T/outside.list")"
	check_eq "/etc/passwd ($1)" "$(cksum </etc/passwd)" "$PASSWD_SUM"
}

# same_tree A B WHAT: B is a faithful copy of A.
same_tree() {
	local a=$1 b=$2 what=$3 l t
	if [ ! -d "$b" ] || [ -L "$b" ]; then fail "$what: $b is not a directory"; fi
	diff -r --no-dereference -x sparse.img "$a" "$b" >"$T/diff.out" 2>&1 ||
		fail "$what: diff -r --no-dereference -x sparse.img $a $b: $(head -n 5 "$T/diff.out")"
	listing "$a" >"$T/list.a"
	listing "$b" >"$T/list.b"
	diff "$T/list.a" "$T/list.b" >"$T/diff.out" ||
		fail "$what: name|type|mode|mtime differ (< source, > copy):
$(grep '^[<>]' "$T/diff.out" | head -n 20)"
	while IFS= read -r -d '' l; do
		[ -L "$b/$l" ] || fail "$what: $b/$l is not a symlink"
		t=$(readlink "$a/$l")
		check_eq "$what: readlink $l" "$(readlink "$b/$l")" "$t"
	done < <(cd "$a" && find . -type l -printf '%P\0')
	same_file "$a/d1/sparse.img" "$b/d1/sparse.img"
	local blocks size
	blocks=$(stat -c %b "$b/d1/sparse.img")
	size=$(filesize "$b/d1/sparse.img")
	((blocks * 512 < size / 64)) ||
		fail "$what: $b/d1/sparse.img is not sparse: $blocks blocks of 512 for $size bytes"
	assert_no_tmp "$ROOT"
}

# check_tree_json FILE WHAT DIRS: the --json of a push of $SRC: one "file"
# line per regular file, then one "tree" line with the tree's counts.
check_tree_json() {
	local f=$1 what=$2 dirs=$3 n tl
	n=$(json_lines "$f")
	check_eq "$what: JSON lines" "$n" $((NFILES + 1))
	check_eq "$what: JSON file lines" "$(jq -r 'select(.kind == "file") | .status' "$f" | grep -c '^ok$')" "$NFILES"
	tl=$(grep -n '"kind":"tree"' "$f" | cut -d: -f1)
	check_eq "$what: tree line is the last one" "$tl" "$n"
	check_eq "$what: tree status" "$(json_get "$f" "$tl" status)" ok
	check_eq "$what: tree files" "$(json_get "$f" "$tl" files)" "$NFILES"
	check_eq "$what: tree symlinks" "$(json_get "$f" "$tl" symlinks)" "$NLINKS"
	check_eq "$what: tree failed" "$(json_get "$f" "$tl" failed)" 0
	local v
	for v in files_per_s bytes seconds mb_per_s; do
		[[ $(json_get "$f" "$tl" "$v") =~ ^[0-9.]+$ ]] || fail "$what: tree line lacks a number for $v"
	done
	# The sparse file's holes are not bytes on the wire.
	local b
	b=$(json_get "$f" "$tl" bytes)
	((b < 64 * 1048576)) || fail "$what: tree bytes $b: the hole was sent as data?"
	check_eq "$what: tree dirs (find -type d: $dirs)" "$(json_get "$f" "$tl" dirs)" "$dirs"
}

# --- cases ------------------------------------------------------------------

# `SRC` into an existing DEST: DEST/tree.
into_existing() {
	mkdir "$ROOT/exist"
	run_ferry push --to "$TGT" --json "$SRC" exist
	expect_rc 0 "push SRC into an existing DEST"
	cp "$OUT" "$T/json.exist"
	same_tree "$SRC" "$ROOT/exist/tree" "SRC into an existing DEST"
	check_eq "existing DEST holds only the tree" "$(ls -A "$ROOT/exist")" tree
}

# `SRC` into a missing DEST: DEST is made (one level).
into_missing() {
	run_ferry push --to "$TGT" --json "$SRC" missing
	expect_rc 0 "push SRC into a missing DEST"
	cp "$OUT" "$T/json.missing"
	same_tree "$SRC" "$ROOT/missing/tree" "SRC into a missing DEST"
	# Only one level is made: a/b with a missing fails and makes nothing.
	run_ferry push --to "$TGT" "$SRC" nolevel1/nolevel2
	expect_rc 1 "push SRC into DEST whose parent is missing"
	assert_no_dest "$ROOT/nolevel1"
}

# `SRC/` into DEST: SRC's contents, and SRC's mode and mtime on DEST.
contents() {
	run_ferry push --to "$TGT" --json "$SRC/" contents
	expect_rc 0 "push SRC/ into DEST"
	cp "$OUT" "$T/json.contents"
	same_tree "$SRC" "$ROOT/contents" "SRC/ into DEST"
}

# The same tree again over the copy: overwritten in place, still identical.
twice() {
	mkdir "$ROOT/twice"
	run_ferry push --to "$TGT" "$SRC/" twice
	expect_rc 0 "first push of SRC/"
	local ino
	ino=$(stat -c %i "$ROOT/twice/d1/five")
	run_ferry push --to "$TGT" --json "$SRC/" twice
	expect_rc 0 "second push of the same SRC/"
	check_eq "second push: failed entries" "$(jq -r 'select(.kind == "tree") | .failed' "$OUT")" 0
	same_tree "$SRC" "$ROOT/twice" "second push of the same tree"
	[ "$(stat -c %i "$ROOT/twice/d1/five")" != "$ino" ] ||
		note "second push rewrote d1/five in place (same inode)"
	# A file that changed between the pushes arrives changed.
	cp -a "$SRC" "$T/src/changed"
	mkfile "$T/src/changed/d1/five" 4000
	touch -d '2020-02-02 02:02:02' "$T/src/changed/d1/five" "$T/src/changed/d1"
	run_ferry push --to "$TGT" "$T/src/changed/" twice
	expect_rc 0 "push of a changed tree over the copy"
	same_tree "$T/src/changed" "$ROOT/twice" "changed tree over the copy"
	rm -rf "$T/src/changed"
}

json_exist() { check_tree_json "$T/json.exist" "--json, SRC into an existing DEST" "$NDIRS"; }
json_missing() { check_tree_json "$T/json.missing" "--json, SRC into a missing DEST" "$NDIRS"; }
json_contents() { check_tree_json "$T/json.contents" "--json, SRC/ into DEST" "$NDIRS"; }

# Symlinks already in the destination must not carry writes out of the root.
# A first push plants esc/sub -> $OUTSIDE (a symlink of a source tree, stored
# as given); a second tree holds a real directory sub/ with files in it.
escape() {
	mkdir -p "$T/plant" "$T/q/sub/deeper"
	ln -s "$OUTSIDE" "$T/plant/sub"
	ln -s "$OUTSIDE/victim" "$T/plant/victim-link"
	printf keep >"$OUTSIDE/victim"
	(cd "$OUTSIDE" && find . -print0 | LC_ALL=C sort -z | xargs -0 stat -c '%n|%F|%s' | tr '\n' ' ') >"$T/outside.list"
	run_ferry push --to "$TGT" "$T/plant/" esc
	expect_rc 0 "planting esc/sub -> outside"
	[ -L "$ROOT/esc/sub" ] || fail "esc/sub is not a symlink"
	echo top >"$T/q/top"
	echo evil >"$T/q/sub/evil"
	echo deeper >"$T/q/sub/deeper/x"
	echo replaced >"$T/q/victim-link"

	run_ferry push --to "$TGT" "$T/q/" esc
	outside_untouched "tree with sub/ over esc/sub -> outside"
	note "sub/ over a symlink to outside: exit $RC; $(grep -c . "$ERR") stderr lines: $(tr '\n' '|' <"$ERR" | sed "s#$T#\$T#g")"
	expect_rc 1 "tree with sub/ over a symlink to outside"
	expect_err "'esc/sub/evil': path escapes the root"
	cp "$ERR" "$T/esc.err"
	# The rest of the tree arrives; a regular file replaces a symlink
	# (temporary name + rename) instead of writing through it.
	same_file "$T/q/top" "$ROOT/esc/top"
	[ ! -L "$ROOT/esc/victim-link" ] || fail "esc/victim-link is still a symlink: the file went through it?"
	same_file "$T/q/victim-link" "$ROOT/esc/victim-link"

	# DEST itself a symlink to outside.
	ln -s "$OUTSIDE" "$ROOT/evil-dest"
	run_ferry push --to "$TGT" "$T/q" evil-dest
	outside_untouched "SRC into DEST -> outside"
	expect_rc 1 "SRC into a DEST that is a symlink to outside"
	run_ferry push --to "$TGT" "$T/q/" evil-dest
	outside_untouched "SRC/ into DEST -> outside"
	expect_rc 1 "SRC/ into a DEST that is a symlink to outside"
	[ -L "$ROOT/evil-dest" ] || fail "evil-dest is no longer a symlink"

	# A symlink that stays inside the root: whatever happens, not outside.
	mkdir -p "$ROOT/inroot" "$ROOT/tgt"
	ln -s ../tgt "$ROOT/inroot/sub"
	run_ferry push --to "$TGT" "$T/q/" inroot
	outside_untouched "tree with sub/ over inroot/sub -> ../tgt"
	local how
	if [ -L "$ROOT/inroot/sub" ] && [ -e "$ROOT/tgt/evil" ]; then
		how="kept the symlink and wrote sub/'s files through it into tgt/"
	elif [ -d "$ROOT/inroot/sub" ] && [ ! -L "$ROOT/inroot/sub" ]; then
		how="replaced the symlink by a directory"
	else
		how="kept the symlink and refused sub/'s files"
	fi
	note "sub/ over a symlink inside the root: exit $RC, $how"
	same_file "$T/q/top" "$ROOT/inroot/top"

	# Counting, last (so it does not hide the checks above): four entries
	# of the esc push failed - sub (a symlink is there), sub/evil,
	# sub/deeper, sub/deeper/x - of seven; a directory is one entry even
	# though its MKDIR is sent twice (before and after its contents).
	grep -qE "^ferry: push '$T/q/': 4 of 7 entries failed" "$T/esc.err" ||
		fail "failed-entry count of the esc push: $(tail -n 1 "$T/esc.err" | sed "s#$T#\$T#g"), expected '4 of 7 entries failed'"
}

# A FIFO inside the tree is named and skipped; the rest arrives; exit 1.
fifo() {
	mkdir -p "$T/f/sub"
	mkfile "$T/f/a" 5000
	mkfile "$T/f/sub/b" 1
	mkfifo "$T/f/sub/fifo"
	CMD_TIMEOUT=30 run_ferry push --to "$TGT" --timeout 10 --json "$T/f/" fifo
	expect_rc 1 "tree holding a FIFO"
	expect_err "^ferry: push '$T/f/sub/fifo': not a regular file"
	same_file "$T/f/a" "$ROOT/fifo/a"
	same_file "$T/f/sub/b" "$ROOT/fifo/sub/b"
	assert_no_dest "$ROOT/fifo/sub/fifo"
	local tl
	tl=$(grep -n '"kind":"tree"' "$OUT" | cut -d: -f1)
	[ -n "$tl" ] || fail "no tree line in --json"
	check_eq "FIFO tree: files" "$(json_get "$OUT" "$tl" files)" 2
	check_eq "FIFO tree: failed" "$(json_get "$OUT" "$tl" failed)" 1
	check_eq "FIFO tree: status" "$(json_get "$OUT" "$tl" status)" error
	# ferryd still serves.
	run_ferry push --to "$TGT" "$T/f/a" after-fifo
	expect_rc 0 "push after the FIFO tree"
}

check_case into_existing
check_case into_missing
check_case contents
check_case twice
check_case escape
check_case fifo
check_case json_exist
check_case json_missing
check_case json_contents
kill -0 "$FERRYD_PID" 2>/dev/null || fail "ferryd died"
assert_no_tmp "$ROOT"
finish_cases
