/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "base/log.h"
#include "base/util.h"
#include "session/compress.h"
#include "wire.h"

int compress_mode_parse(const char *s, enum compress_mode *ret) {
        static const char *const names[] = { [COMPRESS_AUTO] = "auto", [COMPRESS_ZSTD] = "zstd", [COMPRESS_OFF] = "off" };
        for (unsigned i = 0; i < ARRAY_SIZE(names); i++)
                if (!strcmp(s, names[i])) {
                        *ret = (enum compress_mode)i;
                        return 0;
                }
        return -EINVAL;
}

void compress_init(struct compress *z, enum compress_mode mode, int level) {
        /* auto starts raw: raw never costs a try, and its first window
         * (with a sample) tells whether compression could win at all */
        *z = (struct compress){ .mode = mode,
                                .level = level ? level : COMPRESS_DEFAULT_LEVEL,
                                .on = mode == COMPRESS_ZSTD,
                                .retry_ns = COMPRESS_RETRY_NS,
                                .threads = 1 };
}

void compress_ws_fini(struct compress_ws *ws) {
        ZSTD_freeCCtx(ws->cctx);
        free(ws->scratch);
        *ws = (struct compress_ws){ 0 };
}

void compress_fini(struct compress *z) {
        compress_ws_fini(&z->ws);
        ZSTD_freeDCtx(z->dctx);
        z->dctx = NULL;
}

struct compress_ws *compress_own_ws(struct compress *z) {
        return &z->ws;
}

static int scratch(struct compress_ws *ws, size_t n) {
        if (ws->scratch_cap >= n)
                return 0;
        uint8_t *p = realloc(ws->scratch, n);
        if (!p)
                return -ENOMEM;
        ws->scratch = p;
        ws->scratch_cap = n;
        return 0;
}

/* btrfs's heuristic, reduced: a 4 KiB sample of 16 slices across the
 * chunk; if the byte values making up 90% of it are nearly all 256, the
 * data is random (or compressed already) and zstd would pass it through. */
#define PROBE_SLICES 16
#define PROBE_SLICE 256
#define PROBE_CORE_MAX 200

static int cmp_desc(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? 1 : x > y ? -1 : 0;
}

static bool looks_incompressible(const uint8_t *p, uint32_t len) {
        if (len < PROBE_SLICES * PROBE_SLICE * 2)
                return false; /* small: just try */
        uint32_t hist[256] = { 0 };
        uint32_t step = len / PROBE_SLICES;
        for (unsigned s = 0; s < PROBE_SLICES; s++) {
                const uint8_t *q = p + (size_t)s * step;
                for (unsigned i = 0; i < PROBE_SLICE; i++)
                        hist[q[i]]++;
        }
        qsort(hist, 256, sizeof hist[0], cmp_desc);
        uint32_t want = PROBE_SLICES * PROBE_SLICE * 9 / 10, sum = 0;
        unsigned core = 0;
        while (core < 256 && sum < want)
                sum += hist[core++];
        return core >= PROBE_CORE_MAX;
}

bool compress_pack_ws(const struct compress *z, struct compress_ws *ws, uint8_t *p, uint32_t len, uint8_t *ret_codec,
                      uint32_t *ret_plen) {
        *ret_codec = FY_CODEC_RAW;
        *ret_plen = len;
        if (z->mode == COMPRESS_AUTO && looks_incompressible(p, len))
                return false;
        if (!ws->cctx && !(ws->cctx = ZSTD_createCCtx()))
                return false; /* no memory: raw is always right */
        if (scratch(ws, ZSTD_compressBound(len)) < 0)
                return false;
        size_t n = ZSTD_compressCCtx(ws->cctx, ws->scratch, ws->scratch_cap, p, len, z->level);
        if (ZSTD_isError(n) || n + len / COMPRESS_MARGIN >= len || n == 0)
                return true; /* did not pay: the chunk goes raw */
        memcpy(p, ws->scratch, n);
        *ret_codec = FY_CODEC_ZSTD;
        *ret_plen = (uint32_t)n;
        return true;
}

void compress_pack(struct compress *z, uint8_t *p, uint32_t len, uint8_t *ret_codec, uint32_t *ret_plen) {
        *ret_codec = FY_CODEC_RAW;
        *ret_plen = len;
        if (z->on)
                (void)compress_pack_ws(z, &z->ws, p, len, ret_codec, ret_plen);
}

bool compress_wanted(struct compress *z, uint64_t now) {
        if (z->on)
                return true;
        if (z->mode != COMPRESS_AUTO || now - z->sampled_ns < COMPRESS_SAMPLE_NS)
                return false;
        z->sampled_ns = now;
        return true;
}

void compress_set_threads(struct compress *z, unsigned threads) {
        z->threads = threads ? threads : 1;
}

/* Half of each new sample: the data changes along a file (a mixed file
 * of text, random and zeros must switch within a window or two). */
static double ewma(double old, double x) {
        return old == 0 ? x : (old + x) / 2;
}

void compress_sample(struct compress *z, uint32_t raw, uint32_t plen, bool tried, uint64_t ns) {
        if (z->mode != COMPRESS_AUTO || raw == 0)
                return;
        z->zratio = ewma(z->zratio, tried && plen ? (double)raw / plen : 1.0);
        if (tried && ns)
                z->zspeed = ewma(z->zspeed, (double)raw * 1e9 / (double)ns);
}

/* What compression could move at best, raw bytes/s, with raw measured at
 * rate_off: no faster than the packing threads compress, and no more than
 * the channel's wire rate carries at the ratio seen.  0: no sample yet. */
static double model_on(const struct compress *z, double rate_off) {
        if (z->zspeed == 0 || z->zratio == 0)
                return 0;
        double cpu = z->zspeed * z->threads, chan = z->zratio * rate_off;
        return cpu < chan ? cpu : chan;
}

/* The mode decision (auto).  A window measures the mode that is on; a
 * window that tried the mode not chosen (measuring) is compared with the
 * last window of the chosen one.  Compression must be COMPRESS_GAIN faster
 * to be kept: when both move the same (a receiver's disk as the
 * bottleneck), raw spares the CPU. */
static void window_done(struct compress *z, double rate, uint64_t now) {
        int m = z->on;
        z->rate[m] = rate;
        log_debug("compress auto: %s%s moved %.0f MB/s (model: %.2fx at %.0f MB/s per thread x %u)", m ? "zstd" : "raw",
                  z->measuring ? " (a try)" : "", rate / 1e6, z->zratio, z->zspeed / 1e6, z->threads);
        if (z->measuring && z->on && z->win_bytes < z->win_wire * COMPRESS_TRY_MIN_RATIO) {
                /* The try met data that did not compress: back to raw with
                 * no verdict, the model asked again as the data changes. */
                z->on = false;
                z->measuring = false;
                return;
        }
        if (z->measuring) { /* a try of the other mode is over */
                bool on = z->rate[1] > z->rate[0] * COMPRESS_GAIN;
                bool try_lost = on != z->on; /* back to the mode chosen before */
                z->retry_ns = try_lost ? MIN(z->retry_ns * 2, COMPRESS_RETRY_MAX_NS) : COMPRESS_RETRY_NS;
                z->on = on;
                z->measuring = false;
                z->decided_ns = now;
                return;
        }
        bool due = !z->decided_ns || now - z->decided_ns >= z->retry_ns;
        if (!z->on) {
                /* Raw: try compression only when the model says it could
                 * win (asked again each window, as the data and the
                 * channel change), and not before a lost try's retry_ns. */
                if (due && model_on(z, rate) >= rate * COMPRESS_PROBE_GAIN)
                        z->on = z->measuring = true;
                return;
        }
        if (due) { /* compressing: measure raw again */
                z->on = false;
                z->measuring = true;
        }
}

void compress_account(struct compress *z, uint32_t raw, uint32_t wire, bool packed_on, uint64_t now) {
        /* A chunk packed before the mode changed (read ahead, packed in a
         * batch) says nothing about the mode now measured: its bytes were
         * framed at the other mode's cost. */
        if (z->mode != COMPRESS_AUTO || packed_on != z->on)
                return;
        if (z->win_chunks++ == 0) {
                /* The window starts as this chunk is credited: the bytes
                 * counted are those drained after it. */
                z->win_start_ns = now;
                return;
        }
        z->win_bytes += raw;
        z->win_wire += wire;
        z->win_last_ns = now;
        uint64_t span = z->win_last_ns - z->win_start_ns;
        if (z->win_chunks <= COMPRESS_WINDOW_CHUNKS || z->win_bytes < COMPRESS_WINDOW || span < COMPRESS_WINDOW_NS)
                return;
        double rate = span ? (double)z->win_bytes * 1e9 / (double)span : 0;
        window_done(z, rate, now);
        z->win_chunks = 0;
        z->win_bytes = z->win_wire = 0;
}

int compress_unpack(struct compress *z, uint8_t *p, uint32_t plen, uint32_t raw_len, size_t cap) {
        if (raw_len > cap || plen >= raw_len)
                return -EBADMSG;
        unsigned long long declared = ZSTD_getFrameContentSize(p, plen);
        if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != raw_len)
                return -EBADMSG; /* a frame that says it is something else */
        if (!z->dctx) {
                if (!(z->dctx = ZSTD_createDCtx()))
                        return -ENOMEM;
                /* A chunk is at most 4 MiB: a frame asking for a larger
                 * window is not one of ours. */
                (void)ZSTD_DCtx_setParameter(z->dctx, ZSTD_d_windowLogMax, 23);
        }
        int r = scratch(&z->ws, raw_len);
        if (r < 0)
                return r;
        size_t n = ZSTD_decompressDCtx(z->dctx, z->ws.scratch, raw_len, p, plen);
        if (ZSTD_isError(n) || n != raw_len)
                return -EBADMSG;
        memcpy(p, z->ws.scratch, raw_len);
        return 0;
}
