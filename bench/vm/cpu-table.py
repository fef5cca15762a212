#!/usr/bin/env python3
"""Throughput and guest CPU per byte of raw-and-qga.sh's raw and ferry rounds (same run).

  cpu-table.py ROWS

ROWS: one line per transfer,
"KIND CHUNK R BYTES WALL USER SYS BUSY IDLE [SYSCR SYSCW RCHAR WCHAR VCSW NVCSW [OWN]]":
KIND raw-h2g|raw-g2h (the guest's dd), hashcopy-h2g|hashcopy-g2h (dd's blocks with ferry's chunk
digest of each: bench/hashcopy.c) or ferry-push|ferry-pull (ferryd); USER/SYS in clock ticks
(USER_HZ, 100/s) from /proc/PID/stat; BUSY/IDLE the whole guest's ticks over the transfer; for
ferryd also its read()/write() calls and bytes (/proc/PID/io) and its context switches, and OWN
the seconds by ferry's own clock (connect to verdict: no process start-up or exit).

Prints medians per kind and chunk size: MB/s (10^6 bytes per wall second of the host's side),
guest CPU seconds per GiB (user, system, total), and for ferry the ratios to the raw port in the
same direction (throughput: higher is better, goal >= 0.85; CPU per GiB: lower is better, goal
<= 1.5), its port calls per MiB with the mean bytes per call, its context switches per MiB, and
its throughput by its own clock against the raw port's and hashcopy's (portio.py's clock also
starts at its connection).
The ticks are 10 ms: with 64 MiB, a raw copy is a few dozen ticks.
"""
import statistics
import sys

GIB = float(1 << 30)
MIB = float(1 << 20)


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    rows = {}
    order = []
    for line in open(sys.argv[1]):
        f = line.split()
        if len(f) < 7 or f[0].startswith("#"):
            continue
        kind, chunk, nbytes, wall = f[0], f[1], int(f[3]), float(f[4])
        u, s = int(f[5]) / 100.0, int(f[6]) / 100.0
        busy = int(f[7]) / max(1, int(f[7]) + int(f[8])) if len(f) >= 9 else float("nan")
        x = [int(v) for v in f[9:15]] if len(f) >= 15 else None
        own = float(f[15]) if len(f) >= 16 and float(f[15]) > 0 else None
        key = (kind, chunk)
        if key not in rows:
            order.append(key)
        rows.setdefault(key, []).append((nbytes, wall, u, s, x, busy, own))

    def stats(key):
        xs = [r[:5] for r in rows.get(key, [])]
        busy = [r[5] for r in rows.get(key, [])]
        return {
            "n": len(xs),
            "mbps": med([b / w / 1e6 for b, w, _, _, _ in xs]),
            "user": med([u * GIB / b for b, _, u, _, _ in xs]),
            "sys": med([s * GIB / b for b, _, _, s, _ in xs]),
            "cpu": med([(u + s) * GIB / b for b, _, u, s, _ in xs]),
            "busy": med(busy),
            "own": med([r[0] / r[6] / 1e6 for r in rows.get(key, []) if r[6]]),
        }

    raw = {"push": stats(("raw-h2g", "-")), "pull": stats(("raw-g2h", "-"))}
    floor = {"push": stats(("hashcopy-h2g", "-")), "pull": stats(("hashcopy-g2h", "-"))}
    print("%-18s %3s %8s %8s %8s %8s %5s  %-9s %-9s %-22s %-20s %-20s %s" % (
        "# transfer", "n", "MB/s", "user", "sys", "cpu", "guest", "MB/s", "cpu s/GiB",
        "port calls/MiB (B/call)", "ctx sw/MiB vol/invol", "own clock MB/s", "own clock"))
    print("%-18s %3s %8s %8s %8s %8s %5s  %-9s %-9s %-22s %-20s %-20s %s" % (
        "#", "", "", "s/GiB", "s/GiB", "s/GiB", "busy", "vs raw", "vs raw", "", "", "", "vs hashcopy"))
    for key in order:
        kind, chunk = key
        st = stats(key)
        name = kind if chunk == "-" else "%s-%s" % (kind, chunk)
        extra = ""
        vs = ("", "")
        if kind.startswith("hashcopy-"):
            r = raw["push" if kind.endswith("h2g") else "pull"]
            vs = ("%.2fx" % (st["mbps"] / r["mbps"]) if r["n"] else "-",
                  "%.2fx" % (st["cpu"] / r["cpu"]) if r["n"] and r["cpu"] > 0 else "-")
        if kind.startswith("ferry-"):
            op = kind[len("ferry-"):]
            r = raw[op]
            vs = ("%.2fx" % (st["mbps"] / r["mbps"]) if r["n"] else "-",
                  "%.2fx" % (st["cpu"] / r["cpu"]) if r["n"] and r["cpu"] > 0 else "-")
            xs = [r[4] for r in rows[key] if r[4]]
            if xs:
                # push: ferryd reads the port; pull: it writes it.
                ci, bi = (0, 2) if op == "push" else (1, 3)
                per = med([x[ci] * MIB / b for (b, _, _, _, x, _, _) in rows[key] if x])
                bpc = med([x[bi] / max(1, x[ci]) for x in xs])
                vol = med([x[4] * MIB / b for (b, _, _, _, x, _, _) in rows[key] if x])
                inv = med([x[5] * MIB / b for (b, _, _, _, x, _, _) in rows[key] if x])
                extra = "%-22s %-20s" % ("%.0f (%.0f)" % (per, bpc), "%.0f/%.0f" % (vol, inv))
            if st["own"] == st["own"]:  # (not nan: rows with ferry's own clock)
                f = floor[op]
                extra += " %-20s %s" % ("%.1f (%.2fx raw)" % (st["own"], st["own"] / r["mbps"] if r["n"] else float("nan")),
                                        "%.2fx" % (st["own"] / f["mbps"]) if f["n"] else "-")
        print("%-18s %3d %8.1f %8.2f %8.2f %8.2f %4.0f%%  %-9s %-9s %s" % (
            name, st["n"], st["mbps"], st["user"], st["sys"], st["cpu"], 100 * st["busy"], vs[0], vs[1],
            extra))
    print("# guest busy: the whole guest's CPU (1 vCPU) from one command to the next around the copy;")
    print("# below 100% the guest waited - also for the host's ferry to start and for the command.")
    print("# raw: the guest's dd bs=1M on the port (its own CPU); hashcopy: the same with ferry's chunk")
    print("# digest of each 1 MiB - the floor of any copy that verifies in the guest, whose ratio to raw")
    print("# bounds what ferry can reach. ferryd: between two commands around")
    print("# the transfer, so its session's set-up and verdict count too. Goal: MB/s vs raw >= 0.85,")
    print("# cpu s/GiB vs raw <= 1.5 (issue 13).")


if __name__ == "__main__":
    main()
