#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Things that are not regular files, and odd destinations: a pull of a
# FIFO in the root fails that file (exit 1) and leaves ferryd serving, a
# directory arrives as a tree; a push of a local directory or FIFO fails with exit 1; an empty
# REMOTE_DEST is a usage error.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/root/dir" "$T/src" "$T/back"
mkfile "$T/src/a.bin" 5000
mkfifo "$T/root/fifo" "$T/src/fifo"
start_ferryd "$T/root"
TGT=unix:$FERRYD_SOCK

# still_serves WHAT: a plain push works afterwards.
still_serves() {
	run_ferry push --to "$TGT" --timeout 5 "$T/src/a.bin" "after-$1.bin"
	expect_rc 0 "a push after $1"
	same_file "$T/src/a.bin" "$T/root/after-$1.bin"
}

# A directory comes as a tree (test-pull-tree.sh has the rest): an empty
# one arrives as LOCAL/dir.
pull_dir() {
	run_ferry pull --from "$TGT" --timeout 10 dir "$T/back/pulled"
	expect_rc 0 "pull of a directory"
	[ -d "$T/back/pulled/dir" ] && [ ! -L "$T/back/pulled/dir" ] || fail "pull of a directory: no $T/back/pulled/dir"
	still_serves pull-dir
}

# Opening a FIFO for reading blocks until a writer comes: ferryd must not
# open it that way (GET of something that is not a regular file: ENOTSUP).
pull_fifo() {
	CMD_TIMEOUT=30 run_ferry pull --from "$TGT" --timeout 5 fifo "$T/back/fifo"
	expect_rc 1 "pull of a FIFO"
	expect_err "^ferry: pull 'fifo': guest: "
	assert_no_dest "$T/back/fifo"
	still_serves pull-fifo
}

push_dir() {
	# A directory is sent as a tree (x/src, x made if missing); the FIFO in
	# it is named and skipped, the rest arrives, and the exit says so.
	run_ferry push --to "$TGT" --timeout 5 "$T/src" x
	expect_rc 1 "push of a directory holding a FIFO"
	expect_err "^ferry: push '$T/src/fifo': not a regular file"
	same_file "$T/src/a.bin" "$T/root/x/src/a.bin"
	assert_no_dest "$T/root/x/src/fifo"
}

push_fifo() {
	CMD_TIMEOUT=10 run_ferry push --to "$TGT" --timeout 5 "$T/src/fifo" y
	expect_rc 1 "push of a local FIFO"
	expect_err "^ferry: push '$T/src/fifo': "
	assert_no_dest "$T/root/y"
}

# An empty REMOTE_DEST cannot go on the wire (PROTOCOL.md: dest is 1..4096
# bytes): the command line must refuse it, not break the session.
empty_dest() {
	run_ferry push --to "$TGT" "$T/src/a.bin" ""
	expect_rc 2 "push to an empty REMOTE_DEST"
	expect_err "Try 'ferry push --help'"
}

check_case pull_dir
check_case push_dir
check_case empty_dest
check_case push_fifo
check_case pull_fifo
assert_no_tmp "$T/root"
assert_no_tmp "$T/back"
finish_cases
