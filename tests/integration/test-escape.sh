#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Text from the guest never reaches the host's terminal raw: a hostile
# guest's FILE_STATUS and FILE_ABORT texts, its ERROR text and the entry
# names of a tree it sends are full of escape sequences (clear the screen,
# set the title, forge "all files verified"); ferry shows them with their
# control characters escaped (\e, \x07, \n), on stderr and in --json.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

HOSTILE=$TOOLS/hostile
[ -x "$HOSTILE" ] || fail "$HOSTILE is missing (make tests)"
mkdir -p "$T/back"
mkfile "$T/a.bin" 100k

_n=0
# guest MODE: a hostile guest for one session; sets G_SOCK.
guest() {
	_n=$((_n + 1))
	G_SOCK=$T/g$_n.sock
	bg_start "$T/guest.$_n.out" "$HOSTILE" guest "$G_SOCK" "$@"
	wait_until 10 test -S "$G_SOCK" || fail "hostile guest did not come up: $(cat "$T/guest.$_n.out")"
}
# clean WHAT FILE: no control character but newline (and tab) in FILE.
clean() {
	if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$2"; then
		od -c "$2" | head -20 >&2
		fail "$1: raw control characters in $2"
	fi
}

guest text
run_ferry push --to "unix:$G_SOCK" --retry 0 "$T/a.bin" a.bin
expect_rc 1 "push to a guest that fails the file"
clean "push, FILE_STATUS text" "$ERR"
expect_err "guest: \\\\e\]0;pwned\\\\x07\\\\e\[2J" "push: the guest's text, escaped"
expect_err 'ferry: all files verified\\n' "push: the forged line, on the error's line"
[ "$(wc -l <"$ERR")" = 1 ] || { show_run >&2; fail "push: the guest's text made more than one line"; }

guest text
run_ferry pull --from "unix:$G_SOCK" --retry 0 --json some.bin "$T/back/"
expect_rc 1 "pull from a guest that refuses with FILE_ABORT"
clean "pull, FILE_ABORT text" "$ERR"
clean "pull --json" "$OUT"
expect_err '\\e\[2J' "pull: the guest's text, escaped"

guest error
run_ferry pull --from "unix:$G_SOCK" --retry 0 x.bin "$T/back/"
[ "$RC" != 0 ] || fail "pull from a guest that sends ERROR succeeded"
clean "ERROR text" "$ERR"
expect_err 'guest: \\e\]0;pwned' "ERROR: the guest's text, escaped"

guest tree
run_ferry pull --from "unix:$G_SOCK" --retry 0 -v dir "$T/back/"
[ "$RC" != 0 ] || fail "pull of a tree with an aborted entry succeeded"
clean "tree entry name" "$ERR"
expect_err "evil\\\\e\[2J\\\\e\]0;name\\\\x07\.bin" "tree: the entry's name, escaped"
echo "escaping: ok"
