/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/util.h"
#include "codec.h"
#include "session/ctx.h"
#include "session/input.h"

int input_init(struct input *in, struct sctx *c, bool initiator, const struct input_ops *ops, void *ud) {
        *in = (struct input){ .c = c, .ops = ops, .ud = ud, .initiator = initiator, .dst_buf = -1 };
        in->buf = malloc(INBUF_SIZE);
        return in->buf ? 0 : -ENOMEM;
}

void input_fini(struct input *in) {
        free(in->buf);
        in->buf = NULL;
}

void input_reset(struct input *in, bool keep_bytes) {
        if (in->state != IN_FRAMES)
                keep_bytes = false; /* the rest of a payload is meaningless now */
        in->state = IN_FRAMES;
        in->synced = false;
        in->framing_error = false;
        in->dst = NULL;
        in->dst_buf = -1;
        if (!keep_bytes)
                in->start = in->end = 0;
}

/* Before the handshake: look for a valid header anywhere in the input, keep
 * only the hello we wait for.  1: consumed something; 0: need more bytes. */
static int parse_unsynced(struct input *in) {
        size_t avail = in->end - in->start;
        size_t off = fy_scan(in->buf + in->start, avail);
        if (off > 0) {
                in->start += off;
                return 1;
        }
        if (avail < FY_HDR_SIZE)
                return 0;
        struct fy_header h;
        (void)fy_header_decode(in->buf + in->start, &h); /* fy_scan checked it */
        /* The initiator also hears an ERROR: the responder's refusal of its
         * SYNC (no common version, 9.1 item 4); the session weighs it. */
        uint8_t want = in->initiator ? FY_SYNC_ACK : FY_SYNC;
        if (h.type != want && !(in->initiator && h.type == FY_ERROR)) {
                in->start++; /* not ours: look further, byte by byte */
                return 1;
        }
        if (avail < FY_HDR_SIZE + h.length)
                return 0;
        struct fy_msg m;
        int r = fy_msg_decode(&h, in->buf + in->start + FY_HDR_SIZE, h.length, &m);
        /* A SYNC_ACK that agrees FY_FEAT_CHECKED carries its own check
         * (9.14), and only such a one: else the bit itself may be damage. */
        bool checked = h.flags & FY_HF_CHECKED;
        bool ack = h.type == FY_SYNC_ACK;
        if (r < 0 || (ack && (m.hello.nonce != in->nonce || checked != !!(m.hello.features & FY_FEAT_CHECKED)))) {
                in->start++;
                return 1;
        }
        if (!in->ops->ready(in->ud, h.type))
                return -EAGAIN;
        in->start += FY_HDR_SIZE + h.length;
        r = in->ops->hello(in->ud, &m);
        return r < 0 ? r : 1;
}

/* The code an ERROR for a framing error carries (PROTOCOL.md 9.6): 16
 * EBADMSG for a check or length that does not match, 17 EMSGSIZE for a
 * length over its cap, 15 EPROTO for anything else (magic, version, type,
 * flags, reserved bytes, values, strings). */
static int framing_code(int r) {
        return r == -EBADMSG || r == -EBADE ? -EBADMSG : r == -EMSGSIZE ? -EMSGSIZE : -EPROTO;
}

/* One frame out of the buffer.  1: consumed one; 0: need more bytes;
 * -EAGAIN: cannot take it now. */
static int parse_one(struct input *in) {
        if (!in->synced)
                return parse_unsynced(in);
        size_t avail = in->end - in->start;
        if (avail < FY_HDR_SIZE)
                return 0;
        const uint8_t *p = in->buf + in->start;
        struct fy_header h;
        int r = fy_header_decode(p, &h);
        if (r < 0) {
                in->framing_error = true;
                return sctx_fail(in->c, framing_code(r), "protocol error: frame header: %s", fy_strerror_decode(r));
        }
        /* Once FY_FEAT_CHECKED is agreed every payload but DATA's carries its
         * check; the hellos and PAD may come from outside the session. */
        bool agreed = in->c->agreed & FY_FEAT_CHECKED, checked = h.flags & FY_HF_CHECKED;
        bool exempt = h.type == FY_SYNC || h.type == FY_SYNC_ACK || h.type == FY_PAD || h.type == FY_DATA;
        if (checked && !agreed)
                return sctx_fail(in->c, -EPROTO, "protocol error: %s with a payload check (feature bit 8 was not agreed)",
                                 fy_type_name(h.type));
        if (agreed && !checked && !exempt)
                return sctx_fail(in->c, -EPROTO, "protocol error: %s without its payload check (feature bit 8 was agreed)",
                                 fy_type_name(h.type));
        struct fy_msg m;
        if (h.type == FY_DATA) {
                if (avail < FY_DATA_FRAME_HEAD)
                        return 0;
                r = fy_msg_decode(&h, p + FY_HDR_SIZE, FY_DATA_HEAD_SIZE, &m);
                if (r < 0)
                        return sctx_fail(in->c, framing_code(r), "protocol error: DATA: %s", fy_strerror_decode(r));
                /* Wait before looking at the frame: the head is parsed again
                 * when we come back, and must count once. */
                if (!in->ops->ready(in->ud, FY_DATA))
                        return -EAGAIN;
                uint8_t *dst = NULL;
                int buf = -1;
                r = in->ops->data_head(in->ud, &m.data, &dst, &buf);
                if (r < 0)
                        return r;
                in->data = m.data;
                if (dst) {
                        in->dst = dst;
                        in->dst_buf = buf;
                        in->got = 0;
                        in->state = IN_PAYLOAD;
                } else {
                        in->discard_left = m.data.payload_len;
                        in->state = IN_DISCARD;
                }
                in->start += FY_DATA_FRAME_HEAD;
                return 1;
        }
        if (avail < FY_HDR_SIZE + h.length)
                return 0;
        if (!in->ops->ready(in->ud, h.type))
                return -EAGAIN;
        r = fy_msg_decode(&h, p + FY_HDR_SIZE, h.length, &m);
        if (r < 0)
                return sctx_fail(in->c, framing_code(r), "protocol error: %s: %s", fy_type_name(h.type),
                                 fy_strerror_decode(r));
        in->start += FY_HDR_SIZE + h.length;
        r = in->ops->frame(in->ud, &m);
        return r < 0 ? r : 1;
}

/* At most this many pieces per readv: 1 MiB of pages. */
#define READ_PIECES 256

static ssize_t read_pieces(struct input *in, uint8_t *buf, size_t len) {
        if (!in->read_piece || len <= in->read_piece)
                return read(in->c->fd, buf, len);
        struct iovec iov[READ_PIECES];
        int n = 0;
        for (size_t off = 0; off < len && n < READ_PIECES; off += in->read_piece)
                iov[n++] = (struct iovec){ buf + off, MIN(in->read_piece, len - off) };
        return readv(in->c->fd, iov, n);
}

static int stream_read(struct input *in, void *buf, size_t len) {
        ssize_t n = read_pieces(in, buf, len);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                if (errno != ECONNRESET)
                        return sctx_fail(in->c, -errno, "read from the stream: %s", strerror(errno));
                n = 0;
        }
        if (n == 0) {
                in->eof = true;
                return 0;
        }
        return (int)n;
}

/* Payload bytes of the DATA frame being read: from the buffer first, then
 * straight from the stream into the destination. */
static int pump_payload(struct input *in, bool *ret_done) {
        size_t avail = in->end - in->start;
        uint32_t need = in->data.payload_len - in->got;
        int n = 0;
        if (need == 0) {
                /* a payload of nothing (a kept chunk): done without reading,
                 * as a read of 0 bytes would look like the end of the stream */
        } else if (avail) {
                n = (int)MIN(avail, need);
                memcpy(in->dst + in->got, in->buf + in->start, (size_t)n);
                in->start += (size_t)n;
        } else if ((n = stream_read(in, in->dst + in->got, need)) <= 0) {
                return n;
        }
        in->got += (uint32_t)n;
        if (in->got < in->data.payload_len)
                return 1;
        in->state = IN_FRAMES;
        in->dst = NULL;
        *ret_done = true;
        return 1;
}

static int pump_discard(struct input *in, bool *ret_done) {
        size_t avail = in->end - in->start;
        int n = 0;
        if (in->discard_left == 0) {
                /* nothing to drop (a kept chunk): see pump_payload */
        } else if (avail) {
                n = (int)MIN(avail, in->discard_left);
                in->start += (size_t)n;
        } else {
                in->start = in->end = 0;
                if ((n = stream_read(in, in->buf, MIN(INBUF_SIZE, in->discard_left))) <= 0)
                        return n;
        }
        in->discard_left -= (uint32_t)n;
        if (in->discard_left == 0) {
                in->state = IN_FRAMES;
                *ret_done = true;
        }
        return 1;
}

int input_pump(struct input *in, bool *ret_blocked) {
        int did = 0, r;
        *ret_blocked = false;
        for (int round = 0; round < 256 && !in->eof; round++) {
                bool done = false;
                if (in->state == IN_PAYLOAD) {
                        if ((r = pump_payload(in, &done)) <= 0)
                                return r < 0 ? r : did;
                        did = 1;
                        if (done && (r = in->ops->data(in->ud, &in->data, in->dst_buf)) < 0)
                                return r;
                        continue;
                }
                if (in->state == IN_DISCARD) {
                        if ((r = pump_discard(in, &done)) <= 0)
                                return r < 0 ? r : did;
                        did = 1;
                        if (done)
                                in->ops->discarded(in->ud, in->data.payload_len);
                        continue;
                }
                r = parse_one(in);
                if (r == -EAGAIN) {
                        *ret_blocked = true;
                        return did;
                }
                if (r < 0)
                        return r;
                if (r > 0) {
                        did = 1;
                        continue;
                }
                /* Need more bytes. */
                if (in->start == in->end)
                        in->start = in->end = 0;
                else if (in->start > 0 && (in->end == INBUF_SIZE || in->start > INBUF_SIZE / 2)) {
                        memmove(in->buf, in->buf + in->start, in->end - in->start);
                        in->end -= in->start;
                        in->start = 0;
                }
                int n = stream_read(in, in->buf + in->end, INBUF_SIZE - in->end);
                if (n <= 0)
                        return n < 0 ? n : did;
                in->end += (size_t)n;
                did = 1;
        }
        return did;
}
