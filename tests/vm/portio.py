#!/usr/bin/env python3
"""Host half of plain-byte transfers over a QEMU virtio-serial chardev socket (no ferry protocol).

  portio.py recv SOCK OUT N [--linger S]
                                       read exactly N bytes into OUT, then send one ack byte and
                                       wait up to S (10) seconds for the guest to go away
                                       (guest half: tests/vm/jobs/cat-echo.sh; ferryd-serve.sh raw)
  portio.py raw SOCK FILE N [--reps R] [--out OUT]
                                       drive bench/vm/guest-job.sh's raw rounds on ONE connection
                                       (a guest read returns EOF whenever no host is connected)
  portio.py send SOCK FILE|- N         send exactly N bytes of FILE (or stdin), then wait for the
                                       guest's line "ok" (guest half: bench/vm/impact-job.sh)

Round of `raw`: host sends FILE (N bytes) -> guest `head -c N` into a tmpfs file and answers
"ok"; the clock stops at the ack. The guest then reports "in R SIZE SHA256" (checked here), waits
for a go byte and sends the file back; the clock runs from the go byte to the last byte written
to OUT, then the host acks so the guest knows nothing is left in flight.

Why the acks: guest writes complete once queued in the virtqueue (MiBs can still be in flight),
and QEMU drops what is unread in its socket when the host side closes. Neither side may treat
its own close as delivery.

Output lines: "<h2g|g2h|recv|send> R BYTES SECONDS MB/s" (MB = 10^6 bytes). Waits are bounded by
--timeout (default 60 s per step).
"""
import argparse
import hashlib
import os
import socket
import sys
import time


def connect(path, timeout):
    """QEMU creates the socket at start-up; retry briefly until it accepts."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.connect(path)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    s.settimeout(timeout)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    return s


class Lines:
    """Line reader over the socket that never reads past the newline it returns."""

    def __init__(self, s):
        self.s = s

    def line(self, cap=256):
        out = b""
        while not out.endswith(b"\n"):
            c = self.s.recv(1)
            if not c:
                raise EOFError("port closed while waiting for a line (got %r)" % out)
            out += c
            if len(out) > cap:
                raise ValueError("line longer than %d bytes: %r" % (cap, out[:64]))
        return out.decode("ascii", "replace").strip()


def recv_exact(s, path, n):
    """Read exactly n bytes from s into path; return (bytes, sha256 hex)."""
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    h = hashlib.sha256()
    got = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        while got < n:
            k = s.recv_into(view, min(len(buf), n - got))
            if k == 0:
                raise EOFError("EOF after %d of %d bytes" % (got, n))
            off = 0
            while off < k:
                off += os.write(fd, view[off:k])
            h.update(view[:k])
            got += k
    finally:
        os.close(fd)
    return got, h.hexdigest()


def report(kind, r, n, t):
    print("%s %d %d %.3f %.1f" % (kind, r, n, t, n / t / 1e6 if t > 0 else 0.0), flush=True)


def cmd_recv(a):
    s = connect(a.sock, a.timeout)
    t0 = time.monotonic()
    n, _ = recv_exact(s, a.file, a.nbytes)
    t = time.monotonic() - t0
    s.sendall(b"A")
    report("recv", 1, n, t)
    # Closing now could drop the unread ack inside QEMU: wait (briefly) for the guest to power off.
    # (--linger 0: the guest's read of the ack sees EOF instead, which serves it as well.)
    if a.linger > 0:
        s.settimeout(a.linger)
        try:
            s.recv(1)
        except (socket.timeout, OSError):
            pass
    s.close()


def cmd_send(a):
    """One copy into the guest: the clock runs from the connection to the guest's "ok", which it
    sends once the data is on its disk (fsynced)."""
    src = sys.stdin.buffer if a.file == "-" else open(a.file, "rb")
    s = connect(a.sock, a.timeout)
    t0 = time.monotonic()
    sent = 0
    while sent < a.nbytes:
        b = src.read(min(1 << 20, a.nbytes - sent))
        if not b:
            sys.exit("portio: %s ended after %d of %d bytes" % (a.file, sent, a.nbytes))
        s.sendall(b)
        sent += len(b)
    if src.read(1):
        sys.exit("portio: %s has more than %d bytes" % (a.file, a.nbytes))
    ack = Lines(s).line()
    t = time.monotonic() - t0
    if ack != "ok":
        sys.exit("portio: expected 'ok', got %r" % ack)
    report("send", 1, sent, t)
    s.close()


def cmd_raw(a):
    with open(a.file, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    size = os.stat(a.file).st_size
    if size != a.nbytes:
        sys.exit("portio: %s has %d bytes, not %d" % (a.file, size, a.nbytes))
    out = a.out or a.file + ".back"
    s = connect(a.sock, a.timeout)
    lines = Lines(s)
    bad = 0
    for r in range(1, a.reps + 1):
        with open(a.file, "rb") as f:
            t0 = time.monotonic()
            s.sendfile(f)
            ack = lines.line()
            t = time.monotonic() - t0
        if ack != "ok":
            sys.exit("portio: round %d: expected 'ok', got %r" % (r, ack))
        report("h2g", r, a.nbytes, t)
        rep = lines.line().split()
        if rep != ["in", str(r), str(a.nbytes), want]:
            print("portio: round %d: guest got %r, want size %d sha256 %s"
                  % (r, rep, a.nbytes, want), file=sys.stderr)
            bad += 1
        t0 = time.monotonic()
        s.sendall(b"G")
        n, got = recv_exact(s, out, a.nbytes)
        t = time.monotonic() - t0
        s.sendall(b"A")
        report("g2h", r, n, t)
        if got != want:
            print("portio: round %d: host got sha256 %s, want %s" % (r, got, want),
                  file=sys.stderr)
            bad += 1
    line = lines.line()
    if line != "raw done":
        sys.exit("portio: expected 'raw done', got %r" % line)
    s.close()
    if bad:
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timeout", type=float, default=60.0)
    sub = ap.add_subparsers(dest="op", required=True)
    p = sub.add_parser("recv")
    p.add_argument("sock")
    p.add_argument("file")
    p.add_argument("nbytes", type=int)
    p.add_argument("--linger", type=float, default=10.0)
    p = sub.add_parser("raw")
    p.add_argument("sock")
    p.add_argument("file")
    p.add_argument("nbytes", type=int)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--out")
    p = sub.add_parser("send")
    p.add_argument("sock")
    p.add_argument("file")
    p.add_argument("nbytes", type=int)
    a = ap.parse_args()
    {"recv": cmd_recv, "raw": cmd_raw, "send": cmd_send}[a.op](a)


if __name__ == "__main__":
    try:
        main()
    except (OSError, EOFError, ValueError) as e:
        sys.exit("portio: %s" % e)
