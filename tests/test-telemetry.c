/* SPDX-License-Identifier: MIT */
/* core/telemetry: the log-linear latency histogram. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "session/telemetry.h"

static const double qs[] = { 0.0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0 };
#define NQ (sizeof qs / sizeof qs[0])

/* |got - want| <= pct% of want */
static void check_near(uint64_t got, uint64_t want, double pct, const char *what) {
        double d = (double)got - (double)want;
        if (d < 0)
                d = -d;
        bool ok = d <= (double)want * pct / 100.0;
        if (!ok)
                fprintf(stderr, "    %s: %llu not within %.0f%% of %llu\n", what, (unsigned long long)got, pct,
                        (unsigned long long)want);
        CHECK(ok);
}

static struct lat_hist *hist_new(void) {
        struct lat_hist *h = calloc(1, sizeof *h);
        if (!h) {
                perror("calloc");
                exit(T_EXIT_FAIL);
        }
        return h;
}

static void test_empty(void) {
        struct lat_hist *h = hist_new();
        for (size_t i = 0; i < NQ; i++)
                CHECK_EQ_U64(lat_quantile(h, qs[i]), 0);
        CHECK_EQ_U64(h->count, 0);
        free(h);
}

static void test_single(void) {
        /* One value: every quantile is that value (bucket top clamped to max). */
        const uint64_t vals[] = { 0, 1, 7, 15, 16, 17, 31, 32, 33, 100, 1000, 4097, 123456, 1000000, 987654321 };
        for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
                struct lat_hist *h = hist_new();
                lat_record(h, vals[v]);
                CHECK_EQ_U64(h->count, 1);
                CHECK_EQ_U64(h->max_us, vals[v]);
                for (size_t i = 0; i < NQ; i++) {
                        uint64_t got = lat_quantile(h, qs[i]);
                        if (got != vals[v])
                                fprintf(stderr, "    single %llu, q=%g\n", (unsigned long long)vals[v], qs[i]);
                        CHECK_EQ_U64(got, vals[v]);
                }
                free(h);
        }
}

static void test_uniform(void) {
        struct lat_hist *h = hist_new();
        for (uint64_t v = 1; v <= 10000; v++)
                lat_record(h, v);
        CHECK_EQ_U64(h->count, 10000);
        CHECK_EQ_U64(h->max_us, 10000);
        check_near(lat_quantile(h, 0.5), 5000, 7, "p50");
        check_near(lat_quantile(h, 0.9), 9000, 7, "p90");
        check_near(lat_quantile(h, 0.99), 9900, 7, "p99");
        check_near(lat_quantile(h, 0.25), 2500, 7, "p25");
        CHECK_EQ_U64(lat_quantile(h, 1.0), 10000);
        CHECK(lat_quantile(h, 0.0) <= 2); /* the smallest value's bucket */
        /* q above 1 clamps to the max rank */
        CHECK_EQ_U64(lat_quantile(h, 2.0), 10000);
        /* quantiles never decrease, never exceed max, and never fall below
         * the true value (the bucket's upper edge is reported) */
        uint64_t prev = 0;
        for (int i = 0; i <= 1000; i++) {
                double q = i / 1000.0;
                uint64_t got = lat_quantile(h, q);
                CHECK(got >= prev);
                CHECK(got <= h->max_us);
                uint64_t truth = (uint64_t)(q * 10000 + 0.5);
                if (truth < 1)
                        truth = 1;
                CHECK(got >= truth);
                prev = got;
        }
        free(h);
}

static void test_edges(void) {
        /* 0..20 exact: the first 16 buckets are one value each and 16..31
         * too (16 sub-buckets of width 1). */
        for (uint64_t v = 0; v <= 31; v++) {
                struct lat_hist *h = hist_new();
                lat_record(h, v);
                lat_record(h, 100000); /* a large max so clamping does not hide the bucket */
                CHECK_EQ_U64(lat_quantile(h, 0.5), v);
                free(h);
        }

        /* Powers of two and their neighbours: the reported value is the top
         * of the bucket, so >= the value and within 1/16 above it. */
        for (unsigned e = 4; e <= 40; e++) {
                uint64_t vs[3] = { (1ull << e) - 1, 1ull << e, (1ull << e) + 1 };
                for (int k = 0; k < 3; k++) {
                        struct lat_hist *h = hist_new();
                        lat_record(h, vs[k]);
                        lat_record(h, UINT64_C(1) << 50);
                        uint64_t got = lat_quantile(h, 0.5);
                        if (got < vs[k] || got - vs[k] > vs[k] / 16)
                                fprintf(stderr, "    2^%u%+d: got %llu\n", e, k - 1, (unsigned long long)got);
                        CHECK(got >= vs[k]);
                        CHECK(got - vs[k] <= vs[k] / 16);
                        free(h);
                }
        }

        /* Values beyond the last bucket clamp into it without overflow or a
         * stray write (ASan/UBSan would see those). */
        const uint64_t big[] = { 1ull << 40, (1ull << 44) - 1, 1ull << 44, 1ull << 50, 1ull << 63, UINT64_MAX - 1,
                                 UINT64_MAX };
        struct lat_hist *all = hist_new();
        for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
                struct lat_hist *h = hist_new();
                lat_record(h, big[i]);
                lat_record(all, big[i]);
                CHECK_EQ_U64(h->max_us, big[i]);
                uint64_t got = lat_quantile(h, 0.5);
                CHECK(got <= big[i]);
                CHECK(got > 0);
                CHECK_EQ_U64(lat_quantile(h, 1.0), lat_quantile(h, 0.0));
                free(h);
        }
        CHECK_EQ_U64(all->count, sizeof big / sizeof big[0]);
        CHECK_EQ_U64(all->max_us, UINT64_MAX);
        CHECK(lat_quantile(all, 0.0) >= 1ull << 40);
        CHECK(lat_quantile(all, 0.0) <= (1ull << 40) + (1ull << 36));
        CHECK(lat_quantile(all, 1.0) <= UINT64_MAX);
        uint32_t total = 0;
        for (unsigned b = 0; b < LAT_BUCKETS; b++)
                total += all->bucket[b];
        CHECK_EQ_U64(total, all->count);
        free(all);
}

static void test_merge(void) {
        struct lat_hist *a = hist_new(), *b = hist_new(), *both = hist_new();
        for (uint64_t v = 1; v <= 500; v++) {
                lat_record(a, v * 3);
                lat_record(both, v * 3);
        }
        for (uint64_t v = 1; v <= 300; v++) {
                lat_record(b, v * 7 + 1000);
                lat_record(both, v * 7 + 1000);
        }
        uint64_t amax = a->max_us, bmax = b->max_us;
        CHECK(bmax > amax);
        lat_merge(a, b);
        CHECK_EQ_U64(a->count, 800);
        CHECK_EQ_U64(a->max_us, bmax);
        CHECK_EQ_MEM(a->bucket, both->bucket, sizeof a->bucket);
        for (size_t i = 0; i < NQ; i++)
                CHECK_EQ_U64(lat_quantile(a, qs[i]), lat_quantile(both, qs[i]));
        /* the source is left alone */
        CHECK_EQ_U64(b->count, 300);

        /* merging a smaller max keeps the larger */
        struct lat_hist *c = hist_new();
        lat_record(c, 5);
        lat_merge(c, a);
        CHECK_EQ_U64(c->max_us, bmax);
        CHECK_EQ_U64(c->count, 801);
        lat_merge(a, c);
        CHECK_EQ_U64(a->max_us, bmax);
        CHECK_EQ_U64(a->count, 1601);

        /* merging an empty histogram changes nothing */
        struct lat_hist *e = hist_new(), *copy = hist_new();
        *copy = *both;
        lat_merge(both, e);
        CHECK_EQ_MEM(both, copy, sizeof *both);
        /* into an empty one: a copy */
        lat_merge(e, copy);
        CHECK_EQ_MEM(e, copy, sizeof *e);
        free(a), free(b), free(c), free(e), free(both), free(copy);
}

/* The Prometheus buckets (guest-agent/metrics.c) are 25 * 2^k us: edges of
 * the histogram's buckets, so counts below them are exact. */
static void test_count_below(void) {
        struct lat_hist *h = hist_new();
        uint64_t sum = 0;
        for (uint64_t v = 0; v < 3000000; v = v * 9 / 8 + 1) {
                lat_record(h, v);
                sum += v;
        }
        CHECK_EQ_U64(h->sum_us, sum);
        for (uint64_t edge = 25; edge <= 1638400; edge *= 2) {
                uint64_t want = 0;
                for (uint64_t v = 0; v < 3000000; v = v * 9 / 8 + 1)
                        want += v < edge;
                CHECK_EQ_U64(lat_count_below(h, edge), want);
        }
        CHECK_EQ_U64(lat_count_below(h, 0), 0);
        CHECK_EQ_U64(lat_count_below(h, UINT64_MAX), h->count);
        free(h);
}

int main(void) {
        test_empty();
        test_single();
        test_uniform();
        test_edges();
        test_merge();
        test_count_below();
        return check_done();
}
