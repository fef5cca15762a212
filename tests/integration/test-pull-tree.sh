#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Pulling directory trees (PROTOCOL.md 9.7): `ferry pull DIR LOCAL` makes
# LOCAL/DIR, `ferry pull DIR/ LOCAL` fills LOCAL (made if missing), with
# modes, mtimes, symlinks (never followed), empty directories and a sparse
# file with a 1 GiB hole arriving sparse.  A rerun skips everything; a pull
# killed in a big file resumes inside it.  An unreadable entry is named
# and skipped (exit 1), the rest arrives.  Whatever symlinks the local
# destination holds, nothing is written outside it.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || skip "jq is not installed"

ROOT=$T/root # ferryd's root
SRC=$ROOT/tree
BACK=$T/back
OUTSIDE=$T/outside
mkdir -p "$SRC/d1/d2" "$SRC/empty" "$SRC/priv" "$BACK" "$OUTSIDE"
BIG=$(big 48M 12M)
mkfile "$SRC/d1/big.bin" "$BIG"
mkfile "$SRC/d1/d2/mid.bin" $((3 << 20))
for i in $(seq 1 40); do mkfile "$SRC/d1/s$i" $((i * 97)); done
: >"$SRC/zero"
mkfile "$SRC/priv/secret" 10
chmod 0600 "$SRC/priv/secret"
chmod 0750 "$SRC/priv"
ln -s d1/d2/mid.bin "$SRC/rel"
ln -s /etc/passwd "$SRC/abs"
ln -s nowhere "$SRC/dangling"
truncate -s 1100M "$SRC/sparse.img"
printf 'head' | dd of="$SRC/sparse.img" conv=notrunc status=none
printf 'tail' | dd of="$SRC/sparse.img" bs=1 seek=$((1100 * 1048576 - 4)) conv=notrunc status=none
touch -d '2001-02-03 04:05:06.123456789' "$SRC/zero" "$SRC/d1/big.bin"
touch -h -d '2005-05-05 05:05:05' "$SRC/rel" "$SRC/abs"
touch -d '2010-10-10 10:10:10' "$SRC/empty" "$SRC/d1/d2" "$SRC/priv"
touch -d '2011-11-11 11:11:11' "$SRC/d1"
touch -d '2012-12-12 12:12:12' "$SRC"
NFILES=$(find "$SRC" -type f | wc -l)
NDIRS=$(find "$SRC" -type d | wc -l)
NLINKS=$(find "$SRC" -type l | wc -l)

start_ferryd "$ROOT"
TGT=unix:$FERRYD_SOCK

listing() { (cd "$1" && find . -print0 | LC_ALL=C sort -z | xargs -0 stat -c '%n|%F|%a|%s|%.9Y'); }
# same_tree COPY WHAT: COPY is a faithful copy of $SRC, nothing temporary in it.
same_tree() {
	# (the sparse image apart: fcmp skips the hole both have, diff reads it)
	diff -r --no-dereference -x sparse.img "$SRC" "$1" >"$T/diff.out" 2>&1 || fail "$2: diff -r: $(head -n 5 "$T/diff.out")"
	same_file "$SRC/sparse.img" "$1/sparse.img"
	listing "$SRC" >"$T/list.a"
	listing "$1" >"$T/list.b"
	diff "$T/list.a" "$T/list.b" >"$T/diff.out" ||
		fail "$2: name|type|mode|size|mtime differ: $(grep '^[<>]' "$T/diff.out" | head -n 10)"
	check_eq "$2: readlink abs" "$(readlink "$1/abs")" /etc/passwd
	local blocks
	blocks=$(stat -c %b "$1/sparse.img")
	((blocks * 512 < 64 << 20)) || fail "$2: sparse.img arrived with $blocks blocks: not sparse"
	assert_no_tmp "$1"
}
tree_line() { jq -r "select(.kind == \"tree\") | .$1" "$OUT"; }

# --- DIR into LOCAL: LOCAL/DIR --------------------------------------------------
run_ferry pull --json --from "$TGT" tree "$BACK"
expect_rc 0 "pull tree"
same_tree "$BACK/tree" "pull tree"
check_eq "pull tree: file lines" "$(jq -r 'select(.kind == "file") | .status' "$OUT" | grep -c '^ok$')" "$NFILES"
check_eq "pull tree: tree files" "$(tree_line files)" "$NFILES"
check_eq "pull tree: tree dirs" "$(tree_line dirs)" "$NDIRS"
check_eq "pull tree: tree symlinks" "$(tree_line symlinks)" "$NLINKS"
check_eq "pull tree: tree status" "$(tree_line status)" ok

# --- DIR/ into a LOCAL that does not exist yet: its contents ---------------------
run_ferry pull --json --from "$TGT" tree/ "$T/fresh"
expect_rc 0 "pull tree/"
same_tree "$T/fresh" "pull tree/"

# --- a rerun sends nothing --------------------------------------------------------
run_ferry pull --json --from "$TGT" tree "$BACK"
expect_rc 0 "rerun"
check_eq "rerun: files skipped" "$(tree_line files_skipped)" "$NFILES"
check_eq "rerun: bytes sent" "$(grep '"kind":"summary"' "$OUT" | jq -r .bytes_sent)" 0
same_tree "$BACK/tree" "rerun"

# --- killed inside the big file, rerun: resumed ------------------------------------
rm -rf "${BACK:?}/tree"
rchar() { proc_io "$1" rchar; }
read_past() { [ "$(rchar "$1")" -gt "$2" ] || ! kill -0 "$1" 2>/dev/null; }
"$FERRY" pull --max-rate 20M --from "$TGT" tree "$BACK" >"$T/bg.out" 2>"$T/bg.err" &
fpid=$!
wait_until 30 read_past "$fpid" $((BIG / 3)) || true
kill -0 "$fpid" 2>/dev/null || fail "the pull to kill ended first: $(cat "$T/bg.err")"
kill -KILL "$fpid"
wait "$fpid" 2>/dev/null || true
[ ! -e "$BACK/tree/d1/big.bin" ] || fail "a killed pull left big.bin at its name"
run_ferry pull --json --from "$TGT" tree "$BACK"
expect_rc 0 "rerun after the kill"
same_tree "$BACK/tree" "rerun after the kill"
skipped=$(jq -r 'select(.kind == "file" and (.dest | endswith("big.bin"))) | .bytes_skipped' "$OUT")
[ "${skipped:-0}" -gt 0 ] || fail "the rerun did not resume big.bin (bytes_skipped '${skipped}')"
note "pull killed at ~$((BIG / 3)) bytes read: big.bin resumed at $skipped of $BIG"

# --- a symlink in the local destination is not written through --------------------
rm -rf "${BACK:?}/tree"
mkdir -p "$BACK/tree"
ln -s "$OUTSIDE" "$BACK/tree/d1"
run_ferry pull --from "$TGT" tree "$BACK"
expect_rc 1 "pull over a symlinked local directory"
[ -z "$(ls -A "$OUTSIDE")" ] || fail "the pull wrote outside its destination: $(ls -A "$OUTSIDE")"
expect_err "d1" "pull over a symlinked local directory"
[ -L "$BACK/tree/d1" ] || fail "the symlink was replaced"
rm -rf "${BACK:?}/tree"

# --- an entry that cannot be read is named, the rest arrives ----------------------
mkfifo "$SRC/fifo"
run_ferry pull --json --from "$TGT" tree "$BACK"
expect_rc 1 "pull of a tree holding a FIFO"
expect_err "fifo" "pull of a tree holding a FIFO"
check_eq "FIFO: tree failed" "$(tree_line failed)" 1
rm -f "$SRC/fifo"
touch -d '2012-12-12 12:12:12' "$SRC"
cmp -s "$SRC/d1/big.bin" "$BACK/tree/d1/big.bin" || fail "FIFO: big.bin did not arrive"
echo "pull trees: ok"
