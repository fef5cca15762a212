#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A receiver killed in the middle of a tree leaves the temporary files of
# the small files it had not committed; a rerun started at once (no waiting
# for them to age) removes them, because a live writer's temporary file is
# locked from the moment it has a name (stale_create_tmp): every unlocked
# one is an orphan.  Both ways: ferryd killed during a push, ferry killed
# during a pull.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/root" "$T/src/t" "$T/back"
for i in $(seq 1 400); do head -c 3000 /dev/urandom >"$T/src/t/f$i.bin"; done
# O_TMPFILE decides how young an orphan may be removed; without it the
# sweep keeps its 2 s rule and this test cannot be passed.
python3 -c 'import os; os.close(os.open(os.sys.argv[1], os.O_TMPFILE | os.O_WRONLY, 0o600))' "$T/root" 2>/dev/null ||
	skip "no O_TMPFILE on $T's filesystem"

tmp_count() { find "$1" -name '.ferry-*.tmp' | wc -l; }
has_tmp() { [ "$(tmp_count "$1")" -gt 0 ]; }
# kill_with_tmp PID DIR: SIGKILL PID at a moment DIR holds a temporary
# file.  A small file's temporary name lives for a moment only, so PID is
# stopped first and killed only while one is there (else let go on and
# looked at again): what a stopped process left is what SIGKILL leaves.
kill_with_tmp() {
	local pid=$1 dir=$2 i
	for ((i = 0; i < 400; i++)); do
		if has_tmp "$dir"; then
			kill -STOP "$pid" 2>/dev/null || return 1
			if has_tmp "$dir"; then
				kill -KILL "$pid"
				return 0
			fi
			kill -CONT "$pid"
		fi
		sleep 0.05
	done
	return 1
}

# ---- ferryd killed during a push of many small files.
start_ferryd "$T/root"
"$FERRY" push --to "unix:$FERRYD_SOCK" --retry 0 --max-rate 2M "$T/src/t" ./ >"$T/bg.out" 2>&1 &
fpid=$!
BG_PIDS+=("$fpid")
kill_with_tmp "$FERRYD_PID" "$T/root" || fail "no temporary file appeared during the push"
wait "$fpid" 2>/dev/null || true
left=$(tmp_count "$T/root")
note "ferryd killed with $left temporary files in its root"
[ "$left" -gt 0 ] || fail "no orphan to remove: nothing was tested"
start_ferryd "$T/root"
run_ferry push --to "unix:$FERRYD_SOCK" --retry 0 "$T/src/t" ./
expect_rc 0 "the rerun right after the kill"
[ "$(tmp_count "$T/root")" = 0 ] || fail "orphans survived the rerun: $(find "$T/root" -name '.ferry-*.tmp' | head -3 | tr '\n' ' ')"
diff -r "$T/src/t" "$T/root/t" >/dev/null || fail "the tree differs after the rerun"

# ---- ferry killed during a pull: its orphans on the host go with the rerun.
"$FERRY" pull --from "unix:$FERRYD_SOCK" --retry 0 --max-rate 2M t "$T/back/" >"$T/bg2.out" 2>&1 &
fpid=$!
BG_PIDS+=("$fpid")
kill_with_tmp "$fpid" "$T/back" || fail "no temporary file appeared during the pull"
wait "$fpid" 2>/dev/null || true
left=$(tmp_count "$T/back")
note "ferry killed with $left temporary files in its destination"
[ "$left" -gt 0 ] || fail "no orphan on the host to remove: nothing was tested"
run_ferry pull --from "unix:$FERRYD_SOCK" --retry 0 t "$T/back/"
expect_rc 0 "the pull right after the kill"
[ "$(tmp_count "$T/back")" = 0 ] || fail "orphans survived the pull: $(find "$T/back" -name '.ferry-*.tmp' | head -3 | tr '\n' ' ')"
diff -r "$T/src/t" "$T/back/t" >/dev/null || fail "the pulled tree differs"
echo "orphans: ok"
