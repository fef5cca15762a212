/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "session/telemetry.h"

const char *const wait_kind_name[6] = {
        "receiver_busy", "rate_limit", "receiver_rate", "receiver_cpu", "receiver_pressure", "receiver_writeback",
};

static unsigned bucket_of(uint64_t us) {
        if (us < (1u << LAT_SUB_BITS))
                return (unsigned)us;
        unsigned msb = 63 - (unsigned)__builtin_clzll(us);
        unsigned sub = (unsigned)(us >> (msb - LAT_SUB_BITS)) & ((1u << LAT_SUB_BITS) - 1);
        unsigned b = ((msb - LAT_SUB_BITS + 1) << LAT_SUB_BITS) + sub;
        return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

/* Largest value that falls into bucket b. */
static uint64_t bucket_top(unsigned b) {
        if (b < (1u << LAT_SUB_BITS))
                return b;
        unsigned exp = (b >> LAT_SUB_BITS) - 1 + LAT_SUB_BITS;
        uint64_t sub = b & ((1u << LAT_SUB_BITS) - 1);
        uint64_t lo = (1ull << exp) | (sub << (exp - LAT_SUB_BITS));
        return lo + (1ull << (exp - LAT_SUB_BITS)) - 1;
}

void lat_record(struct lat_hist *h, uint64_t us) {
        h->bucket[bucket_of(us)]++;
        h->count++;
        h->sum_us += us;
        if (us > h->max_us)
                h->max_us = us;
}

uint64_t lat_quantile(const struct lat_hist *h, double q) {
        if (h->count == 0)
                return 0;
        uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
        if (rank < 1)
                rank = 1;
        if (rank > h->count)
                rank = h->count;
        uint64_t seen = 0;
        for (unsigned b = 0; b < LAT_BUCKETS; b++) {
                seen += h->bucket[b];
                if (seen >= rank) {
                        uint64_t top = bucket_top(b);
                        return top < h->max_us ? top : h->max_us;
                }
        }
        return h->max_us;
}

void xfer_rtt(const struct xfer_stats *st, struct rtt_summary *ret) {
        if (st->rtt.count == 0) {
                *ret = st->peer_rtt;
                return;
        }
        *ret = (struct rtt_summary){
                .count = st->rtt.count,
                .p50_us = lat_quantile(&st->rtt, 0.5),
                .p99_us = lat_quantile(&st->rtt, 0.99),
                .max_us = st->rtt.max_us,
        };
}

void lat_merge(struct lat_hist *into, const struct lat_hist *from) {
        for (unsigned b = 0; b < LAT_BUCKETS; b++)
                into->bucket[b] += from->bucket[b];
        into->count += from->count;
        into->sum_us += from->sum_us;
        if (from->max_us > into->max_us)
                into->max_us = from->max_us;
}

uint64_t lat_count_below(const struct lat_hist *h, uint64_t us) {
        uint64_t n = 0;
        for (unsigned b = 0; b < LAT_BUCKETS && bucket_top(b) < us; b++)
                n += h->bucket[b];
        return n;
}
