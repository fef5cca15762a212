# shellcheck shell=bash
# tests/vm/ferry-lib.sh: host-side helpers for ferry against a guest running jobs/ferryd-serve.sh.
# Source after lib.sh:
#   . tests/vm/lib.sh; . tests/vm/ferry-lib.sh
#   vmf_require_build              # $FERRY and the guest's ferryd (VM_FERRYD, default build/ferryd)
#                                  # exist (else exit 1 with a hint)
#   vmf_tmp_init NAME              # VMF_TMP: a scratch directory under build/vm (vmf_tmp_cleanup)
#   vm_build; vm_start "$VMF_JOB"; vm_wait_ready; vmf_wait_listening
#   vmf_ferry push|pull ARG...     # build/ferry against $VM_DIR/ferry.sock; stdout/stderr/rc in
#                                  # $VMF_TMP/{out,err}, VMF_RC (never fails by itself)
#   vmf_ctl VERB ARG...            # run a command in the guest (ferryd-serve.sh) and print its output
#   vmf_ctl_start VERB ARG...; ...; vmf_ctl_wait
#                                  # the same in two halves, for commands the host takes part in
#                                  # (raw): the command is delivered when vmf_ctl_start returns
#   vmf_json FILE N KEY            # field KEY (dotted: rtt_us.p99) of the N-th JSON line of FILE
#   vmf_stop_guest [SECS]          # "stop" the job and wait for the power-off; returns the job status
# Environment: FERRY_BUILD (build dir of the host's ferry, default $FERRY_ROOT/build).

FERRY_BUILD=${FERRY_BUILD:-$FERRY_ROOT/build}
case "$FERRY_BUILD" in /*) ;; *) FERRY_BUILD=$FERRY_ROOT/$FERRY_BUILD ;; esac
FERRY=$FERRY_BUILD/ferry
# shellcheck disable=SC2034 # VMF_JOB, VMF_RC: for the scripts that source this file
VMF_JOB=$VM_LIB_DIR/jobs/ferryd-serve.sh
VMF_TMP=
VMF_RC=0

vmf_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

vmf_require_build() {
	[[ -x "$FERRY" ]] || vmf_fail "$FERRY not built (make -C $FERRY_ROOT all)"
	local ferryd=${VM_FERRYD:-$FERRY_ROOT/build/ferryd}
	[[ -x "$ferryd" ]] || vmf_fail "$ferryd not built (make all)"
	file -L "$ferryd" | grep -Eq 'statically linked|static-pie' ||
		vmf_fail "$ferryd is not static: it cannot run in the guest"
	command -v python3 >/dev/null 2>&1 || vm_skip "python3 not installed"
}

vmf_tmp_init() {
	mkdir -p "$FERRY_ROOT/build/vm"
	VMF_TMP=$(mktemp -d "$FERRY_ROOT/build/vm/$1.XXXXXX")
}

# vmf_cleanup STATUS: for the EXIT trap, after vm_cleanup; keeps VMF_TMP when the test failed.
vmf_tmp_cleanup() {
	local rc=$1
	[[ -n "$VMF_TMP" && -d "$VMF_TMP" ]] || return 0
	if [[ $rc != 0 && $rc != 77 ]]; then echo "kept $VMF_TMP" >&2; else rm -rf "$VMF_TMP"; fi
}

# vmf_wait_listening: the job printed that ferryd waits for hosts.
vmf_wait_listening() { vm_wait_for '^job: ferryd listening' "${1:-20}"; }

# vmf_ferry push|pull ARG...: run the host's ferry against the guest; never fails by itself.
vmf_ferry() {
	local op=$1 flag
	shift
	[[ $op == push ]] && flag=--to || flag=--from
	VMF_RC=0
	# shellcheck disable=SC2034
	"$FERRY" "$op" "$flag" "serial:$VM_DIR/ferry.sock" "$@" >"$VMF_TMP/out" 2>"$VMF_TMP/err" || VMF_RC=$?
}

# vmf_json FILE N KEY: a field of the N-th (1-based) JSON object in FILE; empty when absent.
vmf_json() {
	python3 - "$@" <<-'EOF'
		import json, sys
		path, n, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
		lines = [l for l in open(path) if l.strip().startswith("{") and '"kind":"summary"' not in l]
		v = json.loads(lines[n - 1]) if len(lines) >= n else {}
		for k in key.split("."):
		    v = v.get(k, "") if isinstance(v, dict) else ""
		print(v)
	EOF
}

# vmf_check_json FILE N OP BYTES: the N-th JSON object says op OP, status ok, BYTES bytes and has
# a digest; prints the digest.
vmf_check_json() {
	python3 - "$@" <<-'EOF'
		import json, sys
		path, n, op, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
		lines = [l for l in open(path) if l.strip().startswith("{") and '"kind":"summary"' not in l]
		if len(lines) < n:
		    sys.exit("FAIL: %s: no JSON object #%d" % (path, n))
		j = json.loads(lines[n - 1])
		bad = []
		if j.get("op") != op: bad.append("op %r" % j.get("op"))
		if j.get("status") != "ok": bad.append("status %r (%s)" % (j.get("status"), j.get("error")))
		if j.get("bytes") != size: bad.append("bytes %r != %d" % (j.get("bytes"), size))
		d = j.get("digest", "")
		if not d.startswith("xxh3-128:") or len(d) != 9 + 32: bad.append("digest %r" % d)
		if bad:
		    sys.exit("FAIL: %s #%d: %s" % (path, n, ", ".join(bad)))
		print(d)
	EOF
}

# vmf_ctl VERB ARG...: push a command file (.ctl.N) to the guest and print command N's output
# (ferryd-serve.sh). Fails when the push fails, the guest does not answer within 60 s, or the
# command's status is non-zero.
vmf_ctl() {
	vmf_ctl_start "$@" && vmf_ctl_wait
}

# vmf_ctl_start VERB ARG...: push command N; VMF_CTL_N says which (for vmf_ctl_wait).
VMF_CTL_N=0
vmf_ctl_start() {
	local n=1 f
	# Numbered by the files already sent, so that calls in $(...) subshells count too.
	while [[ -e "$VMF_TMP/ctl.$n" ]]; do n=$((n + 1)); done
	f=$VMF_TMP/ctl.$n
	echo "$*" >"$f"
	VMF_CTL_N=$n
	"$FERRY" push --to "serial:$VM_DIR/ferry.sock" -q --timeout 20 "$f" ".ctl.$n" ||
		{ echo "vmf_ctl: pushing command $n ($*) failed" >&2; return 1; }
}

# vmf_ctl_wait: command VMF_CTL_N's output, once it ended; fails as vmf_ctl does.
vmf_ctl_wait() {
	local n=$VMF_CTL_N rc
	vm_wait_for "^@$n end [0-9]+\$" 60 || return 1
	rc=$(vm_console | sed -n "s/^@$n end \\([0-9]*\\)\$/\\1/p" | tail -n 1)
	vm_console | sed -n "/^@$n end /d; s/^@$n //p"
	[[ $rc == 0 ]] || { echo "vmf_ctl: command $n exited $rc in the guest" >&2; return 1; }
}

# vmf_stop_guest [SECS]: end the job; wait for the guest to power off; return its job status.
vmf_stop_guest() {
	vmf_ctl stop >/dev/null || return 1
	vm_wait_exit "${1:-30}"
}
