#!/usr/bin/env bash
# ferryd removes temporary files, and partial files kept for resume (.part
# and .jnl), left by transfers that died long ago from the directories it
# writes to, and leaves young ones (a transfer that may still be alive or
# be resumed) and everything else alone.  A temporary file that no live
# writer holds (its lock) goes at once, once 2 s old.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/root/in" "$T/root/other"
printf old >"$T/root/in/.ferry-a.bin.0badf00d.tmp"
printf old >"$T/root/other/.ferry-b.bin.0badf00d.tmp"
printf young >"$T/root/in/.ferry-c.bin.12345678.tmp"
exec 8<"$T/root/in/.ferry-c.bin.12345678.tmp"
flock -x 8 # a live writer holds it
printf orphan >"$T/root/in/.ferry-g.bin.87654321.tmp"
sleep 2.2 # its writer died: no lock, and older than 2 s
printf keep >"$T/root/in/.ferry-not-temp.txt"
ln -s nowhere "$T/root/in/.ferry-d.link.0badf00d.tmp"
printf old >"$T/root/in/.ferry-e.bin.0badf00d.part"
printf old >"$T/root/in/.ferry-e.bin.0badf00d.jnl"
printf young >"$T/root/in/.ferry-f.bin.12345678.part"
printf young >"$T/root/in/.ferry-f.bin.12345678.jnl"
touch -h -d '3 days ago' "$T/root/in/.ferry-a.bin.0badf00d.tmp" "$T/root/other/.ferry-b.bin.0badf00d.tmp" \
        "$T/root/in/.ferry-d.link.0badf00d.tmp" "$T/root/in/.ferry-not-temp.txt" \
        "$T/root/in/.ferry-e.bin.0badf00d.part" "$T/root/in/.ferry-e.bin.0badf00d.jnl"

start_ferryd "$T/root" --stale-age 3600
mkfile "$T/x.bin" 1000
run_ferry push --to "unix:$FERRYD_SOCK" "$T/x.bin" in/
expect_rc 0 "push into a directory with stale temporary files"
same_file "$T/x.bin" "$T/root/in/x.bin"
[ ! -e "$T/root/in/.ferry-a.bin.0badf00d.tmp" ] || fail "a stale temporary file was left"
[ ! -L "$T/root/in/.ferry-d.link.0badf00d.tmp" ] || fail "a stale temporary symlink was left"
[ -e "$T/root/in/.ferry-c.bin.12345678.tmp" ] || fail "a young temporary file a writer holds was removed"
[ ! -e "$T/root/in/.ferry-g.bin.87654321.tmp" ] || fail "a temporary file nobody holds was left"
[ ! -e "$T/root/in/.ferry-e.bin.0badf00d.part" ] || fail "a stale partial file was left"
[ ! -e "$T/root/in/.ferry-e.bin.0badf00d.jnl" ] || fail "a stale journal was left"
[ -e "$T/root/in/.ferry-f.bin.12345678.part" ] || fail "a young partial file was removed"
[ -e "$T/root/in/.ferry-f.bin.12345678.jnl" ] || fail "a young journal was removed"
[ -e "$T/root/in/.ferry-not-temp.txt" ] || fail "a file that is not a temporary file was removed"
[ -e "$T/root/other/.ferry-b.bin.0badf00d.tmp" ] || fail "a directory nobody wrote to was swept"
grep -q "removed 5 stale temporary files" "$FERRYD_LOG" || fail "ferryd did not say what it removed: $(cat "$FERRYD_LOG")"

# --stale-age 0 turns it off.
stop_pid "$FERRYD_PID"
touch -h -d '3 days ago' "$T/root/in/.ferry-c.bin.12345678.tmp"
exec 8<&-
start_ferryd "$T/root" --stale-age 0
run_ferry push --to "unix:$FERRYD_SOCK" "$T/x.bin" in/y.bin
expect_rc 0 "push with sweeping off"
[ -e "$T/root/in/.ferry-c.bin.12345678.tmp" ] || fail "--stale-age 0 still removed a temporary file"
echo "stale temporary files: ok"
