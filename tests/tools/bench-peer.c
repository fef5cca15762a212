/* SPDX-License-Identifier: MIT */
/*
 * bench-peer: a crafted peer for bench mode (PROTOCOL.md 9.11), for the
 * integration tests.  It speaks the frames itself.
 *
 *   bench-peer host UNIX_PATH
 *     As a host, against ferryd, one session each:
 *       - bit 7 not offered, then a FILE_BEGIN with FY_FB_BENCH, a GET with
 *         FY_GET_BENCH, a MKDIR with FY_MK_SCRATCH: each must end the session
 *         with ERROR 15 (EPROTO) naming bench mode;
 *       - bit 7 agreed: a scratch MKDIR onto an existing "keep" (EEXIST), one
 *         that works ("bench-scratch"), a second one (EBUSY), a real file
 *         pushed into it; a bench file sunk (FILE_STATUS 0 and our digest),
 *         one with a damaged chunk (16), a bench GET of 10000 bytes of text
 *         (FY_FB_BENCH, chunks as asked, digests right, compressible), then
 *         BYE - after which ferryd's root must hold "keep" alone.
 *     One line per check; exit 0 when all were as expected, 1 otherwise.
 *
 *   bench-peer guest UNIX_PATH lie|nobench
 *     As a guest, for one host: "lie" answers every GET with a FY_FB_BENCH
 *     file (a host that did not ask for bench data must refuse it); "nobench"
 *     does not offer bit 7.  Says "listening" on stdout once it is; prints the
 *     host's ERROR if one comes; exits at BYE or EOF.
 *
 * Exit status 2 on a usage error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "codec.h"

/* A peer that speaks no payload checks (feature bit 8, PROTOCOL.md 9.14):
 * its frames go unchecked, and ferry and ferryd must still talk to it. */
#define V1_FEATS (FY_FEAT_KNOWN & ~FY_FEAT_CHECKED)

static int fd = -1;
static int bad;

static void die(const char *what) {
        fprintf(stderr, "bench-peer: %s: %s\n", what, errno ? strerror(errno) : "unexpected");
        exit(1);
}

static void send_all(const void *p, size_t n) {
        const uint8_t *b = p;
        while (n) {
                ssize_t w = write(fd, b, n);
                if (w <= 0)
                        die("write");
                b += w;
                n -= (size_t)w;
        }
}

/* 0 at a clean EOF before the first byte, 1 when all n came. */
static int recv_all(void *p, size_t n) {
        uint8_t *b = p;
        size_t got = 0;
        while (got < n) {
                ssize_t r = read(fd, b + got, n - got);
                if (r == 0 && got == 0)
                        return 0;
                if (r <= 0) {
                        errno = r == 0 ? ECONNRESET : errno;
                        die("read");
                }
                got += (size_t)r;
        }
        return 1;
}

static void send_msg(const struct fy_msg *m) {
        static uint8_t buf[FY_MAX_CTRL_FRAME];
        ssize_t n = fy_msg_encode(buf, sizeof buf, m);
        if (n < 0) {
                errno = (int)-n;
                die("encode");
        }
        send_all(buf, (size_t)n);
}

/* The next frame but CREDIT and PAD; a DATA frame's payload stays in
 * payload (its chunk at payload + FY_DATA_HEAD_SIZE).  0 at EOF. */
static uint8_t payload[FY_MAX_PAYLOAD];
static int recv_msg(struct fy_msg *m) {
        for (;;) {
                uint8_t h[FY_HDR_SIZE];
                struct fy_header hdr;
                if (!recv_all(h, sizeof h))
                        return 0;
                if (fy_header_decode(h, &hdr) < 0 || hdr.length > sizeof payload)
                        die("a bad frame header");
                if (hdr.length && !recv_all(payload, hdr.length))
                        die("a frame cut short");
                if (fy_msg_decode(&hdr, payload, hdr.length, m) < 0)
                        die("a bad frame");
                if (m->type != FY_CREDIT && m->type != FY_PAD)
                        return 1;
        }
}

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        printf("%s: ", ok ? "ok" : "FAILED");
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
        fflush(stdout);
        bad |= !ok;
}

static void connect_to(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                die("connect");
}

/* SYNC with these features; the SYNC_ACK's. */
static uint64_t handshake(uint64_t features) {
        struct fy_msg m = { .type = FY_SYNC, .hello = { .proto_min = FY_PROTO_MIN, .proto_max = FY_PROTO_VERSION,
                                                        .features = features, .max_frame = FY_MAX_PAYLOAD,
                                                        .max_chunk = 1u << 20, .recv_window = 8u << 20,
                                                        .nonce = 0xbe7c } };
        snprintf(m.hello.agent, sizeof m.hello.agent, "bench-peer");
        send_msg(&m);
        if (!recv_msg(&m) || m.type != FY_SYNC_ACK)
                die("no SYNC_ACK");
        return m.hello.features;
}

static void send_data(uint32_t id, uint64_t off, const uint8_t *p, uint32_t len, uint64_t digest) {
        struct fy_data d = { .xfer_id = id, .codec = FY_CODEC_RAW, .offset = off, .raw_len = len, .digest = digest,
                             .payload_len = len };
        uint8_t head[FY_DATA_FRAME_HEAD];
        if (fy_data_head_encode(head, &d) < 0)
                die("encode DATA");
        send_all(head, sizeof head);
        send_all(p, len);
}

/* A bench file of n chunks of 4 KiB; chunk `damaged` (or -1: none) goes
 * with a wrong digest.  Its file digest, into digest. */
static void send_bench_file(uint32_t id, unsigned n, int damaged, uint8_t digest[16]) {
        struct fy_msg m = { .type = FY_FILE_BEGIN, .begin = { .xfer_id = id, .flags = FY_FB_BENCH,
                                                              .size = 4096ull * n, .chunk_size = 4096, .dest = "bench" } };
        send_msg(&m);
        struct fy_file_digest fdg;
        fy_file_digest_init(&fdg);
        static uint8_t chunk[4096];
        for (unsigned i = 0; i < n; i++) {
                memset(chunk, 'a' + (int)i, sizeof chunk);
                uint64_t d = fy_chunk_digest(chunk, sizeof chunk);
                fy_file_digest_add(&fdg, d);
                send_data(id, 4096ull * i, chunk, sizeof chunk, (int)i == damaged ? d ^ 1 : d);
        }
        struct fy_msg e = { .type = FY_FILE_END, .end = { .xfer_id = id, .size = 4096ull * n, .chunks = n } };
        fy_file_digest_final(&fdg, e.end.digest);
        memcpy(digest, e.end.digest, 16);
        send_msg(&e);
}

/* A session that must end in ERROR 15 naming bench mode after frame m. */
static void refused(const char *path, const char *what, const struct fy_msg *m) {
        connect_to(path);
        uint64_t agreed = handshake(V1_FEATS & ~FY_FEAT_BENCH);
        check(!(agreed & FY_FEAT_BENCH), "%s: ferryd did not agree bit 7 it was not offered", what);
        send_msg(m);
        struct fy_msg r;
        bool got = false;
        while (recv_msg(&r)) {
                if (r.type == FY_ERROR) {
                        got = true;
                        check(r.error.code == FY_EPROTO && strstr(r.error.text, "bench"),
                              "%s without bit 7: ERROR %u '%s'", what, r.error.code, r.error.text);
                        break;
                }
        }
        if (!got)
                check(false, "%s without bit 7: no ERROR, the session went on", what);
        close(fd);
}

/* FILE_STATUS for id; its code. */
static uint32_t status_of(uint32_t id, struct fy_msg *m) {
        for (;;) {
                if (!recv_msg(m))
                        die("EOF waiting for FILE_STATUS");
                if (m->type == FY_ERROR) {
                        fprintf(stderr, "bench-peer: ferryd ended the session: %s\n", m->error.text);
                        exit(1);
                }
                if (m->type == FY_FILE_STATUS && m->status.xfer_id == id)
                        return m->status.code;
        }
}

static int host(const char *path) {
        struct fy_msg m;
        m = (struct fy_msg){ .type = FY_FILE_BEGIN, .begin = { .xfer_id = 1, .flags = FY_FB_BENCH, .size = 4096,
                                                                .chunk_size = 4096, .dest = "bench" } };
        refused(path, "FILE_BEGIN FY_FB_BENCH", &m);
        m = (struct fy_msg){ .type = FY_GET, .get = { .xfer_id = 1, .flags = FY_GET_BENCH, .path = "bench",
                                                       .bench_size = 4096 } };
        refused(path, "GET FY_GET_BENCH", &m);
        m = (struct fy_msg){ .type = FY_MKDIR, .mkdir = { .xfer_id = 1, .flags = FY_MK_SCRATCH, .mode = 0700,
                                                          .dest = "bench-scratch" } };
        refused(path, "MKDIR FY_MK_SCRATCH", &m);

        connect_to(path);
        uint64_t agreed = handshake(V1_FEATS & ~FY_FEAT_RESEND); /* a damaged chunk fails its file */
        check(agreed & FY_FEAT_BENCH, "ferryd offers bench mode (features %#llx)", (unsigned long long)agreed);
        /* Scratch directories: never one that exists, one per session. */
        m = (struct fy_msg){ .type = FY_MKDIR, .mkdir = { .xfer_id = 1, .flags = FY_MK_SCRATCH, .mode = 0700,
                                                          .dest = "keep" } };
        send_msg(&m);
        uint32_t code = status_of(1, &m);
        check(code == FY_EEXIST, "scratch onto an existing directory: FILE_STATUS %u '%s'", code, m.status.text);
        m = (struct fy_msg){ .type = FY_MKDIR, .mkdir = { .xfer_id = 2, .flags = FY_MK_SCRATCH, .mode = 0700,
                                                          .dest = "bench-scratch" } };
        send_msg(&m);
        code = status_of(2, &m);
        check(code == FY_OK, "scratch directory made: FILE_STATUS %u '%s'", code, m.status.text);
        m = (struct fy_msg){ .type = FY_MKDIR, .mkdir = { .xfer_id = 3, .flags = FY_MK_SCRATCH, .mode = 0700,
                                                          .dest = "bench-scratch2" } };
        send_msg(&m);
        code = status_of(3, &m);
        check(code == FY_EBUSY, "a second scratch directory: FILE_STATUS %u '%s'", code, m.status.text);
        /* A real file into it. */
        static uint8_t chunk[4096];
        memset(chunk, 'f', sizeof chunk);
        uint64_t d = fy_chunk_digest(chunk, sizeof chunk);
        m = (struct fy_msg){ .type = FY_FILE_BEGIN, .begin = { .xfer_id = 4, .flags = FY_FB_DEST_IS_DIR, .size = 4096,
                                                                .mode = 0644, .chunk_size = 4096,
                                                                .dest = "bench-scratch", .name = "f" } };
        send_msg(&m);
        send_data(4, 0, chunk, sizeof chunk, d);
        struct fy_msg e = { .type = FY_FILE_END, .end = { .xfer_id = 4, .size = 4096, .chunks = 1 } };
        struct fy_file_digest fdg;
        fy_file_digest_init(&fdg);
        fy_file_digest_add(&fdg, d);
        fy_file_digest_final(&fdg, e.end.digest);
        send_msg(&e);
        code = status_of(4, &m);
        check(code == FY_OK, "a file into the scratch directory: FILE_STATUS %u '%s'", code, m.status.text);
        /* Sinks: checked and dropped. */
        uint8_t digest[16];
        send_bench_file(5, 3, -1, digest);
        code = status_of(5, &m);
        check(code == FY_OK && m.status.bytes == 3 * 4096 && !memcmp(m.status.digest, digest, 16),
              "a bench file sunk: FILE_STATUS %u, %llu bytes, digest %s", code, (unsigned long long)m.status.bytes,
              memcmp(m.status.digest, digest, 16) ? "differs" : "ours");
        send_bench_file(6, 3, 1, digest);
        code = status_of(6, &m);
        check(code == FY_EBADMSG, "a bench file with a damaged chunk: FILE_STATUS %u '%s'", code, m.status.text);
        /* A source: 10000 bytes of text in chunks of at most 4 KiB. */
        m = (struct fy_msg){ .type = FY_GET, .get = { .xfer_id = 7, .flags = FY_GET_BENCH, .chunk_size = 4096,
                                                       .path = "bench", .bench_size = 10000,
                                                       .bench_pattern = FY_BENCH_TEXT } };
        send_msg(&m);
        uint64_t got = 0, chunks = 0;
        bool digests_ok = true, begun = false;
        unsigned seen[256] = { 0 };
        fy_file_digest_init(&fdg);
        for (;;) {
                if (!recv_msg(&m))
                        die("EOF during the bench GET");
                if (m.type == FY_FILE_BEGIN) {
                        begun = true;
                        check(m.begin.xfer_id == 7 && m.begin.flags == FY_FB_BENCH && m.begin.size == 10000 &&
                                      m.begin.chunk_size <= 4096,
                              "bench GET answered: FILE_BEGIN flags %#x, size %llu, chunk %u", m.begin.flags,
                              (unsigned long long)m.begin.size, m.begin.chunk_size);
                } else if (m.type == FY_DATA) {
                        const uint8_t *p = payload + FY_DATA_HEAD_SIZE;
                        digests_ok &= m.data.codec == FY_CODEC_RAW && m.data.offset == got &&
                                      fy_chunk_digest(p, m.data.raw_len) == m.data.digest;
                        fy_file_digest_add(&fdg, m.data.digest);
                        for (uint32_t i = 0; i < m.data.raw_len; i++)
                                seen[p[i]]++;
                        got += m.data.raw_len;
                        chunks++;
                } else if (m.type == FY_FILE_END) {
                        break;
                } else if (m.type == FY_ERROR || m.type == FY_FILE_ABORT) {
                        check(false, "bench GET: %s '%s'", fy_type_name(m.type),
                              m.type == FY_ERROR ? m.error.text : m.abort.text);
                        return 1;
                }
        }
        fy_file_digest_final(&fdg, digest);
        unsigned distinct = 0;
        for (int i = 0; i < 256; i++)
                distinct += seen[i] != 0;
        check(begun && digests_ok && got == 10000 && chunks == 3 && m.end.chunks == 3 &&
                      !memcmp(m.end.digest, digest, 16),
              "bench GET: %llu bytes in %llu chunks, digests %s", (unsigned long long)got, (unsigned long long)chunks,
              digests_ok && !memcmp(m.end.digest, digest, 16) ? "right" : "wrong");
        check(distinct < 64, "bench GET of text: %u distinct byte values (text, not random)", distinct);
        struct fy_msg st = { .type = FY_FILE_STATUS, .status = { .xfer_id = 7, .bytes = got } };
        memcpy(st.status.digest, digest, 16);
        send_msg(&st);
        struct fy_msg bye = { .type = FY_BYE };
        send_msg(&bye);
        bool byed = false;
        while (recv_msg(&m))
                if (m.type == FY_BYE) {
                        byed = true;
                        break;
                }
        check(byed, "BYE answered");
        close(fd);
        return bad;
}

static int guest(const char *path, bool lie) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 1) < 0)
                die("listen");
        printf("listening\n");
        fflush(stdout);
        fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                die("accept");
        struct fy_msg m;
        while (recv_msg(&m)) {
                switch (m.type) {
                case FY_SYNC: {
                        uint64_t ours = lie ? V1_FEATS : V1_FEATS & ~FY_FEAT_BENCH;
                        ours &= ~(uint64_t)(FY_FEAT_RESUME | FY_FEAT_RESEND); /* no questions, no repairs */
                        struct fy_msg a = { .type = FY_SYNC_ACK, .hello = m.hello };
                        a.hello.proto_min = a.hello.proto_max = FY_PROTO_VERSION;
                        a.hello.features = m.hello.features & ours;
                        a.hello.max_chunk = 1u << 20;
                        a.hello.recv_window = 8u << 20;
                        a.hello.max_frame = FY_MAX_PAYLOAD;
                        snprintf(a.hello.agent, sizeof a.hello.agent, "bench-peer");
                        send_msg(&a);
                        break;
                }
                case FY_GET:
                        if (lie) { /* a measurement, for a GET that asked for a file */
                                uint32_t id = m.get.xfer_id;
                                static uint8_t chunk[4096];
                                memset(chunk, 'x', sizeof chunk);
                                uint64_t d = fy_chunk_digest(chunk, sizeof chunk);
                                struct fy_msg b = { .type = FY_FILE_BEGIN, .begin = { .xfer_id = id, .flags = FY_FB_BENCH,
                                                                                      .size = 4096, .chunk_size = 4096 } };
                                snprintf(b.begin.dest, sizeof b.begin.dest, "%s", m.get.path);
                                send_msg(&b);
                                send_data(id, 0, chunk, sizeof chunk, d);
                                struct fy_msg e = { .type = FY_FILE_END, .end = { .xfer_id = id, .size = 4096, .chunks = 1 } };
                                struct fy_file_digest fdg;
                                fy_file_digest_init(&fdg);
                                fy_file_digest_add(&fdg, d);
                                fy_file_digest_final(&fdg, e.end.digest);
                                send_msg(&e);
                        }
                        break;
                case FY_ERROR:
                        printf("host's ERROR %u '%s'\n", m.error.code, m.error.text);
                        fflush(stdout);
                        return 0;
                case FY_BYE: {
                        struct fy_msg bye = { .type = FY_BYE };
                        send_msg(&bye);
                        printf("BYE\n");
                        return 0;
                }
                default:
                        break;
                }
        }
        printf("EOF\n");
        return 0;
}

int main(int argc, char **argv) {
        if (argc == 3 && !strcmp(argv[1], "host"))
                return host(argv[2]);
        if (argc == 4 && !strcmp(argv[1], "guest") && (!strcmp(argv[3], "lie") || !strcmp(argv[3], "nobench")))
                return guest(argv[2], !strcmp(argv[3], "lie"));
        fprintf(stderr, "usage: bench-peer host UNIX_PATH | bench-peer guest UNIX_PATH lie|nobench\n");
        return 2;
}
