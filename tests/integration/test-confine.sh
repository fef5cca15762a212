#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Host-side confinement: `ferry push` of a tree opens every file beneath the
# tree's top by descriptor, following no symlink, so a directory swapped
# for a symlink to somewhere else while the push runs (a racing process,
# many trials) never gets a file from outside the tree sent.  The same for
# a pulled tree's destination: a guest that sends a symlink and then a
# file "through" it cannot place the file outside the destination.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SWAPDIR=$TOOLS/swapdir
[ -x "$SWAPDIR" ] || fail "$SWAPDIR is missing (make tests)"
mkdir -p "$T/root" "$T/tree/sub" "$T/outside"
for i in $(seq 1 40); do
	printf 'inside %d\n' "$i" >"$T/tree/sub/f$i.txt"
	printf 'SECRET %d\n' "$i" >"$T/outside/f$i.txt"
done
# A big file goes through RESUME_QUERY (the stat) and a journal.
{ printf 'inside big\n'; head -c 2M /dev/zero; } >"$T/tree/sub/big.bin"
{ printf 'SECRET big\n'; head -c 2M /dev/zero; } >"$T/outside/big.bin"
ln -s ../outside "$T/tree/sub.swap"

(cd "$T/tree" && "$SWAPDIR" sub sub.swap 0.01) | grep -q unsupported &&
	skip "renameat2(RENAME_EXCHANGE) is not supported here"
[ -d "$T/tree/sub" ] && [ ! -L "$T/tree/sub" ] || fail "swapdir did not put the names back"

start_ferryd "$T/root"
# Without a race, the whole tree arrives (nothing is refused by mistake).
run_ferry push --to "unix:$FERRYD_SOCK" "$T/tree/" calm/
expect_rc 0 "a push of the tree with nobody racing it"
[ "$(find "$T/root/calm" -type f | wc -l)" = 41 ] || fail "a calm push brought $(find "$T/root/calm" -type f | wc -l) of 41 files"
rm -rf "$T/root/calm"
bg_start "$T/swapdir.out" sh -c "cd '$T/tree' && exec '$SWAPDIR' sub sub.swap 120 20"
SWAP_PID=$BG_PID
TRIALS=${TRIALS:-20}
refused=0 ok=0
for n in $(seq 1 "$TRIALS"); do
	run_ferry push --to "unix:$FERRYD_SOCK" --no-resume "$T/tree/" "t$n/"
	[ "$RC" = 0 ] || [ "$RC" = 1 ] || { show_run >&2; fail "trial $n: exit $RC"; }
	[ "$RC" = 0 ] && ok=$((ok + 1))
	refused=$((refused + $(grep -c 'symbolic link in the path refused' "$ERR" || true)))
done
kill -TERM "$SWAP_PID"
wait_until 10 grep -q 'swaps' "$T/swapdir.out" || fail "swapdir did not stop: $(cat "$T/swapdir.out")"
note "$TRIALS pushes while swapping: $(cat "$T/swapdir.out"); $ok clean, $refused files refused (symlink in the path)"
leaked=$(grep -rl SECRET "$T/root" || true)
[ -z "$leaked" ] || fail "files from outside the tree arrived: $(echo "$leaked" | head -5 | tr '\n' ' ')"
n_in=$(grep -rl '^inside' "$T/root" | wc -l)
[ "$n_in" -ge "$TRIALS" ] || fail "only $n_in files arrived over $TRIALS pushes"
[ "$refused" -gt 0 ] || fail "the race never hit: no file was refused in $TRIALS pushes (nothing was tested)"

# ---- a pulled tree: its entries are placed beneath the destination and
# never through a symlink already there (or sent first).
mkdir -p "$T/root/pt/d" "$T/back" "$T/elsewhere"
printf 'pulled\n' >"$T/root/pt/d/x.txt"
ln -s "$T/elsewhere" "$T/back/pt"
run_ferry pull --from "unix:$FERRYD_SOCK" pt "$T/back/"
[ -z "$(ls -A "$T/elsewhere")" ] || fail "a pulled tree went through a symlink at its destination: $(ls -A "$T/elsewhere")"
rm -f "$T/back/pt"
run_ferry pull --from "unix:$FERRYD_SOCK" pt "$T/back/"
expect_rc 0 "pull of a tree"
same_file "$T/root/pt/d/x.txt" "$T/back/pt/d/x.txt"
echo "confinement: ok"
