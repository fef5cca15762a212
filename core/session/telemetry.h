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
        uint64_t count;               /* values recorded */
        uint64_t max_us;              /* the largest, exact (quantiles are clamped to it) */
        uint64_t sum_us;              /* of all values (a Prometheus histogram's _sum) */
        uint32_t bucket[LAT_BUCKETS]; /* per bucket; the last also takes all from 2^44 on */
};

void lat_record(struct lat_hist *h, uint64_t us);
/* Value at quantile q (0..1), as the upper edge of its bucket clamped to max;
 * 0 when nothing was recorded. */
uint64_t lat_quantile(const struct lat_hist *h, double q);
void lat_merge(struct lat_hist *into, const struct lat_hist *from);
/* Values below us: exact when us is a bucket's lower edge, which every
 * 25 * 2^k us is (25 us, 50 us, ... 1.6384 s); else to the bucket. */
uint64_t lat_count_below(const struct lat_hist *h, uint64_t us);

/* Why a sender waited (xfer_stats.wait_ns). */
enum wait_kind {
        WAIT_RECEIVER = 0,   /* no credit, the receiver gave no reason: it is busy */
        WAIT_RATE_LOCAL = 1, /* our own --max-rate */
        WAIT_PEER_RATE = 2,  /* the receiver's rate limit */
        WAIT_PEER_CPU = 3,   /* the receiver's CPU budget */
        WAIT_PEER_PSI = 4,   /* pressure on the receiver's system */
        WAIT_PEER_DIRTY = 5, /* the receiver's writeback (dirty budget) */
};
extern const char *const wait_kind_name[6];

/* Per-file figures, filled by the session for the host's report. */
struct xfer_stats {
        uint64_t bytes;       /* file bytes moved */
        uint64_t chunks;
        uint64_t wire_bytes;  /* DATA payload bytes on the channel (after compression) */
        uint64_t chunks_compressed; /* of chunks: sent as zstd (codec 1) */
        uint64_t chunks_kept; /* of chunks: the receiver's own, not sent (delta, codec 2) */
        uint64_t retransmits; /* chunks asked for again and sent again (FY_FEAT_RESEND) */
        /* resume: bytes not sent because the receiver had them verified (a
         * partial file's prefix, or a whole file skipped), and bytes sent
         * again that the receiver had taken before an interruption but
         * could not vouch for */
        uint64_t bytes_skipped, bytes_resent;
        uint64_t start_ns, end_ns;
        uint64_t credit_wait_ns; /* sender: time with data ready but no credit */
        /* sender: what the waits were for (credit_wait_ns split by the
         * receiver's reasons, plus our own rate limit) */
        uint64_t wait_ns[6];
        /* receiver's footprint: from FILE_STATUS (push) or our own (pull) */
        uint64_t dirty_peak, rss_peak;
        struct lat_hist rtt;     /* sender: chunk sent -> credited */
        struct rtt_summary {
                uint64_t count, p50_us, p99_us, max_us;
        } peer_rtt; /* receiver: the sender's figures, from FILE_END */
};

/* The chunk round trip of a transfer: measured here when we sent, else as
 * the sender reported it. */
void xfer_rtt(const struct xfer_stats *st, struct rtt_summary *ret);
