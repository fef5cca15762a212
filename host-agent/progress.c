/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "report.h"
#include "base/text.h"
#include "session/telemetry.h"
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

void progress_init(struct progress *p, bool enabled, uint64_t total, uint64_t files_total) {
        struct board *b = p->board;
        size_t row = p->row;
        struct progress_ndjson *nd = p->nd;
        *p = (struct progress){ .enabled = enabled || nd, .start_ns = now_ns(), .total = total, .board = b,
                                .row = row, .files_total = files_total, .nd = nd };
        if (nd) {
                memset(nd->wait_ns, 0, sizeof nd->wait_ns);
                nd->file[0] = 0;
                nd->file_bytes = nd->file_total = 0;
                nd->line_ns = p->start_ns;
        }
}

/* ---- --progress ndjson */

/* One object, written with one write(2): lines from several guests' threads
 * do not interleave. */
static void nd_line(struct progress *p, uint64_t now, bool end) {
        struct progress_ndjson *nd = p->nd;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return;
        uint64_t done = p->base + nd->file_bytes;
        uint64_t total = p->total ? p->total : p->base + nd->file_total;
        double secs = (double)(now - p->start_ns) / 1e9;
        double rate = secs > 0 ? (double)done / secs : 0;
        fprintf(f, "{\"op\":\"%s\",", nd->op);
        if (nd->domain) {
                fprintf(f, "\"domain\":");
                report_json_str(f, nd->domain);
                fputc(',', f);
        }
        fprintf(f, "\"kind\":\"%s\",\"bytes\":%llu,", end ? "end" : "progress", (unsigned long long)done);
        if (p->total)
                fprintf(f, "\"total\":%llu,", (unsigned long long)p->total);
        else
                fprintf(f, "\"total\":null,");
        fprintf(f, "\"elapsed_s\":%.3f,\"rate_bps\":%.0f,", secs, rate);
        if (p->total && rate > 0)
                fprintf(f, "\"eta_s\":%.1f,", done < total ? (double)(total - done) / rate : 0.0);
        else
                fprintf(f, "\"eta_s\":null,");
        fprintf(f, "\"files_done\":%llu,", (unsigned long long)p->files_done);
        if (p->files_total)
                fprintf(f, "\"files_total\":%llu,", (unsigned long long)p->files_total);
        else
                fprintf(f, "\"files_total\":null,");
        fprintf(f, "\"file\":");
        char shown[sizeof nd->file * 4]; /* (a name may come from the peer: escaped, base/text.h) */
        report_json_str(f, text_escape(shown, sizeof shown, nd->file));
        fprintf(f, ",\"waits_s\":{");
        for (unsigned i = 0; i < 6; i++)
                fprintf(f, "%s\"%s\":%.6f", i ? "," : "", wait_kind_name[i], (double)nd->wait_ns[i] / 1e9);
        fprintf(f, "}}\n");
        if (fclose(f) == 0)
                (void)!write(STDERR_FILENO, buf, len);
        free(buf);
        nd->line_ns = now;
}

void progress_tick(struct progress *p) {
        uint64_t now = now_ns();
        if (p->nd && now - p->nd->line_ns >= 1000000000ull)
                nd_line(p, now, false);
}

void progress_waits(struct progress *p, const uint64_t wait_ns[6]) {
        if (p->nd)
                for (unsigned i = 0; i < 6; i++)
                        p->nd->wait_ns[i] += wait_ns[i];
}

void progress_end(struct progress *p) {
        if (p->nd) {
                p->nd->file_bytes = p->nd->file_total = 0; /* (counted in base by now) */
                nd_line(p, now_ns(), true);
        }
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
        if (p->nd) {
                struct progress_ndjson *nd = p->nd;
                if (strcmp(nd->file, name))
                        snprintf(nd->file, sizeof nd->file, "%s", name);
                nd->file_bytes = bytes_in_file;
                nd->file_total = file_total;
                if (now - nd->line_ns >= 1000000000ull)
                        nd_line(p, now, false);
                return;
        }
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
        char files[48] = ""; /* the whole transfer's files, as rsync --info=progress2 */
        if (p->files_total > 1)
                snprintf(files, sizeof files, "  %llu/%llu files", (unsigned long long)p->files_done,
                         (unsigned long long)p->files_total);
        else if (!p->files_total && p->files_done)
                snprintf(files, sizeof files, "  %llu files", (unsigned long long)p->files_done);
        fprintf(stderr, "\r\033[K%-30.30s %3d%% %10s %10s/s%s%s", text_escape(shown, sizeof shown, base), pct, sdone,
                srate, eta, files);
        fflush(stderr);
        p->drawn = true;
}

void progress_file_done(struct progress *p, uint64_t file_bytes) {
        p->base += file_bytes;
        p->files_done++;
        if (p->nd)
                p->nd->file_bytes = p->nd->file_total = 0;
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
