#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# "./" names a directory's contents like any "dir/": `ferry pull ./ DEST`
# copies the whole of ferryd's root into DEST and `ferry push ./ DEST` the
# current directory's contents (both were refused as "not a file name").
# A bare "." still is, with the way to say it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/root/s" "$T/back" "$T/src/t" "$T/root2"
printf 'x\n' >"$T/root/x.txt"
printf 'y\n' >"$T/root/s/y.txt"
printf 'z\n' >"$T/src/t/z.txt"
start_ferryd "$T/root"
run_ferry pull --from "unix:$FERRYD_SOCK" ./ "$T/back"
expect_rc 0 "ferry pull ./ DEST"
same_file "$T/root/x.txt" "$T/back/x.txt"
same_file "$T/root/s/y.txt" "$T/back/s/y.txt"

run_ferry pull --from "unix:$FERRYD_SOCK" . "$T/back"
expect_rc 2 "ferry pull . DEST"
expect_err "'\.': not a file name \(a directory's contents: '\./'\)"

(cd "$T/src/t" && timeout 60 "$FERRY" push --to "unix:$FERRYD_SOCK" ./ in/) >"$T/push.out" 2>&1 ||
	fail "ferry push ./ DEST: $(cat "$T/push.out")"
same_file "$T/src/t/z.txt" "$T/root/in/z.txt"
echo "dot paths: ok"
