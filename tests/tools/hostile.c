/* SPDX-License-Identifier: MIT */
/*
 * hostile: a peer that misbehaves on purpose, speaking raw frames through
 * the real codec, for the integration tests.
 *
 * As a host, against ferryd listening on a Unix socket:
 *
 *   hostile [--for SEC] host SOCKET MODE [ARG...]
 *     silent              connect, send nothing
 *     half                send the first 7 bytes of a SYNC header
 *     quiet               complete the handshake, then send nothing
 *     midframe            handshake, then half of a FILE_BEGIN frame
 *     noread PATH         handshake (window 64M), GET PATH, never read again
 *     flood N PATH        handshake (window 4k), N GETs of PATH in 4k chunks,
 *                         never grant credit; stay alive (PAD every 0.5 s)
 *                         and read what comes, until --for runs out
 *     begin SIZE N PATH   handshake, FILE_BEGIN of SIZE bytes as PATH, N 4k
 *                         chunks of it, then close
 *     delta SIZE PATH     handshake, FILE_BEGIN with FY_FB_DELTA (no query
 *                         first) of SIZE bytes as PATH, every 4k chunk as a
 *                         keep of zeros (codec 2), FILE_END; prints
 *                         "hostile: delta: N keeps, K asked for, status C"
 *                         (the chunks asked for are never sent)
 *     stats               handshake without bit 6, then STATS_REQ anyway
 *     stats-to-guest      handshake with bit 6, then a STATS (the guest's
 *                         frame) to ferryd
 *   An ERROR from ferryd is printed: "peer ERROR CODE: TEXT".
 *   Prints "hostile: MODE: closed by the peer after S s" when ferryd
 *   closes the connection, else "hostile: MODE: still open after S s"
 *   once --for SEC (default 60) have passed.  flood also prints
 *   "hostile: flood: N GETs sent, A refused (busy)" at the end.
 *
 * As a guest, in place of ferryd (one host, then exit):
 *
 *   hostile guest SOCKET MODE [ARG...]
 *     text                every GET answered with FILE_ABORT, every file
 *                         pushed with a failing FILE_STATUS, both with a
 *                         text full of terminal escape sequences
 *     error               the handshake, then ERROR with such a text
 *     tree                a GET (tree) answered with a tree whose one entry
 *                         has such a name and is aborted with such a text
 *     reserve SIZE N      a GET answered with FILE_BEGIN of SIZE bytes, N 4k
 *                         chunks, then the connection closed
 *
 * Exit status: 0 when the scenario ran, 1 on an error, 2 on a usage error.
 */
#include <errno.h>
#include <poll.h>
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

/* A peer that speaks no payload checks (feature bit 8, PROTOCOL.md 9.14):
 * its frames go unchecked, and ferry and ferryd must still talk to it. */
#define V1_FEATS (FY_FEAT_KNOWN & ~FY_FEAT_CHECKED)

/* What a hostile guest says: clear the screen, set the title, forge a line. */
#define EVIL "\033]0;pwned\007\033[2J\033[1;1H\rferry: all files verified\n\033[8m"

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
        fprintf(stderr, "hostile: %s: %s\n", what, strerror(errno));
        exit(1);
}

static int unix_connect(const char *path) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                die(path);
        return fd;
}

static int unix_listen_one(const char *path) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        unlink(path);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0)
                die(path);
        printf("hostile: listening on %s\n", path);
        fflush(stdout);
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
                die("accept");
        close(fd);
        return c;
}

static void send_all(int fd, const void *p, size_t n) {
        const uint8_t *b = p;
        while (n > 0) {
                ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        die("send");
                b += w;
                n -= (size_t)w;
        }
}

static void send_msg(int fd, const struct fy_msg *m) {
        static uint8_t buf[FY_MAX_CTRL_FRAME];
        ssize_t n = fy_msg_encode(buf, sizeof buf, m);
        if (n < 0) {
                fprintf(stderr, "hostile: encoding %s: %s\n", fy_type_name(m->type), fy_strerror_decode((int)n));
                exit(1);
        }
        send_all(fd, buf, (size_t)n);
}

/* Frames in: a buffer that keeps whole control frames; DATA payloads are
 * skipped. */
struct reader {
        int fd;
        uint8_t buf[FY_MAX_CTRL_FRAME * 4];
        size_t len;
        uint64_t skip;
        bool eof;
};

/* Read what is there within timeout_ms.  0: nothing (or EOF: r->eof). */
static int fill(struct reader *r, int timeout_ms) {
        struct pollfd p = { .fd = r->fd, .events = POLLIN };
        int n = poll(&p, 1, timeout_ms);
        if (n <= 0)
                return 0;
        ssize_t k = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
        if (k <= 0) {
                r->eof = true;
                return 0;
        }
        r->len += (size_t)k;
        return 1;
}

/* The next control frame, waiting up to timeout_ms.  false: none. */
static bool next_msg(struct reader *r, struct fy_msg *m, int timeout_ms) {
        double end = now_s() + timeout_ms / 1000.0;
        for (;;) {
                if (r->skip) {
                        size_t k = (size_t)(r->skip < r->len ? r->skip : r->len);
                        memmove(r->buf, r->buf + k, r->len - k);
                        r->len -= k;
                        r->skip -= k;
                }
                if (!r->skip && r->len >= FY_HDR_SIZE) {
                        struct fy_header h;
                        if (fy_header_decode(r->buf, &h) < 0) {
                                fprintf(stderr, "hostile: a frame header that does not decode\n");
                                exit(1);
                        }
                        if (h.type == FY_DATA) {
                                r->skip = FY_HDR_SIZE + (uint64_t)h.length;
                                continue;
                        }
                        if (r->len >= FY_HDR_SIZE + h.length) {
                                if (fy_msg_decode(&h, r->buf + FY_HDR_SIZE, h.length, m) < 0) {
                                        fprintf(stderr, "hostile: a %s frame that does not decode\n", fy_type_name(h.type));
                                        exit(1);
                                }
                                size_t k = FY_HDR_SIZE + h.length;
                                memmove(r->buf, r->buf + k, r->len - k);
                                r->len -= k;
                                return true;
                        }
                }
                double left = end - now_s();
                if (r->eof || left <= 0)
                        return false;
                fill(r, (int)(left * 1000) + 1);
        }
}

static struct fy_hello hello(uint64_t window, const char *agent) {
        struct fy_hello h = { .nonce = 0x686f7374696c65ull, .proto_min = FY_PROTO_MIN, .proto_max = FY_PROTO_VERSION,
                              .features = V1_FEATS, .max_frame = FY_MAX_PAYLOAD,
                              .max_chunk = window < FY_MAX_CHUNK ? (uint32_t)window : FY_MAX_CHUNK,
                              .recv_window = window };
        snprintf(h.agent, sizeof h.agent, "%s", agent);
        return h;
}

static void handshake_with(int fd, struct reader *r, uint64_t window, uint64_t features) {
        struct fy_msg m = { .type = FY_SYNC, .hello = hello(window, "hostile") };
        m.hello.features = features;
        send_msg(fd, &m);
        while (next_msg(r, &m, 10000))
                if (m.type == FY_SYNC_ACK)
                        return;
        fprintf(stderr, "hostile: no SYNC_ACK\n");
        exit(1);
}

static void handshake(int fd, struct reader *r, uint64_t window) {
        handshake_with(fd, r, window, V1_FEATS);
}

/* N 4k chunks of zeros of transfer id, from offset 0. */
static void chunks(int fd, uint32_t id, unsigned long n) {
        static uint8_t chunk[FY_MIN_CHUNK];
        for (unsigned long i = 0; i < n; i++) {
                struct fy_data d = { .xfer_id = id, .offset = i * FY_MIN_CHUNK, .raw_len = FY_MIN_CHUNK,
                                     .payload_len = FY_MIN_CHUNK, .digest = fy_chunk_digest(chunk, FY_MIN_CHUNK) };
                uint8_t head[FY_DATA_FRAME_HEAD];
                (void)fy_data_head_encode(head, &d);
                send_all(fd, head, sizeof head);
                send_all(fd, chunk, sizeof chunk);
        }
}

static void get(int fd, uint32_t id, const char *path, uint32_t chunk) {
        struct fy_msg m = { .type = FY_GET, .get = { .xfer_id = id, .chunk_size = chunk } };
        snprintf(m.get.path, sizeof m.get.path, "%s", path);
        send_msg(fd, &m);
}

/* ---- a hostile host ------------------------------------------------------ */

static int host(int argc, char **argv, double for_s) {
        if (argc < 2)
                return 2;
        const char *mode = argv[1];
        int fd = unix_connect(argv[0]);
        static struct reader r;
        r.fd = fd;
        double t0 = now_s();
        bool reading = true, alive = false;
        unsigned long gets = 0, busy = 0;
        if (!strcmp(mode, "silent")) {
        } else if (!strcmp(mode, "half")) {
                uint8_t b[FY_MAX_CTRL_FRAME];
                struct fy_msg m = { .type = FY_SYNC, .hello = hello(1 << 20, "hostile") };
                (void)fy_msg_encode(b, sizeof b, &m);
                send_all(fd, b, 7);
        } else if (!strcmp(mode, "quiet")) {
                handshake(fd, &r, 8u << 20);
        } else if (!strcmp(mode, "midframe")) {
                handshake(fd, &r, 8u << 20);
                uint8_t b[FY_MAX_CTRL_FRAME];
                struct fy_msg m = { .type = FY_FILE_BEGIN, .begin = { .xfer_id = 1, .size = 10, .mode = 0644,
                                                                       .chunk_size = 4096 } };
                strcpy(m.begin.dest, "midframe.bin");
                ssize_t n = fy_msg_encode(b, sizeof b, &m);
                send_all(fd, b, (size_t)n / 2);
        } else if (!strcmp(mode, "noread") && argc >= 3) {
                handshake(fd, &r, 64u << 20);
                get(fd, 1, argv[2], 0);
                reading = false;
        } else if (!strcmp(mode, "flood") && argc >= 4) {
                handshake(fd, &r, FY_MIN_CHUNK);
                unsigned long n = strtoul(argv[2], NULL, 10);
                for (unsigned long i = 0; i < n; i++)
                        get(fd, (uint32_t)i + 1, argv[3], FY_MIN_CHUNK);
                gets = n;
                alive = true;
        } else if (!strcmp(mode, "begin") && argc >= 5) {
                handshake(fd, &r, 8u << 20);
                struct fy_msg m = { .type = FY_FILE_BEGIN, .begin = { .xfer_id = 1, .size = strtoull(argv[2], NULL, 0),
                                                                       .mode = 0644, .chunk_size = FY_MIN_CHUNK } };
                snprintf(m.begin.dest, sizeof m.begin.dest, "%s", argv[4]);
                send_msg(fd, &m);
                chunks(fd, 1, strtoul(argv[3], NULL, 0));
                usleep(300000);
                printf("hostile: begin: announced %s bytes, sent %s chunks, closing\n", argv[2], argv[3]);
                close(fd);
                return 0;
        } else if (!strcmp(mode, "delta") && argc >= 4) {
                handshake(fd, &r, 8u << 20);
                uint64_t size = strtoull(argv[2], NULL, 0);
                struct fy_msg m = { .type = FY_FILE_BEGIN, .begin = { .xfer_id = 1, .flags = FY_FB_DELTA, .size = size,
                                                                       .mode = 0644, .chunk_size = FY_MIN_CHUNK } };
                snprintf(m.begin.dest, sizeof m.begin.dest, "%s", argv[3]);
                send_msg(fd, &m);
                static uint8_t zero[FY_MIN_CHUNK];
                struct fy_file_digest fd_;
                fy_file_digest_init(&fd_);
                unsigned long n = 0;
                for (uint64_t off = 0; off < size; off += FY_MIN_CHUNK, n++) {
                        uint32_t len = (uint32_t)(size - off < FY_MIN_CHUNK ? size - off : FY_MIN_CHUNK);
                        struct fy_data d = { .xfer_id = 1, .codec = FY_CODEC_KEEP, .offset = off, .raw_len = len,
                                             .digest = fy_chunk_digest(zero, len) };
                        fy_file_digest_add(&fd_, d.digest);
                        uint8_t head[FY_DATA_FRAME_HEAD];
                        (void)fy_data_head_encode(head, &d);
                        send_all(fd, head, sizeof head);
                }
                struct fy_msg e = { .type = FY_FILE_END, .end = { .xfer_id = 1, .size = size, .chunks = n } };
                fy_file_digest_final(&fd_, e.end.digest);
                send_msg(fd, &e);
                unsigned long asked = 0;
                long status = -1;
                while (status < 0 && next_msg(&r, &m, 5000)) {
                        if (m.type == FY_CHUNK_NACK && m.nack.code == FY_ENOENT)
                                asked++;
                        else if (m.type == FY_FILE_STATUS)
                                status = m.status.code;
                }
                printf("hostile: delta: %lu keeps, %lu asked for, status %ld\n", n, asked, status);
                close(fd);
                return 0;
        } else if (!strcmp(mode, "stats")) {
                handshake(fd, &r, 8u << 20);
                struct fy_msg m = { .type = FY_STATS_REQ };
                send_msg(fd, &m);
        } else if (!strcmp(mode, "stats-to-guest")) {
                handshake_with(fd, &r, 8u << 20, V1_FEATS | FY_FEAT_STATS);
                struct fy_msg m = { .type = FY_STATS, .stats = { .sessions_total = 1 } };
                send_msg(fd, &m);
        } else {
                return 2;
        }
        double last_pad = now_s();
        while (now_s() - t0 < for_s) {
                if (reading) {
                        struct fy_msg m;
                        while (next_msg(&r, &m, 100)) {
                                if (m.type == FY_FILE_ABORT && m.abort.code == FY_EBUSY)
                                        busy++;
                                if (m.type == FY_ERROR)
                                        printf("peer ERROR %u: %s\n", m.error.code, m.error.text); /* (not "hostile:": the end line) */
                        }
                        if (r.eof)
                                break;
                } else {
                        /* Not reading: only a hang-up tells that ferryd closed. */
                        struct pollfd p = { .fd = fd, .events = POLLRDHUP };
                        if (poll(&p, 1, 100) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
                                break;
                }
                if (alive && now_s() - last_pad > 0.5) {
                        struct fy_msg pad = { .type = FY_PAD };
                        send_msg(fd, &pad);
                        last_pad = now_s();
                }
        }
        double t = now_s() - t0;
        if (gets)
                printf("hostile: flood: %lu GETs sent, %lu refused (busy)\n", gets, busy);
        printf("hostile: %s: %s after %.2f s\n", mode, t < for_s ? "closed by the peer" : "still open", t);
        close(fd);
        return 0;
}

/* ---- a hostile guest ----------------------------------------------------- */

static int guest(int argc, char **argv) {
        if (argc < 2)
                return 2;
        const char *mode = argv[1];
        uint64_t reserve = argc >= 3 ? strtoull(argv[2], NULL, 0) : 0;
        unsigned long nchunks = argc >= 4 ? strtoul(argv[3], NULL, 0) : 1;
        if (strcmp(mode, "text") && strcmp(mode, "error") && strcmp(mode, "tree") && strcmp(mode, "reserve"))
                return 2;
        int fd = unix_listen_one(argv[0]);
        static struct reader r;
        r.fd = fd;
        struct fy_msg m;
        while (next_msg(&r, &m, 10000) && m.type != FY_SYNC)
                ;
        if (m.type != FY_SYNC) {
                fprintf(stderr, "hostile: no SYNC\n");
                return 1;
        }
        struct fy_msg ack = { .type = FY_SYNC_ACK, .hello = hello(64u << 20, "hostile-guest") };
        ack.hello.nonce = m.hello.nonce;
        ack.hello.features = m.hello.features & V1_FEATS;
        send_msg(fd, &ack);
        if (!strcmp(mode, "error")) {
                struct fy_msg e = { .type = FY_ERROR, .error = { .code = FY_EIO } };
                snprintf(e.error.text, sizeof e.error.text, "%s", EVIL);
                send_msg(fd, &e);
                sleep(1);
                return 0;
        }
        while (next_msg(&r, &m, 10000)) {
                struct fy_msg a = { 0 };
                switch (m.type) {
                case FY_GET:
                        if (!strcmp(mode, "reserve")) {
                                a = (struct fy_msg){ .type = FY_FILE_BEGIN, .begin = { .xfer_id = m.get.xfer_id,
                                                     .size = reserve, .mode = 0644, .chunk_size = FY_MIN_CHUNK } };
                                strcpy(a.begin.dest, m.get.path);
                                send_msg(fd, &a);
                                chunks(fd, m.get.xfer_id, nchunks);
                                usleep(300000);
                                printf("hostile: reserve: announced %llu bytes, sent %lu chunks, closing\n",
                                       (unsigned long long)reserve, nchunks);
                                return 0;
                        }
                        if (!strcmp(mode, "tree") && (m.get.flags & FY_GET_TREE)) {
                                uint32_t id = m.get.xfer_id;
                                a = (struct fy_msg){ .type = FY_MKDIR, .mkdir = { .xfer_id = id, .flags = FY_ENTRY_REL,
                                                                                   .mode = 0755 } };
                                strcpy(a.mkdir.dest, ".");
                                send_msg(fd, &a);
                                a = (struct fy_msg){ .type = FY_FILE_BEGIN, .begin = { .xfer_id = FY_RESPONDER_ID | 1,
                                                     .flags = FY_ENTRY_REL, .size = 10, .mode = 0644,
                                                     .chunk_size = FY_MIN_CHUNK } };
                                snprintf(a.begin.dest, sizeof a.begin.dest, "./evil\033[2J\033]0;name\007.bin");
                                send_msg(fd, &a);
                                a = (struct fy_msg){ .type = FY_FILE_ABORT, .abort = { .xfer_id = FY_RESPONDER_ID | 1,
                                                                                        .code = FY_EIO } };
                                snprintf(a.abort.text, sizeof a.abort.text, "%s", EVIL);
                                send_msg(fd, &a);
                                a = (struct fy_msg){ .type = FY_MKDIR, .mkdir = { .xfer_id = id,
                                                     .flags = FY_ENTRY_REL | FY_MK_ATTRS, .mode = 0755 } };
                                strcpy(a.mkdir.dest, ".");
                                send_msg(fd, &a);
                                continue;
                        }
                        a = (struct fy_msg){ .type = FY_FILE_ABORT, .abort = { .xfer_id = m.get.xfer_id, .code = FY_EIO } };
                        snprintf(a.abort.text, sizeof a.abort.text, "%s", EVIL);
                        send_msg(fd, &a);
                        break;
                case FY_RESUME_QUERY:
                        a = (struct fy_msg){ .type = FY_RESUME_STATE, .state = { .xfer_id = m.query.file.xfer_id,
                                                                                  .verdict = FY_RS_SEND } };
                        send_msg(fd, &a);
                        break;
                case FY_FILE_BEGIN:
                        a = (struct fy_msg){ .type = FY_FILE_STATUS, .status = { .xfer_id = m.begin.xfer_id,
                                                                                  .code = FY_EIO } };
                        snprintf(a.status.text, sizeof a.status.text, "%s", EVIL);
                        send_msg(fd, &a);
                        break;
                case FY_BYE:
                        a = (struct fy_msg){ .type = FY_BYE };
                        send_msg(fd, &a);
                        usleep(200000);
                        return 0;
                default:
                        break;
                }
        }
        return 0;
}

int main(int argc, char **argv) {
        double for_s = 60;
        int i = 1;
        if (argc > 2 && !strcmp(argv[1], "--for")) {
                for_s = atof(argv[2]);
                i = 3;
        }
        int r = 2;
        if (argc - i >= 1 && !strcmp(argv[i], "host"))
                r = host(argc - i - 1, argv + i + 1, for_s);
        else if (argc - i >= 1 && !strcmp(argv[i], "guest"))
                r = guest(argc - i - 1, argv + i + 1);
        if (r == 2)
                fprintf(stderr, "usage: hostile [--for SEC] host SOCKET MODE [ARG...] | hostile guest SOCKET MODE [ARG...]\n");
        return r;
}
