#!/usr/bin/env python3
"""Guest CPU during raw-and-qga.sh's copies (1 vCPU under TCG; clock ticks are 10 ms).

  cpu-table.py RAW FERRY

RAW: guest-job.sh's console lines without their "bench: cpu " prefix:
  "raw-h2g|raw-g2h R USER SYS BUSY IDLE" (ticks of the dd/cat copying, the whole guest busy/idle).
FERRY: raw-and-qga.sh's lines "push|pull CHUNK R WALL MBPS cpu A... cpu B...", where each
  "cpu ..." is ferryd-serve.sh's answer "cpu UTIME STIME SYSCR SYSCW RCHAR WCHAR BUSY IDLE VCSW
  NVCSW" before and after the transfer.
Prints medians per kind: wall seconds, the process's user and system seconds, the guest's busy
share and, for ferryd, its read() (push) or write() (pull) calls with the mean bytes per call
and its context switches (voluntary: it slept, e.g. in poll(); involuntary: preempted).
"""
import statistics
import sys


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    raw, fer = sys.argv[1], sys.argv[2]
    rows = {}
    for line in open(raw):
        f = line.split()
        if len(f) != 6:
            continue
        name, _, u, s, b, i = f
        b, i = int(b), int(i)
        rows.setdefault((name, "dd" if name.endswith("h2g") else "cat"), []).append(
            (None, int(u) / 100, int(s) / 100, b / max(1, b + i), None))
    for line in open(fer):
        f = line.split()
        op, chunk, wall = f[0], f[1], float(f[3])
        i = f.index("cpu", 5)
        j = f.index("cpu", i + 1)
        a = [int(x) for x in f[i + 1:j]]
        b = [int(x) for x in f[j + 1:]]
        # utime stime syscr syscw rchar wchar busy idle [vcsw nvcsw]
        d = [y - x for x, y in zip(a, b)] + [0, 0]
        calls, nbytes = (d[2], d[4]) if op == "push" else (d[3], d[5])
        rows.setdefault(("ferry-%s-%s" % (op, chunk), "ferryd"), []).append(
            (wall, d[0] / 100, d[1] / 100, d[6] / max(1, d[6] + d[7]),
             (calls, nbytes / max(1, calls), d[8], d[9])))

    print("%-16s %-7s %7s %7s %7s %6s  %-24s %s" % (
        "# guest CPU", "process", "wall s", "user s", "sys s", "busy", "port calls (bytes/call)",
        "ctx switches vol/invol"))
    for (name, proc), xs in rows.items():
        wall = [x[0] for x in xs if x[0] is not None]
        calls = [x[4] for x in xs if x[4]]
        print("%-16s %-7s %7s %7.2f %7.2f %5.0f%%  %-24s %s" % (
            name, proc, "%.2f" % med(wall) if wall else "-",
            med([x[1] for x in xs]), med([x[2] for x in xs]), 100 * med([x[3] for x in xs]),
            "%d (%.0f)" % (med([c[0] for c in calls]), med([c[1] for c in calls])) if calls else "-",
            "%d/%d" % (med([c[2] for c in calls]), med([c[3] for c in calls])) if calls else "-"))
    print("# raw: the guest's dd (h2g) / cat (g2h) over the copy itself. ferryd: between two commands")
    print("# around the transfer (includes the session's set-up and verdict); busy = the whole guest.")


if __name__ == "__main__":
    main()
