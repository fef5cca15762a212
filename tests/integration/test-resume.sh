#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Resume (PROTOCOL.md 9.8): a tree push interrupted by SIGKILL of either
# side at 20 random points, rerun each time, ends byte-identical with modes
# and mtimes; each interruption costs at most one window of bytes taken
# twice.  A rerun of a complete tree sends nothing.  A destination file
# changed in place behind the same size and mtime is found by --checksum
# and repaired.  A source that changed since the interrupted run is sent
# whole, whether its mtime shows it or only its content does.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || skip "jq is not installed"

SRC=$T/src/tree
ROOT=$T/root
mkdir -p "$ROOT" "$SRC"
WINDOW=$((2 << 20)) # ferryd's --window here: what a sender may have in flight

# --- the tree: big files (resumed inside), many small ones (skipped whole),
# nested and empty directories, symlinks, a sparse file with a 1 GiB hole.
BIG=$(big 48M 24M)
NSMALL=$([ "$SMALL" = 1 ] && echo 150 || echo 600)
mkdir -p "$SRC/a/b/c" "$SRC/empty/inner" "$SRC/small"
for i in 1 2 3 4; do mkfile "$SRC/a/big$i.bin" "$BIG"; done
mkfile "$SRC/a/b/c/mid.bin" $((BIG / 3 + 12345))
for ((i = 0; i < NSMALL; i++)); do
	echo "$((1 + (i * 977) % 9000)) $SRC/small/d$((i % 12))/f$i"
done | mkfiles
truncate -s 1100M "$SRC/a/sparse.img"
printf 'head' | dd of="$SRC/a/sparse.img" conv=notrunc status=none
printf 'tail' | dd of="$SRC/a/sparse.img" bs=1 seek=$((1100 * 1048576 - 4)) conv=notrunc status=none
ln -s b/c/mid.bin "$SRC/a/link"
ln -s ../nowhere "$SRC/dangling"
chmod 0640 "$SRC/a/big2.bin"
chmod 0700 "$SRC/a/b"
touch -d '2001-02-03 04:05:06.5' "$SRC/a/big1.bin" "$SRC/small/d3/f3"
touch -h -d '2005-05-05 05:05:05' "$SRC/a/link"
touch -d '2010-10-10 10:10:10' "$SRC/empty/inner" "$SRC/a/b/c"
NFILES=$(find "$SRC" -type f | wc -l)

listing() { (cd "$1" && find . -print0 | LC_ALL=C sort -z | xargs -0 stat -c '%n|%F|%a|%s|%.9Y'); }
# same_tree: DEST/tree is byte-identical to SRC, with modes and mtimes;
# nothing temporary is left.
same_tree() {
	# (the sparse image apart: fcmp skips the hole both have, diff reads it)
	diff -r --no-dereference -x sparse.img "$SRC" "$ROOT/tree" >"$T/diff.out" 2>&1 ||
		fail "$1: diff -r: $(head -n 5 "$T/diff.out")"
	same_file "$SRC/a/sparse.img" "$ROOT/tree/a/sparse.img"
	listing "$SRC" >"$T/list.a"
	listing "$ROOT/tree" >"$T/list.b"
	diff "$T/list.a" "$T/list.b" >"$T/diff.out" ||
		fail "$1: name|type|mode|size|mtime differ: $(grep '^[<>]' "$T/diff.out" | head -n 10)"
	local blocks
	blocks=$(stat -c %b "$ROOT/tree/a/sparse.img")
	((blocks * 512 < 64 << 20)) || fail "$1: sparse.img arrived with $blocks blocks: not sparse"
	assert_no_tmp "$ROOT"
}
summary() { grep '"kind":"summary"' "$OUT" | jq -r ".$1"; }

start_ferryd "$ROOT" --window 2M

# --- 20 interruptions ----------------------------------------------------------
# The point is counted in bytes ferry wrote to the socket in this run (its
# wchar); --max-rate keeps the kill within ~0.5 MB of it on a fast loopback.
wchar() { proc_io "$1" wchar; }
sent_past() {
	local i
	for ((i = 0; i < 3000; i++)); do
		[ "$(wchar "$1")" -gt "$2" ] && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.01
	done
	return 1
}
kills=0 ferry_kills=0 ferryd_kills=0 runs=0
RANDOM=4242 # the same points from run to run of the test
while ((kills < 20)); do
	runs=$((runs + 1))
	# A random point: after 64 KiB .. ~6 MiB sent in this run (~2 MiB with
	# FERRY_SMALL, which the sanitizer runs use).
	at=$((65536 + RANDOM * $([ "$SMALL" = 1 ] && echo 64 || echo 192)))
	"$FERRY" push --json --retry 0 --timeout 10 --max-rate 50M --to "unix:$FERRYD_SOCK" "$SRC" ./ >"$T/bg.out" 2>"$T/bg.err" &
	fpid=$!
	sent_past "$fpid" "$at" || true
	if ! kill -0 "$fpid" 2>/dev/null; then
		wait "$fpid" || true
		fail "run $runs: the push ended before the kill at +$at bytes (after $kills kills): $(tail -n 3 "$T/bg.err") $(grep -v "\"status\":\"ok\"" "$T/bg.out" | head -c 600)"
	fi
	if ((kills % 2 == 0)); then
		kill -KILL "$fpid"
		wait "$fpid" 2>/dev/null || true
		ferry_kills=$((ferry_kills + 1))
	else
		kill -KILL "$FERRYD_PID"
		wait "$fpid" 2>/dev/null || true
		start_ferryd "$ROOT" --window 2M
		ferryd_kills=$((ferryd_kills + 1))
	fi
	kills=$((kills + 1))
	# Nothing half-written at any destination name, ever: every name there
	# is its source's (diff -r, one process: a cmp per file cost ~7 s of
	# process starts per kill); what is not there yet is "Only in".
	if [ -d "$ROOT/tree" ]; then
		diff -rq --no-dereference -x sparse.img "$ROOT/tree" "$SRC" >"$T/kdiff" 2>&1 || true
		grep -v '^Only in ' "$T/kdiff" >"$T/kdiff.bad" &&
			fail "after kill $kills: at its name but not the source's: $(head -n 3 "$T/kdiff.bad")"
		if [ -e "$ROOT/tree/a/sparse.img" ]; then
			"$TOOLS/fcmp" "$ROOT/tree/a/sparse.img" "$SRC/a/sparse.img" >"$T/kdiff" 2>&1 ||
				fail "after kill $kills: sparse.img is at its name but differs: $(cat "$T/kdiff")"
		fi
	fi
done
note "$kills kills ($ferry_kills of ferry, $ferryd_kills of ferryd) in $runs runs"
# A killed ferryd leaves the temporary files of small files it was writing;
# the next session removes them from each directory it writes to once they
# are 2 s old and nobody holds them (stale.c).
sleep 2.2
run_ferry push --json --to "unix:$FERRYD_SOCK" "$SRC" ./
expect_rc 0 "the run after 20 kills"
same_tree "after 20 kills"
# What each interruption cost: bytes ferryd had taken that the next run sent
# again (its journal's chunks past what it could vouch for), from its logs.
cat "$T"/ferryd.*.log | sed -n 's/.*resume .*: \([0-9]*\) of [0-9]* bytes verified, \([0-9]*\) had arrived/\1 \2/p' >"$T/resumes"
nres=$(wc -l <"$T/resumes")
# (Where the points fall depends on the order the walk meets big and small
# files in; test-kill resumes inside a file every time.)
read -r max total < <(awk '{ d = $2 - $1; if (d > m) m = d; t += d } END { print m + 0, t + 0 }' "$T/resumes")
note "$nres files resumed inside; re-sent per interruption: max $max bytes, total $total over $kills (window $WINDOW)"
[ "$max" -le "$WINDOW" ] || fail "an interruption re-sent $max bytes, more than one window ($WINDOW)"
# (Small files a killed ferryd had not committed yet are sent again too; a
# batch holds at most one window of them, commit.c.  Not measured here.)

# --- a rerun of the complete tree sends nothing --------------------------------
run_ferry push --json --to "unix:$FERRYD_SOCK" "$SRC" ./
expect_rc 0 "rerun of a complete tree"
check_eq "rerun: files skipped" "$(summary files_skipped)" "$NFILES"
check_eq "rerun: bytes sent" "$(summary bytes_sent)" 0
check_eq "rerun: tree files_skipped" "$(jq -r 'select(.kind == "tree") | .files_skipped' "$OUT")" "$NFILES"
same_tree "rerun"

# --- --checksum finds a file changed behind the same size and mtime -------------
f=$ROOT/tree/a/big3.bin
printf 'XXXX' | dd of="$f" bs=1 seek=$((BIG / 2)) conv=notrunc status=none
touch -r "$SRC/a/big3.bin" "$f"
run_ferry push --json --to "unix:$FERRYD_SOCK" "$SRC" ./
expect_rc 0 "quick check"
check_eq "quick check: bytes sent (size and mtime match)" "$(summary bytes_sent)" 0
cmp -s "$f" "$SRC/a/big3.bin" && fail "setup: the damaged copy equals the source"
run_ferry push --json --checksum --to "unix:$FERRYD_SOCK" "$SRC" ./
expect_rc 0 "--checksum"
check_eq "--checksum: bytes sent" "$(summary bytes_sent)" "$BIG"
check_eq "--checksum: files skipped" "$(summary files_skipped)" $((NFILES - 1))
same_tree "--checksum repair"

# --- a source changed since the interrupted run is sent whole -------------------
# (1) a new mtime; (2) same size and mtime, other content at the start: only
# the prefix digest can tell.
mkfile "$T/src/one.bin" "$BIG"
for how in mtime content; do
	rm -f "$ROOT/one.bin"
	start_proxy --cut-after $((BIG / 2))
	run_ferry push --retry 0 --to "unix:$PROXY_SOCK" "$T/src/one.bin" one.bin
	expect_rc 4 "changed source ($how): the cut push"
	wait_until 10 test -n "$(part_files "$ROOT")" || fail "changed source ($how): no partial file"
	sleep 0.2
	if [ "$how" = mtime ]; then
		touch -d '2020-01-01' "$T/src/one.bin"
	else
		printf 'changed' | dd of="$T/src/one.bin" conv=notrunc status=none
		touch -d '2020-01-01' "$T/src/one.bin" # as before the change
	fi
	run_ferry push --json --to "unix:$FERRYD_SOCK" "$T/src/one.bin" one.bin
	expect_rc 0 "changed source ($how): rerun"
	same_file "$T/src/one.bin" "$ROOT/one.bin"
	check_eq "changed source ($how): bytes skipped" "$(json_get "$OUT" 1 bytes_skipped)" 0
	check_eq "changed source ($how): bytes sent" "$(json_get "$OUT" 1 bytes)" "$BIG"
	assert_no_tmp "$ROOT"
done
echo "resume: ok"
