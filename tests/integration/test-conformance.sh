#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Conformance: tests/tools/conform drives a real ferryd with crafted frame
# sequences and checks its answer to each rule of protocol/PROTOCOL.md, one
# case per rule, named by its section (handshake, limits, push and pull
# faults, features not agreed, ids, closing, payload checks of 9.14).
# Afterwards ferryd still serves a normal push.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

ROOT=$T/root
mkdir -p "$ROOT/dir" "$ROOT/in"
mkfile "$ROOT/f.txt" 5000
mkfile "$ROOT/big.bin" $((1048576 + 7))
mkfile "$ROOT/dir/x" 100
start_ferryd "$ROOT"

rc=0
(cd "$ROOT" && "$TOOLS/conform" "$FERRYD_SOCK") >"$T/conform.out" 2>&1 || rc=$?
cat "$T/conform.out"
[ "$rc" = 0 ] || fail "conform: $(grep -c '^FAIL' "$T/conform.out") rules not met"
grep -q '^conform: [0-9]* cases, 0 failed' "$T/conform.out" || fail "conform did not finish"
# Nothing a refused or failed transfer named is at its name.
for n in bad gap o1 o2 ab az fa fb fc z r s q d l m; do assert_no_dest "$ROOT/in/$n"; done
assert_no_tmp "$ROOT"
kill -0 "$FERRYD_PID" || fail "ferryd died under the conformance cases"

mkfile "$T/p.bin" 12345
run_ferry push --to "unix:$FERRYD_SOCK" "$T/p.bin" in/p.bin
expect_rc 0 "a push after the conformance cases"
same_file "$T/p.bin" "$ROOT/in/p.bin"
echo "conformance: ok"
