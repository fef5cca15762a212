/* SPDX-License-Identifier: MIT */
/*
 * conform: drives a real ferryd with crafted frame sequences, made and read
 * with the project's codec, and asserts its answer for each rule of
 * protocol/PROTOCOL.md.  Each case is named by the section it checks.
 *
 *   conform SOCKET [CASE-PREFIX...]
 *
 * SOCKET is ferryd's Unix socket.  Its root must hold (test-conformance.sh
 * makes them): f.txt (5000 bytes), big.bin (1 MiB + 7 bytes), a directory
 * dir/ with one file, and an empty directory in/ the pushes go to.  Every
 * case opens its own connection.  Prints one line per case, "ok" or
 * "FAIL ... why"; exit status 0 when every case passed, 1 otherwise, 2 on
 * a usage error.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"

#define WAIT_MS 5000
#define NONCE 0x636f6e666f726dull

static const char *sock_path;
static char why[512]; /* the failing case's reason */

static bool failf(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        return false;
}

/* One connection to ferryd, and what was agreed on it. */
struct conn {
        int fd;
        bool checked;      /* our frames go with their payload check */
        uint64_t agreed;
        struct fy_hello ack;
        uint16_t ack_flags;
        bool eof;
};

static uint8_t frame[FY_HDR_SIZE + FY_MAX_PAYLOAD];

static bool conn_open(struct conn *c) {
        *c = (struct conn){ .fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) };
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                return failf("connect to '%s': %s", sock_path, strerror(errno));
        return true;
}

static void conn_close(struct conn *c) {
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
}

static bool send_bytes(struct conn *c, const void *p, size_t n) {
        const uint8_t *b = p;
        while (n > 0) {
                ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return failf("send: %s", strerror(errno));
                b += w;
                n -= (size_t)w;
        }
        return true;
}

static bool send_msg(struct conn *c, const struct fy_msg *m) {
        static uint8_t b[FY_MAX_CTRL_FRAME];
        ssize_t n = c->checked && m->type != FY_SYNC ? fy_msg_encode_checked(b, sizeof b, m) : fy_msg_encode(b, sizeof b, m);
        if (n < 0)
                return failf("encode %s: %s", fy_type_name(m->type), strerror((int)-n));
        return send_bytes(c, b, (size_t)n);
}

/* A frame as sent, then changed: XOR x into payload byte at. */
static bool send_damaged(struct conn *c, const struct fy_msg *m, size_t at, uint8_t x) {
        static uint8_t b[FY_MAX_CTRL_FRAME];
        ssize_t n = c->checked ? fy_msg_encode_checked(b, sizeof b, m) : fy_msg_encode(b, sizeof b, m);
        if (n < 0 || FY_HDR_SIZE + at >= (size_t)n)
                return failf("encode %s", fy_type_name(m->type));
        b[FY_HDR_SIZE + at] ^= x;
        return send_bytes(c, b, (size_t)n);
}

static bool send_data(struct conn *c, uint32_t id, uint64_t off, const uint8_t *p, uint32_t len, uint64_t digest) {
        uint8_t h[FY_DATA_FRAME_HEAD];
        struct fy_data d = { .xfer_id = id, .offset = off, .raw_len = len, .payload_len = len, .digest = digest };
        if (fy_data_head_encode(h, &d) < 0)
                return failf("DATA head");
        return send_bytes(c, h, sizeof h) && send_bytes(c, p, len);
}

static bool read_full(struct conn *c, uint8_t *p, size_t n, int ms) {
        while (n > 0) {
                struct pollfd pf = { .fd = c->fd, .events = POLLIN };
                int r = poll(&pf, 1, ms);
                if (r == 0)
                        return failf("no answer within %d ms", ms);
                ssize_t k = read(c->fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        c->eof = true;
                        return failf("the connection closed");
                }
                p += k;
                n -= (size_t)k;
        }
        return true;
}

/* The next frame from ferryd, whole (a DATA frame's chunk stays in frame). */
static bool recv_frame(struct conn *c, struct fy_header *h, struct fy_msg *m) {
        if (!read_full(c, frame, FY_HDR_SIZE, WAIT_MS))
                return false;
        int r = fy_header_decode(frame, h);
        if (r < 0)
                return failf("ferryd sent a header that does not decode: %s", fy_strerror_decode(r));
        if (!read_full(c, frame + FY_HDR_SIZE, h->length, WAIT_MS))
                return false;
        r = fy_msg_decode(h, frame + FY_HDR_SIZE, h->length, m);
        if (r < 0)
                return failf("ferryd sent a %s that does not decode: %s", fy_type_name(h->type), fy_strerror_decode(r));
        if (c->agreed & FY_FEAT_CHECKED && h->type != FY_DATA && h->type != FY_PAD && !(h->flags & FY_HF_CHECKED))
                return failf("ferryd sent %s without its payload check (9.14)", fy_type_name(h->type));
        return true;
}

/* The next frame that is not CREDIT or PAD. */
static bool recv_answer(struct conn *c, struct fy_msg *m) {
        struct fy_header h;
        do {
                if (!recv_frame(c, &h, m))
                        return false;
        } while (m->type == FY_CREDIT || m->type == FY_PAD);
        return true;
}

static bool handshake_ex(struct conn *c, uint64_t features, uint32_t max_frame, uint32_t max_chunk, uint64_t window) {
        if (!conn_open(c))
                return false;
        struct fy_msg m = { .type = FY_SYNC, .hello = { .nonce = NONCE, .proto_min = 1, .proto_max = 1,
                                                        .features = features, .max_frame = max_frame,
                                                        .max_chunk = max_chunk, .recv_window = window } };
        strcpy(m.hello.agent, "conform");
        if (!send_msg(c, &m))
                return false;
        struct fy_header h;
        if (!recv_frame(c, &h, &m))
                return false;
        if (m.type != FY_SYNC_ACK)
                return failf("SYNC answered with %s", fy_type_name(m.type));
        c->ack = m.hello;
        c->ack_flags = h.flags;
        c->agreed = m.hello.features;
        c->checked = c->agreed & FY_FEAT_CHECKED;
        return true;
}

static bool handshake(struct conn *c, uint64_t features) {
        return handshake_ex(c, features, FY_MAX_PAYLOAD, 1u << 20, 64u << 20);
}

/* ferryd answers ERROR with this code (and text holding want, if any),
 * then closes the connection. */
static bool expect_error(struct conn *c, uint32_t code, const char *want) {
        struct fy_msg m;
        if (!recv_answer(c, &m))
                return false;
        if (m.type != FY_ERROR)
                return failf("expected ERROR %u, got %s", code, fy_type_name(m.type));
        if (m.error.code != code)
                return failf("expected ERROR %u, got ERROR %u (%s)", code, m.error.code, m.error.text);
        if (want && !strstr(m.error.text, want))
                return failf("ERROR text '%s' does not name '%s'", m.error.text, want);
        struct fy_header h;
        if (recv_frame(c, &h, &m) || !c->eof)
                return failf("the connection stayed open after ERROR");
        return true;
}

static bool expect_abort(struct conn *c, uint32_t id, uint32_t code) {
        struct fy_msg m;
        if (!recv_answer(c, &m))
                return false;
        if (m.type != FY_FILE_ABORT || m.abort.xfer_id != id || m.abort.code != code)
                return failf("expected FILE_ABORT{%u, %u}, got %s{%u, %u}", id, code, fy_type_name(m.type),
                             m.abort.xfer_id, m.abort.code);
        return true;
}

static bool expect_status(struct conn *c, uint32_t id, uint32_t code, struct fy_msg *ret) {
        if (!recv_answer(c, ret))
                return false;
        if (ret->type != FY_FILE_STATUS || ret->status.xfer_id != id || ret->status.code != code)
                return failf("expected FILE_STATUS{%u, %u}, got %s{%u, %u: %s}", id, code, fy_type_name(ret->type),
                             ret->status.xfer_id, ret->status.code,
                             ret->type == FY_FILE_STATUS ? ret->status.text : ret->type == FY_ERROR ? ret->error.text : "");
        return true;
}

/* BYE answered with BYE, then the connection closes (9.6). */
static bool bye(struct conn *c) {
        struct fy_msg m = { .type = FY_BYE };
        if (!send_msg(c, &m) || !recv_answer(c, &m))
                return false;
        if (m.type != FY_BYE)
                return failf("BYE answered with %s", fy_type_name(m.type));
        struct fy_header h;
        if (recv_frame(c, &h, &m) || !c->eof)
                return failf("the connection stayed open after BYE");
        return true;
}

static struct fy_msg get_msg(uint32_t id, uint32_t flags, const char *path) {
        struct fy_msg m = { .type = FY_GET, .get = { .xfer_id = id, .flags = flags } };
        snprintf(m.get.path, sizeof m.get.path, "%s", path);
        return m;
}

static struct fy_msg begin_msg(uint32_t id, const char *dest, uint64_t size) {
        struct fy_msg m = { .type = FY_FILE_BEGIN, .begin = { .xfer_id = id, .size = size, .mode = 0644,
                                                              .chunk_size = 4096, .mtime_sec = 1700000000 } };
        snprintf(m.begin.dest, sizeof m.begin.dest, "%s", dest);
        return m;
}

/* Push size bytes of pattern p as dest, one 4k chunk per DATA; digest of
 * FILE_END spoilt when bad_digest. */
static bool push_file(struct conn *c, uint32_t id, const char *dest, size_t size, bool bad_digest, uint8_t ret_digest[16]) {
        struct fy_msg m = begin_msg(id, dest, size);
        if (!send_msg(c, &m))
                return false;
        static uint8_t chunk[4096];
        struct fy_file_digest fd;
        fy_file_digest_init(&fd);
        uint64_t n = 0;
        for (size_t off = 0; off < size; off += sizeof chunk, n++) {
                uint32_t len = (uint32_t)(size - off < sizeof chunk ? size - off : sizeof chunk);
                memset(chunk, (int)('a' + n % 26), len);
                uint64_t d = fy_chunk_digest(chunk, len);
                fy_file_digest_add(&fd, d);
                if (!send_data(c, id, off, chunk, len, d))
                        return false;
        }
        m = (struct fy_msg){ .type = FY_FILE_END, .end = { .xfer_id = id, .size = size, .chunks = n } };
        fy_file_digest_final(&fd, m.end.digest);
        if (ret_digest)
                memcpy(ret_digest, m.end.digest, 16);
        m.end.digest[3] ^= bad_digest ? 1 : 0;
        return send_msg(c, &m);
}

/* ---- the cases ------------------------------------------------------------ */

static bool c_sync_ack(void) {
        struct conn c;
        bool ok = handshake(&c, FY_FEAT_TREE | (1ull << 40)) && (c.ack.nonce == NONCE || failf("nonce not echoed")) &&
                  (c.agreed == FY_FEAT_TREE || failf("accepted %#llx of TREE|bit 40", (unsigned long long)c.agreed)) &&
                  (c.ack.proto_min == 1 && c.ack.proto_max == 1 ? true : failf("version %u..%u", c.ack.proto_min, c.ack.proto_max)) &&
                  (c.ack_flags == 0 || failf("an unchecked session's SYNC_ACK has flags %#x", c.ack_flags));
        conn_close(&c);
        return ok;
}

static bool c_no_version(void) {
        struct conn c;
        if (!conn_open(&c))
                return false;
        struct fy_msg m = { .type = FY_SYNC, .hello = { .nonce = NONCE, .proto_min = 2, .proto_max = 3,
                                                        .max_frame = FY_MAX_PAYLOAD, .max_chunk = 4096, .recv_window = 4096 } };
        bool ok = send_msg(&c, &m) && recv_answer(&c, &m) &&
                  (m.type == FY_ERROR && m.error.code == FY_EPROTO ? true : failf("answered %s", fy_type_name(m.type)));
        conn_close(&c);
        return ok;
}

static bool c_max_frame(void) {
        struct conn c;
        if (!handshake_ex(&c, 0, 8192, 1u << 20, 64u << 20))
                return false;
        struct fy_msg m = get_msg(1, 0, "big.bin");
        struct fy_header h;
        bool ok = send_msg(&c, &m) && recv_answer(&c, &m);
        if (ok && (m.type != FY_FILE_BEGIN || m.begin.chunk_size > 8192 - FY_DATA_HEAD_SIZE))
                ok = failf("answered %s, chunk_size %u", fy_type_name(m.type), m.begin.chunk_size);
        unsigned frames = 0;
        while (ok && (ok = recv_frame(&c, &h, &m)) && m.type != FY_FILE_END) {
                if (h.length > 8192)
                        ok = failf("a %s frame of %u bytes, over our max_frame 8192", fy_type_name(h.type), h.length);
                frames += m.type == FY_DATA;
        }
        ok = ok && (m.end.size == (1u << 20) + 7 || failf("FILE_END size %llu", (unsigned long long)m.end.size));
        if (ok) {
                m = (struct fy_msg){ .type = FY_FILE_STATUS, .status = { .xfer_id = 1, .bytes = (1u << 20) + 7 } };
                ok = send_msg(&c, &m) && bye(&c);
        }
        conn_close(&c);
        return ok && (frames > 128 || failf("only %u DATA frames", frames));
}

static bool c_get_missing(void) {
        struct conn c;
        struct fy_msg m = get_msg(1, 0, "no-such-file");
        bool ok = handshake(&c, 0) && send_msg(&c, &m) && expect_abort(&c, 1, FY_ENOENT) && bye(&c);
        conn_close(&c);
        return ok;
}

static bool c_get_dir(void) {
        struct conn c;
        struct fy_msg m = get_msg(1, 0, "dir");
        bool ok = handshake(&c, FY_FEAT_TREE) && send_msg(&c, &m) && expect_abort(&c, 1, FY_EISDIR) && bye(&c);
        conn_close(&c);
        return ok;
}

static bool c_get_tree_unagreed(void) {
        struct conn c;
        struct fy_msg m = get_msg(1, FY_GET_TREE, "dir");
        bool ok = handshake(&c, 0) && send_msg(&c, &m) && expect_abort(&c, 1, FY_EISDIR) && bye(&c);
        conn_close(&c);
        return ok;
}

/* A frame of a feature not agreed: ERROR 15 naming it. */
static bool unagreed(uint64_t features, const struct fy_msg *m, const char *name) {
        struct conn c;
        bool ok = handshake(&c, features) && send_msg(&c, m) && expect_error(&c, FY_EPROTO, name);
        conn_close(&c);
        return ok;
}

static bool c_mkdir_unagreed(void) {
        struct fy_msg m = { .type = FY_MKDIR, .mkdir = { .xfer_id = 1, .mode = 0755, .dest = "in/d" } };
        return unagreed(0, &m, "MKDIR");
}

static bool c_symlink_unagreed(void) {
        struct fy_msg m = { .type = FY_SYMLINK, .symlink = { .xfer_id = 1, .dest = "in/l", .target = "x" } };
        return unagreed(FY_FEAT_SPARSE, &m, "SYMLINK");
}

static bool c_hole_unagreed(void) {
        struct fy_msg m = { .type = FY_HOLE, .hole = { .xfer_id = 1, .offset = 0, .length = 4096 } };
        return unagreed(FY_FEAT_TREE, &m, "HOLE");
}

static bool c_query_unagreed(void) {
        struct fy_msg m = { .type = FY_RESUME_QUERY };
        m.query.file = begin_msg(1, "in/q", 10).begin;
        return unagreed(FY_FEAT_TREE, &m, "RESUME_QUERY");
}

static bool c_resume_begin_unagreed(void) {
        struct fy_msg m = begin_msg(1, "in/r", 10);
        m.begin.flags = FY_FB_RESUME;
        m.begin.resume_off = 4;
        m.begin.resume_chunks = 1;
        return unagreed(FY_FEAT_TREE, &m, "FILE_BEGIN");
}

static bool c_sparse_begin_unagreed(void) {
        struct fy_msg m = begin_msg(1, "in/s", 10);
        m.begin.flags = FY_FB_SPARSE;
        return unagreed(FY_FEAT_TREE, &m, "FILE_BEGIN");
}

static bool c_nack_unagreed(void) {
        struct fy_msg m = { .type = FY_CHUNK_NACK, .nack = { .xfer_id = 1, .raw_len = 4096, .code = FY_EBADMSG } };
        return unagreed(0, &m, "CHUNK_NACK");
}

static bool c_id_zero(void) {
        struct fy_msg m = begin_msg(0, "in/z", 10);
        return unagreed(0, &m, "FILE_BEGIN");
}

static bool c_id_bit31(void) {
        struct fy_msg m = get_msg(FY_RESPONDER_ID | 5, 0, "f.txt");
        return unagreed(0, &m, "GET");
}

static bool c_push(void) {
        struct conn c;
        uint8_t d[16];
        struct fy_msg m;
        bool ok = handshake(&c, 0) && push_file(&c, 1, "in/pushed", 10000, false, d) && expect_status(&c, 1, 0, &m) &&
                  (m.status.bytes == 10000 && !memcmp(m.status.digest, d, 16) ? true : failf("status bytes or digest")) &&
                  bye(&c);
        conn_close(&c);
        return ok;
}

static bool c_push_bad_digest(void) {
        struct conn c;
        struct fy_msg m;
        bool ok = handshake(&c, 0) && push_file(&c, 1, "in/bad", 9000, true, NULL) && expect_status(&c, 1, FY_EBADMSG, &m) &&
                  bye(&c);
        conn_close(&c);
        return ok && (access("in/bad", F_OK) != 0 || failf("in/bad exists"));
}

static bool c_offset_gap(void) {
        struct conn c;
        struct fy_msg m = begin_msg(1, "in/gap", 9000);
        static uint8_t chunk[4096];
        bool ok = handshake(&c, 0) && send_msg(&c, &m) &&
                  send_data(&c, 1, 4096, chunk, 4096, fy_chunk_digest(chunk, 4096)) &&
                  expect_status(&c, 1, FY_EPROTO, &m) && bye(&c);
        conn_close(&c);
        return ok;
}

/* A failed file (9.4): FILE_STATUS bytes are the bytes received in order
 * (here the one chunk before the gap), and its frames that were on the way
 * are absorbed - DATA credited, FILE_END dropped - until the next FILE_BEGIN. */
static bool c_failed_absorbs(void) {
        struct conn c;
        struct fy_msg m = begin_msg(1, "in/fa", 12288), st;
        struct fy_msg e = { .type = FY_FILE_END, .end = { .xfer_id = 1, .size = 12288, .chunks = 3 } };
        static uint8_t chunk[4096];
        uint64_t d = fy_chunk_digest(chunk, 4096);
        bool ok = handshake(&c, 0) && send_msg(&c, &m) && send_data(&c, 1, 0, chunk, 4096, d) &&
                  send_data(&c, 1, 8192, chunk, 4096, d) && expect_status(&c, 1, FY_EPROTO, &st);
        ok = ok && (st.status.bytes == 4096 ? true : failf("FILE_STATUS bytes %llu, want 4096 (received in order)",
                                                           (unsigned long long)st.status.bytes));
        ok = ok && send_data(&c, 1, 4096, chunk, 4096, d) && send_msg(&c, &e) && bye(&c);
        conn_close(&c);
        return ok;
}

/* ... and once the next FILE_BEGIN came, the failed file is gone: DATA
 * for it breaks the order of Appendix B item 2. */
static bool c_failed_then_begin(void) {
        struct conn c;
        struct fy_msg m = begin_msg(1, "in/fb", 12288), n = begin_msg(2, "in/fc", 12288), st;
        static uint8_t chunk[4096];
        uint64_t d = fy_chunk_digest(chunk, 4096);
        bool ok = handshake(&c, 0) && send_msg(&c, &m) && send_data(&c, 1, 4096, chunk, 4096, d) &&
                  expect_status(&c, 1, FY_EPROTO, &st) && send_msg(&c, &n) && send_data(&c, 1, 0, chunk, 4096, d) &&
                  expect_error(&c, FY_EPROTO, "DATA");
        conn_close(&c);
        return ok;
}

static bool c_data_not_open(void) {
        struct conn c;
        static uint8_t chunk[4096];
        bool ok = handshake(&c, 0) && send_data(&c, 7, 0, chunk, 4096, fy_chunk_digest(chunk, 4096)) &&
                  expect_error(&c, FY_EPROTO, "DATA");
        conn_close(&c);
        return ok;
}

static bool c_begin_while_open(void) {
        struct conn c;
        struct fy_msg a = begin_msg(1, "in/o1", 9000), b = begin_msg(2, "in/o2", 9000);
        bool ok = handshake(&c, 0) && send_msg(&c, &a) && send_msg(&c, &b) && expect_error(&c, FY_EPROTO, "FILE_BEGIN");
        conn_close(&c);
        return ok;
}

static bool c_abort_open(void) {
        struct conn c;
        struct fy_msg m = begin_msg(1, "in/ab", 9000), a = { .type = FY_FILE_ABORT, .abort = { .xfer_id = 1, .code = FY_ECANCELED } };
        bool ok = handshake(&c, 0) && send_msg(&c, &m) && send_msg(&c, &a) && expect_status(&c, 1, FY_ECANCELED, &m) && bye(&c);
        conn_close(&c);
        return ok;
}

/* Code 0 is for a file never begun (9.8); for an open one it must not turn
 * into a FILE_STATUS of success for a file that is not there. */
static bool c_abort_open_zero(void) {
        struct conn c;
        struct fy_msg m = begin_msg(1, "in/az", 9000), a = { .type = FY_FILE_ABORT, .abort = { .xfer_id = 1, .code = FY_OK } };
        bool ok = handshake(&c, 0) && send_msg(&c, &m) && send_msg(&c, &a) && expect_status(&c, 1, FY_EPROTO, &m) && bye(&c);
        conn_close(&c);
        return ok;
}

static bool c_abort_never_begun(void) {
        struct conn c;
        struct fy_msg a = { .type = FY_FILE_ABORT, .abort = { .xfer_id = 42, .code = FY_ECANCELED } };
        bool ok = handshake(&c, 0) && send_msg(&c, &a) && bye(&c); /* no FILE_STATUS before the BYE */
        conn_close(&c);
        return ok;
}

static bool c_bye(void) {
        struct conn c;
        bool ok = handshake(&c, 0) && bye(&c);
        conn_close(&c);
        return ok;
}

static bool c_error_closes(void) {
        struct conn c;
        struct fy_msg e = { .type = FY_ERROR, .error = { .code = FY_ECANCELED, .text = "conform: going" } };
        struct fy_header h;
        bool ok = handshake(&c, 0) && send_msg(&c, &e);
        ok = ok && (!recv_frame(&c, &h, &e) && c.eof ? true : failf("ferryd answered an ERROR, or stayed open"));
        conn_close(&c);
        return ok;
}

static bool c_bad_header(void) {
        struct conn c;
        uint8_t b[FY_HDR_SIZE];
        fy_header_encode(b, FY_BYE, 0);
        b[13] ^= 1; /* the header check */
        bool ok = handshake(&c, 0) && send_bytes(&c, b, sizeof b) && expect_error(&c, FY_EBADMSG, "header");
        conn_close(&c);
        return ok;
}

static bool c_symlink_over_cap(void) {
        struct conn c;
        uint8_t b[FY_HDR_SIZE];
        fy_header_encode(b, FY_PAD, 0);
        b[5] = FY_SYMLINK;
        b[8] = (8193) & 0xff; /* length 8193: over FY_MAX_CTRL */
        b[9] = 8193 >> 8;
        uint32_t chk = (uint32_t)XXH3_64bits(b, 12);
        memcpy(b + 12, &chk, 4); /* (little-endian host) */
        bool ok = handshake(&c, FY_FEAT_TREE) && send_bytes(&c, b, sizeof b) && expect_error(&c, FY_EMSGSIZE, "header");
        conn_close(&c);
        return ok;
}

/* A raw frame: header made here, payload as given. */
static bool send_raw(struct conn *c, uint8_t type, const void *p, uint32_t n) {
        uint8_t b[FY_HDR_SIZE];
        fy_header_encode(b, type, n);
        return send_bytes(c, b, sizeof b) && send_bytes(c, p, n);
}

static bool c_unknown_type(void) {
        struct conn c;
        uint8_t b[FY_HDR_SIZE];
        fy_header_encode(b, 0x3f, 0); /* no such type (0x30, 0x31 are STATS, 9.12) */
        bool ok = handshake(&c, 0) && send_bytes(&c, b, sizeof b) && expect_error(&c, FY_EPROTO, "header");
        conn_close(&c);
        return ok;
}

static bool c_nul_in_string(void) {
        struct conn c;
        uint8_t p[16 + 2 + 3] = { 1 }; /* GET id 1, flags 0, chunk 0, path "a\0b" */
        p[16] = 3;
        p[18] = 'a';
        p[20] = 'b';
        bool ok = handshake(&c, 0) && send_raw(&c, FY_GET, p, sizeof p) && expect_error(&c, FY_EPROTO, "GET");
        conn_close(&c);
        return ok;
}

static bool c_trailing_bytes(void) {
        struct conn c;
        uint8_t p[1] = { 0 };
        bool ok = handshake(&c, 0) && send_raw(&c, FY_BYE, p, sizeof p) && expect_error(&c, FY_EBADMSG, "BYE");
        conn_close(&c);
        return ok;
}

static bool c_mkdir_mode(void) {
        struct conn c;
        struct fy_msg m = { .type = FY_MKDIR, .mkdir = { .xfer_id = 1, .mode = 010755, .dest = "in/m" } };
        bool ok = handshake(&c, FY_FEAT_TREE) && send_msg(&c, &m) && expect_error(&c, FY_EPROTO, "MKDIR");
        conn_close(&c);
        return ok;
}

static bool c_checked_ack(void) {
        struct conn c;
        bool ok = handshake(&c, FY_FEAT_CHECKED) &&
                  (c.agreed == FY_FEAT_CHECKED ? true : failf("bit 8 not accepted (%#llx)", (unsigned long long)c.agreed)) &&
                  (c.ack_flags == FY_HF_CHECKED || failf("the SYNC_ACK agreeing bit 8 is not checked")) && bye(&c);
        conn_close(&c);
        return ok;
}

static bool c_checked_missing(void) {
        struct conn c;
        struct fy_msg m = get_msg(1, 0, "f.txt");
        bool ok = handshake(&c, FY_FEAT_CHECKED);
        c.checked = false; /* as a peer that forgot */
        ok = ok && send_msg(&c, &m);
        c.checked = true;
        ok = ok && expect_error(&c, FY_EPROTO, "without its payload check");
        conn_close(&c);
        return ok;
}

static bool c_checked_unagreed(void) {
        struct conn c;
        struct fy_msg m = get_msg(1, 0, "f.txt");
        bool ok = handshake(&c, 0);
        c.checked = true;
        ok = ok && send_msg(&c, &m);
        c.checked = false;
        ok = ok && expect_error(&c, FY_EPROTO, "payload check");
        conn_close(&c);
        return ok;
}

static bool c_checked_damaged(void) {
        struct conn c;
        struct fy_msg m = get_msg(1, 0, "f.txt");
        bool ok = handshake(&c, FY_FEAT_CHECKED) && send_damaged(&c, &m, 16 + 2, 0x01) /* the path's first byte */ &&
                  expect_error(&c, FY_EBADMSG, "GET");
        conn_close(&c);
        return ok;
}

static bool c_checked_pull(void) {
        struct conn c;
        struct fy_msg m = get_msg(1, 0, "f.txt");
        bool ok = handshake(&c, FY_FEAT_CHECKED) && send_msg(&c, &m) && recv_answer(&c, &m) &&
                  (m.type == FY_FILE_BEGIN || failf("answered %s", fy_type_name(m.type)));
        while (ok && (ok = recv_answer(&c, &m)) && m.type != FY_FILE_END)
                ;
        if (ok) {
                m = (struct fy_msg){ .type = FY_FILE_STATUS, .status = { .xfer_id = 1, .bytes = 5000 } };
                ok = send_msg(&c, &m) && bye(&c);
        }
        conn_close(&c);
        return ok;
}

static bool c_skip_vouches(void) {
        struct conn c;
        uint8_t d[16];
        struct fy_msg m;
        uint64_t f = FY_FEAT_CHECKED | FY_FEAT_RESUME;
        bool ok = handshake(&c, f) && push_file(&c, 1, "in/skip", 10000, false, d) && expect_status(&c, 1, 0, &m) && bye(&c);
        conn_close(&c);
        if (!ok)
                return false;
        m = (struct fy_msg){ .type = FY_RESUME_QUERY };
        m.query.file = begin_msg(2, "in/skip", 10000).begin;
        ok = handshake(&c, f) && send_msg(&c, &m) && recv_answer(&c, &m) &&
             (m.type == FY_RESUME_STATE || failf("answered %s", fy_type_name(m.type)));
        if (ok && m.state.verdict == FY_RS_SEND) {
                conn_close(&c);
                strcpy(why, "skip: the filesystem keeps no user xattrs (SEND)");
                return true;
        }
        ok = ok && (m.state.verdict == FY_RS_SKIP ? true : failf("verdict %u", m.state.verdict)) &&
             (m.state.chunk_size == 4096 ? true : failf("SKIP chunk_size %u, not the recorded 4096", m.state.chunk_size)) &&
             (!memcmp(m.state.digest, d, 16) || failf("SKIP digest is not the file's"));
        if (ok) {
                m = (struct fy_msg){ .type = FY_FILE_ABORT, .abort = { .xfer_id = 2 } };
                ok = send_msg(&c, &m) && bye(&c);
        }
        conn_close(&c);
        return ok;
}

static bool resume_no_partial(uint64_t size) {
        struct conn c;
        struct fy_msg m = begin_msg(1, "in/nopart", size);
        m.begin.flags = FY_FB_RESUME;
        m.begin.resume_off = 8192;
        m.begin.resume_chunks = 2;
        bool ok = handshake(&c, FY_FEAT_RESUME) && send_msg(&c, &m) && expect_status(&c, 1, FY_EOTHER, &m) && bye(&c);
        conn_close(&c);
        return ok && (access("in/nopart", F_OK) != 0 || failf("in/nopart exists"));
}

static bool c_resume_no_partial(void) {
        return resume_no_partial(3u << 20) && resume_no_partial(10000); /* journaled, and not */
}

static bool c_both_dest_flags(void) {
        struct conn c;
        uint8_t d[16];
        struct fy_msg m = begin_msg(1, "in", 100);
        m.begin.flags = FY_FB_DEST_IS_DIR | FY_FB_DEST_MAYBE_DIR;
        strcpy(m.begin.name, "both");
        static uint8_t chunk[100];
        memset(chunk, 'a', sizeof chunk);
        struct fy_file_digest fd;
        fy_file_digest_init(&fd);
        fy_file_digest_add(&fd, fy_chunk_digest(chunk, 100));
        struct fy_msg e = { .type = FY_FILE_END, .end = { .xfer_id = 1, .size = 100, .chunks = 1 } };
        fy_file_digest_final(&fd, e.end.digest);
        memcpy(d, e.end.digest, 16);
        struct fy_msg f = begin_msg(2, "f.txt", 100);
        f.begin.flags = FY_FB_DEST_IS_DIR | FY_FB_DEST_MAYBE_DIR;
        strcpy(f.begin.name, "both");
        bool ok = handshake(&c, 0) && send_msg(&c, &m) && send_data(&c, 1, 0, chunk, 100, fy_chunk_digest(chunk, 100)) &&
                  send_msg(&c, &e) && expect_status(&c, 1, 0, &m) && send_msg(&c, &f) &&
                  expect_status(&c, 2, FY_ENOTDIR, &m) && bye(&c);
        conn_close(&c);
        return ok && (access("in/both", F_OK) == 0 || failf("in/both is missing"));
}

static bool c_entry_rel_push(void) {
        struct fy_msg m = { .type = FY_MKDIR, .mkdir = { .xfer_id = 1, .flags = FY_ENTRY_REL, .mode = 0755, .dest = "." } };
        return unagreed(FY_FEAT_TREE, &m, "MKDIR");
}

static bool c_sync_again(void) {
        struct conn c;
        struct fy_msg m = { .type = FY_SYNC, .hello = { .nonce = NONCE, .proto_min = 1, .proto_max = 1,
                                                        .max_frame = FY_MAX_PAYLOAD, .max_chunk = 1u << 20,
                                                        .recv_window = 64u << 20 } };
        struct fy_msg ack = { .type = FY_SYNC_ACK, .hello = m.hello };
        struct fy_msg g = get_msg(1, 0, "no-such-file");
        bool ok = handshake(&c, 0) && send_msg(&c, &m) && recv_answer(&c, &m) &&
                  (m.type == FY_SYNC_ACK && m.hello.nonce == NONCE ? true : failf("answered %s", fy_type_name(m.type))) &&
                  send_msg(&c, &ack) && send_msg(&c, &g) && expect_abort(&c, 1, FY_ENOENT) && bye(&c);
        conn_close(&c);
        return ok;
}

static const struct kase {
        const char *name;
        bool (*fn)(void);
} cases[] = {
        { "9.1 SYNC_ACK echoes the nonce, chooses v1, accepts offered & known bits", c_sync_ack },
        { "9.1 no common version: ERROR 15", c_no_version },
        { "9.1 the same SYNC again: SYNC_ACK again, the session kept; a SYNC_ACK from the initiator ignored", c_sync_again },
        { "9.3 both DEST flags: as FY_FB_DEST_IS_DIR", c_both_dest_flags },
        { "9.7 FY_ENTRY_REL from the initiator: ERROR 15", c_entry_rel_push },
        { "9.8 FY_FB_RESUME with no partial file: FILE_STATUS 255, nothing at the name", c_resume_no_partial },
        { "9.2 DATA frames within the receiver's max_frame (8192), chunk <= max_frame - 32", c_max_frame },
        { "9.3 push: FILE_STATUS 0 with the file digest", c_push },
        { "9.3 file digest mismatch: FILE_STATUS 16, nothing at the name", c_push_bad_digest },
        { "9.3 DATA at a wrong offset: FILE_STATUS 15", c_offset_gap },
        { "9.4 DATA for a transfer not open: ERROR 15", c_data_not_open },
        { "9.4 a failed file: FILE_STATUS bytes received in order; its DATA and FILE_END absorbed", c_failed_absorbs },
        { "9.4 a failed file, then the next FILE_BEGIN: DATA for the failed one is ERROR 15", c_failed_then_begin },
        { "9.4 FILE_BEGIN while a file is open: ERROR 15", c_begin_while_open },
        { "9.4 FILE_ABORT of the open file: FILE_STATUS with its code", c_abort_open },
        { "9.4 FILE_ABORT code 0 of the open file: FILE_STATUS 15, nothing at the name", c_abort_open_zero },
        { "9.4 FILE_ABORT for an id never begun: ignored", c_abort_never_begun },
        { "9.5 GET of a missing path: FILE_ABORT 2", c_get_missing },
        { "9.5 GET of a directory without FY_GET_TREE: FILE_ABORT 7", c_get_dir },
        { "9.7 GET with FY_GET_TREE, bit 2 not agreed: FILE_ABORT 7", c_get_tree_unagreed },
        { "8 MKDIR without bit 2: ERROR 15", c_mkdir_unagreed },
        { "8 SYMLINK without bit 2: ERROR 15", c_symlink_unagreed },
        { "8 HOLE without bit 4: ERROR 15", c_hole_unagreed },
        { "8 FILE_BEGIN FY_FB_SPARSE without bit 4: ERROR 15", c_sparse_begin_unagreed },
        { "8 RESUME_QUERY without bit 1: ERROR 15", c_query_unagreed },
        { "8 FILE_BEGIN FY_FB_RESUME without bit 1: ERROR 15 (as RESUME_QUERY)", c_resume_begin_unagreed },
        { "8 CHUNK_NACK without bit 3: ERROR 15", c_nack_unagreed },
        { "9 transfer id 0 from the initiator: ERROR 15", c_id_zero },
        { "9 transfer id with bit 31 from the initiator: ERROR 15", c_id_bit31 },
        { "4 MKDIR mode over 07777: ERROR 15", c_mkdir_mode },
        { "2 header check mismatch in a session: ERROR 16, closed", c_bad_header },
        { "3 SYMLINK length over FY_MAX_CTRL: ERROR 17, closed", c_symlink_over_cap },
        { "3 an unknown type in a session: ERROR 15, closed", c_unknown_type },
        { "4 a NUL inside a string: ERROR 15", c_nul_in_string },
        { "4 bytes after the last field: ERROR 16", c_trailing_bytes },
        { "9.6 BYE: BYE, then closed", c_bye },
        { "9.6 ERROR from the host: closed, not answered", c_error_closes },
        { "9.14 SYNC_ACK agreeing bit 8 carries its check", c_checked_ack },
        { "9.14 a frame without its check once bit 8 is agreed: ERROR 15", c_checked_missing },
        { "9.14 a checked frame without bit 8: ERROR 15", c_checked_unagreed },
        { "9.14 a damaged control payload: ERROR 16 naming the frame", c_checked_damaged },
        { "9.14 a pull with bit 8: every frame but DATA checked", c_checked_pull },
        { "9.14 SKIP carries the recorded digest and its chunking", c_skip_vouches },
};

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "usage: conform SOCKET [CASE-PREFIX...]\n");
                return 2;
        }
        sock_path = argv[1];
        unsigned run = 0, failed = 0;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                bool want = argc == 2;
                for (int k = 2; k < argc; k++)
                        want |= !strncmp(cases[i].name, argv[k], strlen(argv[k]));
                if (!want)
                        continue;
                why[0] = 0;
                bool ok = cases[i].fn();
                run++;
                failed += !ok;
                bool note = !ok || !strncmp(why, "skip:", 5); /* else why is what a passing case ran into */
                printf("%-4s §%s%s%s\n", ok ? "ok" : "FAIL", cases[i].name, note ? ": " : "", note ? why : "");
                fflush(stdout);
        }
        printf("conform: %u cases, %u failed\n", run, failed);
        return failed ? 1 : 0;
}
