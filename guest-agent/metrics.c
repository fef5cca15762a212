/* SPDX-License-Identifier: MIT */
/*
 * ferryd's daemon-wide counters and their Prometheus text file (metrics.h).
 *
 * One mutex guards them: a session takes it for a moment once per
 * SESSION_SAMPLE_NS and once per file, which costs nothing next to a
 * chunk's I/O; the file is written by whichever session's sample finds it
 * due, under a second mutex, so a slow disk holds up no other session's
 * counting (a session that finds the writer busy leaves it to the next).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fd.h"
#include "base/log.h"
#include "base/proc.h"
#include "base/util.h"
#include "metrics.h"

/* The write latency histogram's buckets: 25 us * 2^k up to 1.6384 s, the
 * edges of the engine's own buckets (lat_count_below is exact on them). */
#define LAT_EDGES 17
#define LAT_EDGE0_US 25
#define WRITE_EVERY_NS 1000000000ull
#define FILE_MAX 8192 /* the whole text: ~3 KiB */

struct metrics {
        pthread_mutex_t lock; /* everything below but the file */
        struct metrics_snapshot c;
        struct lat_hist write_lat;

        pthread_mutex_t file_lock; /* the file and what follows */
        char *path, *tmp;          /* NULL: no file */
        uint64_t written_ns;       /* when it was last written */
        int said;                  /* the last write error logged (0: none) */
};

/* The reason labels, in FY_PACE_* bit order (session_totals.paced_ns). */
static const char *const pace_name[SESSION_PACE_REASONS] = { "rate", "cpu", "pressure", "writeback" };

int metrics_new(const char *path, struct metrics **ret) {
        struct metrics *m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        /* node_exporter reads *.prom: the temporary name must not be one,
         * and must be in the same directory for rename(). */
        if (path && (!(m->path = strdup(path)) || asprintf(&m->tmp, "%s.tmp", path) < 0)) {
                free(m->path);
                free(m);
                return -ENOMEM;
        }
        pthread_mutex_init(&m->lock, NULL);
        pthread_mutex_init(&m->file_lock, NULL);
        *ret = m;
        return 0;
}

struct metrics *metrics_free(struct metrics *m) {
        if (!m)
                return NULL;
        pthread_mutex_destroy(&m->lock);
        pthread_mutex_destroy(&m->file_lock);
        free(m->path);
        free(m->tmp);
        free(m);
        return NULL;
}

void metrics_read(struct metrics *m, struct metrics_snapshot *ret) {
        pthread_mutex_lock(&m->lock);
        *ret = m->c;
        pthread_mutex_unlock(&m->lock);
        ret->rss = proc_rss();
}

/* ---- the text --------------------------------------------------------- */

struct text {
        char *buf;
        size_t size, len;
        bool full;
};

static void __attribute__((format(printf, 2, 3))) put(struct text *t, const char *fmt, ...) {
        if (t->full)
                return;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->size - t->len, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= t->size - t->len)
                t->full = true;
        else
                t->len += (size_t)n;
}

static void family(struct text *t, const char *name, const char *type, const char *help) {
        put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct text *t, const char *name, const char *type, const char *help, uint64_t v) {
        family(t, name, type, help);
        put(t, "%s %llu\n", name, (unsigned long long)v);
}

static int format(const struct metrics_snapshot *sn, const struct lat_hist *lat, char *buf, size_t size) {
        struct text t = { .buf = buf, .size = size };
        one(&t, "ferry_received_bytes_total", "counter", "File bytes received from hosts (pushes).",
            sn->bytes_received);
        one(&t, "ferry_sent_bytes_total", "counter", "File bytes sent to hosts (pulls).", sn->bytes_sent);
        family(&t, "ferry_files_total", "counter",
               "Files finished, both ways, by result (skipped: resume found them complete).");
        put(&t, "ferry_files_total{result=\"ok\"} %llu\n", (unsigned long long)sn->files_ok);
        put(&t, "ferry_files_total{result=\"failed\"} %llu\n", (unsigned long long)sn->files_failed);
        put(&t, "ferry_files_total{result=\"skipped\"} %llu\n", (unsigned long long)sn->files_skipped);
        one(&t, "ferry_sessions_total", "counter", "Sessions begun with hosts.", sn->sessions_total);
        one(&t, "ferry_sessions", "gauge", "Sessions running now.", sn->sessions_running);
        family(&t, "ferry_pacing_seconds_total", "counter",
               "Time ferryd's budgets held a host's transfer back, by reason (a time with two reasons counts for both).");
        for (unsigned i = 0; i < SESSION_PACE_REASONS; i++)
                put(&t, "ferry_pacing_seconds_total{reason=\"%s\"} %.6f\n", pace_name[i], (double)sn->paced_ns[i] / 1e9);
        family(&t, "ferry_pacing", "gauge", "Sessions whose credit is held back for each reason now.");
        for (unsigned i = 0; i < SESSION_PACE_REASONS; i++)
                put(&t, "ferry_pacing{reason=\"%s\"} %u\n", pace_name[i], sn->pacing[i]);
        one(&t, "ferry_dirty_bytes", "gauge", "Bytes received, written and not yet on disk (the dirty budget's use).",
            sn->dirty);
        one(&t, "ferry_window_bytes", "gauge", "Credit window the receiving budgets allow now, summed over sessions.",
            sn->window);
        one(&t, "ferry_pressure_percent", "gauge", "Highest share of time other tasks stalled on io or memory at the last sample.",
            sn->pressure_pct);
        one(&t, "ferry_resident_memory_bytes", "gauge", "ferryd's resident memory.", sn->rss);
        family(&t, "ferry_write_latency_seconds", "histogram", "A received chunk's write, submitted to completed.");
        uint64_t edge = LAT_EDGE0_US;
        for (unsigned i = 0; i < LAT_EDGES; i++, edge *= 2)
                put(&t, "ferry_write_latency_seconds_bucket{le=\"%g\"} %llu\n", (double)edge / 1e6,
                    (unsigned long long)lat_count_below(lat, edge));
        put(&t, "ferry_write_latency_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)lat->count);
        put(&t, "ferry_write_latency_seconds_sum %.6f\n", (double)lat->sum_us / 1e6);
        put(&t, "ferry_write_latency_seconds_count %llu\n", (unsigned long long)lat->count);
        return t.full ? -ENOBUFS : (int)t.len;
}

/* ---- the file ---------------------------------------------------------- */

static int write_file(const char *tmp, const char *path, const char *text, size_t len) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        int r = fd_write_all(fd, text, len);
        /* No fsync: a crash loses a sample, which the next one replaces;
         * the rename is what readers must never see half of. */
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void)unlink(tmp);
        return r;
}

/* Called with file_lock held. */
static int write_locked(struct metrics *m) {
        struct metrics_snapshot sn;
        /* (a copy of the histogram: 2.6 KiB, not worth a lock held while formatting) */
        _cleanup_free_ struct lat_hist *lat = malloc(sizeof *lat);
        _cleanup_free_ char *text = malloc(FILE_MAX);
        if (!lat || !text)
                return -ENOMEM;
        pthread_mutex_lock(&m->lock);
        sn = m->c;
        *lat = m->write_lat;
        pthread_mutex_unlock(&m->lock);
        sn.rss = proc_rss();
        int n = format(&sn, lat, text, FILE_MAX);
        if (n < 0)
                return n;
        m->written_ns = now_ns();
        int r = write_file(m->tmp, m->path, text, (size_t)n);
        if (r < 0 && r != -m->said)
                log_warn("--metrics-file '%s': %s", m->path, strerror(-r));
        m->said = r < 0 ? -r : 0;
        return r;
}

int metrics_write(struct metrics *m) {
        if (!m->path)
                return 0;
        pthread_mutex_lock(&m->file_lock);
        int r = write_locked(m);
        pthread_mutex_unlock(&m->file_lock);
        return r;
}

/* At most once every WRITE_EVERY_NS, by whoever comes first. */
static void write_if_due(struct metrics *m) {
        if (!m->path || pthread_mutex_trylock(&m->file_lock) != 0)
                return;
        if (now_ns() - m->written_ns >= WRITE_EVERY_NS)
                (void)write_locked(m);
        pthread_mutex_unlock(&m->file_lock);
}

/* ---- the sessions' part ------------------------------------------------ */

/* Add what t has that ms did not tell yet, and its gauges g in place of the
 * last ones.  Called with m->lock held. */
static void add_locked(struct metrics_session *ms, const struct session_totals *t, const struct session_gauges *g) {
        struct metrics *m = ms->m;
        struct session_totals *was = &ms->told;
        m->c.bytes_received += t->bytes_received - was->bytes_received;
        m->c.bytes_sent += t->bytes_sent - was->bytes_sent;
        for (unsigned i = 0; i < SESSION_PACE_REASONS; i++)
                m->c.paced_ns[i] += t->paced_ns[i] - was->paced_ns[i];
        if (t->write_lat.count != was->write_lat.count) {
                for (unsigned b = 0; b < LAT_BUCKETS; b++)
                        m->write_lat.bucket[b] += t->write_lat.bucket[b] - was->write_lat.bucket[b];
                m->write_lat.count += t->write_lat.count - was->write_lat.count;
                m->write_lat.sum_us += t->write_lat.sum_us - was->write_lat.sum_us;
                m->write_lat.max_us = MAX(m->write_lat.max_us, t->write_lat.max_us);
        }
        *was = *t;
        m->c.dirty += g->dirty - ms->gauges.dirty;
        m->c.window += g->window - ms->gauges.window;
        for (unsigned i = 0; i < SESSION_PACE_REASONS; i++)
                m->c.pacing[i] += !!(g->pacing & (1u << i)) - !!(ms->gauges.pacing & (1u << i));
        if (g->window) /* (a session not receiving has not sampled pressure) */
                m->c.pressure_pct = g->pressure_pct;
        ms->gauges = *g;
}

static void on_sample(void *ud, const struct session_totals *t, const struct session_gauges *g) {
        struct metrics_session *ms = ud;
        pthread_mutex_lock(&ms->m->lock);
        add_locked(ms, t, g);
        pthread_mutex_unlock(&ms->m->lock);
        write_if_due(ms->m);
}

static void on_file_done(void *ud, const struct file_result *res) {
        struct metrics_session *ms = ud;
        if (res->kind != ENTRY_FILE)
                return; /* directories, links and the trees' own verdicts are not files */
        struct metrics *m = ms->m;
        pthread_mutex_lock(&m->lock);
        if (res->err)
                m->c.files_failed++;
        else if (res->skipped)
                m->c.files_skipped++;
        else
                m->c.files_ok++;
        /* Sending, our own --max-rate is the one budget of ours that holds
         * a transfer back; the receiver's reasons are the host's. */
        if (res->sent)
                m->c.paced_ns[0] += res->stats.wait_ns[WAIT_RATE_LOCAL];
        pthread_mutex_unlock(&m->lock);
}

/* A host's STATS_REQ (ferry stats): the same figures as the file. */
static void on_stats(void *ud, struct fy_stats *ret) {
        struct metrics_session *ms = ud;
        struct metrics_snapshot sn;
        metrics_read(ms->m, &sn);
        *ret = (struct fy_stats){
                .sessions_total = sn.sessions_total,
                .sessions = (uint32_t)MIN(sn.sessions_running, sn.sessions_total),
                .bytes_received = sn.bytes_received,
                .bytes_sent = sn.bytes_sent,
                .files_ok = sn.files_ok,
                .files_failed = sn.files_failed,
                .files_skipped = sn.files_skipped,
                .dirty = sn.dirty,
                .window = sn.window,
                .rss = sn.rss,
                .pressure_pct = MIN(sn.pressure_pct, 100u),
        };
        for (unsigned i = 0; i < SESSION_PACE_REASONS; i++) {
                ret->paced_ns[i] = sn.paced_ns[i];
                ret->pacing |= sn.pacing[i] ? 1u << i : 0;
        }
}

const struct session_ops metrics_session_ops = {
        .file_done = on_file_done,
        .sample = on_sample,
        .stats = on_stats,
};

void metrics_session_begin(struct metrics *m, struct metrics_session *ms) {
        *ms = (struct metrics_session){ .m = m };
        pthread_mutex_lock(&m->lock);
        m->c.sessions_total++;
        m->c.sessions_running++;
        pthread_mutex_unlock(&m->lock);
}

void metrics_session_end(struct metrics_session *ms, const struct session_totals *t) {
        struct metrics *m = ms->m;
        pthread_mutex_lock(&m->lock);
        add_locked(ms, t, &(struct session_gauges){ 0 });
        m->c.sessions_running--;
        pthread_mutex_unlock(&m->lock);
        (void)metrics_write(m);
}
