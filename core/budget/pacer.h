/* SPDX-License-Identifier: MIT */
/*
 * Pacing: how much a side lets data move, so that a copy never takes the
 * guest over.  Three independent limits, each answering "how many bytes may
 * have moved by now", and the receiver grants credit up to the lowest:
 *
 *   rate   a token bucket of --max-rate bytes/s (burst: one window or 1 s)
 *   cpu    a bucket of CPU time: --cpu-limit percent of one CPU accrues per
 *          wall second, the process's measured CPU time drains it; while it
 *          is empty no new credit is granted
 *   psi    the window itself, AIMD on /proc/pressure: when others' stall
 *          share (below) passes the threshold the window halves (down to
 *          one chunk); while it stays below, the window grows by one chunk
 *          per interval back to the configured size.  The receiver's
 *          writeback segment follows the window (pacer_scale), so under
 *          pressure less of our data is queued at the disk and waiting for
 *          it paces the grants to the disk's pace.
 *
 * Which stall is others' (the signal is meant to say "the guest is
 * suffering", not "ferryd is busy"):
 *   io     "some" less the time this process was blocked waiting for its
 *          own writeback (pacer_own_io): a task waiting for its own writes
 *          counts as stalled, so the more the disk limited the copy, the
 *          more ferryd would throttle itself on top of the dirty budget
 *   memory "some"
 *   cpu    not read.  Its "some" share during a copy was almost all this
 *          process's own run-queue delay (/proc/PID/schedstat: typically
 *          12 of 13 points in the 1-vCPU test guest, bench/vm/impact.sh), so
 *          the window sat at one chunk and gained nobody anything.  CPU has
 *          its own budgets: nice 10 by default and --cpu-limit.
 *
 * Every function takes the current time so tests can drive it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "wire.h" /* FY_PACE_*: the reasons pacer_limit reports go on the wire as they are */

#define PSI_INTERVAL_MS 250     /* how often pressure is sampled */
#define PSI_DEFAULT_THRESHOLD 10 /* percent of time others stalled ("some") */
enum { PSI_IO, PSI_MEMORY, PSI_KINDS };

struct bucket {
        uint64_t rate;   /* units per second, 0: unlimited */
        uint64_t burst;  /* most that can be saved up */
        double tokens;
        uint64_t last_ns;
};

/* Starts empty: tokens accrue from now_ns on. */
void bucket_init(struct bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns);
/* Refill, then take n if there is enough; false (and nothing taken) if not. */
bool bucket_take(struct bucket *b, uint64_t n, uint64_t now_ns);
/* Take n even if that goes negative (the CPU bucket pays after the fact). */
void bucket_spend(struct bucket *b, double n, uint64_t now_ns);
/* ns until n tokens are there (0: now). */
uint64_t bucket_wait_ns(struct bucket *b, uint64_t n, uint64_t now_ns);
/* From now on, rate units per second (what accrued so far at the old rate
 * stays); 0 stays unlimited. */
void bucket_set_rate(struct bucket *b, uint64_t rate, uint64_t now_ns);

struct psi_source {
        int fd;            /* /proc/pressure/KIND or a test file; -1: absent */
        uint64_t last_total; /* "some total=" in us */
        bool primed;
};

struct pacer {
        /* configuration */
        uint64_t max_window;   /* the window when nothing presses */
        uint64_t min_window;   /* one chunk */
        unsigned psi_threshold; /* percent */
        unsigned cpu_limit;    /* percent of one CPU, 0: none */
        /* state */
        uint64_t window;       /* current window (AIMD) */
        struct bucket rate;
        struct bucket cpu;     /* in ns of CPU time */
        uint64_t cpu_last_ns;  /* process CPU time at the last look */
        struct psi_source psi[PSI_KINDS];
        bool psi_present;
        uint64_t psi_next_ns;
        uint64_t own_io_ns;     /* blocked on our own writeback since the last sample */
        unsigned psi_last_pct;  /* the highest stall share of others seen last sample */
};

/* psi_dir: a directory with io and memory files in /proc/pressure's format
 * (NULL: /proc/pressure; "" or "off": none; a cpu file there is ignored).
 * Returns whether PSI is available, so the caller can say once that it is
 * not. */
bool pacer_init(struct pacer *p, uint64_t window, uint64_t min_window, uint64_t max_rate,
                unsigned cpu_limit, const char *psi_dir, unsigned psi_threshold, uint64_t now_ns);
void pacer_close(struct pacer *p);

/* Sample pressure and CPU if due.  Returns true when the window changed. */
bool pacer_tick(struct pacer *p, uint64_t now_ns);

/* The credit limit a receiver may announce now, given bytes consumed and the
 * limit already announced (never lower).  *ret_reasons (FY_PACE_*) says what
 * held it below consumed + max_window; *ret_wake_ns when to look again (0: no need). */
uint64_t pacer_limit(struct pacer *p, uint64_t consumed, uint64_t granted, uint64_t now_ns,
                     unsigned *ret_reasons, uint64_t *ret_wake_ns);
/* The receiver granted up to limit: charge the rate bucket for the growth. */
void pacer_granted(struct pacer *p, uint64_t old_limit, uint64_t new_limit, uint64_t now_ns);

/* One of n sessions sharing the daemon's budgets: the rate limit (max_rate
 * as given to pacer_init) becomes 1/n of itself from now on; n = 1 restores
 * it.  (The CPU limit needs no share: it is measured on the process's
 * clock, which all sessions of a process drain together.) */
void pacer_share(struct pacer *p, uint64_t max_rate, unsigned n, uint64_t now_ns);

/* This process spent ns blocked waiting for its own writeback: not counted
 * as others' io stall in the next sample. */
void pacer_own_io(struct pacer *p, uint64_t ns);
/* v shrunk as the window is (v * window / max_window), at least floor (and
 * at most v): the writeback segment under pressure. */
uint64_t pacer_scale(const struct pacer *p, uint64_t v, uint64_t floor);

/* Read "some ... total=N" from a pressure file; -errno or 0. Exposed for tests. */
int psi_read_total(int fd, uint64_t *ret_total);
