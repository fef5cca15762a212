/* SPDX-License-Identifier: MIT */
/*
 * ferryd's daemon-wide counters: what every session moved, how long the
 * budgets held hosts back, where the budgets stand now.  The sessions run
 * in threads (serve.c) and feed their own figures in through the engine's
 * callbacks (session_ops.file_done and .sample); this module adds them up
 * under one mutex and, with --metrics-file, writes them in Prometheus'
 * text format for node_exporter's textfile collector: to a temporary name
 * beside the file, then renamed over it, so a reader never sees half a
 * file; at most once a second while sessions run, and as each ends.
 */
#pragma once

#include <stdint.h>

#include "session/session.h"

struct metrics;

/* Daemon-wide figures at one moment (metrics_read). */
struct metrics_snapshot {
        uint64_t sessions_total, sessions_running;
        uint64_t bytes_received, bytes_sent;
        uint64_t files_ok, files_failed, files_skipped;
        uint64_t paced_ns[SESSION_PACE_REASONS]; /* ferry_pacing_seconds_total by reason */
        uint32_t pacing[SESSION_PACE_REASONS];   /* sessions held back for each reason now */
        uint64_t dirty, window;                  /* summed over the sessions receiving */
        unsigned pressure_pct;                   /* at the latest sample of any session */
        uint64_t rss;                            /* this process's resident memory, bytes */
};

/* One session's part: what it has told so far, to add only what is new.
 * Owned by the session's thread; lives as long as its session. */
struct metrics_session {
        struct metrics *m;
        struct session_totals told;
        struct session_gauges gauges;
};

/* path: the file to keep up to date, or NULL (counters only).  Nothing is
 * written before metrics_write. */
int metrics_new(const char *path, struct metrics **ret);
struct metrics *metrics_free(struct metrics *m);

/* Write the file now (no-op without one).  0 or -errno. */
int metrics_write(struct metrics *m);

/* The callbacks a session feeds (userdata: its struct metrics_session),
 * and its answer to a host's STATS_REQ (ferry stats). */
extern const struct session_ops metrics_session_ops;

/* A session begins; ends, with its totals' last word (the file is written). */
void metrics_session_begin(struct metrics *m, struct metrics_session *ms);
void metrics_session_end(struct metrics_session *ms, const struct session_totals *t);

void metrics_read(struct metrics *m, struct metrics_snapshot *ret);
