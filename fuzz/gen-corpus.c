/* SPDX-License-Identifier: MIT */
/*
 * Write the seed corpus for fuzz-decode into DIR:
 *
 *   cc -std=gnu11 -Iprotocol fuzz/gen-corpus.c protocol/codec.c protocol/codes.c \
 *         protocol/digest.c -o gen-corpus
 *   ./gen-corpus fuzz/corpus/decode
 *
 * Seeds "s-*" are byte streams (first byte 0x00), seeds "r-*" are records
 * (first byte 0x01: type u8, length u16 LE, payload) - see fuzz-decode.c.
 * Every seed stays well under 2 KiB.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

static const char *dir;

static void put(const char *name, const uint8_t *b, size_t n) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
                perror(path);
                exit(1);
        }
}

/* A small example of every control message. */
static size_t messages(struct fy_msg *m) {
        size_t k = 0;
        m[k] = (struct fy_msg){ .type = FY_SYNC };
        m[k].hello = (struct fy_hello){ .nonce = 0x1122334455667788ull, .proto_min = 1, .proto_max = 1,
                                        .features = 0, .max_frame = FY_MAX_PAYLOAD,
                                        .max_chunk = FY_MAX_CHUNK, .recv_window = 64u << 20 };
        strcpy(m[k++].hello.agent, "ferry/1.0");
        m[k] = m[k - 1];
        m[k].type = FY_SYNC_ACK;
        strcpy(m[k++].hello.agent, "ferryd/1.0");
        m[k] = (struct fy_msg){ .type = FY_ERROR, .error = { .code = FY_EPROTO } };
        strcpy(m[k++].error.text, "no common version");
        m[k++] = (struct fy_msg){ .type = FY_BYE };
        m[k++] = (struct fy_msg){ .type = FY_CREDIT, .credit = { .consumed = 1 << 20, .limit = 65 << 20 } };
        m[k] = (struct fy_msg){ .type = FY_FILE_BEGIN };
        m[k].begin = (struct fy_file_begin){ .xfer_id = 1, .flags = FY_FB_DEST_MAYBE_DIR, .size = 8192,
                                             .mode = 0644, .chunk_size = 1 << 20,
                                             .mtime_sec = 1700000000, .mtime_nsec = 5 };
        strcpy(m[k].begin.dest, "incoming");
        strcpy(m[k++].begin.name, "a.bin");
        m[k] = (struct fy_msg){ .type = FY_FILE_END, .end = { .xfer_id = 1, .size = 8192, .chunks = 1 } };
        memset(m[k++].end.digest, 0xab, 16);
        m[k] = (struct fy_msg){ .type = FY_FILE_STATUS, .status = { .xfer_id = 1, .bytes = 8192 } };
        strcpy(m[k++].status.text, "");
        m[k] = (struct fy_msg){ .type = FY_FILE_ABORT, .abort = { .xfer_id = 2, .code = FY_ENOENT } };
        strcpy(m[k++].abort.text, "no such file");
        m[k] = (struct fy_msg){ .type = FY_GET, .get = { .xfer_id = 2, .chunk_size = 0 } };
        strcpy(m[k++].get.path, "/etc/hostname");
        m[k] = (struct fy_msg){ .type = FY_MKDIR, .mkdir = { .xfer_id = 3, .flags = FY_MK_ATTRS, .mode = 0755 } };
        strcpy(m[k++].mkdir.dest, "tree/sub");
        m[k] = (struct fy_msg){ .type = FY_SYMLINK, .symlink = { .xfer_id = 4, .mtime_sec = 1 } };
        strcpy(m[k].symlink.dest, "tree/link");
        strcpy(m[k++].symlink.target, "../a.bin");
        m[k++] = (struct fy_msg){ .type = FY_HOLE, .hole = { .xfer_id = 1, .offset = 4096, .length = 1 << 30 } };
        m[k] = (struct fy_msg){ .type = FY_RESUME_QUERY, .query = { .file = m[5].begin, .how = FY_RQ_CHECKSUM } };
        m[k++].query.file.xfer_id = 5;
        m[k] = (struct fy_msg){ .type = FY_RESUME_STATE, .state = { .xfer_id = 5, .verdict = FY_RS_RESUME,
                                                                     .offset = 4096, .chunks = 1, .received = 8192,
                                                                     .chunk_size = 4096 } };
        memset(m[k++].state.digest, 0xcd, 16);
        m[k] = m[5];
        m[k].begin.flags |= FY_FB_RESUME;
        m[k].begin.resume_off = 4096;
        m[k++].begin.resume_chunks = 1;
        return k;
}

static size_t data(uint8_t *b, size_t len) {
        uint8_t chunk[64];
        for (size_t i = 0; i < sizeof chunk; i++)
                chunk[i] = (uint8_t)i;
        if (len > sizeof chunk)
                len = sizeof chunk;
        struct fy_data d = { .xfer_id = 1, .offset = 4096, .raw_len = len, .payload_len = len,
                             .digest = fy_chunk_digest(chunk, len) };
        fy_data_head_encode(b, &d);
        memcpy(b + FY_DATA_FRAME_HEAD, chunk, len);
        return FY_DATA_FRAME_HEAD + len;
}

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: gen-corpus DIR\n");
                return 2;
        }
        dir = argv[1];

        static struct fy_msg m[32];
        size_t nm = messages(m);
        static uint8_t b[2048], all[2048], rec[2048];
        size_t nall = 1, nrec = 1;
        all[0] = 0x00;
        rec[0] = 0x01;

        /* One stream and one record seed per message. */
        for (size_t i = 0; i < nm; i++) {
                char name[64];
                b[0] = 0x00;
                ssize_t n = fy_msg_encode(b + 1, sizeof b - 1, &m[i]);
                if (n < 0) {
                        fprintf(stderr, "encode %s: %s\n", fy_type_name(m[i].type), strerror((int)-n));
                        return 1;
                }
                snprintf(name, sizeof name, "s-%02zu-%s", i, fy_type_name(m[i].type));
                put(name, b, 1 + (size_t)n);
                /* The same frame with its payload check (PROTOCOL.md 9.14). */
                static uint8_t cb[2048];
                cb[0] = 0x00;
                ssize_t cn = fy_msg_encode_checked(cb + 1, sizeof cb - 1, &m[i]);
                if (cn > 0) {
                        snprintf(name, sizeof name, "c-%02zu-%s", i, fy_type_name(m[i].type));
                        put(name, cb, 1 + (size_t)cn);
                }
                memcpy(all + nall, b + 1, (size_t)n);
                nall += (size_t)n;

                size_t plen = (size_t)n - FY_HDR_SIZE;
                uint8_t r[1024];
                r[0] = 0x01;
                r[1] = m[i].type;
                r[2] = (uint8_t)plen;
                r[3] = (uint8_t)(plen >> 8);
                memcpy(r + 4, b + 1 + FY_HDR_SIZE, plen);
                snprintf(name, sizeof name, "r-%02zu-%s", i, fy_type_name(m[i].type));
                put(name, r, 4 + plen);
                memcpy(rec + nrec, r + 1, 3 + plen);
                nrec += 3 + plen;
        }

        /* DATA, as a stream and as a record. */
        b[0] = 0x00;
        size_t n = data(b + 1, 64);
        put("s-DATA", b, 1 + n);
        memcpy(all + nall, b + 1, n);
        nall += n;
        uint8_t r[256] = { 0x01, FY_DATA, (uint8_t)(n - FY_HDR_SIZE), 0 };
        memcpy(r + 4, b + 1 + FY_HDR_SIZE, n - FY_HDR_SIZE);
        put("r-DATA", r, 4 + n - FY_HDR_SIZE);

        put("s-all", all, nall);
        put("r-all", rec, nrec);

        /* Leftovers of an earlier session: garbage, a cut header, a header
         * of a reserved type, then SYNC and a cut CREDIT at the end. */
        size_t k = 0;
        b[k++] = 0x00;
        for (int i = 0; i < 40; i++)
                b[k++] = (uint8_t)(i * 37 + 11) == 'F' ? 0 : (uint8_t)(i * 37 + 11);
        memcpy(b + k, all + 1, 9);
        k += 9;
        fy_header_encode(b + k, 0x15, 0);
        k += FY_HDR_SIZE;
        ssize_t sn = fy_msg_encode(b + k, sizeof b - k, &m[0]);
        k += (size_t)sn;
        uint8_t cr[64];
        ssize_t cn = fy_msg_encode(cr, sizeof cr, &m[4]);
        memcpy(b + k, cr, (size_t)cn - 5);
        k += (size_t)cn - 5;
        put("s-resync", b, k);

        /* Stats (feature bit 6): a request and its answer, each a stream
         * and a record seed of its own (not in s-all/r-all, which stay as
         * they were). */
        const struct fy_msg st[2] = {
                { .type = FY_STATS_REQ },
                { .type = FY_STATS, .stats = { .sessions_total = 3, .sessions = 1, .pacing = FY_PACE_RATE,
                                               .bytes_received = 1u << 20, .files_ok = 5, .paced_ns = { 1500000000 },
                                               .window = 8u << 20, .pressure_pct = 7 } },
        };
        for (int i = 0; i < 2; i++) {
                char name[64];
                b[0] = 0x00;
                ssize_t n = fy_msg_encode(b + 1, sizeof b - 1, &st[i]);
                if (n < 0)
                        return 1;
                snprintf(name, sizeof name, "s-stats-%s", fy_type_name(st[i].type));
                put(name, b, 1 + (size_t)n);
                size_t plen = (size_t)n - FY_HDR_SIZE;
                uint8_t sr[256] = { 0x01, st[i].type, (uint8_t)plen, (uint8_t)(plen >> 8) };
                memcpy(sr + 4, b + 1 + FY_HDR_SIZE, plen);
                snprintf(name, sizeof name, "r-stats-%s", fy_type_name(st[i].type));
                put(name, sr, 4 + plen);
        }
        return 0;
}
