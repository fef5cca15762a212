/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"
#include "base/text.h"
#include "base/util.h"

struct board_row {
        const char *name;
        uint64_t done, total;
        enum { ROW_WAITING, ROW_RUNNING, ROW_OK, ROW_FAILED } state;
};

struct board {
        pthread_mutex_t lock;
        uint64_t start_ns, last_ns;
        size_t drawn; /* lines on the screen, the cursor below them */
        size_t n;
        struct board_row row[];
};

void progress_init(struct progress *p, bool enabled, uint64_t total) {
        struct board *b = p->board;
        size_t row = p->row;
        *p = (struct progress){ .enabled = enabled, .start_ns = now_ns(), .total = total, .board = b, .row = row };
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

/* ---- the board (callers hold b->lock) */

static void board_erase(struct board *b) {
        if (b->drawn) {
                fprintf(stderr, "\033[%zuA\r\033[J", b->drawn);
                b->drawn = 0;
        }
}

static void board_draw(struct board *b, uint64_t now) {
        static const char *const states[] = { "waiting", "", "done", "failed" };
        double secs = (double)(now - b->start_ns) / 1e9;
        uint64_t done = 0, total = 0;
        size_t finished = 0;
        char sdone[32], srate[32];
        board_erase(b);
        for (size_t i = 0; i < b->n; i++) {
                const struct board_row *r = &b->row[i];
                done += r->done;
                total += r->total;
                finished += r->state >= ROW_OK;
                human(sdone, sizeof sdone, (double)r->done);
                int pct = r->total ? (int)(MIN(r->done, r->total) * 100 / r->total) : r->state == ROW_OK ? 100 : 0;
                fprintf(stderr, "%-24.24s %3d%% %10s %s\n", r->name, pct, sdone, states[r->state]);
        }
        human(sdone, sizeof sdone, (double)done);
        human(srate, sizeof srate, secs > 0 ? (double)done / secs : 0);
        fprintf(stderr, "%-24s %3d%% %10s %10s/s, %zu of %zu guests done\n", "total",
                total ? (int)(MIN(done, total) * 100 / total) : 0, sdone, srate, finished, b->n);
        fflush(stderr);
        b->drawn = b->n + 1;
        b->last_ns = now;
}

int board_new(size_t n, char *const *names, struct board **ret) {
        struct board *b = calloc(1, sizeof *b + n * sizeof b->row[0]);
        if (!b)
                return -ENOMEM;
        pthread_mutex_init(&b->lock, NULL);
        b->n = n;
        b->start_ns = now_ns();
        for (size_t i = 0; i < n; i++)
                b->row[i].name = names[i];
        *ret = b;
        return 0;
}

struct board *board_free(struct board *b) {
        if (b) {
                pthread_mutex_lock(&b->lock);
                board_draw(b, now_ns()); /* the last word: every guest's end */
                pthread_mutex_unlock(&b->lock);
                pthread_mutex_destroy(&b->lock);
                free(b);
        }
        return NULL;
}

void board_done(struct board *b, size_t i, bool ok) {
        pthread_mutex_lock(&b->lock);
        b->row[i].state = ok ? ROW_OK : ROW_FAILED;
        board_draw(b, now_ns());
        pthread_mutex_unlock(&b->lock);
}

/* ---- one meter */

void progress_update(struct progress *p, const char *name, uint64_t bytes_in_file, uint64_t file_total, bool force) {
        if (!p->enabled)
                return;
        uint64_t now = now_ns();
        uint64_t done = p->base + bytes_in_file;
        uint64_t total = p->total ? p->total : p->base + file_total;
        if (p->board) {
                struct board *b = p->board;
                pthread_mutex_lock(&b->lock);
                b->row[p->row] = (struct board_row){ .name = b->row[p->row].name, .done = done, .total = total,
                                                     .state = ROW_RUNNING };
                if (force || now - b->last_ns >= 100000000ull)
                        board_draw(b, now);
                pthread_mutex_unlock(&b->lock);
                return;
        }
        if (!force && now - p->last_ns < 100000000ull)
                return;
        p->last_ns = now;
        double secs = (double)(now - p->start_ns) / 1e9;
        double rate = secs > 0 ? (double)done / secs : 0;
        char sdone[32], srate[32], eta[32] = "";
        human(sdone, sizeof sdone, (double)done);
        human(srate, sizeof srate, rate);
        int pct = total ? (int)(done * 100 / total) : 100;
        if (total && rate > 0 && done < total) {
                unsigned s = (unsigned)((double)(total - done) / rate);
                snprintf(eta, sizeof eta, " ETA %u:%02u", s / 60, s % 60);
        }
        const char *base = strrchr(name, '/');
        base = base && base[1] ? base + 1 : name;
        char shown[128]; /* (a name may come from the peer: escaped, base/text.h) */
        fprintf(stderr, "\r\033[K%-30.30s %3d%% %10s %10s/s%s", text_escape(shown, sizeof shown, base), pct, sdone,
                srate, eta);
        fflush(stderr);
        p->drawn = true;
}

void progress_file_done(struct progress *p, uint64_t file_bytes) {
        p->base += file_bytes;
}

void progress_clear(struct progress *p) {
        if (p->board)
                return; /* the board stays; a line for stderr goes through progress_hold */
        if (p->enabled && p->drawn) {
                fprintf(stderr, "\r\033[K");
                fflush(stderr);
                p->drawn = false;
        }
}

void progress_hold(struct progress *p) {
        if (!p->board) {
                progress_clear(p);
                return;
        }
        pthread_mutex_lock(&p->board->lock);
        board_erase(p->board);
}

void progress_release(struct progress *p) {
        if (p->board)
                pthread_mutex_unlock(&p->board->lock);
}
