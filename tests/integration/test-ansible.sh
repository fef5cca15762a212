#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# contrib/ansible: the ferry_push module, run by Debian's ansible-playbook
# against localhost with ferryd on Unix sockets.  By target: a dataset
# pushed twice is changed the first time and not the second (ferry skips
# what is there), and an unreachable target fails.  By libvirt domain
# (the test driver; contrib/ansible/push-dataset.yml, the playbook the README
# shows): two guests changed, then not; a third guest that has no ferryd
# fails alone, with the others' results still reported.  ansible-doc reads
# the module's documentation.
set -euo pipefail
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

# The module is Python; ferry under the sanitizers is the other tests' job.
[ "$SMALL" = 1 ] && skip "the Ansible module does not change under the sanitizers; checked in the plain run"
command -v ansible-playbook >/dev/null || skip "ansible-playbook is missing (apt-get install ansible-core)"
# Debian's python3, the one its ansible runs on (a python3 earlier in PATH,
# say a pyenv shim, may be seconds slower to start), else any.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || skip "python3 is missing"
CONTRIB=$FERRY_SRC/contrib/ansible

# Ansible alone: no user or site configuration, its files under $T.
mkdir -p "$T/home" "$T/ansible-tmp" "$T/callbacks"
: >"$T/ansible.cfg"
export HOME=$T/home ANSIBLE_CONFIG=$T/ansible.cfg ANSIBLE_LOCAL_TEMP=$T/ansible-tmp \
	ANSIBLE_REMOTE_TEMP=$T/ansible-tmp ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 \
	ANSIBLE_LIBRARY=$CONTRIB/library ANSIBLE_PYTHON_INTERPRETER=$PY \
	ANSIBLE_CALLBACK_PLUGINS=$T/callbacks ANSIBLE_CALLBACKS_ENABLED=ferry_report
# ansible-core's callbacks have no JSON report (that one is in a collection
# Debian ships with the big `ansible`): this one writes each task's result
# and the play's stats to $FERRY_ANSIBLE_REPORT.
cat >"$T/callbacks/ferry_report.py" <<'EOF'
import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "ferry_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.tasks = []

    def _add(self, result, status):
        self.tasks.append({"task": result._task.get_name(), "host": result._host.get_name(),
                           "status": status, "result": result._result})

    def v2_runner_on_ok(self, result):
        self._add(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._add(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._add(result, "unreachable")

    def v2_playbook_on_stats(self, stats):
        report = {"tasks": self.tasks,
                  "stats": {h: stats.summarize(h) for h in sorted(stats.processed)}}
        with open(os.environ["FERRY_ANSIBLE_REPORT"], "w") as f:
            json.dump(report, f, default=str)
EOF
INV=$T/inventory.ini
echo "localhost ansible_connection=local" >"$INV"

ANSIBLE_DOC=$(command -v ansible-doc || true)
if [ -n "$ANSIBLE_DOC" ]; then
	"$ANSIBLE_DOC" -M "$CONTRIB/library" ferry_push >"$T/doc" 2>&1 || { cat "$T/doc" >&2; fail "ansible-doc cannot read ferry_push's documentation"; }
	grep -q 'FERRY_PUSH' "$T/doc" && grep -q '= dest' "$T/doc" || fail "ansible-doc: no module or options: $(head -n 5 "$T/doc")"
fi

# The dataset: a tree of three files (one past a chunk) and a link.
mkdir -p "$T/data/sub" "$T/r1" "$T/r2" "$T/r3"
mkfile "$T/data/big.bin" 2M
mkfile "$T/data/a.txt" 100
mkfile "$T/data/sub/b.bin" 5000
ln -s a.txt "$T/data/link"

# play NAME PLAYBOOK ARGS...: run ansible-playbook; its JSON report in
# $T/NAME.json, its exit status in PLAY_RC.
play() {
	local name=$1 pb=$2
	shift 2
	PLAY_RC=0
	FERRY_ANSIBLE_REPORT=$T/$name.json timeout -k 5 120 ansible-playbook -i "$INV" "$pb" "$@" \
		>"$T/$name.out" 2>&1 || PLAY_RC=$?
	[ "$PLAY_RC" != 124 ] || fail "ansible-playbook $name did not finish in 120 s"
	"$PY" -c 'import json, sys; json.load(open(sys.argv[1]))' "$T/$name.json" 2>/dev/null ||
		{ cat "$T/$name.out" >&2; fail "$name: ansible-playbook wrote no report"; }
	grep -q '^PLAY RECAP' "$T/$name.out" || { cat "$T/$name.out" >&2; fail "$name: no PLAY RECAP"; }
}
# result NAME PYTHON_EXPR: evaluate EXPR with r = the ferry_push task's
# result on localhost, st = its status (ok, failed) and s = the play's stats
# for localhost.
result() {
	"$PY" - "$T/$1.json" "$2" <<-'EOF'
		import json, sys
		doc = json.load(open(sys.argv[1]))
		push = [t for t in doc["tasks"] if "push" in t["task"].lower() and t["host"] == "localhost"]
		r = push[0]["result"]
		st = push[0]["status"]  # ok or failed, as Ansible decided
		s = doc["stats"]["localhost"]
		v = eval(sys.argv[2])
		print(str(v).lower() if isinstance(v, bool) else v)
	EOF
}
expect() { # NAME WHAT PYTHON_EXPR WANT
	local got
	got=$(result "$1" "$3") || { cat "$T/$1.json" >&2; fail "$1: cannot read $3 from the report"; }
	[ "$got" = "$4" ] || { cat "$T/$1.out" >&2; fail "$1: $2: got '$got', expected '$4'"; }
}

# ---- by target
start_ferryd "$T/r1"
cat >"$T/by-target.yml" <<EOF
- hosts: localhost
  gather_facts: false
  tasks:
    - name: ferry push the dataset
      ferry_push:
        target: "{{ target }}"
        src: ["$T/data/"]
        dest: dataset
        executable: "$FERRY"
        timeout: 5
        retry: 0
EOF
play first "$T/by-target.yml" -e "target=unix:$FERRYD_SOCK"
check_eq "first run: ansible-playbook exit" "$PLAY_RC" 0
expect first "status" 'st' ok
expect first "changed" 'r["changed"]' true
expect first "play stats changed" 's["changed"]' 1
expect first "files_done" 'r["files_done"]' 3
expect first "files_skipped" 'r["files_skipped"]' 0
expect first "the guest's entry" "r['guests']['unix:$FERRYD_SOCK']['changed'] and not r['guests']['unix:$FERRYD_SOCK']['failed']" true
same_file "$T/data/big.bin" "$T/r1/dataset/big.bin"
same_file "$T/data/sub/b.bin" "$T/r1/dataset/sub/b.bin"
check_eq "link in the guest" "$(readlink "$T/r1/dataset/link")" a.txt

play second "$T/by-target.yml" -e "target=unix:$FERRYD_SOCK"
check_eq "second run: ansible-playbook exit" "$PLAY_RC" 0
expect second "changed" 'r["changed"]' false
expect second "play stats changed" 's["changed"]' 0
expect second "files_done" 'r["files_done"]' 0
expect second "files_skipped" 'r["files_skipped"]' 3

# A new file makes the next run changed again, for that file alone.
mkfile "$T/data/c.txt" 10
play third "$T/by-target.yml" -e "target=unix:$FERRYD_SOCK"
expect third "changed after adding a file" 'r["changed"]' true
expect third "files_done after adding a file" 'r["files_done"]' 1
expect third "files_skipped after adding a file" 'r["files_skipped"]' 3

play unreachable "$T/by-target.yml" -e "target=unix:$T/nobody.sock"
[ "$PLAY_RC" != 0 ] || fail "a playbook whose target has no ferryd succeeded"
expect unreachable "failed" 'st' failed
expect unreachable "play stats failures" 's["failures"]' 1
expect unreachable "rc (cannot connect)" 'r["rc"]' 3
expect unreachable "the guest's entry" "r['guests']['unix:$T/nobody.sock']['failed']" true
expect unreachable "msg names the guest" "'unix:$T/nobody.sock' in r['msg']" true

# ---- by domain, with the README's playbook
cache=$(ldconfig -p 2>/dev/null || true) # ferry opens libvirt by name (dlopen)
if ! grep -qa 'libvirt\.so\.0' "$FERRY" || [[ $cache != *libvirt.so.0* ]]; then
	note "ferry was built without libvirt: the playbook by domain was not run"
	exit 0
fi
NODE=$T/node.xml
domain_xml() { # NAME SOCKET
	cat <<-EOF
		  <domain type='test'>
		    <name>$1</name><memory>65536</memory><os><type>hvm</type></os>
		    <devices><channel type='unix'><source mode='bind' path='$2'/><target type='virtio' name='org.ferry.0'/></channel></devices>
		  </domain>
	EOF
}
{
	echo "<node>"
	domain_xml web1 "$T/web1.sock"
	domain_xml web2 "$T/web2.sock"
	domain_xml db1 "$T/db1.sock"
	echo "</node>"
} >"$NODE"
start_ferryd_at "unix:$T/web1.sock" "$T/r2" || fail "cannot start ferryd for web1"
start_ferryd_at "unix:$T/web2.sock" "$T/r3" || fail "cannot start ferryd for web2"
# db1's socket has no ferryd.

# The playbook finds ferry in PATH, as on a hypervisor with the package.
export PATH=$BUILD:$PATH
vars=(-e hypervisors=localhost -e "dataset=$T/data/" -e "libvirt_uri=test://$NODE" -e via=serial)
play fleet1 "$CONTRIB/push-dataset.yml" "${vars[@]}" -e '{"guests": ["web*"]}'
check_eq "fleet, first run: ansible-playbook exit" "$PLAY_RC" 0
expect fleet1 "changed" 'r["changed"]' true
expect fleet1 "guests" 'sorted(r["guests"])' "['web1', 'web2']"
expect fleet1 "web1 changed" 'r["guests"]["web1"]["changed"] and r["guests"]["web1"]["files_done"] == 4' true
expect fleet1 "web2 changed" 'r["guests"]["web2"]["changed"] and r["guests"]["web2"]["files_done"] == 4' true
same_file "$T/data/big.bin" "$T/r2/dataset/big.bin"
same_file "$T/data/c.txt" "$T/r3/dataset/c.txt"

play fleet2 "$CONTRIB/push-dataset.yml" "${vars[@]}" -e '{"guests": ["web*"]}'
check_eq "fleet, second run: ansible-playbook exit" "$PLAY_RC" 0
expect fleet2 "changed" 'r["changed"]' false
expect fleet2 "play stats changed" 's["changed"]' 0
expect fleet2 "skipped per guest" 'r["guests"]["web1"]["files_skipped"] + r["guests"]["web2"]["files_skipped"]' 8

play fleet3 "$CONTRIB/push-dataset.yml" "${vars[@]}" -e '{"guests": ["web*", "db1"]}'
[ "$PLAY_RC" != 0 ] || fail "the fleet playbook succeeded with a guest that has no ferryd"
expect fleet3 "failed" 'st' failed
expect fleet3 "db1 failed" 'r["guests"]["db1"]["failed"] and r["guests"]["db1"]["exit"] == 3' true
expect fleet3 "web1, web2 fine and unchanged" \
	'[(g["failed"], g["changed"], g["files_skipped"]) for n, g in sorted(r["guests"].items()) if n != "db1"]' \
	"[(False, False, 4), (False, False, 4)]"
expect fleet3 "msg names db1 alone" '"failed for db1 " in r["msg"]' true
