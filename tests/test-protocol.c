/* SPDX-License-Identifier: MIT */
/*
 * Codec tests: round trips for every message, one test per decoder fault,
 * byte offsets pinned against PROTOCOL.md, fy_scan, digests, error codes.
 *
 * The layout checks read the encoded bytes with this file's own
 * little-endian helpers, so a codec change that moves a field fails here
 * even when encode and decode still agree with each other.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "check.h"
#include "codec.h"

#define MIN_SZ(a, b) ((a) < (b) ? (a) : (b))

static uint8_t frame[FY_HDR_SIZE + FY_MAX_PAYLOAD + 64];

static uint64_t le(const uint8_t *p, size_t n) {
        uint64_t v = 0;
        for (size_t i = n; i-- > 0;)
                v = v << 8 | p[i];
        return v;
}

static void put_le(uint8_t *p, uint64_t v, size_t n) {
        for (size_t i = 0; i < n; i++, v >>= 8)
                p[i] = (uint8_t)v;
}

/* Build a header byte by byte, check computed here, not by the codec. */
static void raw_header(uint8_t *b, uint8_t version, uint8_t type, uint16_t flags, uint32_t length) {
        memcpy(b, "FERY", 4);
        b[4] = version;
        b[5] = type;
        put_le(b + 6, flags, 2);
        put_le(b + 8, length, 4);
        put_le(b + 12, (uint32_t)XXH3_64bits(b, 12), 4);
}

/* Decode a whole frame held in buf[0..n). */
static int decode(const uint8_t *buf, size_t n, struct fy_msg *m) {
        struct fy_header h;
        int r = fy_header_decode(buf, &h);
        if (r < 0)
                return r;
        return fy_msg_decode(&h, buf + FY_HDR_SIZE, n - FY_HDR_SIZE, m);
}

/* Give the frame in buf a new payload length, header check recomputed. */
static void set_length(uint8_t *buf, uint32_t len) {
        fy_header_encode(buf, buf[5], len);
}

static void fill(char *s, size_t n, char c) {
        memset(s, c, n);
        s[n] = 0;
}

/* Encode, check the header and payload length, decode into out. */
static size_t roundtrip(const struct fy_msg *in, struct fy_msg *out, size_t want_payload) {
        ssize_t n = fy_msg_encode(frame, sizeof frame, in);
        CHECK_EQ_INT(n, (ssize_t)(FY_HDR_SIZE + want_payload));
        if (n < 0)
                return 0;
        CHECK_EQ_MEM(frame, "FERY", 4);
        CHECK_EQ_INT(frame[4], 1);
        CHECK_EQ_INT(frame[5], in->type);
        CHECK_EQ_U64(le(frame + 6, 2), 0);
        CHECK_EQ_U64(le(frame + 8, 4), want_payload);
        CHECK_EQ_U64(le(frame + 12, 4), (uint32_t)XXH3_64bits(frame, 12));
        memset(out, 0xa5, sizeof *out);
        CHECK_EQ_INT(decode(frame, (size_t)n, out), 0);
        CHECK_EQ_INT(out->type, in->type);
        /* Encoding the decoded message gives the same bytes. */
        static uint8_t again[FY_MAX_CTRL_FRAME];
        CHECK_EQ_INT(fy_msg_encode(again, sizeof again, out), n);
        CHECK_EQ_MEM(again, frame, (size_t)n);
        return (size_t)n;
}

/* ---- round trips --------------------------------------------------------- */

static void test_hello(uint8_t type) {
        struct fy_msg in = { .type = type }, out;
        in.hello = (struct fy_hello){
                .nonce = 0x0123456789abcdefull,
                .proto_min = 1,
                .proto_max = 7,
                .features = 0x8000000000000041ull,
                .max_frame = FY_MAX_PAYLOAD,
                .max_chunk = 1u << 20,
                .recv_window = 64ull << 20,
        };
        fill(in.hello.agent, FY_MAX_AGENT, 'a');
        roundtrip(&in, &out, 42 + FY_MAX_AGENT);
        const uint8_t *p = frame + FY_HDR_SIZE;
        CHECK_EQ_U64(le(p + 0, 8), in.hello.nonce);
        CHECK_EQ_U64(le(p + 8, 2), 1);
        CHECK_EQ_U64(le(p + 10, 2), 7);
        CHECK_EQ_U64(le(p + 12, 4), 0);
        CHECK_EQ_U64(le(p + 16, 8), in.hello.features);
        CHECK_EQ_U64(le(p + 24, 4), FY_MAX_PAYLOAD);
        CHECK_EQ_U64(le(p + 28, 4), 1u << 20);
        CHECK_EQ_U64(le(p + 32, 8), 64ull << 20);
        CHECK_EQ_U64(le(p + 40, 2), FY_MAX_AGENT);
        CHECK_EQ_U64(out.hello.nonce, in.hello.nonce);
        CHECK_EQ_INT(out.hello.proto_min, 1);
        CHECK_EQ_INT(out.hello.proto_max, 7);
        CHECK_EQ_U64(out.hello.features, in.hello.features);
        CHECK_EQ_U64(out.hello.max_frame, in.hello.max_frame);
        CHECK_EQ_U64(out.hello.max_chunk, in.hello.max_chunk);
        CHECK_EQ_U64(out.hello.recv_window, in.hello.recv_window);
        CHECK_EQ_STR(out.hello.agent, in.hello.agent);

        /* Smallest legal limits, empty agent. */
        in.hello.agent[0] = 0;
        in.hello.proto_max = 1;
        in.hello.max_frame = FY_MAX_CTRL;
        in.hello.max_chunk = FY_MIN_CHUNK;
        in.hello.recv_window = FY_MIN_CHUNK;
        roundtrip(&in, &out, 42);
        CHECK_EQ_STR(out.hello.agent, "");
        CHECK_EQ_U64(out.hello.recv_window, FY_MIN_CHUNK);
}

static void test_error(void) {
        struct fy_msg in = { .type = FY_ERROR }, out;
        in.error.code = FY_EPROTO;
        fill(in.error.text, FY_MAX_TEXT, 'e');
        roundtrip(&in, &out, 6 + FY_MAX_TEXT);
        CHECK_EQ_U64(le(frame + FY_HDR_SIZE, 4), FY_EPROTO);
        CHECK_EQ_U64(le(frame + FY_HDR_SIZE + 4, 2), FY_MAX_TEXT);
        CHECK_EQ_U64(out.error.code, FY_EPROTO);
        CHECK_EQ_STR(out.error.text, in.error.text);

        in.error.code = 0xffffffffu; /* codes are not range-checked */
        strcpy(in.error.text, "no common version");
        roundtrip(&in, &out, 6 + 17);
        CHECK_EQ_U64(out.error.code, 0xffffffffu);
        CHECK_EQ_STR(out.error.text, "no common version");
}

static void test_bye(void) {
        struct fy_msg in = { .type = FY_BYE }, out;
        roundtrip(&in, &out, 0);
        CHECK_EQ_INT(out.type, FY_BYE);
}

static void test_credit(void) {
        struct fy_msg in = { .type = FY_CREDIT }, out;
        in.credit.consumed = (1ull << 63) + 5;
        in.credit.limit = UINT64_MAX;
        in.credit.reasons = FY_PACE_RATE | FY_PACE_DIRTY;
        roundtrip(&in, &out, 24);
        CHECK_EQ_U64(le(frame + FY_HDR_SIZE, 8), in.credit.consumed);
        CHECK_EQ_U64(le(frame + FY_HDR_SIZE + 8, 8), UINT64_MAX);
        CHECK_EQ_U64(le(frame + FY_HDR_SIZE + 16, 4), FY_PACE_RATE | FY_PACE_DIRTY);
        CHECK_EQ_U64(out.credit.consumed, in.credit.consumed);
        CHECK_EQ_U64(out.credit.limit, in.credit.limit);
        CHECK_EQ_U64(out.credit.reasons, FY_PACE_RATE | FY_PACE_DIRTY);

        in.credit.consumed = in.credit.limit = 12345; /* equal is fine */
        in.credit.reasons = 0;
        roundtrip(&in, &out, 24);
        CHECK_EQ_U64(out.credit.limit, 12345);
}

static void test_begin(void) {
        struct fy_msg in = { .type = FY_FILE_BEGIN }, out;
        in.begin = (struct fy_file_begin){
                .xfer_id = 0xfeedbeef,
                .flags = FY_FB_DEST_IS_DIR | FY_FB_DEST_MAYBE_DIR,
                .size = INT64_MAX,
                .mode = 07777,
                .chunk_size = FY_MAX_CHUNK,
                .mtime_sec = -86400, /* before 1970 */
                .mtime_nsec = 999999999,
        };
        fill(in.begin.dest, FY_MAX_PATH, 'd');
        fill(in.begin.name, FY_MAX_NAME, 'n');
        roundtrip(&in, &out, 44 + FY_MAX_PATH + FY_MAX_NAME);
        const uint8_t *p = frame + FY_HDR_SIZE;
        CHECK_EQ_U64(le(p + 0, 4), 0xfeedbeef);
        CHECK_EQ_U64(le(p + 4, 4), 3);
        CHECK_EQ_U64(le(p + 8, 8), INT64_MAX);
        CHECK_EQ_U64(le(p + 16, 4), 07777);
        CHECK_EQ_U64(le(p + 20, 4), FY_MAX_CHUNK);
        CHECK_EQ_U64(le(p + 24, 8), (uint64_t)-86400);
        CHECK_EQ_U64(le(p + 32, 4), 999999999);
        CHECK_EQ_U64(le(p + 36, 4), 0);
        CHECK_EQ_U64(le(p + 40, 2), FY_MAX_PATH);
        CHECK_EQ_U64(le(p + 42 + FY_MAX_PATH, 2), FY_MAX_NAME);
        CHECK_EQ_U64(out.begin.xfer_id, in.begin.xfer_id);
        CHECK_EQ_U64(out.begin.flags, in.begin.flags);
        CHECK_EQ_U64(out.begin.size, in.begin.size);
        CHECK_EQ_U64(out.begin.mode, in.begin.mode);
        CHECK_EQ_U64(out.begin.chunk_size, in.begin.chunk_size);
        CHECK_EQ_INT(out.begin.mtime_sec, -86400);
        CHECK_EQ_U64(out.begin.mtime_nsec, in.begin.mtime_nsec);
        CHECK_EQ_STR(out.begin.dest, in.begin.dest);
        CHECK_EQ_STR(out.begin.name, in.begin.name);

        /* Empty file, no flags, empty name, smallest chunk. */
        in.begin = (struct fy_file_begin){ .xfer_id = 1, .chunk_size = FY_MIN_CHUNK };
        strcpy(in.begin.dest, "x");
        roundtrip(&in, &out, 44 + 1);
        CHECK_EQ_U64(out.begin.size, 0);
        CHECK_EQ_STR(out.begin.dest, "x");
        CHECK_EQ_STR(out.begin.name, "");
}

static void test_end(void) {
        struct fy_msg in = { .type = FY_FILE_END }, out;
        in.end.xfer_id = 7;
        in.end.size = 1ull << 40;
        in.end.chunks = 1ull << 20;
        for (int i = 0; i < 16; i++)
                in.end.digest[i] = (uint8_t)(0xf0 + i);
        in.end.rtt_count = 1000;
        in.end.rtt_p50_us = 150;
        in.end.rtt_p99_us = 900;
        in.end.rtt_max_us = 4000000;
        roundtrip(&in, &out, 56);
        const uint8_t *p = frame + FY_HDR_SIZE;
        CHECK_EQ_U64(le(p + 0, 4), 7);
        CHECK_EQ_U64(le(p + 4, 4), 0);
        CHECK_EQ_U64(le(p + 8, 8), 1ull << 40);
        CHECK_EQ_U64(le(p + 16, 8), 1ull << 20);
        CHECK_EQ_MEM(p + 24, in.end.digest, 16);
        CHECK_EQ_U64(out.end.xfer_id, 7);
        CHECK_EQ_U64(out.end.size, in.end.size);
        CHECK_EQ_U64(out.end.chunks, in.end.chunks);
        CHECK_EQ_MEM(out.end.digest, in.end.digest, 16);
        CHECK_EQ_U64(le(p + 40, 4), 1000);
        CHECK_EQ_U64(le(p + 52, 4), 4000000);
        CHECK_EQ_U64(out.end.rtt_count, 1000);
        CHECK_EQ_U64(out.end.rtt_p50_us, 150);
        CHECK_EQ_U64(out.end.rtt_p99_us, 900);
        CHECK_EQ_U64(out.end.rtt_max_us, 4000000);
}

static void test_status(void) {
        struct fy_msg in = { .type = FY_FILE_STATUS }, out;
        in.status.xfer_id = 9;
        in.status.code = FY_ENOSPC;
        in.status.bytes = 123456789;
        for (int i = 0; i < 16; i++)
                in.status.digest[i] = (uint8_t)i;
        strcpy(in.status.text, "no space left on device");
        in.status.dirty_peak = 64ull << 20;
        in.status.rss_peak = 12ull << 20;
        roundtrip(&in, &out, 50 + 23);
        const uint8_t *p = frame + FY_HDR_SIZE;
        CHECK_EQ_U64(le(p + 0, 4), 9);
        CHECK_EQ_U64(le(p + 4, 4), FY_ENOSPC);
        CHECK_EQ_U64(le(p + 8, 8), 123456789);
        CHECK_EQ_MEM(p + 16, in.status.digest, 16);
        CHECK_EQ_U64(le(p + 32, 8), 64ull << 20);
        CHECK_EQ_U64(le(p + 40, 8), 12ull << 20);
        CHECK_EQ_U64(le(p + 48, 2), 23);
        CHECK_EQ_U64(out.status.dirty_peak, 64ull << 20);
        CHECK_EQ_U64(out.status.rss_peak, 12ull << 20);
        CHECK_EQ_U64(out.status.xfer_id, 9);
        CHECK_EQ_U64(out.status.code, FY_ENOSPC);
        CHECK_EQ_U64(out.status.bytes, 123456789);
        CHECK_EQ_MEM(out.status.digest, in.status.digest, 16);
        CHECK_EQ_STR(out.status.text, in.status.text);

        in.status.text[0] = 0;
        fill(in.status.text, FY_MAX_TEXT, 't');
        roundtrip(&in, &out, 50 + FY_MAX_TEXT);
        CHECK_EQ_STR(out.status.text, in.status.text);
}

static void test_abort(void) {
        struct fy_msg in = { .type = FY_FILE_ABORT }, out;
        in.abort.xfer_id = 0xffffffffu;
        in.abort.code = FY_ECANCELED;
        strcpy(in.abort.text, "interrupted");
        roundtrip(&in, &out, 10 + 11);
        const uint8_t *p = frame + FY_HDR_SIZE;
        CHECK_EQ_U64(le(p + 0, 4), 0xffffffffu);
        CHECK_EQ_U64(le(p + 4, 4), FY_ECANCELED);
        CHECK_EQ_U64(le(p + 8, 2), 11);
        CHECK_EQ_U64(out.abort.xfer_id, 0xffffffffu);
        CHECK_EQ_U64(out.abort.code, FY_ECANCELED);
        CHECK_EQ_STR(out.abort.text, "interrupted");
}

static void test_get(void) {
        struct fy_msg in = { .type = FY_GET }, out;
        in.get.xfer_id = 42;
        in.get.chunk_size = 0;
        fill(in.get.path, FY_MAX_PATH, 'p');
        roundtrip(&in, &out, 18 + FY_MAX_PATH);
        const uint8_t *p = frame + FY_HDR_SIZE;
        CHECK_EQ_U64(le(p + 0, 4), 42);
        CHECK_EQ_U64(le(p + 4, 4), 0);
        CHECK_EQ_U64(le(p + 8, 4), 0);
        CHECK_EQ_U64(le(p + 12, 4), 0);
        CHECK_EQ_U64(le(p + 16, 2), FY_MAX_PATH);
        CHECK_EQ_U64(out.get.xfer_id, 42);
        CHECK_EQ_U64(out.get.flags, 0);
        CHECK_EQ_U64(out.get.chunk_size, 0);
        CHECK_EQ_STR(out.get.path, in.get.path);

        in.get.chunk_size = FY_MIN_CHUNK;
        strcpy(in.get.path, "/var/log/syslog");
        roundtrip(&in, &out, 18 + 15);
        CHECK_EQ_U64(out.get.chunk_size, FY_MIN_CHUNK);
        CHECK_EQ_STR(out.get.path, "/var/log/syslog");
        in.get.chunk_size = FY_MAX_CHUNK;
        roundtrip(&in, &out, 18 + 15);
        CHECK_EQ_U64(out.get.chunk_size, FY_MAX_CHUNK);
}

/* Build a DATA frame in frame[] carrying chunk[0..n); returns its length. */
static size_t data_frame(uint32_t xfer, uint64_t off, const uint8_t *chunk, uint32_t n) {
        struct fy_data d = {
                .xfer_id = xfer,
                .codec = FY_CODEC_RAW,
                .offset = off,
                .raw_len = n,
                .digest = fy_chunk_digest(chunk, n),
                .payload_len = n,
        };
        CHECK_EQ_INT(fy_data_head_encode(frame, &d), FY_DATA_FRAME_HEAD);
        memcpy(frame + FY_DATA_FRAME_HEAD, chunk, n);
        return FY_DATA_FRAME_HEAD + n;
}

static void test_data(void) {
        static uint8_t chunk[FY_MAX_CHUNK];
        for (size_t i = 0; i < sizeof chunk; i++)
                chunk[i] = (uint8_t)(i * 131 + (i >> 9));
        struct fy_msg out;

        size_t n = data_frame(0x01020304, 1ull << 33, chunk, 1000);
        CHECK_EQ_U64(le(frame + 8, 4), FY_DATA_HEAD_SIZE + 1000);
        CHECK_EQ_INT(frame[5], FY_DATA);
        const uint8_t *p = frame + FY_HDR_SIZE;
        CHECK_EQ_U64(le(p + 0, 4), 0x01020304);
        CHECK_EQ_U64(p[4], 0);
        CHECK_EQ_U64(le(p + 5, 3), 0);
        CHECK_EQ_U64(le(p + 8, 8), 1ull << 33);
        CHECK_EQ_U64(le(p + 16, 4), 1000);
        CHECK_EQ_U64(le(p + 20, 4), 0);
        CHECK_EQ_U64(le(p + 24, 8), XXH3_64bits(chunk, 1000));
        CHECK_EQ_INT(decode(frame, n, &out), 0);
        CHECK_EQ_INT(out.type, FY_DATA);
        CHECK_EQ_U64(out.data.xfer_id, 0x01020304);
        CHECK_EQ_INT(out.data.codec, FY_CODEC_RAW);
        CHECK_EQ_U64(out.data.offset, 1ull << 33);
        CHECK_EQ_U64(out.data.raw_len, 1000);
        CHECK_EQ_U64(out.data.payload_len, 1000);
        CHECK_EQ_U64(out.data.digest, fy_chunk_digest(chunk, 1000));

        /* The head alone is enough: payload_len comes from the header. */
        struct fy_header h;
        CHECK_EQ_INT(fy_header_decode(frame, &h), 0);
        memset(&out, 0, sizeof out);
        CHECK_EQ_INT(fy_msg_decode(&h, frame + FY_HDR_SIZE, FY_DATA_HEAD_SIZE, &out), 0);
        CHECK_EQ_U64(out.data.payload_len, 1000);
        CHECK_EQ_U64(out.data.raw_len, 1000);
        CHECK_EQ_U64(out.data.offset, 1ull << 33);
        CHECK_EQ_INT(fy_msg_decode(&h, frame + FY_HDR_SIZE, 500, &out), 0);
        CHECK_EQ_U64(out.data.payload_len, 1000);
        CHECK_EQ_INT(fy_msg_decode(&h, frame + FY_HDR_SIZE, FY_DATA_HEAD_SIZE - 1, &out), -EBADMSG);
        CHECK_EQ_INT(fy_msg_decode(&h, frame + FY_HDR_SIZE, FY_DATA_HEAD_SIZE + 1001, &out), -EBADMSG);

        /* The largest chunk fills the DATA cap exactly. */
        n = data_frame(1, 0, chunk, FY_MAX_CHUNK);
        CHECK_EQ_U64(le(frame + 8, 4), FY_MAX_PAYLOAD);
        CHECK_EQ_INT(decode(frame, n, &out), 0);
        CHECK_EQ_U64(out.data.payload_len, FY_MAX_CHUNK);
        CHECK_EQ_U64(out.data.digest, XXH3_64bits(chunk, FY_MAX_CHUNK));

        /* Last byte a file may have: offset + raw_len == INT64_MAX. */
        n = data_frame(1, (uint64_t)INT64_MAX - 1, chunk, 1);
        CHECK_EQ_INT(decode(frame, n, &out), 0);
}

/* ---- header faults ------------------------------------------------------- */

static void test_header_faults(void) {
        uint8_t b[FY_HDR_SIZE];
        struct fy_header h;

        fy_header_encode(b, FY_BYE, 0);
        raw_header(frame, 1, FY_BYE, 0, 0);
        CHECK_EQ_MEM(b, frame, FY_HDR_SIZE);
        /* Known answers, as listed in PROTOCOL.md "Test vectors". */
        static const uint8_t bye[FY_HDR_SIZE] = { 'F', 'E', 'R', 'Y', 1, 4, 0, 0, 0, 0, 0, 0,
                                                  0x8e, 0x5c, 0x08, 0x95 };
        CHECK_EQ_MEM(b, bye, FY_HDR_SIZE);
        static const uint8_t credit[] = { 'F', 'E', 'R', 'Y', 1, 5, 0, 0, 0x18, 0, 0, 0,
                                          0x0f, 0xa9, 0xb7, 0xf9,
                                          0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x04, 0, 0, 0, 0,
                                          0, 0, 0, 0, 0, 0, 0, 0 };
        struct fy_msg cm = { .type = FY_CREDIT, .credit = { .consumed = 1u << 20, .limit = 65u << 20 } };
        CHECK_EQ_INT(fy_msg_encode(frame, sizeof frame, &cm), sizeof credit);
        CHECK_EQ_MEM(frame, credit, sizeof credit);
        static const uint8_t get[] = { 'F', 'E', 'R', 'Y', 1, 0x20, 0, 0, 0x17, 0, 0, 0,
                                       0xe6, 0x57, 0x6b, 0xbb, 7, 0, 0, 0, 0, 0, 0, 0,
                                       0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 'a', '.', 't', 'x', 't' };
        struct fy_msg gm = { .type = FY_GET, .get = { .xfer_id = 7, .path = "a.txt" } };
        CHECK_EQ_INT(fy_msg_encode(frame, sizeof frame, &gm), sizeof get);
        CHECK_EQ_MEM(frame, get, sizeof get);
        CHECK_EQ_INT(fy_header_decode(b, &h), 0);
        CHECK_EQ_INT(h.version, 1);
        CHECK_EQ_INT(h.type, FY_BYE);
        CHECK_EQ_INT(h.flags, 0);
        CHECK_EQ_U64(h.length, 0);

        for (int i = 0; i < 4; i++) {
                raw_header(b, 1, FY_BYE, 0, 0);
                b[i] ^= 0x20; /* "fERY" etc.; check left stale on purpose */
                CHECK_EQ_INT(fy_header_decode(b, &h), -EILSEQ);
                raw_header(b, 1, FY_BYE, 0, 0);
                b[i] ^= 0x20;
                put_le(b + 12, (uint32_t)XXH3_64bits(b, 12), 4); /* check right */
                CHECK_EQ_INT(fy_header_decode(b, &h), -EILSEQ);
        }

        /* Any byte of 4..15 changed without recomputing the check. */
        for (int i = 4; i < FY_HDR_SIZE; i++) {
                raw_header(b, 1, FY_CREDIT, 0, 16);
                b[i] ^= 0x01;
                CHECK_EQ_INT(fy_header_decode(b, &h), -EBADMSG);
        }

        /* Only the version is wrong: the check is recomputed over it. */
        raw_header(b, 0, FY_CREDIT, 0, 16);
        CHECK_EQ_INT(fy_header_decode(b, &h), -EPROTONOSUPPORT);
        raw_header(b, 2, FY_CREDIT, 0, 16);
        CHECK_EQ_INT(fy_header_decode(b, &h), -EPROTONOSUPPORT);
        raw_header(b, 255, FY_SYNC, 0, 42);
        CHECK_EQ_INT(fy_header_decode(b, &h), -EPROTONOSUPPORT);

        /* Unknown and reserved types. */
        static const uint8_t reserved[] = { 0x18, 0x2f, 0x32 };
        for (size_t i = 0; i < sizeof reserved; i++) {
                raw_header(b, 1, reserved[i], 0, 0);
                CHECK_EQ_INT(fy_header_decode(b, &h), -ENOMSG);
                CHECK_EQ_STR(fy_type_name(reserved[i]), "unknown");
        }
        int known = 0;
        for (int t = 0; t < 256; t++) {
                raw_header(b, 1, (uint8_t)t, 0, 0);
                int r = fy_header_decode(b, &h);
                CHECK(r == 0 || r == -ENOMSG);
                if (r == 0) {
                        known++;
                        CHECK(strcmp(fy_type_name((uint8_t)t), "unknown") != 0);
                }
        }
        CHECK_EQ_INT(known, 20);

        /* Flags: only FY_HF_CHECKED (9.14), and never on DATA. */
        raw_header(b, 1, FY_CREDIT, 2, 16);
        CHECK_EQ_INT(fy_header_decode(b, &h), -EPROTO);
        raw_header(b, 1, FY_DATA, 0x8000, 100);
        CHECK_EQ_INT(fy_header_decode(b, &h), -EPROTO);
        raw_header(b, 1, FY_DATA, FY_HF_CHECKED, 100);
        CHECK_EQ_INT(fy_header_decode(b, &h), -EPROTO);
        raw_header(b, 1, FY_CREDIT, FY_HF_CHECKED, 32);
        CHECK_EQ_INT(fy_header_decode(b, &h), 0);
        CHECK_EQ_INT(h.flags, FY_HF_CHECKED);

        /* Length caps per type. */
        raw_header(b, 1, FY_FILE_BEGIN, 0, FY_MAX_CTRL);
        CHECK_EQ_INT(fy_header_decode(b, &h), 0);
        raw_header(b, 1, FY_FILE_BEGIN, 0, FY_MAX_CTRL + 1);
        CHECK_EQ_INT(fy_header_decode(b, &h), -EMSGSIZE);
        raw_header(b, 1, FY_BYE, 0, UINT32_MAX);
        CHECK_EQ_INT(fy_header_decode(b, &h), -EMSGSIZE);
        raw_header(b, 1, FY_DATA, 0, FY_MAX_PAYLOAD);
        CHECK_EQ_INT(fy_header_decode(b, &h), 0);
        CHECK_EQ_U64(h.length, FY_MAX_PAYLOAD);
        raw_header(b, 1, FY_DATA, 0, FY_MAX_PAYLOAD + 1);
        CHECK_EQ_INT(fy_header_decode(b, &h), -EMSGSIZE);

        /* Checks are made in the documented order. */
        raw_header(b, 2, 0x32, 1, UINT32_MAX);
        CHECK_EQ_INT(fy_header_decode(b, &h), -EPROTONOSUPPORT);
        raw_header(b, 1, 0x32, 1, UINT32_MAX);
        CHECK_EQ_INT(fy_header_decode(b, &h), -ENOMSG);
        raw_header(b, 1, FY_DATA, 1, UINT32_MAX);
        CHECK_EQ_INT(fy_header_decode(b, &h), -EPROTO);

        /* ret_hdr untouched on failure. */
        h = (struct fy_header){ .type = 0x77 };
        raw_header(b, 1, FY_DATA, 0, FY_MAX_PAYLOAD + 1);
        fy_header_decode(b, &h);
        CHECK_EQ_INT(h.type, 0x77);
}

/* ---- payload faults ------------------------------------------------------ */

static size_t enc(const struct fy_msg *m) {
        ssize_t n = fy_msg_encode(frame, sizeof frame, m);
        CHECK(n >= FY_HDR_SIZE);
        return n < 0 ? 0 : (size_t)n;
}

/* Decode frame[0..n) after poking `len` bytes of value v at payload offset off. */
static int poke(const struct fy_msg *m, size_t off, uint64_t v, size_t len) {
        size_t n = enc(m);
        put_le(frame + FY_HDR_SIZE + off, v, len);
        struct fy_msg out;
        return decode(frame, n, &out);
}

static void test_truncation(const struct fy_msg *m) {
        size_t n = enc(m);
        struct fy_msg out;
        struct fy_header h;
        uint32_t plen = (uint32_t)(n - FY_HDR_SIZE);

        /* Every shorter payload, header length kept honest. */
        for (uint32_t cut = 0; cut < plen; cut += 1 + cut / 8) {
                enc(m);
                set_length(frame, cut);
                CHECK_EQ_INT(decode(frame, FY_HDR_SIZE + cut, &out), -EBADMSG);
        }
        /* Trailing bytes. */
        enc(m);
        frame[n] = 0;
        set_length(frame, plen + 1);
        CHECK_EQ_INT(decode(frame, n + 1, &out), -EBADMSG);
        /* A buffer that does not match the header's length. */
        enc(m);
        CHECK_EQ_INT(fy_header_decode(frame, &h), 0);
        if (plen > 0)
                CHECK_EQ_INT(fy_msg_decode(&h, frame + FY_HDR_SIZE, plen - 1, &out), -EBADMSG);
        CHECK_EQ_INT(fy_msg_decode(&h, frame + FY_HDR_SIZE, plen + 1, &out), -EBADMSG);
}

static void test_payload_faults(void) {
        struct fy_msg m, out;
        size_t n;

        /* Truncation and trailing bytes for every control type. */
        struct fy_msg all[10];
        memset(all, 0, sizeof all);
        all[0].type = FY_SYNC;
        all[0].hello = (struct fy_hello){ .nonce = 1, .proto_min = 1, .proto_max = 1,
                                          .max_frame = FY_MAX_CTRL, .max_chunk = FY_MIN_CHUNK,
                                          .recv_window = FY_MIN_CHUNK };
        strcpy(all[0].hello.agent, "ferry/1");
        all[1] = all[0];
        all[1].type = FY_SYNC_ACK;
        all[2].type = FY_ERROR;
        strcpy(all[2].error.text, "x");
        all[3].type = FY_BYE;
        all[4].type = FY_CREDIT;
        all[5].type = FY_FILE_BEGIN;
        all[5].begin.chunk_size = FY_MIN_CHUNK;
        all[5].begin.flags = FY_FB_DEST_IS_DIR;
        strcpy(all[5].begin.dest, "dir");
        strcpy(all[5].begin.name, "f");
        all[6].type = FY_FILE_END;
        all[7].type = FY_FILE_STATUS;
        strcpy(all[7].status.text, "ok");
        all[8].type = FY_FILE_ABORT;
        all[9].type = FY_GET;
        strcpy(all[9].get.path, "a");
        for (int i = 0; i < 10; i++)
                test_truncation(&all[i]);

        /* A string length that overruns the payload. */
        m = (struct fy_msg){ .type = FY_ERROR };
        strcpy(m.error.text, "hello");
        CHECK_EQ_INT(poke(&m, 4, 6, 2), -EBADMSG);
        CHECK_EQ_INT(poke(&m, 4, 0xffff, 2), -EMSGSIZE); /* cap checked first */
        CHECK_EQ_INT(poke(&m, 4, 4, 2), -EBADMSG); /* too short: trailing */
        /* The last string (name) overruns by one byte. */
        CHECK_EQ_INT(poke(&all[5], 42 + 3, 2, 2), -EBADMSG);
        CHECK_EQ_INT(poke(&all[9], 16, 2, 2), -EBADMSG);

        /* Strings over their cap, with the bytes actually present. */
        static const struct {
                uint8_t type;
                size_t pre; /* fixed bytes before the string */
                size_t cap;
        } caps[] = {
                { FY_SYNC, 40, FY_MAX_AGENT },  { FY_ERROR, 4, FY_MAX_TEXT },
                { FY_FILE_ABORT, 8, FY_MAX_TEXT }, { FY_FILE_STATUS, 48, FY_MAX_TEXT },
                { FY_GET, 16, FY_MAX_PATH },
        };
        for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
                uint8_t *p = frame + FY_HDR_SIZE;
                size_t len = caps[i].pre + 2 + caps[i].cap + 1;
                memset(p, 0, caps[i].pre);
                if (caps[i].type == FY_SYNC) {
                        put_le(p + 8, 1, 2);
                        put_le(p + 10, 1, 2);
                        put_le(p + 24, FY_MAX_CTRL, 4);
                        put_le(p + 28, FY_MIN_CHUNK, 4);
                        put_le(p + 32, FY_MIN_CHUNK, 8);
                }
                put_le(p + caps[i].pre, caps[i].cap + 1, 2);
                memset(p + caps[i].pre + 2, 'x', caps[i].cap + 1);
                raw_header(frame, 1, caps[i].type, 0, (uint32_t)len);
                CHECK_EQ_INT(decode(frame, FY_HDR_SIZE + len, &out), -EMSGSIZE);
                /* One byte less is within the cap. */
                put_le(p + caps[i].pre, caps[i].cap, 2);
                raw_header(frame, 1, caps[i].type, 0, (uint32_t)len - 1);
                CHECK_EQ_INT(decode(frame, FY_HDR_SIZE + len - 1, &out), 0);
        }
        /* FILE_BEGIN: dest cap, then name cap. */
        {
                uint8_t *p = frame + FY_HDR_SIZE;
                memset(p, 0, 40);
                put_le(p + 20, FY_MIN_CHUNK, 4);
                put_le(p + 40, FY_MAX_PATH + 1, 2);
                memset(p + 42, 'd', FY_MAX_PATH + 1);
                put_le(p + 42 + FY_MAX_PATH + 1, 0, 2);
                uint32_t len = 44 + FY_MAX_PATH + 1;
                raw_header(frame, 1, FY_FILE_BEGIN, 0, len);
                CHECK_EQ_INT(decode(frame, FY_HDR_SIZE + len, &out), -EMSGSIZE);
                put_le(p + 40, 1, 2);
                put_le(p + 43, FY_MAX_NAME + 1, 2);
                memset(p + 45, 'n', FY_MAX_NAME + 1);
                len = 45 + FY_MAX_NAME + 1;
                raw_header(frame, 1, FY_FILE_BEGIN, 0, len);
                CHECK_EQ_INT(decode(frame, FY_HDR_SIZE + len, &out), -EMSGSIZE);
        }

        /* A NUL inside a string. */
        m = (struct fy_msg){ .type = FY_ERROR };
        strcpy(m.error.text, "hello");
        CHECK_EQ_INT(poke(&m, 6 + 2, 0, 1), -EINVAL);
        CHECK_EQ_INT(poke(&all[0], 42 + 6, 0, 1), -EINVAL);    /* agent */
        CHECK_EQ_INT(poke(&all[5], 42 + 1, 0, 1), -EINVAL);    /* dest, name follows */
        CHECK_EQ_INT(poke(&all[5], 42 + 3 + 2, 0, 1), -EINVAL); /* name */
        CHECK_EQ_INT(poke(&all[7], 50 + 1, 0, 1), -EINVAL);
        CHECK_EQ_INT(poke(&all[9], 18, 0, 1), -EINVAL);

        /* Every reserved field, each byte of it, must be zero. */
        for (int i = 0; i < 4; i++) {
                CHECK_EQ_INT(poke(&all[0], 12 + i, 0x80, 1), -EPROTO);
                CHECK_EQ_INT(poke(&all[1], 12 + i, 1, 1), -EPROTO);
                CHECK_EQ_INT(poke(&all[5], 36 + i, 1, 1), -EPROTO);
                CHECK_EQ_INT(poke(&all[6], 4 + i, 1, 1), -EPROTO);
                CHECK_EQ_INT(poke(&all[9], 12 + i, 1, 1), -EPROTO);
        }

        /* Hello values. */
        m = all[0];
        m.hello.proto_min = 0;
        n = enc(&m);
        CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);
        m = all[0];
        m.hello.proto_min = 2;
        n = enc(&m);
        CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);
        m = all[0];
        m.hello.max_chunk = FY_MIN_CHUNK - 1;
        n = enc(&m);
        CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);
        m = all[0];
        m.hello.max_frame = FY_MAX_CTRL - 1;
        n = enc(&m);
        CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);
        m = all[0];
        m.hello.max_chunk = 1u << 20;
        m.hello.recv_window = (1u << 20) - 1;
        n = enc(&m);
        CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);

        /* CREDIT: consumed never above limit. */
        m = (struct fy_msg){ .type = FY_CREDIT, .credit = { .consumed = 2, .limit = 1 } };
        n = enc(&m);
        CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);

        /* FILE_BEGIN values. */
        struct fy_msg b = all[5];
        const char *bad_names[] = { "a/b", "/", "x/", ".", "..", "" };
        for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
                for (uint32_t f = 1; f <= 3; f++) {
                        m = b;
                        m.begin.flags = f;
                        strcpy(m.begin.name, bad_names[i]);
                        n = enc(&m);
                        CHECK_EQ_INT(decode(frame, n, &out), -EINVAL);
                }
        }
        m = b;
        m.begin.flags = 0;
        strcpy(m.begin.name, "a/b"); /* name is not looked at without a flag */
        n = enc(&m);
        CHECK_EQ_INT(decode(frame, n, &out), 0);
        m = b;
        strcpy(m.begin.name, "...");
        n = enc(&m);
        CHECK_EQ_INT(decode(frame, n, &out), 0);
        m = b;
        m.begin.dest[0] = 0;
        n = enc(&m);
        CHECK_EQ_INT(decode(frame, n, &out), -EINVAL);
        const uint32_t bad_chunks[] = { 0, 1, FY_MIN_CHUNK - 1, FY_MAX_CHUNK + 1, UINT32_MAX };
        for (size_t i = 0; i < sizeof bad_chunks / sizeof bad_chunks[0]; i++) {
                m = b;
                m.begin.chunk_size = bad_chunks[i];
                n = enc(&m);
                CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);
        }
        m = b;
        m.begin.flags = 128; /* the first unknown flag */
        n = enc(&m);
        CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);
        m = b;
        m.begin.mode = 010000;
        n = enc(&m);
        CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);
        m = b;
        m.begin.mtime_nsec = 1000000000;
        n = enc(&m);
        CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);
        m = b;
        m.begin.size = (uint64_t)INT64_MAX + 1;
        n = enc(&m);
        CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);

        /* GET values. */
        m = all[9];
        m.get.flags = 16; /* bits 0-3 are defined */
        n = enc(&m);
        CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);
        const uint32_t bad_get_chunks[] = { 1, FY_MIN_CHUNK - 1, FY_MAX_CHUNK + 1 };
        for (size_t i = 0; i < 3; i++) {
                m = all[9];
                m.get.chunk_size = bad_get_chunks[i];
                n = enc(&m);
                CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);
        }
        m = all[9];
        m.get.path[0] = 0;
        n = enc(&m);
        CHECK_EQ_INT(decode(frame, n, &out), -EINVAL);

        /* ret_msg untouched on failure. */
        memset(&out, 0x5a, sizeof out);
        CHECK_EQ_INT(decode(frame, n, &out), -EINVAL);
        CHECK_EQ_INT(out.type, 0x5a);
}

static void test_data_faults(void) {
        uint8_t chunk[8192];
        struct fy_msg out;
        memset(chunk, 0x33, sizeof chunk);

        /* raw_len != payload_len, both ways. */
        size_t n = data_frame(1, 0, chunk, 4096);
        put_le(frame + FY_HDR_SIZE + 16, 4095, 4);
        CHECK_EQ_INT(decode(frame, n, &out), -EBADMSG);
        put_le(frame + FY_HDR_SIZE + 16, 4097, 4);
        CHECK_EQ_INT(decode(frame, n, &out), -EBADMSG);
        /* Header length grown by one: payload one longer than raw_len. */
        n = data_frame(1, 0, chunk, 4096);
        set_length(frame, FY_DATA_HEAD_SIZE + 4097);
        CHECK_EQ_INT(decode(frame, n + 1, &out), -EBADMSG);
        /* Empty chunk. */
        n = data_frame(1, 0, chunk, 0);
        CHECK_EQ_INT(decode(frame, n, &out), -EBADMSG);
        /* Head cut short. */
        for (uint32_t cut = 0; cut < FY_DATA_HEAD_SIZE; cut++) {
                raw_header(frame, 1, FY_DATA, 0, cut);
                CHECK_EQ_INT(decode(frame, FY_HDR_SIZE + cut, &out), -EBADMSG);
        }
        /* raw_len over the chunk cap. */
        n = data_frame(1, 0, chunk, 4096);
        put_le(frame + FY_HDR_SIZE + 16, FY_MAX_CHUNK + 1, 4);
        CHECK_EQ_INT(decode(frame, n, &out), -EMSGSIZE);
        /* Codec 1 (zstd): the payload must be smaller than raw_len (a chunk
         * that does not shrink goes raw), and not empty. */
        n = data_frame(1, 0, chunk, 4096);
        frame[FY_HDR_SIZE + 4] = FY_CODEC_ZSTD;
        CHECK_EQ_INT(decode(frame, n, &out), -EBADMSG);
        put_le(frame + FY_HDR_SIZE + 16, 4097, 4);
        CHECK_EQ_INT(decode(frame, n, &out), 0);
        CHECK_EQ_INT(out.data.codec, FY_CODEC_ZSTD);
        CHECK_EQ_INT(out.data.raw_len, 4097);
        CHECK_EQ_INT(out.data.payload_len, 4096);
        n = data_frame(1, 0, chunk, 0);
        frame[FY_HDR_SIZE + 4] = FY_CODEC_ZSTD;
        put_le(frame + FY_HDR_SIZE + 16, 10, 4);
        CHECK_EQ_INT(decode(frame, n, &out), -EBADMSG);
        /* Codec 2 (keep) has no payload; a payload is a lie. */
        n = data_frame(1, 0, chunk, 4096);
        frame[FY_HDR_SIZE + 4] = FY_CODEC_KEEP;
        CHECK_EQ_INT(decode(frame, n, &out), -EBADMSG);
        /* Any other codec is unknown. */
        for (unsigned c = 3; c < 256; c++) {
                n = data_frame(1, 0, chunk, 4096);
                frame[FY_HDR_SIZE + 4] = (uint8_t)c;
                CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);
        }
        /* Reserved bytes. */
        for (int i = 0; i < 3; i++) {
                n = data_frame(1, 0, chunk, 4096);
                frame[FY_HDR_SIZE + 5 + i] = 1;
                CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);
        }
        for (int i = 0; i < 4; i++) {
                n = data_frame(1, 0, chunk, 4096);
                frame[FY_HDR_SIZE + 20 + i] = 0x80;
                CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);
        }
        /* offset + raw_len past INT64_MAX. */
        n = data_frame(1, (uint64_t)INT64_MAX, chunk, 1);
        CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);
        n = data_frame(1, UINT64_MAX, chunk, 1);
        CHECK_EQ_INT(decode(frame, n, &out), -EPROTO);
        /* The decoder does not check the digest: that is the receiver's job. */
        n = data_frame(1, 0, chunk, 4096);
        frame[FY_DATA_FRAME_HEAD] ^= 1;
        CHECK_EQ_INT(decode(frame, n, &out), 0);
        CHECK(out.data.digest != fy_chunk_digest(frame + FY_DATA_FRAME_HEAD, 4096));
}

/* ---- encoder limits ------------------------------------------------------ */

static void test_encode_limits(void) {
        static struct fy_msg m;
        static uint8_t buf[FY_MAX_CTRL_FRAME];

        m = (struct fy_msg){ .type = FY_SYNC };
        memset(m.hello.agent, 'a', sizeof m.hello.agent); /* no NUL at all */
        CHECK_EQ_INT(fy_msg_encode(buf, sizeof buf, &m), -EMSGSIZE);
        m = (struct fy_msg){ .type = FY_ERROR };
        fill(m.error.text, FY_MAX_TEXT, 'e');
        CHECK(fy_msg_encode(buf, sizeof buf, &m) > 0);
        memset(m.error.text, 'e', sizeof m.error.text);
        CHECK_EQ_INT(fy_msg_encode(buf, sizeof buf, &m), -EMSGSIZE);
        m = (struct fy_msg){ .type = FY_FILE_STATUS };
        memset(m.status.text, 't', sizeof m.status.text);
        CHECK_EQ_INT(fy_msg_encode(buf, sizeof buf, &m), -EMSGSIZE);
        m = (struct fy_msg){ .type = FY_FILE_ABORT };
        memset(m.abort.text, 't', sizeof m.abort.text);
        CHECK_EQ_INT(fy_msg_encode(buf, sizeof buf, &m), -EMSGSIZE);
        m = (struct fy_msg){ .type = FY_GET };
        memset(m.get.path, 'p', sizeof m.get.path);
        CHECK_EQ_INT(fy_msg_encode(buf, sizeof buf, &m), -EMSGSIZE);
        m = (struct fy_msg){ .type = FY_FILE_BEGIN };
        memset(m.begin.dest, 'd', sizeof m.begin.dest);
        CHECK_EQ_INT(fy_msg_encode(buf, sizeof buf, &m), -EMSGSIZE);
        m = (struct fy_msg){ .type = FY_FILE_BEGIN };
        strcpy(m.begin.dest, "d");
        memset(m.begin.name, 'n', sizeof m.begin.name);
        CHECK_EQ_INT(fy_msg_encode(buf, sizeof buf, &m), -EMSGSIZE);

        /* The buffer: too small, and exactly right. */
        m = (struct fy_msg){ .type = FY_CREDIT };
        CHECK_EQ_INT(fy_msg_encode(buf, FY_HDR_SIZE - 1, &m), -EMSGSIZE);
        CHECK_EQ_INT(fy_msg_encode(buf, FY_HDR_SIZE + 23, &m), -EMSGSIZE);
        CHECK_EQ_INT(fy_msg_encode(buf, FY_HDR_SIZE + 24, &m), FY_HDR_SIZE + 24);
        m = (struct fy_msg){ .type = FY_BYE };
        CHECK_EQ_INT(fy_msg_encode(buf, FY_HDR_SIZE, &m), FY_HDR_SIZE);

        /* DATA goes through fy_data_head_encode; unknown types are refused. */
        m = (struct fy_msg){ .type = FY_DATA };
        CHECK_EQ_INT(fy_msg_encode(buf, sizeof buf, &m), -EINVAL);
        m = (struct fy_msg){ .type = 0x32 };
        CHECK_EQ_INT(fy_msg_encode(buf, sizeof buf, &m), -EINVAL);
        m = (struct fy_msg){ .type = 0 };
        CHECK_EQ_INT(fy_msg_encode(buf, sizeof buf, &m), -EINVAL);

        struct fy_data d = { .raw_len = FY_MAX_CHUNK + 1, .payload_len = FY_MAX_CHUNK + 1 };
        CHECK_EQ_INT(fy_data_head_encode(buf, &d), -EMSGSIZE);
        d.payload_len = 1;
        CHECK_EQ_INT(fy_data_head_encode(buf, &d), -EMSGSIZE);
}

/* ---- fy_scan ------------------------------------------------------------- */

static void garbage(uint8_t *p, size_t n, unsigned seed) {
        for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                p[i] = (uint8_t)(seed >> 16);
                if (p[i] == 'F')
                        p[i] = 'G';
        }
}

static void test_scan(void) {
        static uint8_t s[4096];
        uint8_t bye[FY_HDR_SIZE];
        fy_header_encode(bye, FY_BYE, 0);

        CHECK_EQ_U64(fy_scan(s, 0), 0);
        memcpy(s, bye, FY_HDR_SIZE);
        CHECK_EQ_U64(fy_scan(s, FY_HDR_SIZE), 0);

        /* After garbage. */
        garbage(s, 1000, 1);
        memcpy(s + 1000, bye, FY_HDR_SIZE);
        CHECK_EQ_U64(fy_scan(s, 1000 + FY_HDR_SIZE), 1000);
        CHECK_EQ_U64(fy_scan(s, 1000), 1000); /* nothing to keep */

        /* After look-alikes: magic with a bad check, magic cut short. */
        garbage(s, 200, 2);
        memcpy(s + 10, "FERY", 4);
        memcpy(s + 50, "FER", 3);
        memcpy(s + 80, bye, FY_HDR_SIZE);
        s[80 + 13] ^= 1;
        memcpy(s + 200, bye, FY_HDR_SIZE);
        CHECK_EQ_U64(fy_scan(s, 200 + FY_HDR_SIZE), 200);

        /* After a partial header: an earlier frame's first 10 bytes, then a
         * whole frame (a session restarted mid-header). */
        struct fy_msg m = { .type = FY_CREDIT, .credit = { .consumed = 1, .limit = 2 } };
        uint8_t cr[64];
        ssize_t crn = fy_msg_encode(cr, sizeof cr, &m);
        CHECK_EQ_INT(crn, FY_HDR_SIZE + 24);
        garbage(s, 30, 3);
        memcpy(s + 30, cr, 10);
        memcpy(s + 40, cr, (size_t)crn);
        CHECK_EQ_U64(fy_scan(s, 40 + (size_t)crn), 40);
        /* A header cut after 7 bytes, then a whole one. */
        garbage(s, 30, 4);
        memcpy(s + 30, bye, 7);
        memcpy(s + 37, bye, FY_HDR_SIZE);
        CHECK_EQ_U64(fy_scan(s, 37 + FY_HDR_SIZE), 37);

        /* A cut header at the end: keep from where it starts. */
        for (size_t cut = 1; cut < FY_HDR_SIZE; cut++) {
                garbage(s, 500, 5 + (unsigned)cut);
                memcpy(s + 500, bye, cut);
                CHECK_EQ_U64(fy_scan(s, 500 + cut), 500);
        }
        /* A lone 'F' at the very end may start a header. */
        garbage(s, 64, 6);
        s[63] = 'F';
        CHECK_EQ_U64(fy_scan(s, 64), 63);
        /* Never keeps more than a header's worth of a tail with no header. */
        for (unsigned seed = 0; seed < 64; seed++) {
                garbage(s, sizeof s, seed);
                for (size_t i = 0; i < sizeof s; i += 97)
                        s[i] = 'F';
                size_t k = fy_scan(s, sizeof s);
                CHECK(k >= sizeof s - (FY_HDR_SIZE - 1));
        }
}

/* ---- digests ------------------------------------------------------------- */

static void test_digest(void) {
        /* Known answers from the xxHash reference, independent of the codec. */
        CHECK_EQ_U64(fy_chunk_digest("", 0), 0x2D06800538D394C2ull);

        struct fy_file_digest fd;
        uint8_t got[16], want[16];
        fy_file_digest_init(&fd);
        fy_file_digest_final(&fd, got);
        static const uint8_t empty128[16] = { 0x99, 0xaa, 0x06, 0xd3, 0x01, 0x47, 0x98, 0xd8,
                                              0x60, 0x01, 0xc3, 0x24, 0x46, 0x8d, 0x49, 0x7f };
        CHECK_EQ_MEM(got, empty128, 16);

        static const uint8_t abc[16] = { 0xc5, 0xda, 0xd2, 0x70, 0x4d, 0x53, 0x27, 0x36,
                                         0x21, 0xce, 0xd5, 0x7b, 0x91, 0xd9, 0xc2, 0x8e };
        static const uint8_t abcdef[16] = { 0x7a, 0x77, 0x4c, 0x56, 0x15, 0x9e, 0x01, 0x4d,
                                            0x5d, 0x06, 0xcb, 0xad, 0x0a, 0xc9, 0xac, 0x01 };
        CHECK_EQ_U64(fy_chunk_digest("abc", 3), 0x78af5f94892f3950ull);
        fy_file_digest_init(&fd);
        fy_file_digest_add(&fd, fy_chunk_digest("abc", 3));
        fy_file_digest_final(&fd, got);
        CHECK_EQ_MEM(got, abc, 16);
        fy_file_digest_init(&fd);
        fy_file_digest_add(&fd, fy_chunk_digest("abc", 3));
        fy_file_digest_add(&fd, fy_chunk_digest("def", 3));
        fy_file_digest_final(&fd, got);
        CHECK_EQ_MEM(got, abcdef, 16);

        /* N chunks: XXH3-128 over the LE chunk digests, big-endian hi then lo. */
        static const size_t counts[] = { 1, 2, 31, 32, 33, 63, 64, 65, 100, 1000 };
        static uint8_t cat[1000 * 8];
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
                size_t n = counts[c];
                fy_file_digest_init(&fd);
                for (size_t i = 0; i < n; i++) {
                        uint8_t chunk[64];
                        for (size_t j = 0; j < sizeof chunk; j++)
                                chunk[j] = (uint8_t)(i * 7 + j);
                        uint64_t d = fy_chunk_digest(chunk, 1 + i % sizeof chunk);
                        CHECK_EQ_U64(d, XXH3_64bits(chunk, 1 + i % sizeof chunk));
                        put_le(cat + 8 * i, d, 8);
                        fy_file_digest_add(&fd, d);
                }
                fy_file_digest_final(&fd, got);
                XXH128_hash_t h = XXH3_128bits(cat, 8 * n);
                for (int i = 0; i < 8; i++) {
                        want[i] = (uint8_t)(h.high64 >> (56 - 8 * i));
                        want[8 + i] = (uint8_t)(h.low64 >> (56 - 8 * i));
                }
                CHECK_EQ_MEM(got, want, 16);
        }

        /* Order matters. */
        uint8_t ab[16], ba[16];
        fy_file_digest_init(&fd);
        fy_file_digest_add(&fd, 1);
        fy_file_digest_add(&fd, 2);
        fy_file_digest_final(&fd, ab);
        fy_file_digest_init(&fd);
        fy_file_digest_add(&fd, 2);
        fy_file_digest_add(&fd, 1);
        fy_file_digest_final(&fd, ba);
        CHECK(memcmp(ab, ba, 16) != 0);
}

/* ---- error codes and names ----------------------------------------------- */

static void test_codes(void) {
        CHECK_EQ_U64(fy_code_from_errno(0), FY_OK);
        CHECK_EQ_INT(fy_code_to_errno(FY_OK), 0);
        for (uint32_t c = 1; c <= FY_ENOTEMPTY; c++) {
                int e = fy_code_to_errno(c);
                CHECK(e > 0);
                CHECK_EQ_U64(fy_code_from_errno(e), c);
                CHECK_EQ_U64(fy_code_from_errno(-e), c);
        }
        CHECK_EQ_U64(fy_code_from_errno(ENOSPC), FY_ENOSPC);
        CHECK_EQ_U64(fy_code_from_errno(-EXDEV), FY_EXDEV);
        CHECK_EQ_U64(fy_code_from_errno(EBADMSG), FY_EBADMSG);
        CHECK_EQ_U64(fy_code_from_errno(ENOTSUP), FY_ENOTSUP);
        CHECK_EQ_U64(fy_code_from_errno(EOPNOTSUPP), FY_ENOTSUP);
        CHECK_EQ_INT(fy_code_to_errno(FY_EXDEV), EXDEV);
        CHECK_EQ_INT(fy_code_to_errno(FY_ETIMEDOUT), ETIMEDOUT);

        /* Unknown errno -> FY_EOTHER -> EIO; unknown codes -> EIO. */
        CHECK_EQ_U64(fy_code_from_errno(ECHILD), FY_EOTHER);
        CHECK_EQ_U64(fy_code_from_errno(-ENOEXEC), FY_EOTHER);
        CHECK_EQ_U64(fy_code_from_errno(INT_MAX), FY_EOTHER);
        CHECK_EQ_U64(fy_code_from_errno(INT_MIN), FY_EOTHER);
        CHECK_EQ_INT(fy_code_to_errno(FY_EOTHER), EIO);
        CHECK_EQ_INT(fy_code_to_errno(fy_code_from_errno(ECHILD)), EIO);
        CHECK_EQ_INT(fy_code_to_errno(26), EIO);
        CHECK_EQ_INT(fy_code_to_errno(UINT32_MAX), EIO);

        CHECK_EQ_STR(fy_type_name(FY_SYNC), "SYNC");
        CHECK_EQ_STR(fy_type_name(FY_GET), "GET");
        CHECK_EQ_STR(fy_type_name(0), "unknown");
        const int errs[] = { -EILSEQ, -EBADMSG, -EPROTONOSUPPORT, -ENOMSG, -EPROTO, -EMSGSIZE, -EINVAL };
        for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
                CHECK(strcmp(fy_strerror_decode(errs[i]), "malformed frame") != 0);
        CHECK_EQ_STR(fy_strerror_decode(-EIO), "malformed frame");
}

/* RESUME_QUERY shares FILE_BEGIN's layout, with `how` in its padding;
 * FILE_BEGIN with FY_FB_RESUME carries two more fields after the name;
 * RESUME_STATE is fixed-size. */
static void test_resume(void) {
        struct fy_msg in = { .type = FY_RESUME_QUERY }, out;
        in.query.file = (struct fy_file_begin){ .xfer_id = 7, .flags = FY_FB_DEST_IS_DIR | FY_FB_SPARSE,
                                                .size = 5u << 20, .mode = 0640, .chunk_size = 1u << 20,
                                                .mtime_sec = 1700000000, .mtime_nsec = 5 };
        in.query.how = FY_RQ_CHECKSUM;
        strcpy(in.query.file.dest, "d");
        strcpy(in.query.file.name, "f");
        roundtrip(&in, &out, 44 + 2);
        CHECK_EQ_U64(le(frame + FY_HDR_SIZE + 36, 4), FY_RQ_CHECKSUM);
        CHECK_EQ_U64(out.query.how, FY_RQ_CHECKSUM);
        CHECK_EQ_U64(out.query.file.size, 5u << 20);
        CHECK_EQ_STR(out.query.file.name, "f");
        /* Unknown `how` bits; a query cannot itself resume. */
        struct fy_msg bad = in;
        bad.query.how = 2;
        ssize_t n = fy_msg_encode(frame, sizeof frame, &bad);
        CHECK(n > 0);
        CHECK_EQ_INT(decode(frame, (size_t)n, &out), -EPROTO);
        bad = in;
        bad.query.file.flags |= FY_FB_RESUME;
        n = fy_msg_encode(frame, sizeof frame, &bad);
        CHECK(n > 0);
        CHECK_EQ_INT(decode(frame, (size_t)n, &out), -EPROTO);

        /* FILE_BEGIN resuming at 3 MiB after 3 chunks. */
        in = (struct fy_msg){ .type = FY_FILE_BEGIN };
        in.begin = (struct fy_file_begin){ .xfer_id = 8, .flags = FY_FB_RESUME, .size = 5u << 20,
                                           .chunk_size = 1u << 20, .resume_off = 3u << 20, .resume_chunks = 3 };
        strcpy(in.begin.dest, "x");
        roundtrip(&in, &out, 44 + 1 + 16);
        CHECK_EQ_U64(le(frame + FY_HDR_SIZE + 44 + 1, 8), 3u << 20);
        CHECK_EQ_U64(out.begin.resume_off, 3u << 20);
        CHECK_EQ_U64(out.begin.resume_chunks, 3);
        /* Resuming past the end, or more chunks than bytes. */
        bad = in;
        bad.begin.resume_off = (5u << 20) + 1;
        n = fy_msg_encode(frame, sizeof frame, &bad);
        CHECK_EQ_INT(decode(frame, (size_t)n, &out), -EPROTO);
        bad = in;
        bad.begin.resume_off = 2;
        bad.begin.resume_chunks = 3;
        n = fy_msg_encode(frame, sizeof frame, &bad);
        CHECK_EQ_INT(decode(frame, (size_t)n, &out), -EPROTO);
        /* Without the flag the fields are not on the wire. */
        bad = in;
        bad.begin.flags = 0;
        n = fy_msg_encode(frame, sizeof frame, &bad);
        CHECK_EQ_INT(n, FY_HDR_SIZE + 44 + 1);

        in = (struct fy_msg){ .type = FY_RESUME_STATE };
        in.state = (struct fy_resume_state){ .xfer_id = 9, .verdict = FY_RS_RESUME, .offset = 3u << 20,
                                             .chunks = 3, .received = 4u << 20, .chunk_size = 1u << 20 };
        memset(in.state.digest, 0x5a, 16);
        roundtrip(&in, &out, 56);
        const uint8_t *p = frame + FY_HDR_SIZE;
        CHECK_EQ_U64(le(p + 4, 4), FY_RS_RESUME);
        CHECK_EQ_U64(le(p + 8, 8), 3u << 20);
        CHECK_EQ_U64(le(p + 24, 8), 4u << 20);
        CHECK_EQ_U64(le(p + 32, 4), 1u << 20);
        CHECK_EQ_U64(out.state.received, 4u << 20);
        CHECK_EQ_MEM(out.state.digest, in.state.digest, 16);
        struct { uint32_t verdict; uint64_t off, chunks, recv; uint32_t chunk; int err; } cases[] = {
                { FY_RS_MAX + 1, 0, 0, 0, 0, -EPROTO },             /* unknown verdict */
                { FY_RS_RESUME, 10, 0, 9, 4096, -EPROTO },          /* received < offset */
                { FY_RS_RESUME, 10, 11, 10, 4096, -EPROTO },        /* chunks > bytes */
                { FY_RS_RESUME, 10, 1, 10, 0, -EPROTO },            /* no chunking */
                { FY_RS_DIGEST, 10, 0, 0, FY_MAX_CHUNK + 1, -EPROTO },
                { FY_RS_SKIP, 10, 0, 0, 4096, 0 },                  /* the record's chunking (9.14) */
                { FY_RS_SKIP, 10, 0, 0, 4095, -EPROTO },
                { FY_RS_SKIP, 10, 0, 0, 0, 0 },
                { FY_RS_SEND, 0, 0, 0, 0, 0 },
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                bad = in;
                bad.state.verdict = cases[i].verdict;
                bad.state.offset = cases[i].off;
                bad.state.chunks = cases[i].chunks;
                bad.state.received = cases[i].recv;
                bad.state.chunk_size = cases[i].chunk;
                n = fy_msg_encode(frame, sizeof frame, &bad);
                CHECK_EQ_INT(decode(frame, (size_t)n, &out), cases[i].err);
        }
        test_truncation(&in);
        CHECK_EQ_STR(fy_type_name(FY_RESUME_QUERY), "RESUME_QUERY");
        CHECK_EQ_STR(fy_type_name(FY_RESUME_STATE), "RESUME_STATE");
}

/* PROTOCOL.md "Test vectors": a compressed DATA frame.  It decodes, its
 * payload is a zstd frame of exactly raw_len bytes, and the digest is of
 * those raw bytes.  (A fixed vector: compressors may produce other bytes
 * for the same input, every decoder must take these.) */
static void test_data_zstd_vector(void) {
        static const char hex[] = "46455259011100003200000074c039c20100000001000000000000000000000060000000000000003a5a08d33af720a3"
                                  "28b52ffd20604d0000186162630100eae486";
        uint8_t frame[sizeof hex / 2];
        for (size_t i = 0; i < sizeof frame; i++)
                CHECK(sscanf(hex + 2 * i, "%2hhx", &frame[i]) == 1);
        struct fy_msg out;
        CHECK_EQ_INT(decode(frame, sizeof frame, &out), 0);
        CHECK_EQ_INT(out.type, FY_DATA);
        CHECK_EQ_INT(out.data.codec, FY_CODEC_ZSTD);
        CHECK_EQ_INT(out.data.raw_len, 96);
        CHECK_EQ_INT(out.data.payload_len, 18);
        char raw[96], want[96];
        for (int i = 0; i < 32; i++)
                memcpy(want + 3 * i, "abc", 3);
        size_t n = ZSTD_decompress(raw, sizeof raw, frame + FY_DATA_FRAME_HEAD, out.data.payload_len);
        CHECK(!ZSTD_isError(n));
        CHECK_EQ_U64(n, 96);
        CHECK_EQ_MEM(raw, want, 96);
        CHECK_EQ_U64(out.data.digest, fy_chunk_digest(want, 96));
        CHECK_EQ_U64(out.data.digest, 0xa320f73ad3085a3aull);
}

/* CHUNK_NACK (feature bit 3): round trip, the PROTOCOL.md vector, faults. */
static void test_nack(void) {
        struct fy_msg m = { .type = FY_CHUNK_NACK, .nack = { .xfer_id = 7, .raw_len = 1u << 20, .offset = 2u << 20,
                                                            .code = FY_EBADMSG } }, out;
        uint8_t frame[64];
        ssize_t n = fy_msg_encode(frame, sizeof frame, &m);
        CHECK_EQ_INT(n, FY_HDR_SIZE + 24);
        static const char hex[] = "46455259011500001800000" "0c0e9b7e6070000000000100000002000000000001000000000000000";
        uint8_t want[sizeof hex / 2];
        for (size_t i = 0; i < sizeof want; i++)
                CHECK(sscanf(hex + 2 * i, "%2hhx", &want[i]) == 1);
        CHECK_EQ_INT(n, (ssize_t)sizeof want);
        CHECK_EQ_MEM(frame, want, sizeof want);
        CHECK_EQ_INT(decode(frame, (size_t)n, &out), 0);
        CHECK_EQ_INT(out.type, FY_CHUNK_NACK);
        CHECK_EQ_INT(out.nack.xfer_id, 7);
        CHECK_EQ_INT(out.nack.raw_len, 1u << 20);
        CHECK_EQ_U64(out.nack.offset, 2u << 20);
        CHECK_EQ_INT(out.nack.code, FY_EBADMSG);
        /* raw_len 0, over 4 MiB, offset + raw_len past 2^63-1, reserved bytes. */
        uint8_t bad[64];
        memcpy(bad, frame, (size_t)n);
        put_le(bad + FY_HDR_SIZE + 4, 0, 4);
        CHECK_EQ_INT(decode(bad, (size_t)n, &out), -EPROTO);
        put_le(bad + FY_HDR_SIZE + 4, FY_MAX_CHUNK + 1, 4);
        CHECK_EQ_INT(decode(bad, (size_t)n, &out), -EMSGSIZE);
        memcpy(bad, frame, (size_t)n);
        put_le(bad + FY_HDR_SIZE + 8, (uint64_t)INT64_MAX, 8);
        CHECK_EQ_INT(decode(bad, (size_t)n, &out), -EPROTO);
        memcpy(bad, frame, (size_t)n);
        bad[FY_HDR_SIZE + 21] = 1;
        CHECK_EQ_INT(decode(bad, (size_t)n, &out), -EPROTO);
        /* Short and long payloads. */
        memcpy(bad, frame, (size_t)n);
        set_length(bad, 23);
        CHECK_EQ_INT(decode(bad, FY_HDR_SIZE + 23, &out), -EBADMSG);
        set_length(bad, 25);
        bad[FY_HDR_SIZE + 24] = 0;
        CHECK_EQ_INT(decode(bad, FY_HDR_SIZE + 25, &out), -EBADMSG);
}

/* Hex of a PROTOCOL.md vector into want; its length. */
static size_t unhex(const char *hex, uint8_t *want, size_t cap) {
        size_t n = strlen(hex) / 2;
        CHECK(n <= cap);
        for (size_t i = 0; i < n && i < cap; i++)
                CHECK(sscanf(hex + 2 * i, "%2hhx", &want[i]) == 1);
        return n;
}

/* Bench mode (feature bit 7, PROTOCOL.md 9.11): GET with FY_GET_BENCH and
 * its size and pattern, FILE_BEGIN with FY_FB_BENCH, MKDIR with
 * FY_MK_SCRATCH - the vectors, the layout, and each flag alone. */
static void test_bench(void) {
        uint8_t want[128], bad[FY_MAX_CTRL_FRAME];
        struct fy_msg in, out;
        ssize_t n;

        /* GET{id 9, FY_GET_BENCH, "bench", 1 GiB, FY_BENCH_TEXT} */
        in = (struct fy_msg){ .type = FY_GET, .get = { .xfer_id = 9, .flags = FY_GET_BENCH, .path = "bench",
                                                      .bench_size = 1ull << 30, .bench_pattern = FY_BENCH_TEXT } };
        size_t wn = unhex("46455259012000002700000" "0c0e4aedb" "09000000" "08000000" "00000000" "00000000"
                          "0500" "62656e6368" "0000004000000000" "01000000" "00000000", want, sizeof want);
        n = roundtrip(&in, &out, 18 + 5 + 16);
        CHECK_EQ_INT(n, (ssize_t)wn);
        CHECK_EQ_MEM(frame, want, wn);
        const uint8_t *p = frame + FY_HDR_SIZE;
        CHECK_EQ_U64(le(p + 4, 4), FY_GET_BENCH);
        CHECK_EQ_U64(le(p + 23, 8), 1ull << 30);
        CHECK_EQ_U64(le(p + 31, 4), FY_BENCH_TEXT);
        CHECK_EQ_U64(le(p + 35, 4), 0);
        CHECK_EQ_INT(out.get.flags, FY_GET_BENCH);
        CHECK_EQ_U64(out.get.bench_size, 1ull << 30);
        CHECK_EQ_INT(out.get.bench_pattern, FY_BENCH_TEXT);
        CHECK_EQ_STR(out.get.path, "bench");
        in.get.bench_size = (uint64_t)INT64_MAX;
        in.get.bench_pattern = FY_BENCH_RANDOM;
        roundtrip(&in, &out, 18 + 5 + 16);
        CHECK_EQ_U64(out.get.bench_size, (uint64_t)INT64_MAX);
        /* The one flag; a size past 2^63-1, an unknown pattern, reserved bytes. */
        const uint32_t with[] = { FY_GET_TREE, FY_GET_RESUME, FY_GET_CHECKSUM };
        for (size_t i = 0; i < 3; i++) {
                struct fy_msg m = in;
                m.get.flags |= with[i];
                n = fy_msg_encode(bad, sizeof bad, &m);
                CHECK_EQ_INT(decode(bad, (size_t)n, &out), -EPROTO);
        }
        n = fy_msg_encode(bad, sizeof bad, &in);
        put_le(bad + FY_HDR_SIZE + 23, (uint64_t)INT64_MAX + 1, 8);
        CHECK_EQ_INT(decode(bad, (size_t)n, &out), -EPROTO);
        n = fy_msg_encode(bad, sizeof bad, &in);
        put_le(bad + FY_HDR_SIZE + 31, FY_BENCH_PATTERN_MAX + 1, 4);
        CHECK_EQ_INT(decode(bad, (size_t)n, &out), -EPROTO);
        n = fy_msg_encode(bad, sizeof bad, &in);
        bad[FY_HDR_SIZE + 38] = 1;
        CHECK_EQ_INT(decode(bad, (size_t)n, &out), -EPROTO);
        /* The bench fields only with the flag: missing, or trailing. */
        n = fy_msg_encode(bad, sizeof bad, &in);
        set_length(bad, 18 + 5);
        CHECK_EQ_INT(decode(bad, FY_HDR_SIZE + 18 + 5, &out), -EBADMSG);
        n = fy_msg_encode(bad, sizeof bad, &in);
        put_le(bad + FY_HDR_SIZE + 4, 0, 4);
        CHECK_EQ_INT(decode(bad, (size_t)n, &out), -EBADMSG);

        /* FILE_BEGIN{id 3, FY_FB_BENCH, 1 MiB, chunk 1 MiB, "bench"} */
        in = (struct fy_msg){ .type = FY_FILE_BEGIN, .begin = { .xfer_id = 3, .flags = FY_FB_BENCH, .size = 1u << 20,
                                                               .chunk_size = 1u << 20, .dest = "bench" } };
        wn = unhex("464552590110000031000000baaa37e6" "03000000" "20000000" "0000100000000000" "00000000" "00001000"
                   "0000000000000000" "00000000" "00000000" "0500" "62656e6368" "0000", want, sizeof want);
        n = roundtrip(&in, &out, 44 + 5);
        CHECK_EQ_INT(n, (ssize_t)wn);
        CHECK_EQ_MEM(frame, want, wn);
        CHECK_EQ_INT(out.begin.flags, FY_FB_BENCH);
        /* Alone: no destination rule, no resume, no holes; never in a query. */
        const uint32_t bflags[] = { FY_FB_DEST_IS_DIR, FY_FB_DEST_MAYBE_DIR, FY_FB_SPARSE, FY_ENTRY_REL, FY_FB_RESUME };
        for (size_t i = 0; i < sizeof bflags / sizeof bflags[0]; i++) {
                struct fy_msg m = in;
                m.begin.flags |= bflags[i];
                strcpy(m.begin.name, "x");
                n = fy_msg_encode(bad, sizeof bad, &m);
                CHECK_EQ_INT(decode(bad, (size_t)n, &out), -EPROTO);
        }
        struct fy_msg q = { .type = FY_RESUME_QUERY, .query = { .file = in.begin } };
        n = fy_msg_encode(bad, sizeof bad, &q);
        CHECK_EQ_INT(decode(bad, (size_t)n, &out), -EPROTO);

        /* MKDIR{id 2, FY_MK_SCRATCH, 0700, ".ferry-bench.1"} */
        in = (struct fy_msg){ .type = FY_MKDIR, .mkdir = { .xfer_id = 2, .flags = FY_MK_SCRATCH, .mode = 0700,
                                                          .dest = ".ferry-bench.1" } };
        wn = unhex("464552590121000028000000dc06dd56" "02000000" "02000000" "c0010000" "00000000" "0000000000000000"
                   "0e00" "2e66657272792d62656e63682e31", want, sizeof want);
        n = roundtrip(&in, &out, 26 + 14);
        CHECK_EQ_INT(n, (ssize_t)wn);
        CHECK_EQ_MEM(frame, want, wn);
        CHECK_EQ_INT(out.mkdir.flags, FY_MK_SCRATCH);
        const uint32_t mflags[] = { FY_MK_ATTRS, FY_ENTRY_REL };
        for (size_t i = 0; i < 2; i++) {
                struct fy_msg m = in;
                m.mkdir.flags |= mflags[i];
                n = fy_msg_encode(bad, sizeof bad, &m);
                CHECK_EQ_INT(decode(bad, (size_t)n, &out), -EPROTO);
        }

        /* The bit is numbered, and offered by this implementation. */
        CHECK_EQ_U64(FY_FEAT_BENCH, 1ull << 7);
        CHECK(FY_FEAT_KNOWN & FY_FEAT_BENCH);
}

/* Stats (feature bit 6, PROTOCOL.md 9.12): STATS_REQ and STATS, the
 * vectors, the layout, and each fault. */
static void test_stats(void) {
        uint8_t want[160], bad[160];
        struct fy_msg in, out;

        in = (struct fy_msg){ .type = FY_STATS_REQ };
        size_t wn = unhex("4645525901300000080000002101e991" "00000000" "00000000", want, sizeof want);
        ssize_t n = roundtrip(&in, &out, 8);
        CHECK_EQ_INT(n, (ssize_t)wn);
        CHECK_EQ_MEM(frame, want, wn);
        CHECK_EQ_INT(out.stats_req.flags, 0);
        memcpy(bad, frame, (size_t)n);
        bad[FY_HDR_SIZE] = 1; /* no flag is defined */
        CHECK_EQ_INT(decode(bad, (size_t)n, &out), -EPROTO);
        memcpy(bad, frame, (size_t)n);
        bad[FY_HDR_SIZE + 7] = 1;
        CHECK_EQ_INT(decode(bad, (size_t)n, &out), -EPROTO);
        set_length(bad, 4);
        CHECK_EQ_INT(decode(bad, FY_HDR_SIZE + 4, &out), -EBADMSG);
        set_length(bad, 0);
        CHECK_EQ_INT(decode(bad, FY_HDR_SIZE, &out), -EBADMSG);

        in = (struct fy_msg){ .type = FY_STATS,
                              .stats = { .sessions_total = 3, .sessions = 1, .pacing = FY_PACE_RATE,
                                         .bytes_received = 1u << 20, .bytes_sent = 2u << 20, .files_ok = 5,
                                         .files_failed = 1, .files_skipped = 2, .paced_ns = { 1500000000 },
                                         .dirty = 65536, .window = 8u << 20, .rss = 10u << 20, .pressure_pct = 7 } };
        wn = unhex("464552590131000078000000e2adaa44"
                   "0300000000000000" "01000000" "01000000" "0000100000000000" "0000200000000000"
                   "0500000000000000" "0100000000000000" "0200000000000000"
                   "002f685900000000" "0000000000000000" "0000000000000000" "0000000000000000"
                   "0000010000000000" "0000800000000000" "0000a00000000000" "07000000" "00000000",
                   want, sizeof want);
        n = roundtrip(&in, &out, FY_STATS_SIZE);
        CHECK_EQ_INT(n, (ssize_t)wn);
        CHECK_EQ_MEM(frame, want, wn);
        CHECK_EQ_U64(out.stats.sessions_total, 3);
        CHECK_EQ_INT(out.stats.sessions, 1);
        CHECK_EQ_INT(out.stats.pacing, FY_PACE_RATE);
        CHECK_EQ_U64(out.stats.bytes_received, 1u << 20);
        CHECK_EQ_U64(out.stats.bytes_sent, 2u << 20);
        CHECK_EQ_U64(out.stats.files_ok + out.stats.files_failed * 10 + out.stats.files_skipped * 100, 215);
        for (unsigned i = 0; i < 4; i++)
                CHECK_EQ_U64(out.stats.paced_ns[i], i ? 0 : 1500000000);
        CHECK_EQ_U64(out.stats.dirty, 65536);
        CHECK_EQ_U64(out.stats.window, 8u << 20);
        CHECK_EQ_U64(out.stats.rss, 10u << 20);
        CHECK_EQ_INT(out.stats.pressure_pct, 7);
        const uint8_t *p = frame + FY_HDR_SIZE;
        CHECK_EQ_U64(le(p + 16, 8), 1u << 20);
        CHECK_EQ_U64(le(p + 56, 8), 1500000000);
        CHECK_EQ_U64(le(p + 112, 4), 7);
        /* Faults: an unknown pacing bit, pressure over 100, more running
         * than begun, the reserved tail, a short and a long payload. */
        const struct { size_t off, len; uint64_t v; } faults[] = {
                { 12, 4, FY_PACE_KNOWN + 1 }, { 112, 4, 101 }, { 8, 4, 4 }, { 116, 4, 1 },
        };
        for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
                memcpy(bad, frame, (size_t)n);
                put_le(bad + FY_HDR_SIZE + faults[i].off, faults[i].v, faults[i].len);
                CHECK_EQ_INT(decode(bad, (size_t)n, &out), -EPROTO);
        }
        memcpy(bad, frame, (size_t)n);
        set_length(bad, FY_STATS_SIZE - 1);
        CHECK_EQ_INT(decode(bad, FY_HDR_SIZE + FY_STATS_SIZE - 1, &out), -EBADMSG);
        set_length(bad, FY_STATS_SIZE + 1);
        bad[FY_HDR_SIZE + FY_STATS_SIZE] = 0;
        CHECK_EQ_INT(decode(bad, FY_HDR_SIZE + FY_STATS_SIZE + 1, &out), -EBADMSG);
        CHECK_EQ_STR(fy_type_name(FY_STATS_REQ), "STATS_REQ");
        CHECK_EQ_STR(fy_type_name(FY_STATS), "STATS");
        CHECK_EQ_U64(FY_FEAT_STATS, 1ull << 6);
}

/* ---- the spec's own vectors ------------------------------------------------
 *
 * PROTOCOL.md section 11 holds fenced blocks "```vector NAME" of hex (any
 * whitespace between bytes, "#" comments to the end of a line).  Each NAME
 * is built below from structs and the codec: its frames are encoded and
 * must equal the spec's bytes, and the spec's bytes are decoded frame by
 * frame and must give the same structs back (a decoded control message
 * re-encodes to the same bytes; a DATA head decodes to the same fields and
 * its chunk to the same raw bytes).  The spec is read at run time, so it
 * cannot drift from the codec; a block the table here does not know, or a
 * NAME missing from the spec, fails too. */

#ifndef FERRY_PROTOCOL_MD
#define FERRY_PROTOCOL_MD "protocol/PROTOCOL.md"
#endif

struct vitem {
        struct fy_msg m;     /* DATA: xfer_id, codec, offset; the rest from raw */
        const char *raw;     /* DATA: the chunk's raw bytes */
        uint32_t raw_len;
        const char *zhex;    /* DATA codec 1: the zstd frame, hex */
        uint32_t pad;        /* PAD: payload bytes */
};

#define VEC_ITEMS 12
struct vec {
        const char *name;
        unsigned n;          /* frames; 0: a digest vector */
        struct vitem it[VEC_ITEMS];
        uint8_t dig[16];     /* digest vectors: the bytes */
        size_t diglen;
        bool seen;
};

static struct vec vecs[40];
static unsigned nvecs;

static struct vec *vec_new(const char *name) {
        CHECK(nvecs < sizeof vecs / sizeof vecs[0]);
        struct vec *v = &vecs[nvecs++ % (sizeof vecs / sizeof vecs[0])];
        memset(v, 0, sizeof *v);
        v->name = name;
        return v;
}

static struct vitem *vec_add(struct vec *v, uint8_t type) {
        CHECK(v->n < VEC_ITEMS);
        struct vitem *it = &v->it[v->n++ % VEC_ITEMS];
        it->m.type = type;
        return it;
}

static struct vec *vec_one(const char *name, const struct fy_msg *m) {
        struct vec *v = vec_new(name);
        vec_add(v, m->type)->m = *m;
        return v;
}

static void vec_data(struct vec *v, uint32_t id, uint64_t off, const char *raw, uint32_t len) {
        struct vitem *it = vec_add(v, FY_DATA);
        it->m.data = (struct fy_data){ .xfer_id = id, .codec = FY_CODEC_RAW, .offset = off };
        it->raw = raw;
        it->raw_len = len;
}

static void digest_of(uint8_t out[16], const char *const *chunks, const uint32_t *lens, unsigned n) {
        struct fy_file_digest fd;
        fy_file_digest_init(&fd);
        for (unsigned i = 0; i < n; i++)
                if (chunks[i])
                        fy_file_digest_add(&fd, fy_chunk_digest(chunks[i], lens[i]));
        fy_file_digest_final(&fd, out);
}

/* 1 MiB of 'x': the verified prefix of the resumed file below (not on the wire). */
static char big_x[1u << 20];

static void vectors_build(void) {
        struct fy_msg m;
        struct vec *v;
        uint8_t hello6[16], sparse[16], prefix[16], whole[16];
        memset(big_x, 'x', sizeof big_x);
        const char *c6[] = { "hello\n" };
        const uint32_t l6[] = { 6 };
        digest_of(hello6, c6, l6, 1);
        struct fy_file_digest fd;
        fy_file_digest_init(&fd);
        fy_file_digest_add_hole(&fd, 0, 1u << 20);
        fy_file_digest_add(&fd, fy_chunk_digest("abc", 3));
        fy_file_digest_final(&fd, sparse);
        const char *cp[] = { big_x, "abc" };
        const uint32_t lp[] = { 1u << 20, 3 };
        digest_of(prefix, cp, lp, 1);
        digest_of(whole, cp, lp, 2);

        /* ---- one of each frame ---- */
        m = (struct fy_msg){ .type = FY_SYNC, .hello = { .nonce = 0x0123456789abcdefull, .proto_min = 1, .proto_max = 1,
                                                         .features = 0x9f, .max_frame = FY_MAX_PAYLOAD,
                                                         .max_chunk = FY_MAX_CHUNK, .recv_window = 64u << 20,
                                                         .agent = "ferry/1.0" } };
        vec_one("sync", &m);
        m = (struct fy_msg){ .type = FY_SYNC_ACK, .hello = { .nonce = 0x0123456789abcdefull, .proto_min = 1, .proto_max = 1,
                                                             .features = 0x9e, .max_frame = FY_MAX_PAYLOAD,
                                                             .max_chunk = 1u << 20, .recv_window = 16u << 20,
                                                             .agent = "ferryd/1.0" } };
        vec_one("sync-ack", &m);
        m = (struct fy_msg){ .type = FY_ERROR, .error = { .code = FY_EPROTO,
                                                          .text = "protocol error: DATA for transfer 9, which is not open" } };
        vec_one("error", &m);
        m = (struct fy_msg){ .type = FY_BYE };
        vec_one("bye", &m);
        v = vec_new("pad");
        vec_add(v, FY_PAD)->pad = 4;
        m = (struct fy_msg){ .type = FY_CREDIT, .credit = { .consumed = 1u << 20, .limit = 65u << 20,
                                                            .reasons = FY_PACE_RATE | FY_PACE_PSI } };
        vec_one("credit", &m);

        /* A push of one small file: "hello\n" to logs/a.txt. */
        v = vec_new("push");
        vec_add(v, FY_FILE_BEGIN)->m.begin = (struct fy_file_begin){
                .xfer_id = 1, .flags = FY_FB_DEST_MAYBE_DIR, .size = 6, .mode = 0644, .chunk_size = 1u << 20,
                .mtime_sec = 1700000000, .mtime_nsec = 123456789, .dest = "logs", .name = "a.txt" };
        vec_data(v, 1, 0, "hello\n", 6);
        struct vitem *it = vec_add(v, FY_FILE_END);
        it->m.end = (struct fy_file_end){ .xfer_id = 1, .size = 6, .chunks = 1, .rtt_count = 1, .rtt_p50_us = 250,
                                          .rtt_p99_us = 250, .rtt_max_us = 250 };
        memcpy(it->m.end.digest, hello6, 16);
        v = vec_new("push-answer");
        vec_add(v, FY_CREDIT)->m.credit = (struct fy_credit){ .consumed = 6, .limit = 6 + (16u << 20) };
        it = vec_add(v, FY_FILE_STATUS);
        it->m.status = (struct fy_file_status){ .xfer_id = 1, .code = FY_OK, .bytes = 6, .dirty_peak = 6,
                                                .rss_peak = 8u << 20 };
        memcpy(it->m.status.digest, hello6, 16);
        m = (struct fy_msg){ .type = FY_FILE_STATUS, .status = { .xfer_id = 2, .code = FY_ENOSPC, .bytes = 1u << 20,
                                                                 .text = "'logs/b.bin': no space left on device" } };
        vec_one("file-status-failed", &m);
        m = (struct fy_msg){ .type = FY_FILE_ABORT, .abort = { .xfer_id = 6, .code = FY_ENOENT,
                                                               .text = "'missing': no such file or directory" } };
        vec_one("file-abort", &m);
        m = (struct fy_msg){ .type = FY_GET, .get = { .xfer_id = 5, .chunk_size = 65536, .path = "logs/a.txt" } };
        vec_one("get", &m);
        m = (struct fy_msg){ .type = FY_CHUNK_NACK, .nack = { .xfer_id = 7, .raw_len = 1u << 20, .offset = 2u << 20,
                                                              .code = FY_EBADMSG } };
        vec_one("chunk-nack", &m);
        m = (struct fy_msg){ .type = FY_STATS_REQ };
        vec_one("stats-req", &m);
        m = (struct fy_msg){ .type = FY_STATS,
                             .stats = { .sessions_total = 3, .sessions = 1, .pacing = FY_PACE_RATE,
                                        .bytes_received = 1u << 20, .bytes_sent = 2u << 20, .files_ok = 5,
                                        .files_failed = 1, .files_skipped = 2, .paced_ns = { 1500000000 },
                                        .dirty = 65536, .window = 8u << 20, .rss = 10u << 20, .pressure_pct = 7 } };
        vec_one("stats", &m);

        /* DATA codec 1: 96 bytes of "abc" as one zstd frame. */
        static char abc96[97];
        for (int i = 0; i < 32; i++)
                memcpy(abc96 + 3 * i, "abc", 3);
        v = vec_new("data-zstd");
        vec_data(v, 1, 0, abc96, 96);
        v->it[0].m.data.codec = FY_CODEC_ZSTD;
        v->it[0].zhex = "28b52ffd20604d0000186162630100eae486";

        /* A sparse file: a 1 MiB hole, then "abc". */
        v = vec_new("sparse");
        vec_add(v, FY_FILE_BEGIN)->m.begin = (struct fy_file_begin){
                .xfer_id = 3, .flags = FY_FB_DEST_IS_DIR | FY_FB_SPARSE, .size = (1u << 20) + 3, .mode = 0600,
                .chunk_size = 1u << 20, .mtime_sec = 1700000000, .dest = "img", .name = "disk.raw" };
        vec_add(v, FY_HOLE)->m.hole = (struct fy_hole){ .xfer_id = 3, .offset = 0, .length = 1u << 20 };
        vec_data(v, 3, 1u << 20, "abc", 3);
        it = vec_add(v, FY_FILE_END);
        it->m.end = (struct fy_file_end){ .xfer_id = 3, .size = (1u << 20) + 3, .chunks = 1 };
        memcpy(it->m.end.digest, sparse, 16);
        v = vec_new("digest-hole");
        uint8_t le16[16];
        put_le(le16, 0, 8);
        put_le(le16 + 8, 1u << 20, 8);
        put_le(v->dig, XXH3_64bits_withSeed(le16, 16, FY_HOLE_SEED), 8);
        v->diglen = 8;
        v = vec_new("digest-sparse");
        memcpy(v->dig, sparse, 16);
        v->diglen = 16;

        /* A resumed file: the receiver holds the first 1 MiB (all 'x') of
         * vm/big.img, 1 MiB + 3 bytes; "abc" is what is left. */
        v = vec_new("resume-query");
        struct fy_file_begin big = { .xfer_id = 4, .flags = FY_FB_DEST_IS_DIR, .size = (1u << 20) + 3, .mode = 0644,
                                     .chunk_size = 1u << 20, .mtime_sec = 1700000000, .mtime_nsec = 5,
                                     .dest = "vm", .name = "big.img" };
        it = vec_add(v, FY_RESUME_QUERY);
        it->m.query.file = big;
        v = vec_new("resume-state");
        it = vec_add(v, FY_RESUME_STATE);
        it->m.state = (struct fy_resume_state){ .xfer_id = 4, .verdict = FY_RS_RESUME, .offset = 1u << 20, .chunks = 1,
                                                .received = (1u << 20) + 3, .chunk_size = 1u << 20 };
        memcpy(it->m.state.digest, prefix, 16);
        v = vec_new("resume-send");
        it = vec_add(v, FY_FILE_BEGIN);
        it->m.begin = big;
        it->m.begin.flags |= FY_FB_RESUME;
        it->m.begin.resume_off = 1u << 20;
        it->m.begin.resume_chunks = 1;
        vec_data(v, 4, 1u << 20, "abc", 3);
        it = vec_add(v, FY_FILE_END);
        it->m.end = (struct fy_file_end){ .xfer_id = 4, .size = (1u << 20) + 3, .chunks = 2 };
        memcpy(it->m.end.digest, whole, 16);
        v = vec_new("resume-answer");
        vec_add(v, FY_CREDIT)->m.credit = (struct fy_credit){ .consumed = 3, .limit = 3 + (16u << 20) };
        it = vec_add(v, FY_FILE_STATUS);
        it->m.status = (struct fy_file_status){ .xfer_id = 4, .bytes = (1u << 20) + 3 };
        memcpy(it->m.status.digest, whole, 16);
        v = vec_new("digest-prefix");
        memcpy(v->dig, prefix, 16);
        v->diglen = 16;

        /* The same query answered SKIP (a complete file with its record),
         * and the sender's FILE_ABORT{code 0}; and a checksum query. */
        v = vec_new("resume-skip");
        it = vec_add(v, FY_RESUME_STATE);
        it->m.state = (struct fy_resume_state){ .xfer_id = 4, .verdict = FY_RS_SKIP, .offset = (1u << 20) + 3 };
        memcpy(it->m.state.digest, whole, 16);
        vec_add(v, FY_FILE_ABORT)->m.abort = (struct fy_file_abort){ .xfer_id = 4, .code = FY_OK,
                                                                     .text = "skipped: the receiver has it" };
        v = vec_new("resume-checksum");
        it = vec_add(v, FY_RESUME_QUERY);
        it->m.query.file = big;
        it->m.query.how = FY_RQ_CHECKSUM;
        it = vec_add(v, FY_RESUME_STATE);
        it->m.state = (struct fy_resume_state){ .xfer_id = 4, .verdict = FY_RS_DIGEST, .offset = (1u << 20) + 3,
                                                .chunk_size = 1u << 20 };
        memcpy(it->m.state.digest, whole, 16);

        /* The checksum query again, where the receiver's copy ends in
         * "abd": a delta (feature bit 9).  Both chunks go as keeps; the
         * receiver has the first, lacks the second and asks for it
         * (ENOENT), which then comes as data. */
        v = vec_new("delta-send");
        it = vec_add(v, FY_FILE_BEGIN);
        it->m.begin = big;
        it->m.begin.flags |= FY_FB_DELTA;
        vec_data(v, 4, 0, big_x, 1u << 20);
        v->it[v->n - 1].m.data.codec = FY_CODEC_KEEP;
        vec_data(v, 4, 1u << 20, "abc", 3);
        v->it[v->n - 1].m.data.codec = FY_CODEC_KEEP;
        it = vec_add(v, FY_FILE_END);
        it->m.end = (struct fy_file_end){ .xfer_id = 4, .size = (1u << 20) + 3, .chunks = 2 };
        memcpy(it->m.end.digest, whole, 16);
        v = vec_new("delta-nack");
        vec_add(v, FY_CHUNK_NACK)->m.nack = (struct fy_chunk_nack){ .xfer_id = 4, .raw_len = 3, .offset = 1u << 20,
                                                                    .code = FY_ENOENT };
        v = vec_new("delta-resend");
        vec_data(v, 4, 1u << 20, "abc", 3);
        it = vec_add(v, FY_FILE_STATUS);
        it->m.status = (struct fy_file_status){ .xfer_id = 4, .bytes = (1u << 20) + 3 };
        memcpy(it->m.status.digest, whole, 16);

        /* A pulled tree: GET srv/t, a directory holding a.txt ("abc") and
         * sub/, which holds the symbolic link l -> ../a.txt. */
        v = vec_new("tree-get");
        vec_add(v, FY_GET)->m.get = (struct fy_get){ .xfer_id = 7, .flags = FY_GET_TREE, .path = "srv/t" };
        v = vec_new("tree-entries");
        vec_add(v, FY_MKDIR)->m.mkdir = (struct fy_mkdir){ .xfer_id = 7, .flags = FY_ENTRY_REL, .mode = 0755,
                                                          .mtime_sec = 1700000100, .dest = "." };
        vec_add(v, FY_FILE_BEGIN)->m.begin = (struct fy_file_begin){
                .xfer_id = FY_RESPONDER_ID, .flags = FY_ENTRY_REL, .size = 3, .mode = 0644, .chunk_size = 1u << 20,
                .mtime_sec = 1700000000, .dest = "./a.txt" };
        vec_data(v, FY_RESPONDER_ID, 0, "abc", 3);
        it = vec_add(v, FY_FILE_END);
        it->m.end = (struct fy_file_end){ .xfer_id = FY_RESPONDER_ID, .size = 3, .chunks = 1 };
        const char *ca[] = { "abc" };
        const uint32_t la[] = { 3 };
        digest_of(it->m.end.digest, ca, la, 1);
        vec_add(v, FY_MKDIR)->m.mkdir = (struct fy_mkdir){ .xfer_id = FY_RESPONDER_ID + 1, .flags = FY_ENTRY_REL,
                                                          .mode = 0700, .mtime_sec = 1700000050, .dest = "./sub" };
        vec_add(v, FY_SYMLINK)->m.symlink = (struct fy_symlink){ .xfer_id = FY_RESPONDER_ID + 2, .flags = FY_ENTRY_REL,
                                                                .mtime_sec = 1700000050, .dest = "./sub/l",
                                                                .target = "../a.txt" };
        vec_add(v, FY_MKDIR)->m.mkdir = (struct fy_mkdir){ .xfer_id = FY_RESPONDER_ID + 3,
                                                          .flags = FY_ENTRY_REL | FY_MK_ATTRS, .mode = 0700,
                                                          .mtime_sec = 1700000050, .dest = "./sub" };
        vec_add(v, FY_MKDIR)->m.mkdir = (struct fy_mkdir){ .xfer_id = 7, .flags = FY_ENTRY_REL | FY_MK_ATTRS,
                                                          .mode = 0755, .mtime_sec = 1700000100, .dest = "." };
        v = vec_new("tree-statuses");
        vec_add(v, FY_FILE_STATUS)->m.status = (struct fy_file_status){ .xfer_id = 7 };
        vec_add(v, FY_CREDIT)->m.credit = (struct fy_credit){ .consumed = 3, .limit = 3 + (64u << 20) };
        it = vec_add(v, FY_FILE_STATUS);
        it->m.status = (struct fy_file_status){ .xfer_id = FY_RESPONDER_ID, .bytes = 3 };
        digest_of(it->m.status.digest, ca, la, 1);
        for (uint32_t i = 1; i <= 3; i++)
                vec_add(v, FY_FILE_STATUS)->m.status = (struct fy_file_status){ .xfer_id = FY_RESPONDER_ID + i };
        vec_add(v, FY_FILE_STATUS)->m.status = (struct fy_file_status){ .xfer_id = 7 };

        /* A pushed tree: the same tree pushed to dst/t (no FY_ENTRY_REL,
         * paths from the responder's root, ids the initiator's). */
        v = vec_new("tree-push");
        vec_add(v, FY_MKDIR)->m.mkdir = (struct fy_mkdir){ .xfer_id = 8, .mode = 0755, .mtime_sec = 1700000100,
                                                          .dest = "dst/t" };
        vec_add(v, FY_FILE_BEGIN)->m.begin = (struct fy_file_begin){
                .xfer_id = 9, .size = 0, .mode = 0644, .chunk_size = 1u << 20, .mtime_sec = 1700000000,
                .dest = "dst/t/empty" };
        it = vec_add(v, FY_FILE_END);
        it->m.end = (struct fy_file_end){ .xfer_id = 9 };
        digest_of(it->m.end.digest, NULL, NULL, 0); /* no chunks */
        vec_add(v, FY_SYMLINK)->m.symlink = (struct fy_symlink){ .xfer_id = 10, .mtime_sec = 1700000050,
                                                                .dest = "dst/t/l", .target = "empty" };
        vec_add(v, FY_MKDIR)->m.mkdir = (struct fy_mkdir){ .xfer_id = 11, .flags = FY_MK_ATTRS, .mode = 0755,
                                                          .mtime_sec = 1700000100, .dest = "dst/t" };
}

/* The frames of v, encoded by the codec, into out; their length. */
static size_t vec_encode(const struct vec *v, uint8_t *out, size_t cap) {
        size_t len = 0;
        for (unsigned i = 0; i < v->n; i++) {
                const struct vitem *it = &v->it[i];
                uint8_t *p = out + len;
                size_t left = cap - len;
                if (it->m.type == FY_DATA) {
                        uint8_t z[256];
                        size_t zn = it->zhex ? unhex(it->zhex, z, sizeof z) : 0;
                        struct fy_data d = it->m.data;
                        d.raw_len = it->raw_len;
                        d.digest = fy_chunk_digest(it->raw, it->raw_len);
                        d.payload_len = it->zhex ? (uint32_t)zn : it->raw_len;
                        if (d.codec == FY_CODEC_KEEP)
                                d.payload_len = 0; /* the receiver's own bytes */
                        CHECK(left >= FY_DATA_FRAME_HEAD + d.payload_len);
                        CHECK_EQ_INT(fy_data_head_encode(p, &d), FY_DATA_FRAME_HEAD);
                        memcpy(p + FY_DATA_FRAME_HEAD, it->zhex ? (const void *)z : it->raw, d.payload_len);
                        len += FY_DATA_FRAME_HEAD + d.payload_len;
                } else if (it->m.type == FY_PAD && it->pad) {
                        CHECK_EQ_U64(fy_pad_encode(p, FY_HDR_SIZE + it->pad), FY_HDR_SIZE + it->pad);
                        len += FY_HDR_SIZE + it->pad;
                } else {
                        ssize_t n = fy_msg_encode(p, left, &it->m);
                        CHECK(n > 0);
                        len += n > 0 ? (size_t)n : 0;
                }
        }
        return len;
}

/* The spec's bytes of v, decoded frame by frame, give v's structs back. */
static void vec_decode(const struct vec *v, const uint8_t *b, size_t n) {
        size_t off = 0;
        unsigned i = 0;
        while (off < n && i < v->n) {
                const struct vitem *it = &v->it[i++];
                struct fy_header h;
                struct fy_msg m;
                CHECK(n - off >= FY_HDR_SIZE);
                if (n - off < FY_HDR_SIZE || fy_header_decode(b + off, &h) < 0) {
                        CHECK(!"a frame header of the spec's vector decodes");
                        return;
                }
                CHECK_EQ_INT(h.type, it->m.type);
                CHECK(n - off - FY_HDR_SIZE >= h.length);
                if (n - off - FY_HDR_SIZE < h.length)
                        return;
                const uint8_t *pl = b + off + FY_HDR_SIZE;
                CHECK_EQ_INT(fy_msg_decode(&h, pl, h.length, &m), 0);
                if (h.type == FY_DATA) {
                        CHECK_EQ_U64(m.data.xfer_id, it->m.data.xfer_id);
                        CHECK_EQ_INT(m.data.codec, it->m.data.codec);
                        CHECK_EQ_U64(m.data.offset, it->m.data.offset);
                        CHECK_EQ_U64(m.data.raw_len, it->raw_len);
                        CHECK_EQ_U64(m.data.digest, fy_chunk_digest(it->raw, it->raw_len));
                        char raw[FY_MIN_CHUNK];
                        const void *chunk = pl + FY_DATA_HEAD_SIZE;
                        if (m.data.codec == FY_CODEC_KEEP) {
                                CHECK_EQ_U64(m.data.payload_len, 0);
                                CHECK_EQ_U64(fy_data_credit(&m.data), it->raw_len);
                        } else if (m.data.codec == FY_CODEC_ZSTD) {
                                size_t zn = ZSTD_decompress(raw, sizeof raw, chunk, m.data.payload_len);
                                CHECK(!ZSTD_isError(zn) && zn == it->raw_len);
                                chunk = raw;
                        }
                        if (m.data.codec != FY_CODEC_KEEP)
                                CHECK_EQ_MEM(chunk, it->raw, it->raw_len);
                } else if (h.type == FY_PAD) {
                        CHECK_EQ_U64(h.length, it->pad);
                } else {
                        /* Every field of a control frame is on the wire: the
                         * decoded message encodes to the same bytes. */
                        uint8_t again[FY_MAX_CTRL_FRAME];
                        ssize_t an = fy_msg_encode(again, sizeof again, &m);
                        CHECK_EQ_INT(an, (ssize_t)(FY_HDR_SIZE + h.length));
                        if (an > 0)
                                CHECK_EQ_MEM(again, b + off, (size_t)an);
                }
                off += FY_HDR_SIZE + h.length;
        }
        CHECK_EQ_U64(off, n);
        CHECK_EQ_INT(i, v->n);
}

static struct vec *vec_find(const char *name) {
        for (unsigned i = 0; i < nvecs; i++)
                if (!strcmp(vecs[i].name, name))
                        return &vecs[i];
        return NULL;
}

/* One "```vector NAME" block of the spec, hex into out; -1 on a stray character. */
static long spec_hex(const char **pp, uint8_t *out, size_t cap) {
        const char *p = *pp;
        size_t n = 0;
        int half = -1;
        for (;;) {
                if (!*p)
                        return -1;
                if (p[0] == '`' && p[-1] == '\n' && !strncmp(p, "```", 3))
                        break;
                if (*p == '#') {
                        while (*p && *p != '\n')
                                p++;
                        continue;
                }
                if (*p == ' ' || *p == '\n' || *p == '\t') {
                        p++;
                        continue;
                }
                int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
                if (d < 0 || n >= cap) {
                        fprintf(stderr, "    stray '%c' in a vector\n", *p);
                        return -1;
                }
                if (half < 0) {
                        half = d;
                } else {
                        out[n++] = (uint8_t)(half << 4 | d);
                        half = -1;
                }
                p++;
        }
        *pp = p + 3;
        return half < 0 ? (long)n : -1;
}

static void print_vectors(void) {
        static uint8_t buf[1u << 16];
        for (unsigned i = 0; i < nvecs; i++) {
                const struct vec *v = &vecs[i];
                size_t n = v->n ? vec_encode(v, buf, sizeof buf) : v->diglen;
                printf("%s %s ", v->name, v->n ? "frames" : "digest");
                for (size_t j = 0; j < n; j++)
                        printf("%02x", v->n ? buf[j] : v->dig[j]);
                printf("\n");
        }
}

static void test_spec_vectors(void) {
        const char *path = getenv("FERRY_PROTOCOL_MD") ? getenv("FERRY_PROTOCOL_MD") : FERRY_PROTOCOL_MD;
        FILE *f = fopen(path, "r");
        CHECK(f != NULL);
        if (!f) {
                fprintf(stderr, "    %s: %s (set FERRY_PROTOCOL_MD)\n", path, strerror(errno));
                return;
        }
        static char text[1u << 20];
        size_t tn = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        CHECK(tn < sizeof text - 1);
        text[tn] = 0;
        static uint8_t want[1u << 16], got[1u << 16];
        unsigned blocks = 0;
        for (const char *p = strstr(text, "\n```vector "); p; p = strstr(p, "\n```vector ")) {
                p += strlen("\n```vector ");
                char name[64];
                size_t k = strcspn(p, " \n");
                CHECK(k > 0 && k < sizeof name);
                snprintf(name, sizeof name, "%.*s", (int)MIN_SZ(k, sizeof name - 1), p);
                p = strchr(p, '\n');
                if (!p)
                        break;
                long wn = spec_hex(&p, want, sizeof want);
                blocks++;
                struct vec *v = vec_find(name);
                if (!v || wn < 0 || v->seen) {
                        fprintf(stderr, "    PROTOCOL.md vector '%s': %s\n", name,
                                !v ? "not built by this test" : wn < 0 ? "not hex" : "twice");
                        CHECK(!"every vector of the spec is known, hex, and once");
                        continue;
                }
                v->seen = true;
                if (!v->n) {
                        CHECK_EQ_U64((size_t)wn, v->diglen);
                        CHECK_EQ_MEM(want, v->dig, v->diglen);
                        continue;
                }
                size_t gn = vec_encode(v, got, sizeof got);
                CHECK_EQ_U64(gn, (size_t)wn);
                if (gn != (size_t)wn || memcmp(got, want, gn))
                        fprintf(stderr, "    vector '%s' differs from the codec's bytes\n", name);
                CHECK_EQ_MEM(got, want, MIN_SZ(gn, (size_t)wn));
                vec_decode(v, want, (size_t)wn);
        }
        for (unsigned i = 0; i < nvecs; i++)
                if (!vecs[i].seen) {
                        fprintf(stderr, "    vector '%s' is missing from %s\n", vecs[i].name, path);
                        CHECK(!"every vector built here is in the spec");
                }
        CHECK_EQ_INT(blocks, nvecs);
}

/* PROTOCOL.md Appendix C.3: the code an ERROR carries for each decoder
 * class (ferry and ferryd send fy_code_from_errno of it), and what a
 * received code turns into when answered (Appendix F). */
static void test_spec_error_codes(void) {
        CHECK_EQ_U64(fy_code_from_errno(-EILSEQ), FY_EOTHER);          /* bad magic */
        CHECK_EQ_U64(fy_code_from_errno(-EBADMSG), FY_EBADMSG);        /* check, lengths */
        CHECK_EQ_U64(fy_code_from_errno(-EPROTONOSUPPORT), FY_EOTHER); /* version */
        CHECK_EQ_U64(fy_code_from_errno(-ENOMSG), FY_EOTHER);          /* unknown type */
        CHECK_EQ_U64(fy_code_from_errno(-EPROTO), FY_EPROTO);          /* flags, values */
        CHECK_EQ_U64(fy_code_from_errno(-EMSGSIZE), FY_EMSGSIZE);      /* caps */
        CHECK_EQ_U64(fy_code_from_errno(-EINVAL), FY_EINVAL);          /* strings */
        CHECK_EQ_U64(fy_code_from_errno(-ETIMEDOUT), FY_ETIMEDOUT);
        CHECK_EQ_U64(fy_code_from_errno(-ECANCELED), FY_ECANCELED);
        CHECK_EQ_U64(fy_code_from_errno(fy_code_to_errno(FY_EOTHER)), FY_EIO);
        CHECK_EQ_U64(fy_code_from_errno(fy_code_to_errno(200)), FY_EIO);
}

/* The payload check (feature bit 8, PROTOCOL.md 9.14), computed here from
 * its definition, not by the codec. */
static uint64_t want_check(const uint8_t *f, size_t payload) {
        return XXH3_64bits_withSeed(f + FY_HDR_SIZE, payload, XXH3_64bits(f, 12));
}

static void test_checked(void) {
        struct fy_msg msgs[6] = {
                { .type = FY_FILE_BEGIN, .begin = { .xfer_id = 1, .flags = FY_FB_DEST_IS_DIR, .size = 5, .mode = 0644,
                                                    .chunk_size = 1u << 20, .mtime_sec = 1700000000,
                                                    .dest = "dir", .name = "a.txt" } },
                { .type = FY_RESUME_STATE, .state = { .xfer_id = 1, .verdict = FY_RS_SEND } },
                { .type = FY_MKDIR, .mkdir = { .xfer_id = 2, .mode = 0755, .dest = "d" } },
                { .type = FY_SYMLINK, .symlink = { .xfer_id = 3, .dest = "l", .target = "../t" } },
                { .type = FY_BYE },
                { .type = FY_FILE_STATUS, .status = { .xfer_id = 1, .bytes = 5 } },
        };
        static uint8_t plain[FY_MAX_CTRL_FRAME], f[FY_MAX_CTRL_FRAME];
        for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
                ssize_t pn = fy_msg_encode(plain, sizeof plain, &msgs[i]);
                ssize_t n = fy_msg_encode_checked(f, sizeof f, &msgs[i]);
                CHECK(pn > 0);
                CHECK_EQ_INT(n, pn + FY_CHECK_SIZE);
                if (pn <= 0 || n != pn + FY_CHECK_SIZE)
                        continue;
                /* Same payload, then the check; the header says so. */
                CHECK_EQ_U64(le(f + 6, 2), FY_HF_CHECKED);
                CHECK_EQ_U64(le(f + 8, 4), (uint64_t)(n - FY_HDR_SIZE));
                CHECK_EQ_MEM(f + FY_HDR_SIZE, plain + FY_HDR_SIZE, (size_t)(pn - FY_HDR_SIZE));
                CHECK_EQ_U64(le(f + pn, 8), want_check(f, (size_t)(pn - FY_HDR_SIZE)));
                struct fy_msg a, b;
                CHECK_EQ_INT(decode(plain, (size_t)pn, &a), 0);
                CHECK_EQ_INT(decode(f, (size_t)n, &b), 0);
                CHECK_EQ_MEM(&a, &b, sizeof a);
                /* Every bit of the payload and of the check is covered. */
                int missed = 0;
                for (ssize_t off = FY_HDR_SIZE; off < n; off++)
                        for (int bit = 0; bit < 8; bit++) {
                                f[off] ^= (uint8_t)(1u << bit);
                                missed += decode(f, (size_t)n, &b) != -EBADE;
                                f[off] ^= (uint8_t)(1u << bit);
                        }
                CHECK_EQ_INT(missed, 0);
                /* A payload shorter than its check. */
                if (msgs[i].type == FY_BYE) {
                        struct fy_header h = { .version = 1, .type = FY_BYE, .flags = FY_HF_CHECKED, .length = 4 };
                        CHECK_EQ_INT(fy_msg_decode(&h, f + FY_HDR_SIZE, 4, &b), -EBADMSG);
                }
        }
        /* The check is bound to its header: a payload that is valid for
         * FILE_STATUS does not pass under another type. */
        ssize_t n = fy_msg_encode_checked(f, sizeof f, &msgs[5]);
        raw_header(f, 1, FY_FILE_ABORT, FY_HF_CHECKED, (uint32_t)(n - FY_HDR_SIZE));
        struct fy_msg out;
        CHECK_EQ_INT(decode(f, (size_t)n, &out), -EBADE);
        /* The check counts in FY_MAX_CTRL: a SYMLINK that just fits plain
         * does not fit checked. */
        struct fy_msg big = { .type = FY_SYMLINK };
        fill(big.symlink.dest, FY_MAX_PATH, 'd');
        fill(big.symlink.target, FY_MAX_CTRL - 28 - FY_MAX_PATH, 't');
        CHECK_EQ_INT(fy_msg_encode(f, sizeof f, &big), FY_MAX_CTRL_FRAME);
        CHECK_EQ_INT(fy_msg_encode_checked(f, sizeof f, &big), -EMSGSIZE);
        big.symlink.target[FY_MAX_CTRL - 28 - FY_MAX_PATH - FY_CHECK_SIZE] = 0;
        CHECK_EQ_INT(fy_msg_encode_checked(f, sizeof f, &big), FY_MAX_CTRL_FRAME);
        CHECK_EQ_STR(fy_strerror_decode(-EBADE), "payload check mismatch (damaged in transit)");

        /* PROTOCOL.md "Test vectors": BYE and a RESUME_STATE SKIP, checked. */
        static const char *vec[] = {
                "4645525901040100080000009fb22d04" "38d97bde2edbd686",
                "46455259011701004000000009870f0e" "07000000020000000000100000000000"
                "00000000000000000000000000000000" "0000100000000000"
                "c5dad2704d53273621ced57b91d9c28e" "cd38ed3dbb4263f0",
        };
        struct fy_msg skip = { .type = FY_RESUME_STATE, .state = { .xfer_id = 7, .verdict = FY_RS_SKIP,
                                                                    .offset = 1u << 20, .chunk_size = 1u << 20 } };
        static const uint8_t abc[16] = { 0xc5, 0xda, 0xd2, 0x70, 0x4d, 0x53, 0x27, 0x36,
                                         0x21, 0xce, 0xd5, 0x7b, 0x91, 0xd9, 0xc2, 0x8e };
        memcpy(skip.state.digest, abc, 16);
        struct fy_msg bye = { .type = FY_BYE };
        const struct fy_msg *vm[] = { &bye, &skip };
        for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
                uint8_t want[128];
                size_t wn = strlen(vec[i]) / 2;
                for (size_t k = 0; k < wn; k++)
                        CHECK(sscanf(vec[i] + 2 * k, "%2hhx", &want[k]) == 1);
                n = fy_msg_encode_checked(f, sizeof f, vm[i]);
                CHECK_EQ_INT(n, (ssize_t)wn);
                if (n == (ssize_t)wn)
                        CHECK_EQ_MEM(f, want, wn);
                CHECK_EQ_INT(decode(want, wn, &out), 0);
        }
}

int main(int argc, char **argv) {
        vectors_build();
        if (argc > 1 && !strcmp(argv[1], "--print-vectors")) {
                print_vectors();
                return 0;
        }
        test_spec_vectors();
        test_spec_error_codes();
        test_hello(FY_SYNC);
        test_hello(FY_SYNC_ACK);
        test_error();
        test_bye();
        test_credit();
        test_begin();
        test_end();
        test_status();
        test_abort();
        test_get();
        test_data();
        test_header_faults();
        test_payload_faults();
        test_data_faults();
        test_data_zstd_vector();
        test_nack();
        test_bench();
        test_stats();
        test_encode_limits();
        test_scan();
        test_digest();
        test_codes();
        test_resume();
        test_checked();
        return check_done();
}
