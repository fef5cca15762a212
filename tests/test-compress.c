/* SPDX-License-Identifier: MIT */
/*
 * session/compress: the chunk compression stage alone.
 *
 * A chunk that shrinks is packed in place and unpacks to the same bytes; a
 * random one is left raw without being compressed (the probe); one that
 * does not shrink enough goes raw; whatever a peer sends - a bomb, a frame
 * that declares another size, a damaged payload, a payload not smaller than
 * its chunk - unpacks to an error, never past raw_len; auto keeps the mode
 * that moved more bytes per second, and tries the other again later
 * (driven with explicit clock values, so no timing is involved).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "check.h"
#include "session/compress.h"
#include "session/pack.h"
#include "codec.h"
#include "wire.h"

#define CH (256u << 10)

static uint8_t text[CH], rnd[CH], buf[CH + 4096];

static void fill(void) {
        static const char *words[] = { "ferry ", "moves ", "files ", "between ", "a host ", "and ", "its guests\n" };
        for (size_t i = 0, w = 0; i < CH; w++) {
                const char *s = words[(w * 7 + w / 3) % 7];
                for (size_t k = 0; s[k] && i < CH; k++)
                        text[i++] = (uint8_t)s[k];
        }
        uint64_t x = 0x9e3779b97f4a7c15ull;
        for (size_t i = 0; i < CH; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                rnd[i] = (uint8_t)x;
        }
}

static void test_roundtrip(void) {
        struct compress z;
        compress_init(&z, COMPRESS_ZSTD, 0);
        CHECK_EQ_INT(z.level, COMPRESS_DEFAULT_LEVEL);
        memcpy(buf, text, CH);
        uint8_t codec;
        uint32_t plen;
        compress_pack(&z, buf, CH, &codec, &plen);
        CHECK_EQ_INT(codec, FY_CODEC_ZSTD);
        CHECK(plen > 0 && plen < CH / 4);
        CHECK_EQ_INT(compress_unpack(&z, buf, plen, CH, sizeof buf), 0);
        CHECK_EQ_MEM(buf, text, CH);
        /* Random data does not shrink: raw, unchanged. */
        memcpy(buf, rnd, CH);
        compress_pack(&z, buf, CH, &codec, &plen);
        CHECK_EQ_INT(codec, FY_CODEC_RAW);
        CHECK_EQ_INT(plen, CH);
        CHECK_EQ_MEM(buf, rnd, CH);
        compress_fini(&z);
}

/* Off never compresses; auto's probe leaves random data alone. */
static void test_modes(void) {
        struct compress z;
        uint8_t codec;
        uint32_t plen;
        compress_init(&z, COMPRESS_OFF, 0);
        memcpy(buf, text, CH);
        compress_pack(&z, buf, CH, &codec, &plen);
        CHECK_EQ_INT(codec, FY_CODEC_RAW);
        CHECK(z.ws.cctx == NULL); /* not even a context was made */
        compress_fini(&z);

        /* auto starts raw; a chunk it chooses to compress (a sample, or
         * once on) still passes the probe first */
        compress_init(&z, COMPRESS_AUTO, 0);
        memcpy(buf, text, CH);
        compress_pack(&z, buf, CH, &codec, &plen);
        CHECK_EQ_INT(codec, FY_CODEC_RAW);
        memcpy(buf, rnd, CH);
        CHECK(!compress_pack_ws(&z, compress_own_ws(&z), buf, CH, &codec, &plen));
        CHECK_EQ_INT(codec, FY_CODEC_RAW);
        CHECK(z.ws.cctx == NULL); /* the probe said no before zstd was asked */
        memcpy(buf, text, CH);
        CHECK(compress_pack_ws(&z, compress_own_ws(&z), buf, CH, &codec, &plen));
        CHECK_EQ_INT(codec, FY_CODEC_ZSTD);
        compress_fini(&z);
}

/* Mostly random with a little text: it shrinks, but by less than the margin. */
static void test_margin(void) {
        struct compress z;
        compress_init(&z, COMPRESS_ZSTD, 0);
        memcpy(buf, rnd, CH);
        memcpy(buf, text, CH / 64); /* saves ~1.5%: under 1/32 */
        uint8_t codec;
        uint32_t plen;
        compress_pack(&z, buf, CH, &codec, &plen);
        CHECK_EQ_INT(codec, FY_CODEC_RAW);
        CHECK_EQ_INT(plen, CH);
        compress_fini(&z);
}

static void test_hostile(void) {
        struct compress z;
        compress_init(&z, COMPRESS_AUTO, 0);
        /* A bomb: 4 MiB of zeros in a few bytes, sent as a 4096-byte chunk. */
        static uint8_t zeros[4u << 20];
        size_t n = ZSTD_compress(buf, sizeof buf, zeros, sizeof zeros, 1);
        CHECK(!ZSTD_isError(n) && n < 4096);
        CHECK_EQ_INT(compress_unpack(&z, buf, (uint32_t)n, 4096, sizeof buf), -EBADMSG);
        /* The same without a content size in the frame: the output bound
         * still holds. */
        ZSTD_CCtx *cc = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
        n = ZSTD_compress2(cc, buf, sizeof buf, zeros, sizeof zeros);
        CHECK(!ZSTD_isError(n) && n < 4096);
        CHECK_EQ_INT(compress_unpack(&z, buf, (uint32_t)n, 4096, sizeof buf), -EBADMSG);
        /* A lying length: the frame holds CH bytes, the head says CH - 1. */
        n = ZSTD_compress(buf, sizeof buf, text, CH, 1);
        CHECK_EQ_INT(compress_unpack(&z, buf, (uint32_t)n, CH - 1, sizeof buf), -EBADMSG);
        /* ... or more than it holds, without a content size. */
        n = ZSTD_compress2(cc, buf, sizeof buf, text, CH);
        CHECK_EQ_INT(compress_unpack(&z, buf, (uint32_t)n, CH + 1, sizeof buf), -EBADMSG);
        /* A damaged payload: bytes flipped in turn; none may crash or write
         * past raw_len (ASan), most are caught here and the rest by the
         * chunk digest the receiver checks next. */
        n = ZSTD_compress(buf, sizeof buf, text, CH, 1);
        static uint8_t good[CH + 4096];
        memcpy(good, buf, n);
        unsigned errors = 0;
        for (size_t i = 0; i < n; i += 1 + n / 200) {
                memcpy(buf, good, n);
                buf[i] ^= 0x10;
                int r = compress_unpack(&z, buf, (uint32_t)n, CH, sizeof buf);
                CHECK(r == 0 || r == -EBADMSG);
                errors += r == -EBADMSG;
        }
        CHECK(errors > 0);
        /* Garbage, and a payload not smaller than its chunk. */
        memcpy(buf, rnd, 4096);
        CHECK_EQ_INT(compress_unpack(&z, buf, 4096, 8192, sizeof buf), -EBADMSG);
        CHECK_EQ_INT(compress_unpack(&z, buf, 4096, 4096, sizeof buf), -EBADMSG);
        /* raw_len over what the buffer holds. */
        CHECK_EQ_INT(compress_unpack(&z, buf, 100, sizeof buf + 1, sizeof buf), -EBADMSG);
        ZSTD_freeCCtx(cc);
        compress_fini(&z);
}

/* Auto measures each mode over a window and keeps the faster; the clock is
 * given, so this is about the rule, not this machine's speed.  feed: n
 * whole windows at bytes_per_s, each chunk packed under the mode then on. */
static unsigned feed_ratio = 4; /* how much chunks packed with compression on shrink */

static void feed(struct compress *z, uint64_t *now, uint64_t bytes_per_s, unsigned n) {
        for (unsigned w = 0; w < n; w++) {
                unsigned k = 0;
                do {
                        *now += (uint64_t)CH * 1000000000ull / bytes_per_s;
                        compress_account(z, CH, z->on ? CH / feed_ratio : CH, z->on, *now);
                } while (z->win_chunks != 0 && ++k < 100000);
                CHECK(k < 100000);
        }
}

/* A sample for the model: chunks that compress ratio:1 at speed MB/s on one thread. */
static void sample(struct compress *z, double ratio, unsigned speed_mib) {
        for (int i = 0; i < 4; i++)
                compress_sample(z, CH, (uint32_t)(CH / ratio), true, (uint64_t)CH * 1000000000ull / ((uint64_t)speed_mib << 20));
}

/* auto on 2 threads at time 1, its model fed samples of ratio at speed MB/s. */
static void start_auto(struct compress *z, uint64_t *now, double ratio, unsigned speed_mib) {
        compress_init(z, COMPRESS_AUTO, 0);
        compress_set_threads(z, 2);
        *now = 1;
        sample(z, ratio, speed_mib);
}

static void test_auto(void) {
        struct compress z;
        compress_init(&z, COMPRESS_AUTO, 0);
        compress_set_threads(&z, 2);
        uint64_t now = COMPRESS_SAMPLE_NS;
        CHECK(!z.on); /* starts raw: raw never costs a try */
        /* No sample yet: the model promises nothing, no try. */
        feed(&z, &now, 100u << 20, 2);
        CHECK(!z.on);
        CHECK(!z.measuring);
        /* One chunk per window is a sample; the next is not due yet. */
        CHECK(compress_wanted(&z, now));
        CHECK(!compress_wanted(&z, now + 1));
        CHECK(compress_wanted(&z, now + COMPRESS_SAMPLE_NS));

        /* Text through a 100 MB/s channel: 4x at 500 MB/s on 2 threads
         * could move 400: try it. */
        sample(&z, 4, 500);
        feed(&z, &now, 100u << 20, 1);
        CHECK(z.on);
        CHECK(z.measuring);
        CHECK(compress_wanted(&z, now)); /* on: every chunk */
        feed(&z, &now, 300u << 20, 1);
        CHECK(z.on); /* compression moved 3x more: kept */
        CHECK(!z.measuring);
        feed(&z, &now, 300u << 20, 4);
        CHECK(z.on);
        /* Later, raw is measured again: it loses, and the next try waits
         * twice as long. */
        now += COMPRESS_RETRY_NS;
        feed(&z, &now, 300u << 20, 1);
        CHECK(!z.on);
        feed(&z, &now, 100u << 20, 1);
        CHECK(z.on);
        CHECK(z.retry_ns == 2 * COMPRESS_RETRY_NS);
        now += COMPRESS_RETRY_NS;
        feed(&z, &now, 300u << 20, 1);
        CHECK(z.on); /* not due yet */
        now += COMPRESS_RETRY_NS;
        feed(&z, &now, 300u << 20, 1);
        CHECK(!z.on); /* now raw is tried: the channel got fast */
        feed(&z, &now, 2000u << 20, 1);
        CHECK(!z.on); /* raw measured faster: raw, and tries start over */
        CHECK(z.retry_ns == COMPRESS_RETRY_NS);
        compress_fini(&z);

        /* Random data: samples that do not shrink; no try ever. */
        compress_init(&z, COMPRESS_AUTO, 0);
        compress_set_threads(&z, 2);
        now = 1;
        for (int i = 0; i < 4; i++)
                compress_sample(&z, CH, CH, false, 0);
        feed(&z, &now, 100u << 20, 8);
        CHECK(!z.on);
        CHECK(z.rate[1] == 0);
        /* A fast socket where the compressor would be the bottleneck:
         * 5x at 400 MB/s on 2 threads is 800 < 1000 raw: no try. */
        sample(&z, 5, 400);
        sample(&z, 5, 400);
        feed(&z, &now, 1000u << 20, 8);
        CHECK(!z.on);
        CHECK(z.rate[1] == 0);
        /* ... the data turns compressible and the channel slows: tried */
        feed(&z, &now, 200u << 20, 1);
        CHECK(z.on);
        compress_fini(&z);

        /* A receiver that is the bottleneck (a guest decompressing on an
         * emulated core): the model promises 3x, the try measures less;
         * back to raw, tried again after 4 s, not 2. */
        start_auto(&z, &now, 3, 500);
        feed(&z, &now, 111u << 20, 1);
        CHECK(z.on);
        feed(&z, &now, 79u << 20, 1);
        CHECK(!z.on);
        CHECK(z.retry_ns == 2 * COMPRESS_RETRY_NS);
        now += COMPRESS_RETRY_NS;
        feed(&z, &now, 111u << 20, 1);
        CHECK(!z.on);
        now += COMPRESS_RETRY_NS;
        feed(&z, &now, 111u << 20, 1);
        CHECK(z.on);
        feed(&z, &now, 79u << 20, 1);
        CHECK(!z.on);
        CHECK(z.retry_ns == 4 * COMPRESS_RETRY_NS);
        compress_fini(&z);

        /* A mixed file: the samples saw text, but the try met a random
         * stretch (nothing shrank): no verdict, no longer wait; the next
         * raw window's model tries again. */
        start_auto(&z, &now, 8, 500);
        feed(&z, &now, 20u << 20, 1);
        CHECK(z.on);
        feed_ratio = 1;
        feed(&z, &now, 20u << 20, 1);
        feed_ratio = 4;
        CHECK(!z.on);
        CHECK(!z.measuring);
        CHECK(z.retry_ns == COMPRESS_RETRY_NS);
        CHECK(z.decided_ns == 0);
        feed(&z, &now, 20u << 20, 1);
        CHECK(z.on); /* zeros now: tried at once */
        feed(&z, &now, 400u << 20, 1);
        CHECK(z.on);
        compress_fini(&z);

        /* Equal rates: raw, which spares the CPU. */
        compress_init(&z, COMPRESS_AUTO, 0);
        now = 1;
        sample(&z, 4, 2000);
        feed(&z, &now, 500u << 20, 1);
        CHECK(z.on);
        feed(&z, &now, 500u << 20, 1);
        CHECK(!z.on);
        compress_fini(&z);

        /* A window is long enough to see past the buffers: 8 MiB framed in
         * a burst ends no window. */
        compress_init(&z, COMPRESS_AUTO, 0);
        now = 1;
        for (unsigned i = 0; i < 2 * COMPRESS_WINDOW / CH; i++)
                compress_account(&z, CH, CH, false, now += 1000);
        CHECK(z.rate[0] == 0); /* nothing measured yet */
        /* Chunks packed under the other mode (still in the pipeline after
         * a switch) do not count for the mode measured now. */
        sample(&z, 4, 2000);
        feed(&z, &now, 100u << 20, 1);
        CHECK(z.on);
        for (unsigned i = 0; i < 4 * COMPRESS_WINDOW / CH; i++)
                compress_account(&z, CH, CH, false, now += 100);
        CHECK(z.on);
        CHECK(z.rate[1] == 0); /* compression not measured by raw chunks */
        CHECK_EQ_INT(z.win_chunks, 0);
        compress_fini(&z);

        /* zstd and off never switch, and off wants no sample. */
        compress_init(&z, COMPRESS_OFF, 0);
        CHECK(!compress_wanted(&z, 10 * COMPRESS_WINDOW_NS));
        compress_fini(&z);
        compress_init(&z, COMPRESS_ZSTD, 0);
        CHECK(z.on);
        compress_account(&z, CH, CH / 4, true, now);
        CHECK(z.on && z.win_chunks == 0);
        compress_fini(&z);
}

static void test_parse(void) {
        enum compress_mode m = COMPRESS_OFF;
        CHECK_EQ_INT(compress_mode_parse("auto", &m), 0);
        CHECK_EQ_INT(m, COMPRESS_AUTO);
        CHECK_EQ_INT(compress_mode_parse("zstd", &m), 0);
        CHECK_EQ_INT(m, COMPRESS_ZSTD);
        CHECK_EQ_INT(compress_mode_parse("off", &m), 0);
        CHECK_EQ_INT(m, COMPRESS_OFF);
        CHECK_EQ_INT(compress_mode_parse("gzip", &m), -EINVAL);
        CHECK_EQ_INT(m, COMPRESS_OFF); /* untouched on failure */
}

/* The packer (pack.h): batches of every size, packed across threads, give
 * exactly what packing each chunk alone here gives - digest, codec,
 * payload - and every payload unpacks to its chunk.  Many batches in a row
 * run through the hand-over between them (a late worker must not take a
 * job of the next batch for its own). */
#define PK_CH (16u << 10)
#define PK_N 24
static void test_packer(void) {
        static uint8_t src[PK_N][PK_CH], a[PK_N][PK_CH], b[PK_N][PK_CH];
        for (unsigned i = 0; i < PK_N; i++) /* text, random, and half of each */
                for (unsigned k = 0; k < PK_CH; k++)
                        src[i][k] = i % 3 == 0 ? text[(i * 977 + k) % CH] : i % 3 == 1 ? rnd[(i * 4099 + k) % CH]
                                    : k < PK_CH / 2 ? text[k] : rnd[k];
        struct compress z;
        compress_init(&z, COMPRESS_ZSTD, 0);
        struct packer *pk = NULL;
        CHECK_EQ_INT(packer_new(&z, 0, &pk), -EINVAL);
        CHECK(pk == NULL); /* untouched on failure */
        CHECK_EQ_INT(packer_new(&z, 3, &pk), 0);
        if (!pk)
                return;
        struct pack_job want[PK_N], got[PK_N];
        unsigned compressed = 0;
        for (unsigned round = 0; round < 200; round++) {
                unsigned n = 1 + round % PK_N;
                memcpy(a, src, sizeof a);
                memcpy(b, src, sizeof b);
                for (unsigned i = 0; i < n; i++) {
                        want[i] = (struct pack_job){ .p = a[i], .len = PK_CH, .compress = round % 5 != 4 };
                        got[i] = (struct pack_job){ .p = b[i], .len = PK_CH, .compress = round % 5 != 4 };
                        pack_one(&z, &want[i]);
                }
                packer_run(pk, got, n);
                for (unsigned i = 0; i < n; i++) {
                        CHECK_EQ_U64(got[i].digest, fy_chunk_digest(src[i], PK_CH));
                        CHECK_EQ_INT(got[i].codec, want[i].codec);
                        CHECK_EQ_INT(got[i].plen, want[i].plen);
                        CHECK_EQ_MEM(b[i], a[i], got[i].plen);
                        if (got[i].codec == FY_CODEC_ZSTD) {
                                compressed++;
                                CHECK_EQ_INT(compress_unpack(&z, b[i], got[i].plen, PK_CH, PK_CH), 0);
                                CHECK_EQ_MEM(b[i], src[i], PK_CH);
                        }
                        if (check_failures)
                                break;
                }
                if (check_failures)
                        break;
        }
        CHECK(compressed > 1000); /* the text chunks and halves did go compressed */
        packer_free(pk);
        compress_fini(&z);
}

int main(void) {
        fill();
        test_packer();
        test_roundtrip();
        test_modes();
        test_margin();
        test_hostile();
        test_auto();
        test_parse();
        return check_done();
}
