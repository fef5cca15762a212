/* SPDX-License-Identifier: MIT */
/*
 * Write the seed corpus for fuzz-session into DIR:
 *
 *   cc -std=gnu11 -Iprotocol fuzz/gen-corpus-session.c protocol/codec.c \
 *         protocol/codes.c protocol/digest.c -o gen-corpus-session
 *   ./gen-corpus-session fuzz/corpus/session
 *
 * Each seed is what a host sends after its SYNC (fuzz-session.c sends the
 * SYNC itself): a push of a small file, a sparse file, a directory tree, a
 * large file cut off and resumed, resume queries, a GET.  Every sequence is
 * written twice: "r-*" as records whose DATA, HOLE and FILE_END are left to
 * the harness's fix-ups (type | 0x80), so the fuzzer can change a chunk and
 * still reach the commit, and with pauses where a host would wait for an
 * answer; "s-*" as the finished byte stream.  The first
 * byte is the session setup (fuzz-session.c): the push also comes with
 * pread/pwrite, buffered and O_DIRECT writes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define CHUNK 4096u
#define FIX 0x80u
#define PAUSE 0xffu /* records only: wait for the responder (fuzz-session.c) */

static const char *dir;

/* One sequence, built as records and as a stream side by side. */
struct seq {
        uint8_t rec[1 << 16], str[1 << 16];
        size_t nrec, nstr;
        /* the open file, for the stream's DATA, HOLE and FILE_END */
        uint32_t xfer_id;
        uint64_t off, chunks;
        struct fy_file_digest digest;
};

static void put(const char *name, const uint8_t *b, size_t n) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
                perror(path);
                exit(1);
        }
}

static void seq_start(struct seq *q, uint8_t setup) {
        q->nrec = q->nstr = 1;
        q->rec[0] = setup | 1; /* records */
        q->str[0] = setup & ~1u; /* stream */
}

static void add_rec(struct seq *q, uint8_t type, const uint8_t *p, size_t n) {
        if (q->nrec + 3 + n > sizeof q->rec) {
                fprintf(stderr, "seed too large\n");
                exit(1);
        }
        q->rec[q->nrec++] = type;
        q->rec[q->nrec++] = (uint8_t)n;
        q->rec[q->nrec++] = (uint8_t)(n >> 8);
        memcpy(q->rec + q->nrec, p, n);
        q->nrec += n;
}

static void add_str(struct seq *q, const uint8_t *p, size_t n) {
        if (q->nstr + n > sizeof q->str) {
                fprintf(stderr, "seed too large\n");
                exit(1);
        }
        memcpy(q->str + q->nstr, p, n);
        q->nstr += n;
}

/* A control message, the same in both forms; fix: the record asks for the
 * harness's fix-up (FILE_BEGIN: opens the file for them). */
static void msg(struct seq *q, const struct fy_msg *m, bool fix) {
        static uint8_t f[FY_MAX_CTRL_FRAME];
        ssize_t n = fy_msg_encode(f, sizeof f, m);
        if (n < 0) {
                fprintf(stderr, "encode %s: %s\n", fy_type_name(m->type), strerror((int)-n));
                exit(1);
        }
        add_rec(q, (uint8_t)(m->type | (fix ? FIX : 0)), f + FY_HDR_SIZE, (size_t)n - FY_HDR_SIZE);
        add_str(q, f, (size_t)n);
        if (m->type == FY_FILE_BEGIN) {
                /* The same rule as the harness's fix-up: a resume that
                 * continues where this file's chunks stopped keeps their
                 * digest. */
                const struct fy_file_begin *b = &m->begin;
                bool resume = b->flags & FY_FB_RESUME;
                if (!resume || b->xfer_id != q->xfer_id || b->resume_off != q->off || b->resume_chunks != q->chunks)
                        fy_file_digest_init(&q->digest);
                q->xfer_id = b->xfer_id;
                q->off = resume ? b->resume_off : 0;
                q->chunks = resume ? b->resume_chunks : 0;
        }
}

static void begin(struct seq *q, uint32_t id, const char *dest, const char *name, uint32_t flags, uint64_t size) {
        struct fy_msg m = { .type = FY_FILE_BEGIN };
        m.begin = (struct fy_file_begin){ .xfer_id = id, .flags = flags, .size = size, .mode = 0644,
                                          .chunk_size = CHUNK, .mtime_sec = 1700000000, .mtime_nsec = 7 };
        snprintf(m.begin.dest, sizeof m.begin.dest, "%s", dest);
        snprintf(m.begin.name, sizeof m.begin.name, "%s", name);
        msg(q, &m, true);
}

/* A chunk of n bytes of a pattern: the record holds the bytes alone. */
static void data(struct seq *q, size_t n, uint8_t seed) {
        uint8_t b[CHUNK];
        for (size_t i = 0; i < n; i++)
                b[i] = (uint8_t)(seed + i * 7);
        add_rec(q, FY_DATA | FIX, b, n);
        struct fy_data d = { .xfer_id = q->xfer_id, .offset = q->off, .raw_len = (uint32_t)n,
                             .payload_len = (uint32_t)n, .digest = fy_chunk_digest(b, n) };
        uint8_t h[FY_DATA_FRAME_HEAD];
        fy_data_head_encode(h, &d);
        add_str(q, h, sizeof h);
        add_str(q, b, n);
        fy_file_digest_add(&q->digest, d.digest);
        q->off += n;
        q->chunks++;
}

static void hole(struct seq *q, uint64_t len) {
        uint8_t le[8];
        for (int i = 0; i < 8; i++)
                le[i] = (uint8_t)(len >> (8 * i));
        add_rec(q, FY_HOLE | FIX, le, sizeof le);
        struct fy_msg m = { .type = FY_HOLE, .hole = { .xfer_id = q->xfer_id, .offset = q->off, .length = len } };
        static uint8_t f[FY_MAX_CTRL_FRAME];
        add_str(q, f, (size_t)fy_msg_encode(f, sizeof f, &m));
        fy_file_digest_add_hole(&q->digest, q->off, len);
        q->off += len;
}

static void end(struct seq *q) {
        add_rec(q, FY_FILE_END | FIX, NULL, 0);
        struct fy_msg m = { .type = FY_FILE_END, .end = { .xfer_id = q->xfer_id, .size = q->off, .chunks = q->chunks } };
        struct fy_file_digest copy = q->digest;
        fy_file_digest_final(&copy, m.end.digest);
        static uint8_t f[FY_MAX_CTRL_FRAME];
        add_str(q, f, (size_t)fy_msg_encode(f, sizeof f, &m));
}

/* Let the responder catch up (commit, answer) before what follows; the
 * stream form has no pauses. */
static void pause_rec(struct seq *q) {
        add_rec(q, PAUSE, NULL, 0);
}

static void bye(struct seq *q) {
        struct fy_msg m = { .type = FY_BYE };
        msg(q, &m, false);
}

static void credit(struct seq *q, uint64_t limit) {
        struct fy_msg m = { .type = FY_CREDIT, .credit = { .consumed = 0, .limit = limit } };
        msg(q, &m, false);
}

static void mkdir_msg(struct seq *q, uint32_t id, const char *dest, uint32_t flags) {
        struct fy_msg m = { .type = FY_MKDIR, .mkdir = { .xfer_id = id, .flags = flags, .mode = 0755,
                                                         .mtime_sec = 1700000000 } };
        snprintf(m.mkdir.dest, sizeof m.mkdir.dest, "%s", dest);
        msg(q, &m, false);
}

static void query(struct seq *q, uint32_t id, const char *dest, const char *name, uint32_t flags, uint64_t size,
                  uint32_t how) {
        struct fy_msg m = { .type = FY_RESUME_QUERY };
        m.query.file = (struct fy_file_begin){ .xfer_id = id, .flags = flags, .size = size,
                                               .mode = 0644, .chunk_size = CHUNK, .mtime_sec = 1700000000,
                                               .mtime_nsec = 7 };
        snprintf(m.query.file.dest, sizeof m.query.file.dest, "%s", dest);
        snprintf(m.query.file.name, sizeof m.query.file.name, "%s", name);
        m.query.how = how;
        msg(q, &m, false);
}

static void get(struct seq *q, uint32_t id, const char *path, uint32_t flags) {
        struct fy_msg m = { .type = FY_GET, .get = { .xfer_id = id, .flags = flags, .chunk_size = CHUNK } };
        snprintf(m.get.path, sizeof m.get.path, "%s", path);
        msg(q, &m, false);
}

static void status(struct seq *q, uint32_t id) {
        struct fy_msg m = { .type = FY_FILE_STATUS, .status = { .xfer_id = id, .code = FY_OK } };
        msg(q, &m, false);
}

static void sync_again(struct seq *q) {
        struct fy_msg m = { .type = FY_SYNC };
        m.hello = (struct fy_hello){ .nonce = 0x0123456789abcdefull, .proto_min = 1, .proto_max = 1,
                                     .features = FY_FEAT_KNOWN & ~FY_FEAT_CHECKED, .max_frame = FY_MAX_PAYLOAD,
                                     .max_chunk = CHUNK, .recv_window = 16 * CHUNK };
        strcpy(m.hello.agent, "ferry/fuzz");
        msg(q, &m, false);
}

static void save(struct seq *q, const char *name) {
        char n[128];
        snprintf(n, sizeof n, "r-%s", name);
        put(n, q->rec, q->nrec);
        snprintf(n, sizeof n, "s-%s", name);
        put(n, q->str, q->nstr);
}

/* The small push: a file of two chunks (then BYE, or more). */
static void push_small(struct seq *q, uint8_t setup, bool last) {
        seq_start(q, setup);
        begin(q, 1, "in", "a.bin", FY_FB_DEST_MAYBE_DIR, CHUNK + 100);
        data(q, CHUNK, 1);
        data(q, 100, 2);
        end(q);
        if (last)
                bye(q);
}

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: gen-corpus-session DIR\n");
                return 2;
        }
        dir = argv[1];
        static struct seq q;

        /* Setup byte: 2 pread/pwrite, 4 buffered, 8 O_DIRECT, 16 keep cache. */
        push_small(&q, 0, true);
        save(&q, "push");
        push_small(&q, 2, true);
        save(&q, "push-psync");
        push_small(&q, 4 | 16, true);
        save(&q, "push-buffered");
        push_small(&q, 8, true);
        save(&q, "push-direct");

        /* A sparse file: data, a hole, data. */
        seq_start(&q, 0);
        begin(&q, 1, "sparse.img", "", FY_FB_SPARSE, 3 * CHUNK);
        data(&q, CHUNK, 3);
        hole(&q, CHUNK);
        data(&q, CHUNK, 4);
        end(&q);
        bye(&q);
        save(&q, "sparse");

        /* A tree: directories (the second with its attributes), a file
         * inside, a symlink, an empty directory. */
        seq_start(&q, 0);
        mkdir_msg(&q, 1, "tree", 0);
        mkdir_msg(&q, 2, "tree/sub", 0);
        begin(&q, 3, "tree/sub/f.txt", "", 0, 11);
        data(&q, 11, 5);
        end(&q);
        {
                struct fy_msg m = { .type = FY_SYMLINK, .symlink = { .xfer_id = 4, .mtime_sec = 1700000000 } };
                strcpy(m.symlink.dest, "tree/link");
                strcpy(m.symlink.target, "sub/f.txt");
                msg(&q, &m, false);
        }
        mkdir_msg(&q, 5, "tree/empty", 0);
        mkdir_msg(&q, 6, "tree/empty", FY_MK_ATTRS);
        mkdir_msg(&q, 7, "tree/sub", FY_MK_ATTRS);
        mkdir_msg(&q, 8, "tree", FY_MK_ATTRS);
        bye(&q);
        save(&q, "tree");

        /* MKDIR alone. */
        seq_start(&q, 0);
        mkdir_msg(&q, 1, "d", 0);
        bye(&q);
        save(&q, "mkdir");

        /* Resume queries: of a file just pushed (complete: skip), of one
         * that is not there, and with checksums. */
        push_small(&q, 0, false);
        pause_rec(&q);
        query(&q, 2, "in", "a.bin", FY_FB_DEST_MAYBE_DIR, CHUNK + 100, 0);
        query(&q, 3, "in", "none.bin", FY_FB_DEST_MAYBE_DIR, 5000, 0);
        query(&q, 4, "in", "a.bin", FY_FB_DEST_MAYBE_DIR, CHUNK + 100, FY_RQ_CHECKSUM);
        bye(&q);
        save(&q, "resume-query");

        /* A file over 1 MiB (journaled as .part) cut off after its first
         * chunk, then a new host (SYNC) asks what is there and resumes. */
        seq_start(&q, 0);
        begin(&q, 1, "big.img", "", FY_FB_SPARSE, 2u << 20);
        data(&q, CHUNK, 6);
        pause_rec(&q);
        sync_again(&q);
        pause_rec(&q);
        query(&q, 1, "big.img", "", FY_FB_SPARSE, 2u << 20, 0);
        pause_rec(&q);
        {
                struct fy_msg m = { .type = FY_FILE_BEGIN };
                m.begin = (struct fy_file_begin){ .xfer_id = 1, .flags = FY_FB_SPARSE | FY_FB_RESUME,
                                                  .size = 2u << 20, .mode = 0644, .chunk_size = CHUNK,
                                                  .mtime_sec = 1700000000, .mtime_nsec = 7,
                                                  .resume_off = CHUNK, .resume_chunks = 1 };
                strcpy(m.begin.dest, "big.img");
                msg(&q, &m, true);
        }
        hole(&q, (2u << 20) - 2 * CHUNK);
        data(&q, CHUNK, 7);
        end(&q);
        bye(&q);
        save(&q, "resume-big");

        /* A push, then the host pulls it back and pulls the tree. */
        push_small(&q, 0, false);
        pause_rec(&q);
        get(&q, 2, "in", 0);
        pause_rec(&q);
        status(&q, 2);
        credit(&q, 1u << 20);
        get(&q, 3, ".", FY_GET_TREE | FY_GET_RESUME);
        pause_rec(&q);
        bye(&q);
        save(&q, "get");
        return 0;
}
