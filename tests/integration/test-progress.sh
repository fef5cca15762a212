#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --progress ndjson (issue 12): one JSON object a line on stderr, at least
# once a second and at the end, for GUIs and orchestrators; and the meter's
# files done/total (rsync --info=progress2).  Against a real ferryd with
# --max-rate, so a transfer lasts long enough for lines in between:
# - every stderr line is JSON (jq); bytes never go down; the last line is
#   kind "end" with bytes == total == what was sent and files done == total;
# - a pull: the last line's bytes are the file's size (its total is not
#   known up front: null);
# - a tree: files_done counts its files, files_total is null;
# - the meter (--progress on a non-TTY) shows files done of total;
# - a value that is neither tty nor ndjson is a usage error.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || skip "jq is not installed"

mkdir -p "$T/root/in" "$T/root/in2" "$T/back" "$T/tree/sub"
start_ferryd "$T/root" --max-rate 2M
A=$(big 3M 2M)
B=100000
mkfile "$T/a.bin" "$A"
mkfile "$T/b.bin" "$B"

# check_lines FILE: every line an object; bytes never go down.
check_lines() {
	jq -e . "$1" >/dev/null || fail "not JSON lines: $(head -c 400 "$1")"
	jq -e -s 'map(.bytes) as $b | [range(1; $b | length) | $b[.] >= $b[. - 1]] | all' "$1" >/dev/null ||
		fail "bytes went down: $(jq -c .bytes "$1" | tr '\n' ' ')"
	check_eq "kind of the last line" "$(tail -n1 "$1" | jq -r .kind)" end
	check_eq "end lines" "$(jq -s 'map(select(.kind == "end")) | length' "$1")" 1
}

# ---- push -----------------------------------------------------------------
run_ferry push --progress ndjson --to "unix:$FERRYD_SOCK" "$T/a.bin" "$T/b.bin" in/
expect_rc 0 "push --progress ndjson"
[ -s "$OUT" ] && fail "--progress ndjson wrote to stdout: $(head -c 200 "$OUT")"
check_lines "$ERR"
L=$(tail -n1 "$ERR")
check_eq "last bytes" "$(jq .bytes <<<"$L")" $((A + B))
check_eq "last total" "$(jq .total <<<"$L")" $((A + B))
check_eq "files done" "$(jq .files_done <<<"$L")" 2
check_eq "files total" "$(jq .files_total <<<"$L")" 2
# ~1.5 s at 2M/s: at least one line before the end, with a rate and an ETA
[ "$(wc -l <"$ERR")" -ge 2 ] || fail "no line before the end of a throttled push: $(cat "$ERR")"
jq -e -s '.[0] | .kind == "progress" and .rate_bps > 0 and (.eta_s | type) == "number" and .file != ""' "$ERR" \
	>/dev/null || fail "the first line: $(head -n1 "$ERR")"
jq -e '.waits_s | has("receiver_rate") and has("receiver_busy")' <<<"$L" >/dev/null || fail "waits_s: $L"
jq -e '.waits_s.receiver_rate > 0' <<<"$L" >/dev/null || fail "no wait for ferryd's rate at 2M/s: $L"
same_file "$T/a.bin" "$T/root/in/a.bin"

# ---- pull -----------------------------------------------------------------
run_ferry pull --progress=ndjson --from "unix:$FERRYD_SOCK" in/a.bin "$T/back/"
expect_rc 0 "pull --progress=ndjson"
check_lines "$ERR"
L=$(tail -n1 "$ERR")
check_eq "pull: last bytes" "$(jq .bytes <<<"$L")" "$A"
check_eq "pull: total" "$(jq .total <<<"$L")" null
check_eq "pull: files done" "$(jq .files_done <<<"$L")" 1
same_file "$T/a.bin" "$T/back/a.bin"

# ---- a tree ---------------------------------------------------------------
mkfile "$T/tree/x" 5000
mkfile "$T/tree/sub/y" 7000
mkfile "$T/tree/sub/z" 9000
run_ferry push --progress ndjson --to "unix:$FERRYD_SOCK" "$T/tree" in/
expect_rc 0 "tree push --progress ndjson"
check_lines "$ERR"
L=$(tail -n1 "$ERR")
check_eq "tree: last bytes" "$(jq .bytes <<<"$L")" 21000
check_eq "tree: files done" "$(jq .files_done <<<"$L")" 3
check_eq "tree: files total" "$(jq .files_total <<<"$L")" null

# ---- the meter: files done of total -----------------------------------------
run_ferry push --progress --to "unix:$FERRYD_SOCK" "$T/a.bin" "$T/b.bin" in2/
expect_rc 0 "push --progress"
grep -qE '[0-9]/2 files' "$ERR" || fail "the meter shows no files done of total: $(tr '\r' '\n' <"$ERR" | tail -n 3)"

# ---- usage ------------------------------------------------------------------
run_ferry push --progress=xml --to "unix:$FERRYD_SOCK" "$T/b.bin" in/
expect_rc 2 "--progress=xml"
expect_err "is not tty or ndjson"
echo "ok"
