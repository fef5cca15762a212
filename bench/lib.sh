# shellcheck shell=bash
# SPDX-License-Identifier: MIT
#
# bench/lib.sh: helpers the benchmarks share.  Source it after setting
# BENCH_NAME (the prefix of messages); it sets TCK and NFAIL.

TCK=$(getconf CLK_TCK)
NFAIL=0

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
# A failed run is counted and said, never fatal: the bench goes on.
fail() { echo "$BENCH_NAME: FAILED: $*" >&2; NFAIL=$((NFAIL + 1)); }

# kill_tree PID: PID and every descendant (pipelines started with &).
kill_tree() {
        local c
        for c in $(pgrep -P "$1"); do kill_tree "$c"; done
        kill "$1" 2>/dev/null
}

# A process's utime+stime in seconds (ferryd serves every session in one
# process, so callers take differences).
proc_cpu() { awk -v t="$TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat"; }

# The number after "KEY": in a one-line JSON object.
jnum() { sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p" "$2" | head -1; }

# Waits up to 5 s for a socket to appear.
wait_sock() {
        local i
        for ((i = 0; i < 500; i++)); do
                [[ -S $1 ]] && return 0
                sleep 0.01
        done
        return 1
}

# timed OUT CMD...: runs CMD, writes its children's user+sys CPU seconds to OUT.
timed() {
        local out=$1 rc
        shift
        ( "$@"; rc=$?; times >"$out.raw"; exit "$rc" )
        rc=$?
        sed -n 2p "$out.raw" | awk '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t[i] = a[1] * 60 + a[2] }
                                     printf "%.2f\n", t[1] + t[2] }' >"$out"
        rm -f "$out.raw"
        return "$rc"
}

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

# Each measurement appends a value to R[KEY]; median and range read them.
declare -A R
rec() { R[$1]+="$2 "; }
median() {
        local v=${R[$1]:-}
        [[ -z $v ]] && { printf -- -; return; }
        tr ' ' '\n' <<<"$v" | sed '/^$/d' | sort -g | awk '{ a[NR] = $1 } END { printf "%s", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
# range KEY [FORMAT]: "min-max" (FORMAT: a printf format for the two).
range() {
        local v=${R[$1]:-}
        [[ -z $v ]] && { printf -- -; return; }
        tr ' ' '\n' <<<"$v" | sed '/^$/d' | sort -g |
                awk -v f="${2:-%s-%s}" 'NR == 1 { lo = $1 } { hi = $1 } END { printf f, lo, hi }'
}
# " [N failed]" when N runs of KEY failed (recorded under KEY.fail).
nfail() { local v=${R[$1.fail]:-}; v=${v// /}; [[ -n $v ]] && printf ' [%d failed]' "${#v}"; return 0; }

# --- figures and tables ---------------------------------------------------------

# ratio A B: A / B to two places, "-" when either is missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "-") printf "%.2f", a / b; else printf "-" }'; }
# ran METHOD: METHOD is in the METHODS array of this run.
ran() { [[ " ${METHODS[*]} " == *" $1 "* ]]; }
# pct Q FILE...: the Q-quantile (0..1) of the numbers (us) in FILEs, in ms; "-" when none.
pct() {
	local q=$1
	shift
	cat "$@" | sort -n | awk -v q="$q" '{ a[NR] = $1 } END {
		if (!NR) { printf "-"; exit }
		i = int(q * NR); if (i < q * NR) i++; if (i < 1) i = 1
		printf "%.2f", a[i] / 1000 }'
}
# peak_mib FILE...: the largest number (KiB) in FILEs, in MiB.
peak_mib() { cat "$@" | sort -n | tail -1 | awk '{ printf "%.0f", $1 / 1024 }'; }
# yn A OP B: "met" when A OP B (<= or >=) holds, "MISSED" when not, "-" when a side is missing.
yn() {
	awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { if (a == "-" || a == "" || b == "-" || b == "") { print "-"; exit }
		ok = op == "<=" ? a + 0 <= b + 0 : a + 0 >= b + 0; print ok ? "met" : "MISSED" }'
}
