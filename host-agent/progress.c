/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "progress.h"
#include "base/util.h"

void progress_init(struct progress *p, bool enabled, uint64_t total) {
        *p = (struct progress){ .enabled = enabled, .start_ns = now_ns(), .total = total };
}

static void human(char *buf, size_t len, double bytes) {
        const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        unsigned u = 0;
        while (bytes >= 1024 && u + 1 < ARRAY_SIZE(unit)) {
                bytes /= 1024;
                u++;
        }
        snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
}

void progress_update(struct progress *p, const char *name, uint64_t bytes_in_file, uint64_t file_total, bool force) {
        if (!p->enabled)
                return;
        uint64_t now = now_ns();
        if (!force && now - p->last_ns < 100000000ull)
                return;
        p->last_ns = now;
        uint64_t done = p->base + bytes_in_file;
        double secs = (double)(now - p->start_ns) / 1e9;
        double rate = secs > 0 ? (double)done / secs : 0;
        char sdone[32], srate[32], eta[32] = "";
        human(sdone, sizeof sdone, (double)done);
        human(srate, sizeof srate, rate);
        uint64_t total = p->total ? p->total : p->base + file_total;
        int pct = total ? (int)(done * 100 / total) : 100;
        if (total && rate > 0 && done < total) {
                unsigned s = (unsigned)((double)(total - done) / rate);
                snprintf(eta, sizeof eta, " ETA %u:%02u", s / 60, s % 60);
        }
        const char *base = strrchr(name, '/');
        base = base && base[1] ? base + 1 : name;
        fprintf(stderr, "\r\033[K%-30.30s %3d%% %10s %10s/s%s", base, pct, sdone, srate, eta);
        fflush(stderr);
        p->drawn = true;
}

void progress_file_done(struct progress *p, uint64_t file_bytes) {
        p->base += file_bytes;
}

void progress_clear(struct progress *p) {
        if (p->enabled && p->drawn) {
                fprintf(stderr, "\r\033[K");
                fflush(stderr);
                p->drawn = false;
        }
}
