/* SPDX-License-Identifier: MIT */
/*
 * core/pacer: the token bucket, the receiver's credit limit under a rate
 * budget, the PSI window (AIMD over fake /proc/pressure files: io less our
 * own writeback waits, memory; not cpu), the writeback segment that follows
 * it, and the CPU budget.  Every function takes the time, so everything
 * runs on a fake clock; the CPU used comes from the process CPU clock
 * (pacer_tick reads it), and the CPU case makes the pacer see more of it
 * than was used, so a busy machine changes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "budget/pacer.h"

#define MiB (1024ull * 1024)
#define MS (1000000ull)
#define SEC (1000000000ull)
#define T0 (1000 * SEC) /* fake clocks start here, far from 0 */

/* a <= b, both printed when not. */
#define CHECK_LE_U64(a, b)                                                    \
        do {                                                                  \
                uint64_t a_ = (a), b_ = (b);                                  \
                check_count++;                                                \
                if (!(a_ <= b_)) {                                            \
                        check_fail_(__FILE__, __LINE__, #a " <= " #b);        \
                        fprintf(stderr, "    %" PRIu64 " > %" PRIu64 "\n", a_, b_); \
                }                                                             \
        } while (0)

/* ---- bucket */

static void test_bucket(void) {
        struct bucket b;
        const uint64_t rate = 1000, burst = 100;

        /* Starts empty. */
        bucket_init(&b, rate, burst, T0);
        CHECK(!bucket_take(&b, 1, T0));
        CHECK_EQ_U64(bucket_wait_ns(&b, 100, T0), 100 * MS + 1);
        CHECK(!bucket_take(&b, 100, T0 + 99 * MS));
        uint64_t w = bucket_wait_ns(&b, 100, T0 + 99 * MS);
        CHECK(w > 0 && w <= 1 * MS + 1);
        /* Waking when it says is never too early. */
        CHECK(bucket_take(&b, 100, T0 + 99 * MS + w));
        CHECK(!bucket_take(&b, 1, T0 + 99 * MS + w));

        /* A failed take takes nothing. */
        bucket_init(&b, rate, burst, T0);
        CHECK(!bucket_take(&b, 60, T0 + 50 * MS));
        CHECK(bucket_take(&b, 50, T0 + 50 * MS));

        /* Burst caps saving up: after 10 s idle only burst is there. */
        bucket_init(&b, rate, burst, T0);
        CHECK(!bucket_take(&b, burst + 1, T0 + 10 * SEC));
        CHECK(bucket_take(&b, burst, T0 + 10 * SEC));
        CHECK(!bucket_take(&b, 1, T0 + 10 * SEC));
        CHECK(bucket_wait_ns(&b, 1, T0 + 10 * SEC) > 0);

        /* The rate holds: a greedy taker over a simulated 10 s gets at most
         * rate * 10 s (the bucket starts empty), and not much less. */
        for (uint64_t step = 1 * MS; step <= 37 * MS; step += 12 * MS) {
                bucket_init(&b, rate, burst, T0);
                uint64_t taken = 0, t = T0;
                for (; t <= T0 + 10 * SEC; t += step)
                        while (bucket_take(&b, 7, t))
                                taken += 7;
                CHECK_LE_U64(taken, rate * 10);
                CHECK(taken >= rate * 10 - 7 - rate * step / SEC - 1);
        }
        /* The same, waking exactly when bucket_wait_ns says. */
        bucket_init(&b, rate, burst, T0);
        uint64_t taken = 0, t = T0, wakes = 0;
        while (t <= T0 + 10 * SEC) {
                if (bucket_take(&b, 30, t)) {
                        taken += 30;
                        continue;
                }
                uint64_t d = bucket_wait_ns(&b, 30, t);
                CHECK(d > 0);
                if (d == 0)
                        break;
                t += d;
                wakes++;
        }
        CHECK_LE_U64(taken, rate * 10 + 30); /* the last take may be at 10 s + a bit */
        CHECK(taken >= rate * 10 - 60);
        CHECK(wakes > 0);

        /* spend may go negative; it is paid back by time. */
        bucket_init(&b, rate, burst, T0);
        bucket_spend(&b, 500, T0);
        CHECK(b.tokens < 0);
        CHECK(!bucket_take(&b, 1, T0 + 400 * MS));
        CHECK_EQ_U64(bucket_wait_ns(&b, 1, T0 + 400 * MS), 101 * MS + 1);
        CHECK(bucket_take(&b, 1, T0 + 501 * MS + 1));

        /* Rate 0: unlimited. */
        bucket_init(&b, 0, 0, T0);
        CHECK(bucket_take(&b, 1ull << 40, T0));
        CHECK_EQ_U64(bucket_wait_ns(&b, 1ull << 40, T0), 0);
}

/* ---- rate through credit */

/* Mimic a session: the initial window is granted at start (and charged),
 * then the receiver consumes everything granted and asks for more. */
static void rate_session(uint64_t rate, uint64_t window, uint64_t chunk, uint64_t initial, uint64_t step_ns) {
        struct pacer p;
        CHECK(!pacer_init(&p, window, chunk, rate, 0, "off", 0, T0));
        pacer_granted(&p, 0, initial, T0);
        uint64_t granted = initial, consumed = 0;
        unsigned limited = 0, rounds = 0;
        bool bad_reason = false, bad_wake = false, bad_bound = false, lowered = false;
        uint64_t t = T0;
        for (; t <= T0 + 10 * SEC; t += step_ns) {
                consumed = granted; /* the sender used all of it; the receiver wrote it */
                (void)pacer_tick(&p, t);
                unsigned reasons = 0;
                uint64_t wake = 0;
                uint64_t limit = pacer_limit(&p, consumed, granted, t, &reasons, &wake);
                rounds++;
                if (limit < granted)
                        lowered = true;
                if (limit < consumed + window) {
                        limited++;
                        if (!(reasons & FY_PACE_RATE))
                                bad_reason = true;
                        if (wake == 0 && !bad_wake) {
                                /* The caller sleeps until now + wake: 0 while
                                 * holding back means "look again at once". */
                                fprintf(stderr, "    rate %llu: held back to %llu (granted %llu, reasons 0x%x) at %.3f s but wake 0\n",
                                        (unsigned long long)rate, (unsigned long long)limit,
                                        (unsigned long long)granted, reasons, (double)(t - T0) / 1e9);
                                bad_wake = true;
                        }
                }
                pacer_granted(&p, granted, limit, t);
                granted = limit;
                /* Never more than rate * t + the initial window. */
                uint64_t bound = (uint64_t)((double)rate * (double)(t - T0) / 1e9) + initial;
                if (granted > bound) {
                        if (!bad_bound)
                                fprintf(stderr, "    rate %llu: granted %llu > %llu at %.3f s\n",
                                        (unsigned long long)rate, (unsigned long long)granted,
                                        (unsigned long long)bound, (double)(t - T0) / 1e9);
                        bad_bound = true;
                }
        }
        CHECK(!lowered);
        CHECK(!bad_bound);
        CHECK(!bad_reason);
        CHECK(!bad_wake);
        CHECK(limited > rounds / 2);
        /* It does not starve either: after 10 s it granted most of rate * 10 s. */
        CHECK(granted >= rate * 10 * 9 / 10);
        CHECK_LE_U64(granted, rate * 10 + initial);
}

static void test_rate(void) {
        /* ferryd's defaults: 8M window, 1M chunk; the hello's window is
         * max(chunk, min(window, rate / 4)). */
        rate_session(16 * MiB, 8 * MiB, 1 * MiB, 4 * MiB, 1 * MS);
        rate_session(16 * MiB, 8 * MiB, 1 * MiB, 4 * MiB, 7 * MS);
        rate_session(16 * MiB, 8 * MiB, 1 * MiB, 4 * MiB, 300 * MS);
        rate_session(4 * MiB, 8 * MiB, 1 * MiB, 1 * MiB, 3 * MS);
        rate_session(64 * 1024, 8 * MiB, 1 * MiB, 1 * MiB, 50 * MS); /* rate below a chunk per second */
        rate_session(100 * MiB, 8 * MiB, 1 * MiB, 8 * MiB, 2 * MS);

        /* A receiver that waits exactly as told gets its credit then. */
        struct pacer p;
        (void)pacer_init(&p, 8 * MiB, 1 * MiB, 16 * MiB, 0, "off", 0, T0);
        pacer_granted(&p, 0, 4 * MiB, T0);
        uint64_t granted = 4 * MiB, t = T0;
        unsigned reasons;
        uint64_t wake;
        uint64_t limit = pacer_limit(&p, granted, granted, t, &reasons, &wake);
        CHECK_EQ_U64(limit, granted); /* the initial window is paid for first */
        CHECK(reasons & FY_PACE_RATE);
        CHECK(!(reasons & (FY_PACE_PSI | FY_PACE_CPU)));
        CHECK(wake > 0);
        for (int i = 0; i < 20 && wake; i++) {
                t += wake;
                uint64_t before = granted;
                limit = pacer_limit(&p, granted, granted, t, &reasons, &wake);
                pacer_granted(&p, granted, limit, t);
                granted = limit;
                /* After the debt for the initial window, each wake brings at
                 * least one chunk (or the rest of the window). */
                if (i > 0)
                        CHECK(granted >= before + 1 * MiB || granted == before + 8 * MiB);
        }

        /* No rate: the whole window at once, no reasons, no wake. */
        (void)pacer_init(&p, 8 * MiB, 1 * MiB, 0, 0, "off", 0, T0);
        limit = pacer_limit(&p, 5 * MiB, 8 * MiB, T0, &reasons, &wake);
        CHECK_EQ_U64(limit, 13 * MiB);
        CHECK_EQ_INT(reasons, 0);
        CHECK_EQ_U64(wake, 0);
        pacer_close(&p);
}

/* ---- PSI */

static char psi_dir[64];

static void write_file(const char *name, const char *text) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", psi_dir, name);
        /* In place (O_TRUNC): the pacer keeps its descriptor open. */
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
                perror(path);
                exit(T_EXIT_FAIL);
        }
        close(fd);
}

static void write_psi(const char *name, uint64_t some_us, uint64_t full_us) {
        char buf[256];
        snprintf(buf, sizeof buf,
                 "some avg10=0.00 avg60=0.00 avg300=0.00 total=%llu\n"
                 "full avg10=0.00 avg60=0.00 avg300=0.00 total=%llu\n",
                 (unsigned long long)some_us, (unsigned long long)full_us);
        write_file(name, buf);
}

static void unlink_psi(void) {
        static const char *kinds[] = { "io", "memory", "cpu" };
        char path[128];
        for (int i = 0; i < 3; i++) {
                snprintf(path, sizeof path, "%s/%s", psi_dir, kinds[i]);
                (void)unlink(path);
        }
}

static void check_limit_is_window(struct pacer *p, uint64_t now, bool want_psi) {
        /* The receiver has handled all it granted: the next limit is
         * consumed + window, PSI set exactly while the window is shrunk. */
        const uint64_t consumed = 100 * MiB;
        unsigned reasons = ~0u;
        uint64_t wake = 0;
        uint64_t limit = pacer_limit(p, consumed, consumed, now, &reasons, &wake);
        CHECK_EQ_U64(limit, consumed + p->window);
        CHECK_EQ_INT(!!(reasons & FY_PACE_PSI), want_psi);
        CHECK_EQ_INT(reasons & ~(unsigned)FY_PACE_PSI, 0);
        if (want_psi)
                CHECK(wake > 0);
}

/* Drive one kind ("io" or "memory") through a stall and back. */
static void psi_cycle(const char *kind) {
        const uint64_t chunk = 1 * MiB, window = 8 * MiB;
        const uint64_t iv = PSI_INTERVAL_MS * MS, iv_us = PSI_INTERVAL_MS * 1000ull;
        uint64_t tot[3] = { 5000000, 7000000, 9000000 };
        static const char *kinds[3] = { "io", "memory", "cpu" };
        int k = !strcmp(kind, "io") ? 0 : !strcmp(kind, "memory") ? 1 : 2;
        for (int i = 0; i < 3; i++)
                write_psi(kinds[i], tot[i], tot[i] / 2);

        struct pacer p;
        CHECK(pacer_init(&p, window, chunk, 0, 0, psi_dir, 10, T0));
        CHECK(p.psi_present);
        CHECK_EQ_U64(p.window, window);
        CHECK(!pacer_tick(&p, T0)); /* primes */
        CHECK(!pacer_tick(&p, T0 + iv / 2)); /* not due */
        check_limit_is_window(&p, T0 + iv / 2, false);

        uint64_t t = T0;
        /* Exactly the threshold (10%) is not above it. */
        t += iv;
        tot[k] += iv_us / 10;
        write_psi(kind, tot[k], tot[k] / 2);
        CHECK(!pacer_tick(&p, t));
        CHECK_EQ_U64(p.window, window);
        CHECK_EQ_INT(p.psi_last_pct, 10);

        /* 60% stalled: halve per interval down to one chunk, then stay. */
        uint64_t expect = window;
        uint64_t prev_grant = window;
        for (int i = 0; i < 6; i++) {
                t += iv;
                tot[k] += iv_us * 6 / 10;
                write_psi(kind, tot[k], tot[k] / 2);
                bool changed = pacer_tick(&p, t);
                uint64_t next = expect / 2 > chunk ? expect / 2 : chunk;
                CHECK_EQ_INT(changed, next != expect);
                expect = next;
                CHECK_EQ_U64(p.window, expect);
                CHECK_EQ_INT(p.psi_last_pct, 60);
                check_limit_is_window(&p, t, true);
                CHECK_LE_U64(p.window, prev_grant); /* the grant shrinks */
                prev_grant = p.window;
        }
        CHECK_EQ_U64(p.window, chunk);

        /* 11% (just above): still at the floor. */
        t += iv;
        tot[k] += iv_us * 11 / 100;
        write_psi(kind, tot[k], tot[k] / 2);
        CHECK(!pacer_tick(&p, t));
        CHECK_EQ_U64(p.window, chunk);

        /* A late sample is measured over the real interval: 100 ms of
         * stall in 1 s is 10%, not 40%. */
        t += 4 * iv;
        tot[k] += 100000;
        write_psi(kind, tot[k], tot[k] / 2);
        CHECK(pacer_tick(&p, t)); /* grows */
        CHECK_EQ_INT(p.psi_last_pct, 10);
        CHECK_EQ_U64(p.window, 2 * chunk);

        /* No stall: one chunk per interval back to the window, then stay. */
        expect = 2 * chunk;
        for (int i = 0; i < 8; i++) {
                t += iv;
                bool changed = pacer_tick(&p, t);
                uint64_t next = expect + chunk < window ? expect + chunk : window;
                CHECK_EQ_INT(changed, next != expect);
                expect = next;
                CHECK_EQ_U64(p.window, expect);
                CHECK_EQ_INT(p.psi_last_pct, 0);
                check_limit_is_window(&p, t, expect < window);
        }
        CHECK_EQ_U64(p.window, window);

        /* Ticks between samples change nothing. */
        tot[k] += 10 * iv_us;
        write_psi(kind, tot[k], tot[k] / 2);
        CHECK(!pacer_tick(&p, t + iv - 1));
        CHECK_EQ_U64(p.window, window);
        /* ... the next sample does (capped at 100%). */
        CHECK(pacer_tick(&p, t + iv));
        CHECK_EQ_INT(p.psi_last_pct, 100);
        CHECK_EQ_U64(p.window, window / 2);

        /* A counter that goes backwards (a torn read, a reset) is no stall. */
        t += 2 * iv;
        write_psi(kind, 1, 0);
        CHECK(pacer_tick(&p, t));
        CHECK_EQ_U64(p.window, window / 2 + chunk);
        pacer_close(&p);
        CHECK(p.psi[0].fd < 0);
}

/* cpu "some" is not read (pacer.h: it was ferryd's own run-queue delay):
 * a full cpu stall next to calm io and memory leaves the window alone. */
static void psi_cpu_ignored(void) {
        const uint64_t iv = PSI_INTERVAL_MS * MS, iv_us = PSI_INTERVAL_MS * 1000ull;
        write_psi("io", 1000, 0);
        write_psi("memory", 1000, 0);
        write_psi("cpu", 1000, 0);
        struct pacer p;
        CHECK(pacer_init(&p, 8 * MiB, 1 * MiB, 0, 0, psi_dir, 10, T0));
        CHECK(!pacer_tick(&p, T0));
        uint64_t cpu = 1000;
        for (int i = 1; i <= 4; i++) {
                cpu += iv_us; /* 100% */
                write_psi("cpu", cpu, 0);
                CHECK(!pacer_tick(&p, T0 + (uint64_t)i * iv));
                CHECK_EQ_U64(p.window, 8 * MiB);
                CHECK_EQ_INT(p.psi_last_pct, 0);
                check_limit_is_window(&p, T0 + (uint64_t)i * iv, false);
        }
        pacer_close(&p);

        /* A cpu file alone is no pressure information at all. */
        unlink_psi();
        write_psi("cpu", 1000, 0);
        CHECK(!pacer_init(&p, 8 * MiB, 1 * MiB, 0, 0, psi_dir, 10, T0));
        CHECK(!p.psi_present);
        pacer_close(&p);
        unlink_psi();
}

/* io stall while we waited for our own writeback is ours, not the guest's:
 * it is taken off the io share (and only off io), never below zero. */
static void psi_own_io(void) {
        const uint64_t chunk = 1 * MiB, window = 8 * MiB;
        const uint64_t iv = PSI_INTERVAL_MS * MS, iv_us = PSI_INTERVAL_MS * 1000ull;
        uint64_t io = 1000, mem = 1000;
        write_psi("io", io, 0);
        write_psi("memory", mem, 0);
        struct pacer p;
        CHECK(pacer_init(&p, window, chunk, 0, 0, psi_dir, 10, T0));
        CHECK(!pacer_tick(&p, T0));
        uint64_t t = T0;

        /* 60% io stall, 55% of it our own waits: 5% is others', no shrink. */
        t += iv;
        io += iv_us * 60 / 100;
        write_psi("io", io, 0);
        pacer_own_io(&p, iv * 55 / 100);
        CHECK(!pacer_tick(&p, t));
        CHECK_EQ_INT(p.psi_last_pct, 5);
        CHECK_EQ_U64(p.window, window);

        /* Waits between samples add up; 60% stall, 20% + 10% ours: 30%. */
        t += iv;
        io += iv_us * 60 / 100;
        write_psi("io", io, 0);
        pacer_own_io(&p, iv * 20 / 100);
        pacer_own_io(&p, iv * 10 / 100);
        CHECK(pacer_tick(&p, t));
        CHECK_EQ_INT(p.psi_last_pct, 30);
        CHECK_EQ_U64(p.window, window / 2);

        /* The waits were counted once: the same 60% next time is all others'. */
        t += iv;
        io += iv_us * 60 / 100;
        write_psi("io", io, 0);
        CHECK(pacer_tick(&p, t));
        CHECK_EQ_INT(p.psi_last_pct, 60);
        CHECK_EQ_U64(p.window, window / 4);

        /* More own waiting than the whole stall (they overlap others'): 0%,
         * and the window grows back. */
        t += iv;
        io += iv_us * 10 / 100;
        write_psi("io", io, 0);
        pacer_own_io(&p, iv * 90 / 100);
        CHECK(pacer_tick(&p, t));
        CHECK_EQ_INT(p.psi_last_pct, 0);
        CHECK_EQ_U64(p.window, window / 4 + chunk);

        /* Our io waits do not excuse a memory stall. */
        t += iv;
        mem += iv_us * 50 / 100;
        write_psi("memory", mem, 0);
        pacer_own_io(&p, iv);
        CHECK(pacer_tick(&p, t));
        CHECK_EQ_INT(p.psi_last_pct, 50);
        CHECK_EQ_U64(p.window, (window / 4 + chunk) / 2);
        pacer_close(&p);
        unlink_psi();
}

/* The writeback segment follows the window: whole while nothing presses,
 * shrunk in proportion under pressure, never below the floor (one chunk)
 * nor above what it was, and whole again once the window has recovered. */
static void psi_scale(void) {
        const uint64_t chunk = 1 * MiB, window = 8 * MiB, seg = 3 * MiB;
        const uint64_t iv = PSI_INTERVAL_MS * MS, iv_us = PSI_INTERVAL_MS * 1000ull;
        uint64_t io = 1000;
        write_psi("io", io, 0);
        write_psi("memory", 1000, 0);
        struct pacer p;
        CHECK(pacer_init(&p, window, chunk, 0, 0, psi_dir, 10, T0));
        CHECK(!pacer_tick(&p, T0));
        CHECK_EQ_U64(pacer_scale(&p, seg, chunk), seg);
        CHECK_EQ_U64(pacer_scale(&p, 1ull << 40, chunk), 1ull << 40);

        uint64_t t = T0;
        uint64_t prev = seg;
        for (int i = 0; i < 4; i++) { /* 8 -> 4 -> 2 -> 1 -> 1 MiB */
                t += iv;
                io += iv_us / 2;
                write_psi("io", io, 0);
                (void)pacer_tick(&p, t);
                uint64_t sc = pacer_scale(&p, seg, chunk);
                uint64_t want = seg * p.window / window;
                CHECK_EQ_U64(sc, want > chunk ? want : chunk);
                CHECK_LE_U64(sc, prev); /* the segment shrinks */
                prev = sc;
                /* Large values do not overflow: 1 TiB * 1/8 etc. */
                CHECK_EQ_U64(pacer_scale(&p, 1ull << 40, chunk), (1ull << 40) / window * p.window);
        }
        CHECK_EQ_U64(p.window, chunk);
        CHECK_EQ_U64(pacer_scale(&p, seg, chunk), chunk);
        /* A floor above the value: the value (never more than asked). */
        CHECK_EQ_U64(pacer_scale(&p, chunk / 2, chunk), chunk / 2);

        /* Calm: the window grows back a chunk per interval, the segment with it. */
        for (int i = 0; i < 7; i++) {
                t += iv;
                (void)pacer_tick(&p, t);
                CHECK(pacer_scale(&p, seg, chunk) >= prev);
                prev = pacer_scale(&p, seg, chunk);
        }
        CHECK_EQ_U64(p.window, window);
        CHECK_EQ_U64(pacer_scale(&p, seg, chunk), seg);
        pacer_close(&p);

        /* Without PSI the window never moves: the segment is whole. */
        (void)pacer_init(&p, window, chunk, 0, 0, "off", 0, T0);
        CHECK_EQ_U64(pacer_scale(&p, seg, chunk), seg);
        pacer_close(&p);
        unlink_psi();
}

static void test_psi(void) {
        snprintf(psi_dir, sizeof psi_dir, "/tmp/test-pacer.XXXXXX");
        if (!mkdtemp(psi_dir)) {
                perror("mkdtemp");
                exit(T_EXIT_FAIL);
        }
        psi_cycle("io");
        psi_cycle("memory");
        psi_cpu_ignored();
        psi_own_io();
        psi_scale();

        /* Only one file there (the other missing) is enough. */
        unlink_psi();
        write_psi("memory", 1000, 0);
        struct pacer p;
        CHECK(pacer_init(&p, 8 * MiB, 1 * MiB, 0, 0, psi_dir, 10, T0));
        CHECK(!pacer_tick(&p, T0));
        write_psi("memory", 1000 + 200000, 0);
        CHECK(pacer_tick(&p, T0 + PSI_INTERVAL_MS * MS));
        CHECK_EQ_U64(p.window, 4 * MiB);
        pacer_close(&p);

        /* The default threshold (0 given) is PSI_DEFAULT_THRESHOLD. */
        unlink_psi();
        write_psi("io", 0, 0);
        CHECK(pacer_init(&p, 8 * MiB, 1 * MiB, 0, 0, psi_dir, 0, T0));
        CHECK_EQ_INT(p.psi_threshold, PSI_DEFAULT_THRESHOLD);
        (void)pacer_tick(&p, T0);
        write_psi("io", PSI_INTERVAL_MS * 1000ull * PSI_DEFAULT_THRESHOLD / 100, 0);
        CHECK(!pacer_tick(&p, T0 + PSI_INTERVAL_MS * MS)); /* at it: not above */
        write_psi("io", PSI_INTERVAL_MS * 1000ull * (2 * PSI_DEFAULT_THRESHOLD + 1) / 100, 0);
        CHECK(pacer_tick(&p, T0 + 2 * PSI_INTERVAL_MS * MS));
        CHECK_EQ_U64(p.window, 4 * MiB);
        pacer_close(&p);

        /* Missing files (or only malformed ones): not available, nothing
         * changes, no reasons, no wake. */
        unlink_psi();
        const char *none[] = { psi_dir, "off", "", "/nonexistent/ferry-psi" };
        for (unsigned i = 0; i < sizeof none / sizeof none[0]; i++) {
                CHECK(!pacer_init(&p, 8 * MiB, 1 * MiB, 0, 0, none[i], 10, T0));
                CHECK(!p.psi_present);
                for (int j = 0; j < 3; j++)
                        CHECK(!pacer_tick(&p, T0 + (uint64_t)j * PSI_INTERVAL_MS * MS));
                CHECK_EQ_U64(p.window, 8 * MiB);
                unsigned reasons = ~0u;
                uint64_t wake = ~0ull;
                CHECK_EQ_U64(pacer_limit(&p, 1 * MiB, 9 * MiB, T0 + SEC, &reasons, &wake), 9 * MiB);
                CHECK_EQ_INT(reasons, 0);
                CHECK_EQ_U64(wake, 0);
                pacer_close(&p);
        }
        write_file("io", "full avg10=0.00 avg60=0.00 avg300=0.00 total=5\n");
        write_file("memory", "garbage\n");
        CHECK(!pacer_init(&p, 8 * MiB, 1 * MiB, 0, 0, psi_dir, 10, T0));
        pacer_close(&p);
        unlink_psi();
        (void)rmdir(psi_dir);
}

static int read_total_of(const char *text, uint64_t *ret) {
        write_file("io", text);
        char path[128];
        snprintf(path, sizeof path, "%s/io", psi_dir);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                perror(path);
                exit(T_EXIT_FAIL);
        }
        int r = psi_read_total(fd, ret);
        close(fd);
        return r;
}

static void test_psi_read(void) {
        snprintf(psi_dir, sizeof psi_dir, "/tmp/test-pacer.XXXXXX");
        if (!mkdtemp(psi_dir)) {
                perror("mkdtemp");
                exit(T_EXIT_FAIL);
        }
        uint64_t v = 777;
        CHECK_EQ_INT(read_total_of("some avg10=1.00 avg60=2.00 avg300=3.00 total=123456789\n"
                                   "full avg10=0.00 avg60=0.00 avg300=0.00 total=5\n", &v), 0);
        CHECK_EQ_U64(v, 123456789);
        /* The cpu file of older kernels has no "full" line. */
        CHECK_EQ_INT(read_total_of("some avg10=0.00 avg60=0.00 avg300=0.00 total=42\n", &v), 0);
        CHECK_EQ_U64(v, 42);

        /* Malformed: an error, and *ret_total untouched. */
        static const char *bad[] = {
                "",
                "\n",
                "full avg10=0.00 avg60=0.00 avg300=0.00 total=5\n",
                "some avg10=0.00 avg60=0.00 avg300=0.00\n",
                "some avg10=0.00\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=5\n",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=99999999999999999999999\n",
                /* No digits after "total=": not a value of 0. */
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=\n",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=abc\n",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=-5\n",
        };
        for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                v = 777;
                int r = read_total_of(bad[i], &v);
                check_count++;
                if (r >= 0 || v != 777) {
                        check_fail_(__FILE__, __LINE__, "psi_read_total rejects malformed content");
                        fprintf(stderr, "    content \"%.*s\\n...\": returned %d, total %llu\n",
                                (int)strcspn(bad[i], "\n"), bad[i], r, (unsigned long long)v);
                }
        }
        /* Not readable as a file. */
        v = 777;
        int dfd = open(psi_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(dfd >= 0);
        CHECK(psi_read_total(dfd, &v) < 0);
        CHECK_EQ_U64(v, 777);
        close(dfd);
        (void)unlink_psi();
        (void)rmdir(psi_dir);
}

/* ---- CPU */

/* pacer_tick charges the CPU bucket with the process CPU time used since its
 * last look, p->cpu_last_ns.  Moving that mark back by ns makes the next tick
 * charge at least ns, whatever the machine does: the test does not depend on
 * getting CPU time from a busy machine.  (The clock is real, so a tick
 * charges a little more, what the test itself used; the checks allow for
 * that.) */
static void spend_cpu(struct pacer *p, uint64_t ns) {
        p->cpu_last_ns -= ns;
}

static void test_cpu(void) {
        const uint64_t window = 8 * MiB, chunk = 1 * MiB;
        struct pacer p;
        (void)pacer_init(&p, window, chunk, 0, 10, "off", 0, T0);
        CHECK_EQ_INT(p.cpu_limit, 10);

        /* 50 ms of CPU against 10% of one CPU over 1 ms of (fake) wall
         * time: far over budget. */
        spend_cpu(&p, 50 * MS);
        uint64_t consumed = 20 * MiB, granted = 24 * MiB, t = T0 + 1 * MS;
        (void)pacer_tick(&p, t);
        unsigned reasons = 0;
        uint64_t wake = 0;
        uint64_t limit = pacer_limit(&p, consumed, granted, t, &reasons, &wake);
        CHECK(reasons & FY_PACE_CPU);
        CHECK_EQ_U64(limit, granted); /* nothing new */
        /* The bucket refills at 10% of 1 s per s: 50 ms of debt (less the
         * 0.1 ms accrued) takes about 0.5 s; a little more for what the test
         * itself used. */
        CHECK(wake >= 490 * MS && wake <= 600 * MS);
        /* Everything consumed: still nothing new. */
        limit = pacer_limit(&p, granted, granted, t + 1, &reasons, &wake);
        CHECK(reasons & FY_PACE_CPU);
        CHECK_EQ_U64(limit, granted);
        /* A limit never goes down, even if asked with a lower consumed. */
        limit = pacer_limit(&p, 0, granted, t + 2, &reasons, &wake);
        CHECK_EQ_U64(limit, granted);

        /* Waking when it said (and nothing spent since but this test's few
         * microseconds): the debt is paid, credit grows again. */
        t += 600 * MS;
        (void)pacer_tick(&p, t);
        limit = pacer_limit(&p, granted, granted, t, &reasons, &wake);
        CHECK(!(reasons & FY_PACE_CPU));
        CHECK_EQ_U64(limit, granted + window);

        /* Ten simulated seconds later 10% has paid for 1 s of CPU; saving up
         * is capped at 10 ms (cpu_limit ms), so 50 ms more puts it back in
         * debt at once. */
        t += 10 * SEC;
        (void)pacer_tick(&p, t);
        spend_cpu(&p, 50 * MS);
        (void)pacer_tick(&p, t);
        limit = pacer_limit(&p, granted, granted, t, &reasons, &wake);
        CHECK(reasons & FY_PACE_CPU);
        CHECK_EQ_U64(limit, granted);
        pacer_close(&p);

        /* Without a CPU limit, CPU spent changes nothing. */
        (void)pacer_init(&p, window, chunk, 0, 0, "off", 0, T0);
        spend_cpu(&p, 10 * SEC);
        (void)pacer_tick(&p, T0 + 1);
        limit = pacer_limit(&p, granted, granted, T0 + 1, &reasons, &wake);
        CHECK_EQ_INT(reasons, 0);
        CHECK_EQ_U64(limit, granted + window);
        pacer_close(&p);
}

int main(void) {
        test_bucket();
        test_rate();
        test_psi_read();
        test_psi();
        test_cpu();
        return check_done();
}
