#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The include rules of docs/ARCHITECTURE.md, checked.
#
#   scripts/check-layers.sh [SRCDIR]
#
# Reads every #include "..." in protocol/, core/*/, host-agent/ and
# guest-agent/ under SRCDIR (default: the checkout this script is in) and
# prints one line per include against the rules:
#
#   FILE:LINE: #include "HEADER": RULE
#
# then a summary line.  Exit status: 0 when everything obeys, 1 on a
# violation, 2 on a usage error.  tests/, fuzz/ and bench/ are not checked:
# a test may reach into a private header, and says why.

set -u

usage() { echo "usage: scripts/check-layers.sh [SRCDIR]" >&2; }

case ${1:-} in
-h | --help) usage; exit 0 ;;
-*) echo "check-layers: unknown option '$1'" >&2; usage; exit 2 ;;
esac
[ $# -le 1 ] || { usage; exit 2; }
src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
if ! [ -d "$src/protocol" ] || ! [ -d "$src/core" ]; then
	echo "check-layers: '$src' has no protocol/ and core/" >&2
	exit 2
fi
cd "$src" || exit 2

# Which layers each layer may include (its own is always allowed).  Keep in
# step with the table in docs/ARCHITECTURE.md.
declare -A may=(
	[protocol]=""
	[base]="protocol"
	[fs]="base protocol"
	[transport]="base protocol"
	[budget]="base protocol"
	[session]="fs budget base protocol"
	[host-agent]="session fs transport budget base protocol"
	[guest-agent]="session fs transport budget base protocol"
)
# The folders under core/ that are layers ("base/util.h" names core/base).
core_layers="base fs transport budget session"
# protocol/ is pure: of the system's headers, only these (no I/O, no
# allocation, no library but xxhash).
protocol_system="stddef.h stdint.h stdbool.h string.h errno.h limits.h sys/types.h xxhash.h"

violations=0 files=0 includes=0

# The layer a source file belongs to, or "" for a folder not in the table.
layer_of() {
	case $1 in
	protocol/*) echo protocol ;;
	host-agent/*) echo host-agent ;;
	guest-agent/*) echo guest-agent ;;
	core/*/*)
		local l=${1#core/}
		l=${l%%/*}
		case " $core_layers " in *" $l "*) echo "$l" ;; *) echo "" ;; esac
		;;
	*) echo "" ;;
	esac
}

# The folder a layer's files live in.
dir_of() {
	case $1 in
	protocol | host-agent | guest-agent) echo "$1" ;;
	*) echo "core/$1" ;;
	esac
}

say() { # FILE LINE HEADER RULE
	printf '%s:%s: #include "%s": %s\n' "$1" "$2" "$3" "$4"
	violations=$((violations + 1))
}

# shellcheck disable=SC2094 # say() prints to stdout; it does not write $f
check_file() {
	local f=$1 from dir
	from=$(layer_of "$f")
	dir=$(dirname "$f")
	files=$((files + 1))
	if [ -z "$from" ]; then
		printf '%s: %s/ is not a layer in docs/ARCHITECTURE.md (add it to the table and to this script)\n' "$f" "$dir"
		violations=$((violations + 1))
		return
	fi
	local n=0 line hdr to
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		if [ "$from" = protocol ] && [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\<([^\>]+)\> ]]; then
			hdr=${BASH_REMATCH[1]}
			case " $protocol_system " in
			*" $hdr "*) ;;
			*) printf '%s:%s: #include <%s>: protocol/ is pure: of the system headers only %s\n' \
				"$f" "$n" "$hdr" "$protocol_system"
			   violations=$((violations + 1)) ;;
			esac
			continue
		fi
		[[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]] || continue
		hdr=${BASH_REMATCH[1]}
		includes=$((includes + 1))
		case $hdr in
		*/*/* | /* | ./* | ../*)
			say "$f" "$n" "$hdr" "a header is named FOLDER/NAME.h (a layer under core/) or NAME.h (same folder or protocol/)"
			continue
			;;
		*/*)
			to=${hdr%%/*}
			case " $core_layers " in
			*" $to "*) ;;
			*)
				say "$f" "$n" "$hdr" "'$to/' is not a layer under core/ ($core_layers)"
				continue
				;;
			esac
			if [ ! -f "core/$hdr" ]; then
				say "$f" "$n" "$hdr" "no such header: core/$hdr"
				continue
			fi
			;;
		*)
			# No folder: a header beside the file, else one of protocol/.
			if [ -f "$dir/$hdr" ]; then
				to=$from
			elif [ -f "protocol/$hdr" ]; then
				to=protocol
			else
				say "$f" "$n" "$hdr" "an include without a folder must be a header in $dir/ or in protocol/"
				continue
			fi
			;;
		esac
		# A NAME-int.h is private to its folder.
		if [[ ${hdr##*/} == *-int.h ]] && [ "$to" != "$from" ]; then
			say "$f" "$n" "$hdr" "private to $(dir_of "$to")/: only its own files include it"
			continue
		fi
		[ "$to" = "$from" ] && continue
		case " ${may[$from]} " in
		*" $to "*) ;;
		*)
			local allowed=${may[$from]}
			allowed=${allowed// /, }
			say "$f" "$n" "$hdr" "$from may include ${allowed:-only itself and libc}${allowed:+ and itself}, not $to"
			;;
		esac
	done <"$f"
}

while IFS= read -r f; do
	check_file "$f"
done < <(find protocol core host-agent guest-agent -type f \( -name '*.c' -o -name '*.h' \) | LC_ALL=C sort)

if [ "$violations" -gt 0 ]; then
	echo "check-layers: $violations violation(s) in $files files ($includes includes); the rules: docs/ARCHITECTURE.md"
	exit 1
fi
echo "check-layers: $files files, $includes includes, all within the layers"
