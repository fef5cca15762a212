#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# File I/O backends: FERRY_NO_IO_URING=1 and --no-io-uring make both agents
# use pread/pwrite (JSON io "psync", ferryd says so once per process);
# without them the host uses io_uring where the kernel allows it.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/src" "$T/back"
SIZE=$((3 * CHUNK + 17))
mkfile "$T/src/f.bin" "$SIZE"

# push_pull ROOT WANT_IO [ferry args...]: push and pull one file, check io.
push_pull() {
	local root=$1 want=$2
	shift 2
	rm -f "$T/back/f.bin"
	run_ferry push --to "unix:$FERRYD_SOCK" --json "$@" "$T/src/f.bin" f.bin
	expect_rc 0
	same_file "$T/src/f.bin" "$root/f.bin"
	check_json_ok "$OUT" 1 push "$SIZE" >/dev/null
	PUSH_IO=$(json_get "$OUT" 1 io)
	PUSH_ERR=$ERR
	run_ferry pull --from "unix:$FERRYD_SOCK" --json "$@" f.bin "$T/back/f.bin"
	expect_rc 0
	same_file "$T/src/f.bin" "$T/back/f.bin"
	check_json_ok "$OUT" 1 pull "$SIZE" >/dev/null
	PULL_IO=$(json_get "$OUT" 1 io)
	if [ -n "$want" ]; then
		check_eq "io of the push ($*)" "$PUSH_IO" "$want"
		check_eq "io of the pull ($*)" "$PULL_IO" "$want"
	fi
}

# count_fallback LOG: how often ferryd said it uses pread/pwrite.
count_fallback() { grep -c 'pread/pwrite' "$1" || true; }

# 1. FERRY_NO_IO_URING=1 in both agents' environment.
mkdir -p "$T/root1"
FERRY_NO_IO_URING=1 start_ferryd "$T/root1"
FERRY_NO_IO_URING=1 push_pull "$T/root1" psync
check_eq "ferryd (FERRY_NO_IO_URING=1) lines saying pread/pwrite over two sessions" "$(count_fallback "$FERRYD_LOG")" 1
stop_pid "$FERRYD_PID"

# 2. --no-io-uring on both command lines.
mkdir -p "$T/root2"
start_ferryd "$T/root2" --no-io-uring
push_pull "$T/root2" psync --no-io-uring
check_eq "ferryd (--no-io-uring) lines saying pread/pwrite over two sessions" "$(count_fallback "$FERRYD_LOG")" 1
stop_pid "$FERRYD_PID"

# 3. Neither: io_uring where the kernel gives one.
mkdir -p "$T/root3"
start_ferryd "$T/root3"
push_pull "$T/root3" ""
if grep -q 'io_uring unavailable' "$PUSH_ERR"; then
	note "io_uring is unavailable here ($(grep -o 'io_uring unavailable ([^)]*)' "$PUSH_ERR" | head -n1)): not checking io=io_uring"
	check_eq "io without io_uring" "$PUSH_IO" psync
else
	check_eq "io of the push by default" "$PUSH_IO" io_uring
	check_eq "io of the pull by default" "$PULL_IO" io_uring
	check_eq "ferryd (default) lines saying pread/pwrite" "$(count_fallback "$FERRYD_LOG")" 0
fi
