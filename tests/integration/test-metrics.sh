#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ferryd --metrics-file (issue 12): the daemon's counters in Prometheus text
# format, read back with a real Prometheus parser (python3-prometheus-client's
# text_string_to_metric_families):
# - the file is there, all zeros, as soon as ferryd listens;
# - after pushes, a skipped push, a failed push, a pull and a failed pull
#   the counters equal what was sent: bytes each way, files ok, failed and
#   skipped, sessions; the write latency histogram counted the writes;
# - a throttled push (--max-rate) shows in the file while it runs (the file
#   is rewritten during a session, not only at its end) and leaves pacing
#   seconds for the rate budget;
# - every family has HELP and TYPE, histogram buckets add up;
# - no temporary file is left beside it; a path ferryd cannot write stops
#   it at start with the path in the message.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# The Debian package's module is in the system python3, which another one
# first in PATH (pyenv, a venv) may not see.
PY=
for p in python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null && "$p" -c 'import prometheus_client.parser' 2>/dev/null; then
		PY=$p
		break
	fi
done
[ -n "$PY" ] || skip "python3-prometheus-client is not installed (scripts/deps.sh)"

# prom FILE: the file parsed, one "name{k="v",...} value" line per sample
# (labels sorted); fails on anything the parser refuses, a family without
# HELP or TYPE, or a histogram whose buckets do not add up.
prom() {
	"$PY" - "$1" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
helps = {l.split()[2] for l in text.splitlines() if l.startswith("# HELP ")}
types = {l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ")}
for fam in text_string_to_metric_families(text):
    names = {s.name for s in fam.samples}
    if fam.type == "unknown" or not fam.documentation:
        sys.exit("family %s: no TYPE or no HELP" % fam.name)
    if fam.type == "histogram":
        b = [s for s in fam.samples if s.name.endswith("_bucket")]
        les = [float(s.labels["le"]) for s in b]
        vals = [s.value for s in b]
        count = [s.value for s in fam.samples if s.name.endswith("_count")][0]
        if les != sorted(les) or les[-1] != float("inf") or vals != sorted(vals) or vals[-1] != count:
            sys.exit("histogram %s does not add up: %r %r count %r" % (fam.name, les, vals, count))
    for s in fam.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %s" % (s.name, labels, repr(float(s.value))))
if not helps or helps != types:
    sys.exit("HELP and TYPE lines differ: %r %r" % (sorted(helps), sorted(types)))
EOF
}

# val FILE SAMPLE: the value of one sample ("name{labels}" as prom prints it)
val() {
	local out
	out=$(prom "$1") || fail "$1 is not valid Prometheus text: $out"
	awk -v k="$2" '$1 == k { print $2 + 0; found = 1 } END { if (!found) print "missing" }' <<<"$out"
}

M=$T/metrics
mkdir -p "$M" "$T/root/sub" "$T/back"
PROM=$M/ferry.prom
start_ferryd "$T/root" --metrics-file "$PROM"

# ---- at start: there, all zeros -------------------------------------------
[ -f "$PROM" ] || fail "no $PROM once ferryd listens"
check_eq "received at start" "$(val "$PROM" 'ferry_received_bytes_total{}')" 0
check_eq "sessions at start" "$(val "$PROM" 'ferry_sessions_total{}')" 0
check_eq "ok files at start" "$(val "$PROM" 'ferry_files_total{result="ok"}')" 0

# ---- pushes, pulls, failures ----------------------------------------------
A=$(big 3M 1M)
A=$((A + 5))
B=100000
mkfile "$T/a.bin" "$A"
mkfile "$T/b.bin" "$B"
mkfile "$T/c.bin" 4096
run_ferry push --to "unix:$FERRYD_SOCK" "$T/a.bin" "$T/b.bin" "sub/"
expect_rc 0 "push a.bin b.bin"
# the same again: ferryd has both, complete (resume skips them)
run_ferry push --to "unix:$FERRYD_SOCK" "$T/a.bin" "$T/b.bin" "sub/"
expect_rc 0 "push again"
# through a file: not a directory, on ferryd's side
run_ferry push --to "unix:$FERRYD_SOCK" "$T/c.bin" "sub/a.bin/c.bin"
expect_rc 1 "push under a file"
run_ferry pull --from "unix:$FERRYD_SOCK" sub/a.bin nope.bin "$T/back/"
expect_rc 1 "pull a.bin and a missing file"
same_file "$T/a.bin" "$T/back/a.bin"

# A session's last figures are written as its thread ends, which may be
# just after ferry has exited.
settled() { [ "$(val "$PROM" 'ferry_sessions_total{}')" = 4 ] && [ "$(val "$PROM" 'ferry_sessions{}')" = 0 ]; }
wait_until 10 settled || fail "the file does not show 4 sessions ended: $(grep -v '^#' "$PROM" | head -8)"
check_eq "received bytes" "$(val "$PROM" 'ferry_received_bytes_total{}')" $((A + B))
check_eq "sent bytes" "$(val "$PROM" 'ferry_sent_bytes_total{}')" "$A"
check_eq "files ok" "$(val "$PROM" 'ferry_files_total{result="ok"}')" 3
check_eq "files skipped" "$(val "$PROM" 'ferry_files_total{result="skipped"}')" 2
check_eq "files failed" "$(val "$PROM" 'ferry_files_total{result="failed"}')" 2
# every chunk written was timed: a.bin's chunks (1M each) and b.bin's
writes=$(val "$PROM" 'ferry_write_latency_seconds_count{}')
check_eq "write latency count" "$writes" $(((A + CHUNK - 1) / CHUNK + 1))
"$PY" -c "import sys; sys.exit(not float(sys.argv[1]) > 0)" "$(val "$PROM" 'ferry_write_latency_seconds_sum{}')" ||
	fail "write latency sum is not > 0"
check_eq "dirty bytes once idle" "$(val "$PROM" 'ferry_dirty_bytes{}')" 0
[ "$(val "$PROM" 'ferry_resident_memory_bytes{}')" -gt 0 ] || fail "resident memory is 0"

# ---- a throttled push: seen while it runs, paced for the rate ------------
stop_pid "$FERRYD_PID"
start_ferryd "$T/root" --metrics-file "$PROM" --max-rate 2M
S=$(to_bytes 8M) # (not smaller with FERRY_SMALL: the rate, not the build, sets its time)
mkfile "$T/slow.bin" "$S"
"$FERRY" push --to "unix:$FERRYD_SOCK" "$T/slow.bin" slow.bin >"$T/slow.out" 2>"$T/slow.err" &
push_pid=$!
running() {
	[ "$(val "$PROM" 'ferry_sessions{}')" = 1 ] && [ "$(val "$PROM" 'ferry_received_bytes_total{}')" -gt 0 ]
}
wait_until 10 running || fail "no sample while the throttled push runs: $(grep -v '^#' "$PROM" | head -8)"
mid=$(val "$PROM" 'ferry_received_bytes_total{}')
[ "$mid" -lt "$S" ] || fail "the sample while it runs has all $S bytes already"
wait "$push_pid" || fail "the throttled push failed: $(cat "$T/slow.err")"
settled1() { [ "$(val "$PROM" 'ferry_sessions_total{}')" = 1 ] && [ "$(val "$PROM" 'ferry_sessions{}')" = 0 ]; }
wait_until 10 settled1 || fail "the throttled session's end is not in the file"
check_eq "throttled bytes" "$(val "$PROM" 'ferry_received_bytes_total{}')" "$S"
paced=$(val "$PROM" 'ferry_pacing_seconds_total{reason="rate"}')
"$PY" -c "import sys; sys.exit(not float(sys.argv[1]) >= 0.5)" "$paced" ||
	fail "pacing seconds for the rate: $paced, expected at least 0.5 s for $S bytes at 2M/s"

# ---- nothing beside it ----------------------------------------------------
check_eq "files in the metrics directory" "$(ls -A "$M")" "ferry.prom"

# ---- a path ferryd cannot write --------------------------------------------
START_QUIET=1 start_ferryd_at "unix:$T/nope.sock" "$T/root" --metrics-file "$T/nope/ferry.prom" && fail "ferryd started with an unwritable --metrics-file"
grep -q "metrics-file '$T/nope/ferry.prom': No such file or directory" "$FERRYD_LOG" ||
	fail "ferryd's error does not name the path: $(cat "$FERRYD_LOG")"
echo "ok"
