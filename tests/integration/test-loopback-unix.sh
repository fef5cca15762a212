#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Push and pull over a unix socket: empty, 1 byte, around the chunk size,
# three files into a directory, and a big file (1 GiB; 64 MiB with
# FERRY_SMALL=1).  Bytes compared, telemetry checked, digests of push and
# pull of the same file identical.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

EMPTY_DIGEST=xxh3-128:99aa06d3014798d86001c324468d497f
mkdir -p "$T/root" "$T/src" "$T/back"
start_ferryd "$T/root"
TGT=unix:$FERRYD_SOCK

# roundtrip NAME SIZE: push src/NAME to NAME, pull it back to back/NAME.
roundtrip() {
	local name=$1 size=$2 dpush dpull
	mkfile "$T/src/$name" "$size"
	run_ferry push --to "$TGT" --json "$T/src/$name" "$name"
	expect_rc 0
	same_file "$T/src/$name" "$T/root/$name"
	check_eq "push $name: json lines" "$(json_lines "$OUT")" 1
	check_eq "push $name: json source" "$(json_get "$OUT" 1 source)" "$T/src/$name"
	check_eq "push $name: json dest" "$(json_get "$OUT" 1 dest)" "$name"
	dpush=$(check_json_ok "$OUT" 1 push "$size")

	run_ferry pull --from "$TGT" --json "$name" "$T/back/$name"
	expect_rc 0
	same_file "$T/src/$name" "$T/back/$name"
	check_eq "pull $name: json lines" "$(json_lines "$OUT")" 1
	check_eq "pull $name: json source" "$(json_get "$OUT" 1 source)" "$name"
	dpull=$(check_json_ok "$OUT" 1 pull "$size")
	check_eq "$name: digest of push and pull" "$dpull" "$dpush"
	LAST_DIGEST=$dpush
}

roundtrip empty.bin 0
check_eq "digest of an empty file" "$LAST_DIGEST" "$EMPTY_DIGEST"
roundtrip one.bin 1
roundtrip chunk-1.bin $((CHUNK - 1))
roundtrip chunk.bin $CHUNK
roundtrip chunk+1.bin $((CHUNK + 1))

# Mode and mtime travel with the file.
chmod 640 "$T/src/chunk.bin"
touch -d '2001-02-03 04:05:06.789' "$T/src/chunk.bin"
run_ferry push --to "$TGT" "$T/src/chunk.bin" mode.bin
expect_rc 0
check_eq "mode after push" "$(stat -c %a "$T/root/mode.bin")" 640
check_eq "mtime after push" "$(stat -c %Y "$T/root/mode.bin")" "$(stat -c %Y "$T/src/chunk.bin")"

# Three files at once into a directory (trailing '/'), then back into a
# local directory.
mkdir -p "$T/root/multi" "$T/back/multi"
sizes=(100 $((2 * CHUNK + 5)) 12345)
srcs=()
for i in 0 1 2; do
	mkfile "$T/src/m$i.bin" "${sizes[i]}"
	srcs+=("$T/src/m$i.bin")
done
run_ferry push --to "$TGT" --json "${srcs[@]}" multi/
expect_rc 0
check_eq "push of 3 files: json lines" "$(json_lines "$OUT")" 3
declare -A seen=()
for l in 1 2 3; do
	src=$(json_get "$OUT" $l source)
	i=${src##*/m}
	i=${i%.bin}
	[[ $i =~ ^[012]$ ]] || fail "push of 3 files: unexpected source '$src'"
	seen[$i]=1
	check_json_ok "$OUT" $l push "${sizes[i]}" >/dev/null
done
check_eq "push of 3 files: distinct sources" "${#seen[@]}" 3
for i in 0 1 2; do
	same_file "$T/src/m$i.bin" "$T/root/multi/m$i.bin"
done
# An existing directory without the trailing '/' takes the file by name.
run_ferry push --to "$TGT" "$T/src/one.bin" multi
expect_rc 0
same_file "$T/src/one.bin" "$T/root/multi/one.bin"

run_ferry pull --from "$TGT" --json multi/m0.bin multi/m1.bin multi/m2.bin "$T/back/multi"
expect_rc 0
check_eq "pull of 3 files: json lines" "$(json_lines "$OUT")" 3
for i in 0 1 2; do
	same_file "$T/src/m$i.bin" "$T/back/multi/m$i.bin"
done

# The big one.
BIG=$(big 1G 64M)
note "big file: $BIG bytes"
roundtrip big.bin "$BIG"
rm -f "$T/src/big.bin" "$T/back/big.bin" "$T/root/big.bin"

assert_no_tmp "$T/root"
assert_no_tmp "$T/back"
# ferryd put nothing anywhere else.
check_eq "files in the root" "$(cd "$T/root" && find . -type f | LC_ALL=C sort | tr '\n' ' ')" \
	"./chunk+1.bin ./chunk-1.bin ./chunk.bin ./empty.bin ./mode.bin ./multi/m0.bin ./multi/m1.bin ./multi/m2.bin ./multi/one.bin ./one.bin "
kill -0 "$FERRYD_PID" || fail "ferryd died"
grep -q 'session: 1 files received' "$FERRYD_LOG" || fail "ferryd logged no session summary"
