/* SPDX-License-Identifier: MIT */
/*
 * The output queue: frames waiting for the stream, written with writev as
 * far as the stream takes them.  A DATA payload stays in its pool buffer
 * until written, then goes back to the pool.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "session-int.h"
#include "base/util.h"

bool out_room(const struct session *s, unsigned n) {
        return s->out_len + n <= OUTQ_LEN;
}

static struct outseg *out_push(struct session *s) {
        struct outseg *o = &s->out[(s->out_head + s->out_len) % OUTQ_LEN];
        s->out_len++;
        o->head_len = o->payload_len = o->off = 0;
        o->buf = -1;
        o->ext = NULL;
        return o;
}

int out_ctrl(struct session *s, const struct fy_msg *m) {
        if (!out_room(s, 1))
                return -ENOBUFS; /* callers check out_room first */
        struct outseg *o = out_push(s);
        ssize_t n = fy_msg_encode(o->head, sizeof o->head, m);
        if (n < 0) {
                s->out_len--;
                return (int)n;
        }
        o->head_len = (uint32_t)n;
        return 0;
}

/* Raw bytes that are not a frame (resync padding), owned by the caller
 * until written. */
int out_bytes(struct session *s, const uint8_t *p, uint32_t len) {
        if (!out_room(s, 1))
                return -ENOBUFS;
        struct outseg *o = out_push(s);
        o->ext = p;
        o->payload_len = len;
        return 0;
}

int out_data(struct session *s, const uint8_t *head, int buf, uint32_t len) {
        if (!out_room(s, 1))
                return -ENOBUFS;
        struct outseg *o = out_push(s);
        memcpy(o->head, head, FY_DATA_FRAME_HEAD);
        o->head_len = FY_DATA_FRAME_HEAD;
        o->buf = buf;
        o->payload_len = len;
        return 0;
}

/* Write as much of the queue as the stream takes now.  >0 if anything was
 * written, 0 if nothing could be, -errno on a dead stream. */
int out_flush(struct session *s) {
        int did = 0;
        while (s->out_len > 0) {
                struct iovec iov[64];
                int n = 0;
                for (unsigned i = 0; i < s->out_len && n + 2 <= (int)ARRAY_SIZE(iov); i++) {
                        struct outseg *o = &s->out[(s->out_head + i) % OUTQ_LEN];
                        uint32_t off = i == 0 ? o->off : 0;
                        if (off < o->head_len)
                                iov[n++] = (struct iovec){ o->head + off, o->head_len - off };
                        if (o->payload_len) {
                                uint32_t poff = off > o->head_len ? off - o->head_len : 0;
                                const uint8_t *pl = o->buf >= 0 ? fio_buf(s->fio, (unsigned)o->buf) : o->ext;
                                iov[n++] = (struct iovec){ (void *)(pl + poff), o->payload_len - poff };
                        }
                }
                ssize_t w = writev(s->fd, iov, n);
                if (w < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return did;
                        if (errno == EPIPE || errno == ECONNRESET)
                                return session_fail(s, -ECONNRESET, "connection lost while sending");
                        return session_fail(s, -errno, "write to the stream: %s", strerror(errno));
                }
                did = 1;
                size_t left = (size_t)w;
                while (left > 0 && s->out_len > 0) {
                        struct outseg *o = &s->out[s->out_head];
                        size_t total = o->head_len + o->payload_len;
                        size_t take = MIN(left, total - o->off);
                        o->off += (uint32_t)take;
                        left -= take;
                        if (o->off < total)
                                break;
                        if (o->buf >= 0)
                                tx_on_write_done(s, o->buf);
                        s->out_head = (s->out_head + 1) % OUTQ_LEN;
                        s->out_len--;
                }
        }
        return did;
}

