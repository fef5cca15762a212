#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The session engine's modules call one way only (docs/ARCHITECTURE.md):
# no two of core/session/*.c call each other, directly or round a longer
# cycle.  Read off the built objects: who defines each global symbol, who
# uses it.
#
#   scripts/check-engine-calls.sh [BUILD_DIR]   (default: $FERRY_BUILD, else build)
#
# Prints the call graph between modules, then any cycle.  Exit status 0
# when there is none, 1 when there is, 2 when the objects are missing.
set -u
objdir=${1:-${FERRY_BUILD:-build}}/obj/core/session
objs=("$objdir"/*.o)
[ -e "${objs[0]}" ] || { echo "check-engine-calls: no objects in $objdir (run make first)" >&2; exit 2; }

edges=$(for o in "${objs[@]}"; do
        m=$(basename "$o" .o)
        nm --defined-only -g "$o" | awk -v m="$m" '$2 ~ /[TDBR]/ { print "D", $3, m }'
        nm --undefined-only "$o" | awk -v m="$m" '{ print "U", $2, m }'
done | awk '
        $1 == "D" { def[$2] = $3; next }
        { use[NR] = $2; user[NR] = $3 }
        END { for (i in use) if ((use[i] in def) && def[use[i]] != user[i]) print user[i], def[use[i]] }' | sort -u)

echo "engine calls (caller -> callee):"
awk '{ a[$1] = a[$1] " " $2 } END { for (k in a) print "  " k " ->" a[k] }' <<<"$edges" | sort

# A cycle: depth-first search over the graph.
cycles=$(awk '
        { adj[$1] = adj[$1] " " $2; nodes[$1]; nodes[$2] }
        function dfs(n, path,    i, k, next_) {
                state[n] = 1
                k = split(adj[n], next_, " ")
                for (i = 1; i <= k; i++) {
                        if (state[next_[i]] == 1) { print path " -> " next_[i]; found = 1 }
                        else if (!state[next_[i]]) dfs(next_[i], path " -> " next_[i])
                }
                state[n] = 2
        }
        END { for (n in nodes) if (!state[n]) dfs(n, n); exit found }' <<<"$edges")
rc=$?
if [ $rc -ne 0 ]; then
        echo "check-engine-calls: modules of the engine call each other round a cycle:" >&2
        sed 's/^/  /' <<<"$cycles" >&2
        exit 1
fi
echo "check-engine-calls: $(wc -l <<<"$edges") calls between $(ls "$objdir"/*.o | wc -l) modules, no cycle"
