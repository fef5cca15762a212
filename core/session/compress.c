/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

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
        *z = (struct compress){ .mode = mode, .level = level ? level : COMPRESS_DEFAULT_LEVEL, .on = mode != COMPRESS_OFF };
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

void compress_pack_ws(const struct compress *z, struct compress_ws *ws, uint8_t *p, uint32_t len, uint8_t *ret_codec,
                      uint32_t *ret_plen) {
        *ret_codec = FY_CODEC_RAW;
        *ret_plen = len;
        if (!z->on || (z->mode == COMPRESS_AUTO && looks_incompressible(p, len)))
                return;
        if (!ws->cctx && !(ws->cctx = ZSTD_createCCtx()))
                return; /* no memory: raw is always right */
        if (scratch(ws, ZSTD_compressBound(len)) < 0)
                return;
        size_t n = ZSTD_compressCCtx(ws->cctx, ws->scratch, ws->scratch_cap, p, len, z->level);
        if (ZSTD_isError(n) || n + len / COMPRESS_MARGIN >= len || n == 0)
                return; /* did not pay: the chunk goes raw */
        memcpy(p, ws->scratch, n);
        *ret_codec = FY_CODEC_ZSTD;
        *ret_plen = (uint32_t)n;
}

void compress_pack(struct compress *z, uint8_t *p, uint32_t len, uint8_t *ret_codec, uint32_t *ret_plen) {
        compress_pack_ws(z, &z->ws, p, len, ret_codec, ret_plen);
}

/* The mode decision (auto): a window measures the mode that is on; after a
 * window of each, the faster one stays until COMPRESS_RETRY_NS, when the
 * other is measured again.  Compression must be COMPRESS_GAIN faster to be
 * kept: when both move the same (a receiver's disk as the bottleneck),
 * raw spares the CPU. */
static void decide(struct compress *z, uint64_t now) {
        bool on = z->rate[1] > z->rate[0] * COMPRESS_GAIN;
        z->switches += on != z->on;
        z->on = on;
        z->decided_ns = now;
        z->measuring = false;
}

void compress_account(struct compress *z, uint32_t raw, bool packed_on, uint64_t now) {
        /* A chunk packed before the mode changed (read ahead, packed in a
         * batch) says nothing about the mode now measured: its bytes were
         * framed at the other mode's cost. */
        if (z->mode != COMPRESS_AUTO || packed_on != z->on)
                return;
        if (z->win_chunks == 0)
                z->win_start_ns = now;
        z->win_chunks++;
        z->win_bytes += raw;
        z->win_last_ns = now;
        uint64_t span = z->win_last_ns - z->win_start_ns;
        if (z->win_chunks < 8 || z->win_bytes < COMPRESS_WINDOW || span < COMPRESS_WINDOW_NS)
                return;
        /* A window is over: what the mode that was on moved. */
        double rate = span ? (double)z->win_bytes * 1e9 / (double)span : 0;
        int m = z->on;
        z->rate[m] = z->rate[m] == 0 ? rate : (z->rate[m] + rate) / 2;
        z->win_chunks = 0;
        z->win_bytes = 0;
        if (z->rate[!m] == 0) { /* the other mode is not measured yet */
                z->on = !z->on;
                z->switches++;
                z->measuring = true;
                return;
        }
        if (z->measuring || !z->decided_ns) {
                decide(z, now);
                return;
        }
        if (now - z->decided_ns >= COMPRESS_RETRY_NS) {
                z->on = !z->on; /* measure the other one again */
                z->switches++;
                z->measuring = true;
        }
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
