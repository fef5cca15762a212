#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The command lines: --help/--version, usage errors (exit 2, one line plus
# "Try '... --help'"), a missing remote file (exit 1), nobody listening
# (exit 3).
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

unset FERRY_TARGET FERRYD_LISTEN FERRYD_ROOT
mkdir -p "$T/root" "$T/src" "$T/back"
mkfile "$T/src/a.bin" 1000

# run_bin BIN ARGS...: like run_ferry for either binary.
# shellcheck disable=SC2034  # RC, OUT, ERR are read by expect_rc and friends
run_bin() {
	local bin=$1
	shift
	_run_n=$((_run_n + 1))
	OUT=$T/run.$_run_n.out
	ERR=$T/run.$_run_n.err
	LAST_CMD="$(basename "$bin") $*"
	RC=0
	timeout -k 5 "$CMD_TIMEOUT" "$bin" "$@" >"$OUT" 2>"$ERR" </dev/null || RC=$?
}

# usage_error CMD_NAME TRY REGEX ARGS...: exit 2, stderr is one line
# matching REGEX, then "Try '<TRY> --help' for more information."; stdout empty.
usage_error() {
	local bin=$1 try=$2 re=$3
	shift 3
	run_bin "$bin" "$@"
	expect_rc 2
	check_eq "$LAST_CMD: stderr lines" "$(grep -c '' "$ERR")" 2
	expect_err "$re"
	[ "$(sed -n 2p "$ERR")" = "Try '$try --help' for more information." ] || { show_run >&2; fail "$LAST_CMD: second line is not \"Try '$try --help' ...\""; }
	check_eq "$LAST_CMD: stdout" "$(cat "$OUT")" ""
}

help_and_version() {
	local bin
	for bin in "$FERRY" "$FERRYD"; do
		run_bin "$bin" --help
		expect_rc 0
		grep -q '^Usage: ' "$OUT" || fail "$LAST_CMD: no Usage line on stdout"
		check_eq "$LAST_CMD: stderr" "$(cat "$ERR")" ""
		run_bin "$bin" --version
		expect_rc 0
		grep -qE "^$(basename "$bin") [0-9]" "$OUT" || fail "$LAST_CMD: '$(cat "$OUT")'"
	done
	for c in push pull; do
		run_bin "$FERRY" $c --help
		expect_rc 0
		grep -q "^Usage: ferry $c" "$OUT" || fail "$LAST_CMD: no usage line"
		grep -q "Exit status" "$OUT" || fail "$LAST_CMD: exit codes not documented"
	done
}

usage_errors() {
	usage_error "$FERRY" ferry '^ferry: no command given$'
	usage_error "$FERRY" ferry "^ferry: unknown command 'frob'" frob
	usage_error "$FERRY" "ferry push" "^ferry: push: no target" push "$T/src/a.bin" x
	usage_error "$FERRY" "ferry pull" "^ferry: pull: no target" pull x "$T/back/x"
	usage_error "$FERRY" "ferry push" "'bogus:x' is not a target" push --to bogus:x "$T/src/a.bin" x
	usage_error "$FERRY" "ferry push" "'nocolon' is not a target" push --to nocolon "$T/src/a.bin" x
	usage_error "$FERRY" "ferry push" "is not a target" push --to tcp:127.0.0.1:99999 "$T/src/a.bin" x
	usage_error "$FERRY" "ferry push" "is not a target" push --to fc:/x.sock "$T/src/a.bin" x
	usage_error "$FERRY" "ferry push" "guest CID is missing" push --to vsock::5000 "$T/src/a.bin" x
	usage_error "$FERRY" "ferry push" "need at least one source and a destination" push --to "unix:$T/s" "$T/src/a.bin"
	usage_error "$FERRY" "ferry pull" "chunk-size" pull --from "unix:$T/s" --chunk-size 1 a "$T/back/a"
	usage_error "$FERRY" "ferry pull" "not an existing directory" pull --from "unix:$T/s" a b "$T/back/nodir"
	usage_error "$FERRYD" ferryd "--listen TARGET is required" --root "$T/root"
	usage_error "$FERRYD" ferryd "--root DIR is required" --listen "unix:$T/s"
	usage_error "$FERRYD" ferryd "'bogus' is not a target" --listen bogus --root "$T/root"
	usage_error "$FERRYD" ferryd "unexpected argument" --listen "unix:$T/s" --root "$T/root" extra
}

# STYLE.md: one specific line naming what was wrong (getopt's own message
# plus a generic "invalid option" is two lines).
unknown_option() {
	usage_error "$FERRY" "ferry push" "bogus" push --bogus --to "unix:$T/s" "$T/src/a.bin" x
	usage_error "$FERRYD" ferryd "bogus" --bogus --listen "unix:$T/s" --root "$T/root"
}

unreachable() {
	# No socket at all.
	run_ferry push --to "unix:$T/none.sock" "$T/src/a.bin" a.bin
	expect_rc 3
	expect_err "cannot connect to unix:$T/none.sock"
	run_ferry pull --from "unix:$T/none.sock" a.bin "$T/back/a.bin"
	expect_rc 3
	expect_err "cannot connect"
	assert_no_dest "$T/back/a.bin"
	# A socket nobody listens on (bound, never listening).
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$T/dead.sock"
		run_ferry push --to "unix:$T/dead.sock" "$T/src/a.bin" a.bin
		expect_rc 3
		expect_err "cannot connect.*[Cc]onnection refused"
	fi
	# A TCP port nobody listens on (1: tcpmux, never served here).
	run_ferry push --to tcp:127.0.0.1:1 "$T/src/a.bin" a.bin
	expect_rc 3
	expect_err "cannot connect"
	# A socket that accepts but never answers: no handshake within --timeout.
	if [ -S "$T/mute.sock" ]; then
		run_ferry push --timeout 2 --to "unix:$T/mute.sock" "$T/src/a.bin" a.bin
		expect_rc 3 "push to a listener that never answers"
	fi
}

with_ferryd() {
	run_ferry pull --from "unix:$FERRYD_SOCK" --json missing.bin "$T/back/missing.bin"
	expect_rc 1 "pull of a missing remote file"
	expect_err "^ferry: pull 'missing.bin': .*[Nn]o such file"
	check_eq "json status" "$(json_get "$OUT" 1 status)" error
	assert_no_dest "$T/back/missing.bin"
	# A missing local source.
	run_ferry push --to "unix:$FERRYD_SOCK" "$T/src/nothere.bin" x.bin
	expect_rc 1 "push of a missing local file"
	expect_err "^ferry: push '$T/src/nothere.bin': .*[Nn]o such file"
	assert_no_dest "$T/root/x.bin"
	# FERRY_TARGET stands in for --to.
	FERRY_TARGET=unix:$FERRYD_SOCK run_ferry push "$T/src/a.bin" env.bin
	expect_rc 0 "push with FERRY_TARGET"
	same_file "$T/src/a.bin" "$T/root/env.bin"
	# One good and one missing: exit 1, the good one arrives.
	run_ferry pull --from "unix:$FERRYD_SOCK" env.bin missing.bin "$T/back/"
	expect_rc 1 "pull of a good and a missing file"
	same_file "$T/src/a.bin" "$T/back/env.bin"
	check_eq "lines on stderr" "$(grep -c '' "$ERR")" 1
	expect_err "missing.bin"
}

# Background processes start here, not inside a check_case subshell, so
# that the EXIT trap knows them.
start_ferryd "$T/root"
if command -v python3 >/dev/null 2>&1; then
	bg_start "$T/mute.log" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept(); time.sleep(60)' "$T/mute.sock"
	wait_until 10 test -S "$T/mute.sock" || fail "mute listener did not come up"
fi

check_case help_and_version
check_case usage_errors
check_case unreachable
check_case with_ferryd
check_case unknown_option
finish_cases
