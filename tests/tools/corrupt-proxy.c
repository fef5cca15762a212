/* SPDX-License-Identifier: MIT */
/*
 * corrupt-proxy: a one-client forwarding proxy that damages a ferry stream
 * on purpose, for the integration tests.
 *
 *   corrupt-proxy LISTEN_UNIX_PATH CONNECT_UNIX_PATH [--flip-data N]
 *                 [--flip-data-back N] [--garbage BYTES] [--cut-after BYTES]
 *
 * It listens on LISTEN_UNIX_PATH, accepts one client, connects to the
 * backend and forwards both ways until both directions are closed.
 *
 *   --flip-data N       flip one byte in the middle of the chunk of the Nth
 *                       (1-based) DATA frame going client -> backend
 *   --flip-data-back N  the same, backend -> client (a pull)
 *   --garbage BYTES     send BYTES of junk (with a few magic starts and a
 *                       truncated header) to the backend before anything
 *   --cut-after BYTES   close both sides once BYTES client -> backend bytes
 *                       have been forwarded (a connection lost mid-transfer)
 *   --flip-ctrl TYPE:N:OFF[:XOR]
 *                       XOR (default 0x5a) into payload byte OFF of the Nth
 *                       frame of type TYPE (e.g. 0x17: RESUME_STATE) going
 *                       client -> backend: a damaged control payload
 *   --flip-ctrl-back TYPE:N:OFF[:XOR]   the same, backend -> client
 *
 * Frames are followed with the real codec (fy_header_decode).  If a header
 * does not decode, that direction stops being parsed and is forwarded as is.
 * Exit status: 0 after forwarding, 1 on an error, 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "codec.h"

#define BUF_SIZE (1u << 20)

/* Follows the frames of one direction as bytes pass through. */
struct parser {
        bool broken;             /* a header did not decode: stop parsing */
        uint8_t hdr[FY_HDR_SIZE];
        size_t hdr_len;          /* header bytes collected so far */
        uint64_t payload_left;   /* payload bytes of the current frame still to come */
        uint64_t payload_pos;    /* payload bytes of the current frame already seen */
        uint64_t flip_at;        /* payload offset to flip in the current frame, or UINT64_MAX */
        unsigned long data_seen; /* DATA frames started */
        unsigned long flip_nth;  /* 0: never flip */
        bool flipped;
        const char *name;
        uint8_t xor_mask;        /* what the flip XORs in */
        /* --flip-ctrl: frame type (0: none), which one, where, with what */
        unsigned ctrl_type;
        unsigned long ctrl_nth, ctrl_seen;
        uint64_t ctrl_off;
        uint8_t ctrl_xor;
};

struct dir {
        int from, to;
        uint8_t *buf;
        size_t len, off;  /* bytes in buf, bytes of them already written */
        bool eof;         /* from said EOF (or failed) */
        bool done;        /* EOF seen and everything written: to is shut down */
        uint64_t forwarded;
        struct parser p;
};

static void parse_bytes(struct parser *p, uint8_t *b, size_t n) {
        size_t i = 0;
        while (i < n && !p->broken) {
                if (p->payload_left > 0) {
                        size_t take = (size_t)(p->payload_left < n - i ? p->payload_left : n - i);
                        if (p->flip_at != UINT64_MAX && p->flip_at >= p->payload_pos &&
                            p->flip_at < p->payload_pos + take) {
                                b[i + (p->flip_at - p->payload_pos)] ^= p->xor_mask;
                                p->flipped = true;
                                if (p->ctrl_type)
                                        fprintf(stderr, "corrupt-proxy: %s: flipped byte %llu of %s frame %lu\n",
                                                p->name, (unsigned long long)p->flip_at, fy_type_name((uint8_t)p->ctrl_type),
                                                p->ctrl_seen);
                                else
                                        fprintf(stderr, "corrupt-proxy: %s: flipped byte %llu of DATA frame %lu\n",
                                                p->name, (unsigned long long)p->flip_at, p->data_seen);
                                p->flip_at = UINT64_MAX;
                        }
                        p->payload_left -= take;
                        p->payload_pos += take;
                        i += take;
                        continue;
                }
                size_t take = FY_HDR_SIZE - p->hdr_len;
                if (take > n - i)
                        take = n - i;
                memcpy(p->hdr + p->hdr_len, b + i, take);
                p->hdr_len += take;
                i += take;
                if (p->hdr_len < FY_HDR_SIZE)
                        break;
                p->hdr_len = 0;
                struct fy_header h;
                int r = fy_header_decode(p->hdr, &h);
                if (r < 0) {
                        fprintf(stderr, "corrupt-proxy: %s: header does not decode (%s); forwarding the rest unparsed\n",
                                p->name, fy_strerror_decode(r));
                        p->broken = true;
                        break;
                }
                p->payload_left = h.length;
                p->payload_pos = 0;
                p->flip_at = UINT64_MAX;
                if (p->ctrl_type && h.type == p->ctrl_type && ++p->ctrl_seen == p->ctrl_nth && p->ctrl_off < h.length) {
                        p->flip_at = p->ctrl_off;
                        p->xor_mask = p->ctrl_xor;
                }
                if (h.type == FY_DATA) {
                        p->data_seen++;
                        if (p->flip_nth && p->data_seen == p->flip_nth && h.length > FY_DATA_HEAD_SIZE) {
                                uint64_t chunk = h.length - FY_DATA_HEAD_SIZE;
                                p->flip_at = FY_DATA_HEAD_SIZE + chunk / 2;
                        }
                }
        }
}

static int parse_count(const char *s, unsigned long long *ret) {
        char *end;
        if (!*s || *s == '-')
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* TYPE:N:OFF[:XOR], numbers in C notation. */
static int parse_ctrl(const char *s, struct parser *p) {
        unsigned long v[4] = { 0, 0, 0, 0x5a };
        char *end;
        for (int k = 0; k < 4; k++) {
                errno = 0;
                v[k] = strtoul(s, &end, 0);
                if (errno || end == s)
                        return -EINVAL;
                if (*end == 0 && k >= 2)
                        break;
                if (*end != ':' || k == 3)
                        return -EINVAL;
                s = end + 1;
        }
        if (v[0] == 0 || v[0] > 255 || v[1] == 0 || v[3] == 0 || v[3] > 255)
                return -EINVAL;
        p->ctrl_type = (unsigned)v[0];
        p->ctrl_nth = v[1];
        p->ctrl_off = v[2];
        p->ctrl_xor = (uint8_t)v[3];
        return 0;
}

static int unix_addr(const char *path, struct sockaddr_un *sa) {
        memset(sa, 0, sizeof *sa);
        sa->sun_family = AF_UNIX;
        if (strlen(path) >= sizeof sa->sun_path)
                return -ENAMETOOLONG;
        strcpy(sa->sun_path, path);
        return 0;
}

static int write_all(int fd, const uint8_t *b, size_t n) {
        while (n > 0) {
                ssize_t w = write(fd, b, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd pf = { .fd = fd, .events = POLLOUT };
                                (void)poll(&pf, 1, -1);
                                continue;
                        }
                        return -errno;
                }
                b += w;
                n -= (size_t)w;
        }
        return 0;
}

/* Junk that looks like the start of frames: a receiver must scan past it. */
static int send_garbage(int fd, size_t n) {
        uint8_t *g = malloc(n ? n : 1);
        if (!g)
                return -ENOMEM;
        uint32_t x = 0x12345678;
        for (size_t i = 0; i < n; i++) {
                x = x * 1103515245u + 12345u;
                g[i] = (uint8_t)(x >> 16);
        }
        /* Sprinkle magic starts ("F", "FE", "FER", "FERY") through it, and end
         * with a truncated header: magic, version, type DATA, a few bytes. */
        static const char magic[] = "FERY";
        for (size_t at = 7, k = 1; at + 4 < n; at += 97, k = k % 4 + 1)
                memcpy(g + at, magic, k);
        if (n >= 10) {
                uint8_t tail[10] = { 'F', 'E', 'R', 'Y', 1, FY_DATA, 0, 0, 0x20, 0x00 };
                memcpy(g + n - sizeof tail, tail, sizeof tail);
        }
        int r = write_all(fd, g, n);
        free(g);
        return r;
}

int main(int argc, char **argv) {
        unsigned long long flip = 0, flip_back = 0, garbage = 0, cut = 0;
        bool have_cut = false;
        const char *listen_path = NULL, *connect_path = NULL;
        struct parser ctrl[2] = { { 0 }, { 0 } };

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                unsigned long long *dst = NULL;
                if (!strcmp(a, "--flip-ctrl") || !strcmp(a, "--flip-ctrl-back")) {
                        if (i + 1 >= argc || parse_ctrl(argv[i + 1], &ctrl[a[11] == '-']) < 0) {
                                fprintf(stderr, "corrupt-proxy: %s needs TYPE:N:OFF[:XOR]\n", a);
                                return 2;
                        }
                        i++;
                        continue;
                }
                if (!strcmp(a, "--flip-data"))
                        dst = &flip;
                else if (!strcmp(a, "--flip-data-back"))
                        dst = &flip_back;
                else if (!strcmp(a, "--garbage"))
                        dst = &garbage;
                else if (!strcmp(a, "--cut-after"))
                        dst = &cut, have_cut = true;
                if (dst) {
                        if (i + 1 >= argc || parse_count(argv[i + 1], dst) < 0) {
                                fprintf(stderr, "corrupt-proxy: %s needs a number\n", a);
                                return 2;
                        }
                        i++;
                } else if (a[0] == '-' && a[1]) {
                        fprintf(stderr, "corrupt-proxy: unknown option '%s'\n", a);
                        return 2;
                } else if (!listen_path) {
                        listen_path = a;
                } else if (!connect_path) {
                        connect_path = a;
                } else {
                        fprintf(stderr, "corrupt-proxy: unexpected argument '%s'\n", a);
                        return 2;
                }
        }
        if (!listen_path || !connect_path) {
                fprintf(stderr, "usage: corrupt-proxy LISTEN_UNIX_PATH CONNECT_UNIX_PATH [--flip-data N] "
                                "[--flip-data-back N] [--garbage BYTES] [--cut-after BYTES] [--flip-ctrl[-back] TYPE:N:OFF[:XOR]]\n");
                return 2;
        }
        signal(SIGPIPE, SIG_IGN);

        struct sockaddr_un sa;
        if (unix_addr(listen_path, &sa) < 0) {
                fprintf(stderr, "corrupt-proxy: '%s': path too long\n", listen_path);
                return 1;
        }
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1) < 0) {
                fprintf(stderr, "corrupt-proxy: listen on '%s': %m\n", listen_path);
                return 1;
        }
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0) {
                fprintf(stderr, "corrupt-proxy: accept: %m\n");
                return 1;
        }
        close(lfd);
        (void)unlink(listen_path);

        if (unix_addr(connect_path, &sa) < 0) {
                fprintf(stderr, "corrupt-proxy: '%s': path too long\n", connect_path);
                return 1;
        }
        int bfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (bfd < 0 || connect(bfd, (struct sockaddr *)&sa, sizeof sa) < 0) {
                fprintf(stderr, "corrupt-proxy: connect to '%s': %m\n", connect_path);
                return 1;
        }
        if (garbage) {
                int r = send_garbage(bfd, (size_t)garbage);
                if (r < 0) {
                        fprintf(stderr, "corrupt-proxy: sending garbage: %s\n", strerror(-r));
                        return 1;
                }
                fprintf(stderr, "corrupt-proxy: sent %llu bytes of garbage\n", garbage);
        }
        (void)fcntl(cfd, F_SETFL, fcntl(cfd, F_GETFL) | O_NONBLOCK);
        (void)fcntl(bfd, F_SETFL, fcntl(bfd, F_GETFL) | O_NONBLOCK);

        struct dir d[2] = {
                { .from = cfd, .to = bfd, .p = { .flip_nth = flip, .name = "client->backend" } },
                { .from = bfd, .to = cfd, .p = { .flip_nth = flip_back, .name = "backend->client" } },
        };
        for (int k = 0; k < 2; k++) {
                d[k].p.xor_mask = 0x5a;
                d[k].p.ctrl_type = ctrl[k].ctrl_type;
                d[k].p.ctrl_nth = ctrl[k].ctrl_nth;
                d[k].p.ctrl_off = ctrl[k].ctrl_off;
                d[k].p.ctrl_xor = ctrl[k].ctrl_xor;
                d[k].buf = malloc(BUF_SIZE);
                if (!d[k].buf) {
                        fprintf(stderr, "corrupt-proxy: out of memory\n");
                        return 1;
                }
        }

        while (!d[0].done || !d[1].done) {
                struct pollfd pf[2] = { { .fd = cfd }, { .fd = bfd } };
                for (int k = 0; k < 2; k++) {
                        struct dir *x = &d[k];
                        if (x->done)
                                continue;
                        struct pollfd *in = x->from == cfd ? &pf[0] : &pf[1];
                        struct pollfd *out = x->to == cfd ? &pf[0] : &pf[1];
                        if (x->off < x->len)
                                out->events |= POLLOUT;
                        else if (!x->eof)
                                in->events |= POLLIN;
                }
                /* No interest in an fd: leave it out, or its POLLHUP would spin us. */
                for (int k = 0; k < 2; k++)
                        if (!pf[k].events)
                                pf[k].fd = -1;
                if (poll(pf, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "corrupt-proxy: poll: %m\n");
                        return 1;
                }
                for (int k = 0; k < 2; k++) {
                        struct dir *x = &d[k];
                        if (x->done)
                                continue;
                        if (x->off == x->len && !x->eof) {
                                size_t cap = BUF_SIZE;
                                if (k == 0 && have_cut) {
                                        if (x->forwarded >= cut)
                                                cap = 0;
                                        else if (cut - x->forwarded < cap)
                                                cap = (size_t)(cut - x->forwarded);
                                }
                                ssize_t n = cap ? read(x->from, x->buf, cap) : 0;
                                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                                        n = -1;
                                else if (n <= 0)
                                        x->eof = true;
                                if (n > 0) {
                                        x->len = (size_t)n;
                                        x->off = 0;
                                        parse_bytes(&x->p, x->buf, x->len);
                                }
                        }
                        if (x->off < x->len) {
                                ssize_t w = write(x->to, x->buf + x->off, x->len - x->off);
                                if (w < 0 && errno != EAGAIN && errno != EINTR) {
                                        /* The receiver is gone: drop what is left. */
                                        x->off = x->len;
                                        x->eof = true;
                                } else if (w > 0) {
                                        x->off += (size_t)w;
                                        x->forwarded += (uint64_t)w;
                                }
                        }
                        if (x->off == x->len && x->eof && !x->done) {
                                x->done = true;
                                (void)shutdown(x->to, SHUT_WR);
                        }
                }
                if (have_cut && d[0].forwarded >= cut) {
                        fprintf(stderr, "corrupt-proxy: cut after %llu client->backend bytes\n",
                                (unsigned long long)d[0].forwarded);
                        break;
                }
        }
        fprintf(stderr, "corrupt-proxy: done: %llu bytes client->backend, %llu backend->client, %lu/%lu DATA frames\n",
                (unsigned long long)d[0].forwarded, (unsigned long long)d[1].forwarded, d[0].p.data_seen,
                d[1].p.data_seen);
        if ((flip && !d[0].p.flipped) || (flip_back && !d[1].p.flipped))
                fprintf(stderr, "corrupt-proxy: warning: the DATA frame to flip never came\n");
        if ((ctrl[0].ctrl_type && !d[0].p.flipped) || (ctrl[1].ctrl_type && !d[1].p.flipped))
                fprintf(stderr, "corrupt-proxy: warning: the control frame to flip never came\n");
        close(cfd);
        close(bfd);
        free(d[0].buf);
        free(d[1].buf);
        return 0;
}
