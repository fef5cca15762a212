#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: MIT
#
# An Ansible module around the installed `ferry push --json`: ferry does the
# work (and skips what a guest already has), this reads its JSON lines and
# turns them into changed/failed, per guest.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ferry_push
short_description: Push files and trees into VM guests with ferry
description:
  - Runs C(ferry push --json) on the host where the task runs (the VM host) and
    reports, per guest, how many files were sent, skipped and failed.
  - Guests are given by a ferry target (C(vsock:CID:PORT), C(serial:PATH),
    C(unix:PATH), ...) or by libvirt domain names and globs, several at once.
  - Idempotent because ferry is; a file the guest already has complete (same
    size and mtime, and the digest ferry recorded with it) is skipped, so a
    rerun reports C(changed=false). An interrupted copy resumes.
  - The guests run ferryd (package C(ferryd)); see ferry(1) and ferryd(8).
options:
  src:
    description: Files and directories on the host the task runs on, by
      absolute path. A directory C(DIR) goes in as C(DEST/DIR); C(DIR/) puts
      its contents into C(DEST) (rsync's rule).
    type: list
    elements: path
    required: true
  dest:
    description: Where in the guest, inside ferryd's root. With several
      sources, a trailing C(/), or an existing directory, files go into it.
    type: str
    required: true
  target:
    description: Where ferryd is, as ferry takes it (C(--to)). Exactly one of
      I(target) and I(domain).
    type: str
  domain:
    description: libvirt domain names or globs (C(web-*)); each guest gets its
      own session. Exactly one of I(target) and I(domain).
    type: list
    elements: str
  connect:
    description: libvirt URI (C(-c)); ferry's default is
      C($LIBVIRT_DEFAULT_URI), else qemu:///system, then qemu:///session.
    type: str
  via:
    description: How to reach a domain's ferryd.
    type: str
    choices: [vsock, serial]
  channel:
    description: The virtio channel's target name (default C(org.ferry.0)).
    type: str
  port:
    description: ferryd's vsock port (default 5000).
    type: int
  parallel:
    description: Sessions at once with several domains (default 16).
    type: int
  checksum:
    description: Skip a file only when its content digest matches the
      guest's, not by size and mtime.
    type: bool
    default: false
  max_rate:
    description: At most this many bytes per second (k, M, G suffixes), all
      guests of the task together.
    type: str
  compress:
    description: zstd per chunk (ferry's --compress); an unquoted C(off),
      which YAML reads as false, means C(off) too.
    type: str
    choices: [auto, zstd, "off"]
  timeout:
    description: Give up on a guest silent this many seconds (default 30).
    type: int
  retry:
    description: Reconnect this many times when a connection is lost (default 3).
    type: int
  executable:
    description: The ferry program (default C(ferry) from C(PATH)).
    type: path
notes:
  - Check mode is not supported; ferry has no dry run.
  - A guest that fails makes the task fail; C(guests) still tells which ones
    succeeded and what they received.
requirements:
  - ferry on the host the task runs on (package C(ferry), or C(make install)).
author:
  - ferry maintainers
"""

EXAMPLES = r"""
- name: Dataset into every web guest on each hypervisor
  ferry_push:
    domain: ["web-*"]
    src: [/srv/datasets/2026-12/]
    dest: datasets/current
    max_rate: 200M

- name: One guest by its vsock CID
  ferry_push:
    target: vsock:42:5000
    src: [/srv/images/base.qcow2]
    dest: images/
"""

RETURN = r"""
files_done:
  description: Files sent, all guests together.
  returned: always
  type: int
files_skipped:
  description: Files skipped because the guest had them, all guests together.
  returned: always
  type: int
files_failed:
  description: Files that failed, all guests together.
  returned: always
  type: int
bytes_sent:
  description: Bytes sent, all guests together.
  returned: always
  type: int
guests:
  description: Per guest (domain name, or the target), ferry's summary with
    C(changed), C(failed) and C(exit) (ferry's exit status for that guest).
  returned: always
  type: dict
  sample: {"web-1": {"changed": true, "failed": false, "exit": 0, "files_done": 3,
           "files_skipped": 0, "files_failed": 0, "bytes_sent": 3145728}}
files:
  description: One entry per file or tree ferry reported, with C(guest)
    (the key in I(guests)), C(source), C(dest), C(kind), C(status),
    C(skipped), C(bytes), and C(error) when it failed.
  returned: always
  type: list
  elements: dict
rc:
  description: ferry's exit status (0 all verified, 1 a file failed, 3 cannot
    connect, 4 session broke, 5 data corrupted; the highest of the guests').
  returned: always
  type: int
cmd:
  description: The ferry command line.
  returned: always
  type: list
  elements: str
"""

import json

from ansible.module_utils.basic import AnsibleModule

COUNTS = ("files_done", "files_skipped", "files_failed", "bytes_sent")
FILE_KEYS = ("domain", "source", "dest", "kind", "status", "skipped", "bytes", "error")


def build_command(module, ferry):
    p = module.params
    cmd = [ferry, "push", "--json", "--no-progress"]
    if p["target"]:
        cmd += ["--to", p["target"]]
    for d in p["domain"] or []:
        cmd += ["--domain", d]
    for opt, flag in (("connect", "--connect"), ("via", "--via"), ("channel", "--channel"),
                      ("port", "--port"), ("parallel", "--parallel"), ("max_rate", "--max-rate"),
                      ("compress", "--compress"), ("timeout", "--timeout"), ("retry", "--retry")):
        if p[opt] is not None:
            cmd += [flag, str(p[opt])]
    if p["checksum"]:
        cmd.append("--checksum")
    # "--" so that a source named like an option stays a source.
    return cmd + ["--"] + list(p["src"]) + [p["dest"]]


def parse_lines(stdout):
    """ferry's --json: one object a line; the rest (there is none) ignored."""
    out = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def summarize(objs, rc, single_name):
    """Per guest: the summary's counts, changed, failed and exit status."""
    guests = {}
    files = []
    domains_line = None
    for o in objs:
        kind = o.get("kind")
        name = o.get("domain") or single_name
        if kind == "summary":
            g = guests.setdefault(name, {})
            for k in COUNTS + ("files", "bytes_skipped", "bytes_resent", "seconds", "status"):
                if k in o:
                    g[k] = o[k]
        elif kind == "domains":
            domains_line = o
        else:
            entry = {k: o[k] for k in FILE_KEYS if k in o}
            entry["guest"] = name
            files.append(entry)
    if domains_line is not None:
        # Several domains: ferry's last line says how each ended, including
        # the guests it never reached (no summary for those).
        for d in domains_line.get("domains", []):
            g = guests.setdefault(d.get("domain"), {})
            g["exit"] = d.get("exit", 0 if d.get("status") == "ok" else 1)
            g["status"] = d.get("status", g.get("status"))
    elif guests:
        for g in guests.values():
            g["exit"] = rc
    else:
        # Nothing reached: one guest, and it failed (cannot connect...).
        guests[single_name] = {"exit": rc, "status": "error" if rc else "ok"}
    for g in guests.values():
        for k in COUNTS:
            g.setdefault(k, 0)
        g["failed"] = g.get("exit", rc) != 0 or g.get("status") == "error" or g["files_failed"] > 0
        g["changed"] = g["files_done"] > 0
    return guests, files


def main():
    module = AnsibleModule(
        argument_spec=dict(
            src=dict(type="list", elements="path", required=True),
            dest=dict(type="str", required=True),
            target=dict(type="str"),
            domain=dict(type="list", elements="str"),
            connect=dict(type="str"),
            via=dict(type="str", choices=["vsock", "serial"]),
            channel=dict(type="str"),
            port=dict(type="int"),
            parallel=dict(type="int"),
            checksum=dict(type="bool", default=False),
            max_rate=dict(type="str"),
            compress=dict(type="str"),
            timeout=dict(type="int"),
            retry=dict(type="int"),
            executable=dict(type="path"),
        ),
        required_one_of=[("target", "domain")],
        mutually_exclusive=[("target", "domain")],
        supports_check_mode=False,
    )
    p = module.params
    # An unquoted `off` in YAML is a boolean, which arrives as "False".
    if p["compress"] is not None:
        c = p["compress"].lower()
        p["compress"] = "off" if c in ("false", "no", "off") else c
        if p["compress"] not in ("auto", "zstd", "off"):
            module.fail_json(msg="compress: '%s' is none of auto, zstd, off" % p["compress"])
    if not p["src"]:
        module.fail_json(msg="src: nothing to send")

    ferry = p["executable"] or module.get_bin_path("ferry", required=True)
    cmd = build_command(module, ferry)
    rc, stdout, stderr = module.run_command(cmd)
    single = p["target"] or (p["domain"][0] if p["domain"] and len(p["domain"]) == 1 else "domains")
    guests, files = summarize(parse_lines(stdout), rc, single)

    result = dict(
        changed=any(g["changed"] for g in guests.values()),
        rc=rc,
        cmd=cmd,
        guests=guests,
        files=files,
        stderr=stderr,
        stderr_lines=stderr.splitlines(),
    )
    for k in COUNTS:
        result[k] = sum(g[k] for g in guests.values())

    failed = sorted(n for n, g in guests.items() if g["failed"])
    if rc != 0 or failed:
        why = stderr.strip().splitlines()
        result["msg"] = "ferry push failed for %s (exit %d)%s" % (
            ", ".join(failed) or "the run", rc, ": " + why[-1] if why else "")
        module.fail_json(**result)
    result["msg"] = "%d files sent, %d skipped, %d bytes, to %d guest(s)" % (
        result["files_done"], result["files_skipped"], result["bytes_sent"], len(guests))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
