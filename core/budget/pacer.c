/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "budget/pacer.h"
#include "base/util.h"

void bucket_init(struct bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns) {
        /* Empty at first: a limit then holds over any span from the start,
         * not only on average after a burst. */
        *b = (struct bucket){ .rate = rate, .burst = burst, .tokens = 0, .last_ns = now_ns };
}

static void bucket_refill(struct bucket *b, uint64_t now_ns) {
        if (now_ns > b->last_ns) {
                b->tokens += (double)b->rate * (double)(now_ns - b->last_ns) / 1e9;
                if (b->tokens > (double)b->burst)
                        b->tokens = (double)b->burst;
        }
        b->last_ns = now_ns;
}

bool bucket_take(struct bucket *b, uint64_t n, uint64_t now_ns) {
        if (b->rate == 0)
                return true;
        bucket_refill(b, now_ns);
        if (b->tokens < (double)n)
                return false;
        b->tokens -= (double)n;
        return true;
}

void bucket_spend(struct bucket *b, double n, uint64_t now_ns) {
        bucket_refill(b, now_ns);
        b->tokens -= n;
}

uint64_t bucket_wait_ns(struct bucket *b, uint64_t n, uint64_t now_ns) {
        if (b->rate == 0)
                return 0;
        bucket_refill(b, now_ns);
        if (b->tokens >= (double)n)
                return 0;
        return (uint64_t)(((double)n - b->tokens) * 1e9 / (double)b->rate) + 1;
}

void bucket_set_rate(struct bucket *b, uint64_t rate, uint64_t now_ns) {
        if (b->rate == 0)
                return; /* unlimited stays so */
        bucket_refill(b, now_ns);
        b->rate = MAX(rate, 1);
}

int psi_read_total(int fd, uint64_t *ret_total) {
        char buf[256];
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        /* "some avg10=0.00 avg60=0.00 avg300=0.00 total=12345" */
        if (strncmp(buf, "some ", 5) != 0)
                return -EINVAL;
        char *t = strstr(buf, "total=");
        char *nl = strchr(buf, '\n');
        if (!t || (nl && t > nl))
                return -EINVAL;
        if (t[6] < '0' || t[6] > '9')
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(t + 6, NULL, 10);
        if (errno)
                return -errno;
        *ret_total = v;
        return 0;
}

static uint64_t process_cpu_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool pacer_init(struct pacer *p, uint64_t window, uint64_t min_window, uint64_t max_rate,
                unsigned cpu_limit, const char *psi_dir, unsigned psi_threshold, uint64_t now_ns) {
        *p = (struct pacer){
                .max_window = window,
                .min_window = MIN(min_window, window),
                .window = window,
                .psi_threshold = psi_threshold ? psi_threshold : PSI_DEFAULT_THRESHOLD,
                .cpu_limit = cpu_limit,
                .cpu_last_ns = process_cpu_ns(),
                .psi_next_ns = now_ns,
        };
        /* A burst of one second or one window, whichever is less, so a
         * limit holds over short spans too. */
        bucket_init(&p->rate, max_rate, max_rate ? MAX(MIN(window, max_rate), min_window) : 0, now_ns);
        /* CPU: at most 100 ms of wall time's worth of budget saved up
         * (cpu_limit ms of CPU time). */
        bucket_init(&p->cpu, (uint64_t)cpu_limit * 10000000ull, (uint64_t)cpu_limit * 1000000ull, now_ns);

        static const char *kinds[PSI_KINDS] = { [PSI_IO] = "io", [PSI_MEMORY] = "memory" };
        for (int i = 0; i < PSI_KINDS; i++)
                p->psi[i].fd = -1;
        if (psi_dir && (!*psi_dir || !strcmp(psi_dir, "off")))
                return false;
        for (int i = 0; i < PSI_KINDS; i++) {
                char path[4200];
                snprintf(path, sizeof path, "%s/%s", psi_dir ? psi_dir : "/proc/pressure", kinds[i]);
                p->psi[i].fd = open(path, O_RDONLY | O_CLOEXEC);
                uint64_t t;
                if (p->psi[i].fd >= 0 && psi_read_total(p->psi[i].fd, &t) == 0)
                        p->psi_present = true;
        }
        return p->psi_present;
}

void pacer_close(struct pacer *p) {
        for (int i = 0; i < PSI_KINDS; i++)
                p->psi[i].fd = safe_close(p->psi[i].fd);
}

bool pacer_tick(struct pacer *p, uint64_t now_ns) {
        if (p->cpu_limit) {
                uint64_t cpu = process_cpu_ns();
                bucket_spend(&p->cpu, (double)(cpu - p->cpu_last_ns), now_ns);
                p->cpu_last_ns = cpu;
        }
        if (!p->psi_present || now_ns < p->psi_next_ns)
                return false;
        uint64_t dt_us = (now_ns - (p->psi_next_ns - PSI_INTERVAL_MS * 1000000ull)) / 1000;
        p->psi_next_ns = now_ns + PSI_INTERVAL_MS * 1000000ull;
        unsigned worst = 0;
        bool sampled = false;
        /* Our own writeback waits were io stall too; they are not others'. */
        uint64_t own_us = p->own_io_ns / 1000;
        p->own_io_ns = 0;
        for (int i = 0; i < PSI_KINDS; i++) {
                struct psi_source *s = &p->psi[i];
                uint64_t total;
                if (s->fd < 0 || psi_read_total(s->fd, &total) < 0)
                        continue;
                if (s->primed && dt_us > 0 && total >= s->last_total) {
                        uint64_t stall = total - s->last_total;
                        if (i == PSI_IO)
                                stall -= MIN(stall, own_us);
                        unsigned pct = (unsigned)MIN(100u, stall * 100 / dt_us);
                        worst = MAX(worst, pct);
                        sampled = true;
                }
                s->last_total = total;
                s->primed = true;
        }
        if (!sampled)
                return false;
        p->psi_last_pct = worst;
        uint64_t old = p->window;
        if (worst > p->psi_threshold)
                p->window = MAX(p->min_window, p->window / 2);          /* multiplicative decrease */
        else
                p->window = MIN(p->max_window, p->window + p->min_window); /* additive increase */
        return p->window != old;
}

uint64_t pacer_limit(struct pacer *p, uint64_t consumed, uint64_t granted, uint64_t now_ns,
                     unsigned *ret_reasons, uint64_t *ret_wake_ns) {
        unsigned reasons = 0;
        uint64_t wake = 0;
        uint64_t want = consumed + p->max_window;
        uint64_t limit = consumed + p->window;
        if (p->window < p->max_window)
                reasons |= FY_PACE_PSI;
        if (p->psi_present)
                wake = PSI_INTERVAL_MS * 1000000ull;

        if (p->cpu_limit) {
                bucket_spend(&p->cpu, 0, now_ns);
                if (p->cpu.tokens < 0) {
                        /* Over budget: grant nothing new until it refills. */
                        limit = MIN(limit, granted);
                        reasons |= FY_PACE_CPU;
                        uint64_t w = (uint64_t)(-p->cpu.tokens * 1e9 / (double)p->cpu.rate) + 1;
                        wake = wake ? MIN(wake, w) : w;
                }
        }
        if (p->rate.rate && limit > granted) {
                bucket_refill(&p->rate, now_ns);
                uint64_t room = p->rate.tokens > 0 ? (uint64_t)p->rate.tokens : 0;
                if (granted + room < limit) {
                        /* Grow in steps of a chunk, or a quarter second's worth
                         * at low rates: not a CREDIT per loop pass, yet often
                         * enough that a slow grant never looks like silence. */
                        uint64_t step = MIN(p->min_window, MAX(p->rate.rate / 4, 1));
                        limit = room >= step ? granted + room : granted;
                        reasons |= FY_PACE_RATE;
                        /* The room granted now is spent by the caller: wait
                         * for that plus one step more. */
                        uint64_t w = bucket_wait_ns(&p->rate, (room >= step ? room : 0) + step, now_ns);
                        wake = wake ? MIN(wake, w) : w;
                }
        }
        if (limit < granted)
                limit = granted;
        if (limit >= want)
                reasons = 0;
        *ret_reasons = reasons;
        *ret_wake_ns = wake;
        return limit;
}

void pacer_granted(struct pacer *p, uint64_t old_limit, uint64_t new_limit, uint64_t now_ns) {
        if (p->rate.rate && new_limit > old_limit)
                bucket_spend(&p->rate, (double)(new_limit - old_limit), now_ns);
}

void pacer_share(struct pacer *p, uint64_t max_rate, unsigned n, uint64_t now_ns) {
        bucket_set_rate(&p->rate, max_rate / MAX(n, 1u), now_ns);
}

void pacer_own_io(struct pacer *p, uint64_t ns) {
        p->own_io_ns += ns;
}

uint64_t pacer_scale(const struct pacer *p, uint64_t v, uint64_t floor) {
        if (p->window >= p->max_window || p->max_window == 0)
                return v;
        uint64_t r = (uint64_t)((double)v * (double)p->window / (double)p->max_window);
        return MIN(v, MAX(r, floor));
}
