/* SPDX-License-Identifier: MIT */
/*
 * Transfer telemetry: counters and a latency histogram.
 *
 * The histogram is log-linear (16 sub-buckets per power of two, so any
 * percentile is within ~6% of the true value) over 1 us .. ~2^40 us, in a
 * fixed array: recording is O(1) and allocation-free on the data path.
 */
#pragma once

#include <stdint.h>

#define LAT_SUB_BITS 4
#define LAT_BUCKETS (41 << LAT_SUB_BITS)

struct lat_hist {
        uint64_t count;
        uint64_t max_us;
        uint64_t sum_us;
        uint32_t bucket[LAT_BUCKETS];
};

void lat_record(struct lat_hist *h, uint64_t us);
/* Value at quantile q (0..1), as the upper edge of its bucket clamped to max;
 * 0 when nothing was recorded. */
uint64_t lat_quantile(const struct lat_hist *h, double q);
void lat_merge(struct lat_hist *into, const struct lat_hist *from);

/* Per-file figures, filled by the session for the host's report. */
struct xfer_stats {
        uint64_t bytes;       /* file bytes moved */
        uint64_t chunks;
        uint64_t retransmits; /* chunks sent again (FY_FEAT_RESEND; none in v1) */
        uint64_t start_ns, end_ns;
        uint64_t credit_wait_ns; /* sender: time with data ready but no credit */
        struct lat_hist rtt;     /* sender: chunk sent -> credited */
        struct rtt_summary {
                uint64_t count, p50_us, p99_us, max_us;
        } peer_rtt; /* receiver: the sender's figures, from FILE_END */
};

/* The chunk round trip of a transfer: measured here when we sent, else as
 * the sender reported it. */
void xfer_rtt(const struct xfer_stats *st, struct rtt_summary *ret);
