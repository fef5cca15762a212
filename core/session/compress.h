/* SPDX-License-Identifier: MIT */
/*
 * The compression stage of a chunk (DATA codec 1, FY_FEAT_ZSTD): each chunk
 * on its own, with a reused context and no state across chunks, so resume
 * and repair keep working per chunk; the chunk digest stays the digest of
 * the raw bytes.
 *
 * Sending, a chunk goes compressed only when that pays:
 *   - a cheap probe first (btrfs's heuristic: the byte values of a 4 KiB
 *     sample; data using nearly all 256 evenly is taken as incompressible
 *     and costs nothing more);
 *   - then the real result: a chunk that did not shrink by COMPRESS_MARGIN
 *     goes raw (the wire requires a compressed payload to be smaller);
 *   - and in auto mode, whether compressing is worth its time at all.
 *     Auto starts raw and keeps a model of what compression would do:
 *     one chunk per COMPRESS_SAMPLE_NS is compressed as a sample (its
 *     speed on one core, its ratio), so at the end of each raw window the
 *     best compression could move is min(sample speed x the cores
 *     packing, ratio x the raw rate just measured).  Only when that beats raw by COMPRESS_PROBE_GAIN
 *     is compression tried for a window (random data, or a fast socket
 *     where the compressor would be the bottleneck, never pay for a try);
 *     the measured rates then decide, since what the model cannot see (a
 *     receiver's CPU, say a guest decompressing on an emulated core) shows
 *     only in the rate.  The mode not chosen is tried again after
 *     retry_ns, which doubles each time a try confirms the choice (up to
 *     COMPRESS_RETRY_MAX_NS) and starts over when the choice changes.  On
 *     a fast socket the compressor is the bottleneck and auto stays raw;
 *     through a slow channel or under --max-rate (which counts wire bytes)
 *     it compresses.
 * Receiving, a payload is decompressed into exactly raw_len bytes: the
 * output is bounded by the declared length, so a bomb or a lying length is
 * an error, never an allocation.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session/session.h"

/* zstd -1: the fastest level compresses a tar of /usr/include 5.1x at
 * 1.5x the speed of zstd's default (3, 5.9x) here; speed is what decides
 * whether compressing pays at all. */
#define COMPRESS_DEFAULT_LEVEL 1
#define COMPRESS_MARGIN 32            /* keep a compressed chunk if it saves len/32 */
/* A measuring window: at least this many raw bytes, chunks and time,
 * counted as the receiver credits them (tx.c).  Credits come as the
 * receiver's writes complete, so a window sees the rate the channel and
 * the receiver drain; framing times would see the socket and the credit
 * window fill (8 MiB went in 16 ms at 500 MB/s, and an auto measuring
 * that chose compression on a socket it slowed to 0.56x). */
#define COMPRESS_WINDOW (4u << 20)
#define COMPRESS_WINDOW_CHUNKS 4
#define COMPRESS_WINDOW_NS 50000000ull
/* Raw, one chunk in this long is compressed as a sample for the model:
 * a 1 MiB chunk at 300 MB/s is ~2% of a core. */
#define COMPRESS_SAMPLE_NS 150000000ull
#define COMPRESS_RETRY_NS 2000000000ull     /* try the mode not chosen again after this ... */
#define COMPRESS_RETRY_MAX_NS 16000000000ull /* ... doubled while tries confirm the choice */
#define COMPRESS_GAIN 1.05                   /* compression is kept only if this much faster */
/* A try of compression costs a window at its rate: made only when the
 * model promises this much (a try that loses costs more than 1.05x). */
#define COMPRESS_PROBE_GAIN 1.25
/* A try of compression over data that shrank less than this says nothing
 * about compression (a random stretch of a mixed file): no verdict. */
#define COMPRESS_TRY_MIN_RATIO 1.1

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

/* What one thread needs to compress: its own context and scratch. */
struct compress_ws {
        struct ZSTD_CCtx_s *cctx; /* made on first use */
        uint8_t *scratch;         /* one chunk's worth (compressBound), owned */
        size_t scratch_cap;
};

struct compress {
        enum compress_mode mode;
        int level;
        struct compress_ws ws;    /* the session thread's */
        struct ZSTD_DCtx_s *dctx;
        /* auto: which mode is on, and what each moved */
        bool on;
        bool measuring;           /* the current window tries the mode not chosen */
        double rate[2];           /* raw bytes/s measured off [0] and on [1]; 0: not yet */
        uint64_t win_start_ns, win_last_ns, win_bytes, win_wire;
        unsigned win_chunks;
        uint64_t decided_ns;      /* when the mode was last chosen; 0: never */
        uint64_t retry_ns;        /* how long a choice stands before the other is tried */
        /* auto's model of compression, from the chunks it compressed */
        unsigned threads;         /* threads packing: the session's and its helpers */
        double zspeed;            /* raw bytes/s one thread compresses; 0: no sample yet */
        double zratio;            /* raw / payload bytes of the chunks tried */
        uint64_t sampled_ns;      /* when the last sample was taken (raw mode) */
};

/* "auto", "zstd" or "off" (the agents' --compress); -EINVAL otherwise. */
int compress_mode_parse(const char *s, enum compress_mode *ret);

void compress_init(struct compress *z, enum compress_mode mode, int level);
void compress_fini(struct compress *z);

/* Sending: maybe compress the len bytes at p in place (p holds at least
 * len bytes), if the mode is on now.  *ret_codec FY_CODEC_ZSTD and
 * *ret_plen < len when it did; else FY_CODEC_RAW and len. */
void compress_pack(struct compress *z, uint8_t *p, uint32_t len, uint8_t *ret_codec, uint32_t *ret_plen);
/* The same on another thread, with that thread's ws (pack.h), whatever
 * the mode now (the caller chose this chunk): z is only read (mode,
 * level).  True when zstd was run, false when the probe skipped it. */
bool compress_pack_ws(const struct compress *z, struct compress_ws *ws, uint8_t *p, uint32_t len, uint8_t *ret_codec,
                      uint32_t *ret_plen);
struct compress_ws *compress_own_ws(struct compress *z);
void compress_ws_fini(struct compress_ws *ws);
/* Sending: whether the next chunk packed is to be compressed (the mode is
 * on, or auto, raw now, wants a sample for its model: then at most one
 * chunk per COMPRESS_SAMPLE_NS).  now: the clock. */
bool compress_wanted(struct compress *z, uint64_t now);
/* Sending, auto: compression is on for a try (a window that measures it
 * against raw); the sender keeps its raw bytes in flight to a raw window. */
static inline bool compress_trying(const struct compress *z) {
        return z->measuring && z->on;
}
/* Sending, auto: threads (>= 1) pack chunks; what the model multiplies a
 * sample's speed by. */
void compress_set_threads(struct compress *z, unsigned threads);
/* Sending: a chunk of raw bytes was given to zstd (tried) and came out as
 * plen payload bytes (raw when it did not pay) in ns on one thread; or it
 * was not tried because it looked incompressible.  Feeds auto's model. */
void compress_sample(struct compress *z, uint32_t raw, uint32_t plen, bool tried, uint64_t ns);
/* Sending, auto: a chunk of raw bytes (wire bytes on the channel), packed
 * while the mode was packed_on (z->on then), was credited by the receiver
 * at now (the throughput the mode decision measures: what the channel and
 * the receiver drain, not how fast the credit window fills). */
void compress_account(struct compress *z, uint32_t raw, uint32_t wire, bool packed_on, uint64_t now);

/* Receiving: the plen bytes at p are a codec 1 payload of raw_len bytes;
 * leave the raw bytes at p (cap bytes there).  -EBADMSG when it does not
 * decompress to exactly raw_len bytes, -ENOMEM. */
int compress_unpack(struct compress *z, uint8_t *p, uint32_t plen, uint32_t raw_len, size_t cap);
