/* SPDX-License-Identifier: MIT */
/*
 * Input: bytes off the stream, cut into frames, handed to tx.c and rx.c.
 * Before the handshake it scans for a SYNC (or our SYNC_ACK) anywhere in
 * the bytes; a DATA payload is read straight into a pool buffer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "session-int.h"
#include "base/util.h"

static int dispatch(struct session *s, const struct fy_msg *m) {
        switch (m->type) {
        case FY_SYNC:
                if (s->cfg.initiator)
                        return 0; /* an echo of ours from a confused stream */
                return session_on_sync(s, &m->hello);
        case FY_SYNC_ACK:
                return 0; /* a repeated answer to a repeated SYNC */
        case FY_PAD:
                return 0;
        case FY_ERROR:
                return session_fail(s, -fy_code_to_errno(m->error.code), "%s: %s",
                                    s->cfg.initiator ? "guest" : "host", m->error.text);
        case FY_BYE:
                if (commit_pending(s) && commit_flush(s) <= 0)
                        return session_fail(s, -ENOBUFS, "could not commit before BYE");
                s->bye_received = true;
                if (!s->cfg.initiator && !s->bye_sent) {
                        struct fy_msg bye = { .type = FY_BYE };
                        s->bye_sent = true;
                        return out_ctrl(s, &bye);
                }
                return 0;
        case FY_CREDIT:
                return tx_on_credit(s, &m->credit);
        case FY_FILE_BEGIN:
                return rx_on_begin(s, &m->begin);
        case FY_FILE_END:
                return rx_on_end(s, &m->end);
        case FY_FILE_ABORT:
                return rx_on_abort(s, &m->abort);
        case FY_HOLE:
                return rx_on_hole(s, &m->hole);
        case FY_MKDIR:
                return rx_on_mkdir(s, &m->mkdir);
        case FY_SYMLINK:
                return rx_on_symlink(s, &m->symlink);
        case FY_FILE_STATUS:
                return tx_on_status(s, &m->status);
        case FY_RESUME_QUERY:
                return rx_on_query(s, &m->query);
        case FY_RESUME_STATE:
                return tx_on_state(s, &m->state);
        case FY_GET:
                if (s->cfg.initiator)
                        return session_fail(s, -EPROTO, "protocol error: the guest sent GET");
                return tx_on_get(s, &m->get);
        }
        return session_fail(s, -EPROTO, "protocol error: unexpected %s", fy_type_name(m->type));
}

/* Before the handshake completes: look for a valid header anywhere in the
 * input, keep only SYNC (responder) or SYNC_ACK with our nonce (initiator).
 * Returns 1 when it consumed something, 0 when it needs more bytes. */
static int parse_unsynced(struct session *s) {
        size_t avail = s->in_end - s->in_start;
        size_t off = fy_scan(s->in + s->in_start, avail);
        if (off > 0) {
                s->in_start += off;
                return 1;
        }
        if (avail < FY_HDR_SIZE)
                return 0;
        struct fy_header h;
        (void)fy_header_decode(s->in + s->in_start, &h); /* fy_scan checked it */
        uint8_t want = s->cfg.initiator ? FY_SYNC_ACK : FY_SYNC;
        if (h.type != want) {
                s->in_start++; /* not ours: look further, byte by byte */
                return 1;
        }
        if (avail < FY_HDR_SIZE + h.length)
                return 0;
        struct fy_msg m;
        int r = fy_msg_decode(&h, s->in + s->in_start + FY_HDR_SIZE, h.length, &m);
        if (r < 0 || (s->cfg.initiator && m.hello.nonce != s->nonce)) {
                s->in_start++;
                return 1;
        }
        if (!out_room(s, 1))
                return -EAGAIN;
        s->in_start += FY_HDR_SIZE + h.length;
        if (!s->cfg.initiator)
                return session_on_sync(s, &m.hello) < 0 ? -EPROTO : 1;

        /* Initiator: the responder answered our nonce. */
        if (m.hello.proto_max < FY_PROTO_MIN || m.hello.proto_max > FY_PROTO_VERSION)
                return session_fail(s, -EPROTONOSUPPORT, "peer chose protocol version %u", m.hello.proto_max);
        r = session_start(s, &m.hello);
        if (r == 0 && (m.hello.features & ~s->mine.features)) {
                r = session_fail(s, -EPROTO, "peer accepted features we did not offer (%#llx)",
                                 (unsigned long long)m.hello.features);
                tell_peer(s, r);
        }
        return r < 0 ? r : 1;
}

/* One frame out of the input buffer.  1: consumed one; 0: need more bytes;
 * -EAGAIN: cannot take it now (no buffer or no room to answer). */
static int parse_one(struct session *s) {
        if (!s->synced)
                return parse_unsynced(s);

        size_t avail = s->in_end - s->in_start;
        if (avail < FY_HDR_SIZE)
                return 0;
        const uint8_t *p = s->in + s->in_start;
        struct fy_header h;
        int r = fy_header_decode(p, &h);
        if (r < 0) {
                s->framing_error = true;
                return session_fail(s, r, "protocol error: frame header: %s", fy_strerror_decode(r));
        }

        if (h.type == FY_DATA) {
                if (avail < FY_DATA_FRAME_HEAD)
                        return 0;
                struct fy_msg m;
                r = fy_msg_decode(&h, p + FY_HDR_SIZE, FY_DATA_HEAD_SIZE, &m);
                if (r < 0)
                        return session_fail(s, r, "protocol error: DATA: %s", fy_strerror_decode(r));
                /* Wait for a buffer before looking at the frame: the head is
                 * parsed again when we come back, and must count once. */
                if (!out_room(s, 2) || fio_free_bufs(s->fio) == 0)
                        return -EAGAIN;
                bool want = false;
                r = rx_on_data_head(s, &m.data, &want);
                if (r < 0)
                        return r;
                if (want) {
                        unsigned buf;
                        if (fio_buf_get(s->fio, &buf) < 0)
                                return session_fail(s, -ENOBUFS, "no file buffer"); /* checked above */
                        s->in_buf = (int)buf;
                        s->in_got = 0;
                        s->in_state = IN_PAYLOAD;
                } else {
                        s->discard_left = m.data.payload_len;
                        s->in_state = IN_DISCARD;
                }
                s->in_data = m.data;
                s->in_start += FY_DATA_FRAME_HEAD;
                return 1;
        }

        if (avail < FY_HDR_SIZE + h.length)
                return 0;
        /* A frame may cause a credit and a status; a FILE_END may commit a
         * whole batch of small files, each with its status. */
        bool commits = h.type == FY_FILE_END || h.type == FY_MKDIR || h.type == FY_BYE;
        if (!out_room(s, commits ? COMMIT_MAX + 3 : 3))
                return -EAGAIN;
        struct fy_msg m;
        r = fy_msg_decode(&h, p + FY_HDR_SIZE, h.length, &m);
        if (r < 0)
                return session_fail(s, r, "protocol error: %s: %s", fy_type_name(h.type), fy_strerror_decode(r));
        s->in_start += FY_HDR_SIZE + h.length;
        r = dispatch(s, &m);
        return r < 0 ? r : 1;
}

static int stream_read(struct session *s, void *buf, size_t len) {
        ssize_t n = read(s->fd, buf, len);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                if (errno == ECONNRESET)
                        n = 0;
                else
                        return session_fail(s, -errno, "read from the stream: %s", strerror(errno));
        }
        if (n == 0) {
                s->eof = true;
                return 0;
        }
        return (int)n;
}

/* Read and handle input until the stream runs dry or we must wait.
 * Returns >0 if anything happened, 0 if not, -errno. */
int in_pump(struct session *s, bool *ret_blocked) {
        int did = 0;
        *ret_blocked = false;
        for (int round = 0; round < 256 && !s->eof; round++) {
                size_t avail = s->in_end - s->in_start;
                if (s->in_state == IN_PAYLOAD) {
                        uint32_t need = s->in_data.payload_len - s->in_got;
                        uint8_t *dst = fio_buf(s->fio, (unsigned)s->in_buf) + s->in_got;
                        int n;
                        if (avail) {
                                n = (int)MIN(avail, need);
                                memcpy(dst, s->in + s->in_start, (size_t)n);
                                s->in_start += (size_t)n;
                        } else {
                                n = stream_read(s, dst, need);
                                if (n <= 0)
                                        return n < 0 ? n : did;
                        }
                        did = 1;
                        s->in_got += (uint32_t)n;
                        if (s->in_got == s->in_data.payload_len) {
                                s->in_state = IN_FRAMES;
                                int r = rx_on_data(s, s->in_buf);
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }
                if (s->in_state == IN_DISCARD) {
                        int n;
                        if (avail) {
                                n = (int)MIN(avail, s->discard_left);
                                s->in_start += (size_t)n;
                        } else {
                                s->in_start = s->in_end = 0;
                                n = stream_read(s, s->in, MIN(INBUF_SIZE, s->discard_left));
                                if (n <= 0)
                                        return n < 0 ? n : did;
                        }
                        did = 1;
                        s->discard_left -= (uint32_t)n;
                        if (s->discard_left == 0) {
                                s->in_state = IN_FRAMES;
                                rx_discarded(s, s->in_data.payload_len);
                        }
                        continue;
                }

                int r = parse_one(s);
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
                if (s->in_start == s->in_end)
                        s->in_start = s->in_end = 0;
                else if (s->in_start > 0 && (s->in_end == INBUF_SIZE || s->in_start > INBUF_SIZE / 2)) {
                        memmove(s->in, s->in + s->in_start, s->in_end - s->in_start);
                        s->in_end -= s->in_start;
                        s->in_start = 0;
                }
                int n = stream_read(s, s->in + s->in_end, INBUF_SIZE - s->in_end);
                if (n <= 0)
                        return n < 0 ? n : did;
                s->in_end += (size_t)n;
                did = 1;
        }
        return did;
}

