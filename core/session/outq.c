/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "base/util.h"
#include "codec.h"
#include "session/outq.h"

int outq_init(struct outq *q, void (*release)(void *ud, int buf), void *ud) {
        *q = (struct outq){ .release = release, .ud = ud };
        q->segs = calloc(OUTQ_LEN, sizeof *q->segs);
        return q->segs ? 0 : -ENOMEM;
}

void outq_fini(struct outq *q) {
        outq_drop(q, false);
        free(q->segs);
        q->segs = NULL;
}

bool outq_room(const struct outq *q, unsigned n) {
        return q->len + n <= OUTQ_LEN;
}

static struct outseg *push(struct outq *q) {
        struct outseg *o = &q->segs[(q->head + q->len) % OUTQ_LEN];
        q->len++;
        *o = (struct outseg){ .buf = -1 };
        return o;
}

int outq_ctrl(struct outq *q, const struct fy_msg *m) {
        if (!outq_room(q, 1))
                return -ENOBUFS;
        struct outseg *o = push(q);
        ssize_t n = q->checked ? fy_msg_encode_checked(o->head, sizeof o->head, m)
                               : fy_msg_encode(o->head, sizeof o->head, m);
        if (n < 0) {
                q->len--;
                return (int)n;
        }
        o->head_len = (uint32_t)n;
        return 0;
}

int outq_bytes(struct outq *q, const uint8_t *p, uint32_t len) {
        if (!outq_room(q, 1))
                return -ENOBUFS;
        struct outseg *o = push(q);
        o->payload = p;
        o->payload_len = len;
        return 0;
}

int outq_data(struct outq *q, const uint8_t head[FY_DATA_FRAME_HEAD], const uint8_t *payload, int buf, uint32_t len) {
        if (!outq_room(q, 1))
                return -ENOBUFS;
        struct outseg *o = push(q);
        memcpy(o->head, head, FY_DATA_FRAME_HEAD);
        o->head_len = FY_DATA_FRAME_HEAD;
        o->payload = payload;
        o->buf = buf;
        o->payload_len = len;
        return 0;
}

static void pop(struct outq *q) {
        struct outseg *o = &q->segs[q->head];
        if (o->buf >= 0 && q->release)
                q->release(q->ud, o->buf);
        q->head = (q->head + 1) % OUTQ_LEN;
        q->len--;
}

/* Appends [p, p + len) to iov as pieces of at most q->write_piece bytes;
 * false when iov is full before the end (what fits went in). */
static bool add_iov(const struct outq *q, struct iovec *iov, int *n, int max, const uint8_t *p, size_t len) {
        size_t piece = q->write_piece ? q->write_piece : len;
        for (size_t off = 0; off < len; off += piece) {
                if (*n == max)
                        return false;
                iov[(*n)++] = (struct iovec){ (void *)(p + off), MIN(piece, len - off) };
        }
        return true;
}

/* 256 iovecs: 8 MiB in 32 KiB pieces, and at most IOV_MAX (1024). */
#define OUT_IOVS 256

int outq_flush(struct outq *q, int fd) {
        int did = 0;
        while (q->len > 0) {
                struct iovec iov[OUT_IOVS];
                int n = 0;
                for (unsigned i = 0; i < q->len; i++) {
                        struct outseg *o = &q->segs[(q->head + i) % OUTQ_LEN];
                        uint32_t off = i == 0 ? o->off : 0;
                        if (off < o->head_len && !add_iov(q, iov, &n, OUT_IOVS, o->head + off, o->head_len - off))
                                break;
                        if (o->payload_len) {
                                uint32_t poff = off > o->head_len ? off - o->head_len : 0;
                                if (!add_iov(q, iov, &n, OUT_IOVS, o->payload + poff, o->payload_len - poff))
                                        break;
                        }
                }
                ssize_t w = writev(fd, iov, n);
                if (w < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return did;
                        return errno == EPIPE || errno == ECONNRESET ? -ECONNRESET : -errno;
                }
                did = 1;
                size_t left = (size_t)w;
                while (left > 0 && q->len > 0) {
                        struct outseg *o = &q->segs[q->head];
                        size_t total = o->head_len + o->payload_len;
                        size_t take = MIN(left, total - o->off);
                        o->off += (uint32_t)take;
                        left -= take;
                        if (o->off < total)
                                break;
                        pop(q);
                }
        }
        return did;
}

void outq_drop(struct outq *q, bool keep_partial) {
        if (!q->segs)
                return;
        unsigned keep = keep_partial && q->len > 0 && q->segs[q->head].off > 0;
        while (q->len > keep) {
                /* drop from the tail: the kept head stays first */
                struct outseg *o = &q->segs[(q->head + q->len - 1) % OUTQ_LEN];
                if (o->buf >= 0 && q->release)
                        q->release(q->ud, o->buf);
                q->len--;
        }
        if (!q->len)
                q->head = 0;
}
