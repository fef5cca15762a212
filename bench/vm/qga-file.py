#!/usr/bin/env python3
"""Copy a file into a guest and back through qemu-guest-agent's guest-file-* commands.

  qga-file.py SOCK LOCAL REMOTE [--chunk MIB] [--back FILE] [--timeout SECS]

Writes LOCAL to REMOTE with guest-file-open(w) / guest-file-write (base64, CHUNK MiB of raw data
per call, default 4) / guest-file-close, then reads REMOTE back with guest-file-read (at most
48 MiB per call: qemu-ga's cap) into --back (default LOCAL.qga), checks the sha256, and prints
  qga-write BYTES SECONDS MB/s
  qga-read BYTES SECONDS MB/s
Each call is lock-step (request, wait for the reply), as qemu-ga's protocol requires.
"""
import argparse
import base64
import hashlib
import json
import os
import socket
import sys
import time

READ_MAX = 48 << 20  # qemu-ga rejects larger guest-file-read counts


class Qga:
    def __init__(self, path, timeout):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.s.connect(path)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.timeout = timeout
        self.buf = bytearray()

    def _fill(self, deadline):
        self.s.settimeout(max(0.01, deadline - time.monotonic()))
        c = self.s.recv(1 << 20)
        if not c:
            raise EOFError("qemu-ga socket closed")
        self.buf += c

    def sync(self, wait):
        """guest-sync-delimited until qemu-ga answers (it may still be starting)."""
        deadline = time.monotonic() + wait
        ident = int(time.time() * 1000) & 0x7FFFFFFF
        while True:
            ident += 1
            # A leading 0xFF makes qemu-ga's parser drop any half-read message.
            self.s.sendall(b"\xff" + json.dumps(
                {"execute": "guest-sync-delimited", "arguments": {"id": ident}}).encode())
            step = min(deadline, time.monotonic() + 2.0)
            try:
                while True:
                    i = self.buf.find(b"\xff")
                    if i >= 0:
                        j = self.buf.find(b"\n", i)
                        if j >= 0:
                            msg = bytes(self.buf[i + 1:j])
                            del self.buf[:j + 1]
                            try:
                                if json.loads(msg).get("return") == ident:
                                    return
                            except ValueError:
                                pass
                            continue
                    self._fill(step)
            except socket.timeout:
                if time.monotonic() >= deadline:
                    raise TimeoutError("qemu-ga did not answer guest-sync-delimited in %gs" % wait)

    def call(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.s.sendall(json.dumps(msg).encode())
        deadline = time.monotonic() + self.timeout
        start = 0
        while True:
            j = self.buf.find(b"\n", start)
            if j >= 0:
                break
            start = len(self.buf)
            try:
                self._fill(deadline)
            except socket.timeout:
                raise TimeoutError("%s: no reply in %gs" % (cmd, self.timeout))
        reply = json.loads(bytes(self.buf[:j]))
        del self.buf[:j + 1]
        if "error" in reply:
            raise RuntimeError("%s: %s" % (cmd, reply["error"].get("desc", reply["error"])))
        return reply["return"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sock")
    ap.add_argument("local")
    ap.add_argument("remote")
    ap.add_argument("--chunk", type=float, default=4.0, help="MiB of raw data per write")
    ap.add_argument("--back")
    ap.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args()
    back = a.back or a.local + ".qga"
    chunk = int(a.chunk * (1 << 20))

    q = Qga(a.sock, a.timeout)
    q.sync(60)

    with open(a.local, "rb") as f:
        data = f.read()
    want = hashlib.sha256(data).hexdigest()

    t0 = time.monotonic()
    h = q.call("guest-file-open", path=a.remote, mode="w")
    off = 0
    while off < len(data):
        part = data[off:off + chunk]
        r = q.call("guest-file-write", handle=h, **{"buf-b64": base64.b64encode(part).decode()})
        if r["count"] != len(part):
            raise RuntimeError("guest-file-write wrote %d of %d bytes" % (r["count"], len(part)))
        off += len(part)
    q.call("guest-file-close", handle=h)
    t = time.monotonic() - t0
    print("qga-write %d %.3f %.1f" % (len(data), t, len(data) / t / 1e6), flush=True)

    h2 = hashlib.sha256()
    n = 0
    t0 = time.monotonic()
    h = q.call("guest-file-open", path=a.remote, mode="r")
    with open(back, "wb") as out:
        while True:
            r = q.call("guest-file-read", handle=h, count=READ_MAX)
            part = base64.b64decode(r["buf-b64"]) if r["count"] else b""
            out.write(part)
            h2.update(part)
            n += len(part)
            if r["eof"] or not part:
                break
    q.call("guest-file-close", handle=h)
    t = time.monotonic() - t0
    print("qga-read %d %.3f %.1f" % (n, t, n / t / 1e6), flush=True)
    if h2.hexdigest() != want or n != len(data):
        sys.exit("qga-file: read back %d bytes, sha256 %s; wrote %d, sha256 %s"
                 % (n, h2.hexdigest(), len(data), want))


if __name__ == "__main__":
    try:
        main()
    except (OSError, EOFError, ValueError, RuntimeError, KeyError) as e:
        sys.exit("qga-file: %s" % e)
