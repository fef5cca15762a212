/* SPDX-License-Identifier: MIT */
/*
 * session/outq: the output queue alone, over a real socketpair.
 *
 * Frames leave in order and whole however the stream cuts the writes; a
 * DATA payload is not copied and its buffer is released exactly once, when
 * written or dropped; a full queue refuses more; dropping keeps a frame
 * half written (the next frame must not land inside it); a peer gone is
 * -ECONNRESET.  The same with writes cut into pieces (write_piece, for
 * virtio-serial ports).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/fd.h"
#include "check.h"
#include "codec.h"
#include "session/outq.h"

static unsigned released[OUTQ_LEN + 8];

static void on_release(void *ud, int buf) {
        (*(unsigned *)ud)++;
        if (buf >= 0 && (unsigned)buf < sizeof released / sizeof released[0])
                released[buf]++;
}

static void pair(int sv[2], int sndbuf) {
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        if (sndbuf)
                (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        CHECK(fd_set_nonblock(sv[0], true) == 0);
}

/* Read everything available from fd into buf (at most cap). */
static size_t drain(int fd, uint8_t *buf, size_t cap) {
        size_t got = 0;
        for (;;) {
                ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
                if (n <= 0)
                        return got;
                got += (size_t)n;
        }
}

/* Decode the frames in buf: their types in order, DATA payloads checked. */
static unsigned frames(const uint8_t *buf, size_t len, uint8_t *types, const uint8_t *payload, uint32_t plen) {
        unsigned n = 0;
        size_t off = 0;
        while (off + FY_HDR_SIZE <= len) {
                struct fy_header h;
                CHECK_EQ_INT(fy_header_decode(buf + off, &h), 0);
                types[n++] = h.type;
                if (h.type == FY_DATA) {
                        CHECK_EQ_INT(h.length, FY_DATA_HEAD_SIZE + plen);
                        CHECK_EQ_MEM(buf + off + FY_DATA_FRAME_HEAD, payload, plen);
                }
                off += FY_HDR_SIZE + h.length;
        }
        CHECK_EQ_U64(off, len);
        return n;
}

/* piece: outq's write_piece (0: none).  700 cuts the payload into more
 * pieces than one writev takes. */
static void test_order_and_release(uint32_t piece) {
        struct outq q;
        unsigned n = 0;
        memset(released, 0, sizeof released);
        CHECK_EQ_INT(outq_init(&q, on_release, &n), 0);
        q.write_piece = piece;
        int sv[2];
        pair(sv, 4096); /* small: every flush is cut short */
        static uint8_t payload[200000];
        for (size_t i = 0; i < sizeof payload; i++)
                payload[i] = (uint8_t)(i * 7 + 3);
        struct fy_msg credit = { .type = FY_CREDIT, .credit = { .consumed = 1, .limit = 2 } };
        struct fy_data d = { .xfer_id = 5, .offset = 0, .raw_len = sizeof payload, .payload_len = sizeof payload,
                             .digest = fy_chunk_digest(payload, sizeof payload) };
        uint8_t head[FY_DATA_FRAME_HEAD];
        CHECK(fy_data_head_encode(head, &d) > 0);
        CHECK_EQ_INT(outq_ctrl(&q, &credit), 0);
        CHECK_EQ_INT(outq_data(&q, head, payload, 3, sizeof payload), 0);
        struct fy_msg pad = { .type = FY_PAD };
        CHECK_EQ_INT(outq_ctrl(&q, &pad), 0);
        CHECK_EQ_INT(q.len, 3);

        static uint8_t got[300000];
        size_t len = 0;
        int rounds = 0, r;
        while (q.len > 0 && rounds++ < 100000) {
                r = outq_flush(&q, sv[0]);
                CHECK(r >= 0);
                if (r < 0)
                        break;
                len += drain(sv[1], got + len, sizeof got - len);
                if (q.len == 3)
                        CHECK_EQ_INT(released[3], 0); /* not before its payload is out */
        }
        len += drain(sv[1], got + len, sizeof got - len);
        CHECK_EQ_INT(q.len, 0);
        CHECK(rounds > 2); /* the writes were cut: this tested partial writes */
        CHECK_EQ_INT(released[3], 1);
        CHECK_EQ_INT(n, 1);
        uint8_t types[8];
        CHECK_EQ_INT(frames(got, len, types, payload, sizeof payload), 3);
        CHECK_EQ_INT(types[0], FY_CREDIT);
        CHECK_EQ_INT(types[1], FY_DATA);
        CHECK_EQ_INT(types[2], FY_PAD);
        outq_fini(&q);
        close(sv[0]);
        close(sv[1]);
}

static void test_full_and_drop(void) {
        struct outq q;
        unsigned n = 0;
        memset(released, 0, sizeof released);
        CHECK_EQ_INT(outq_init(&q, on_release, &n), 0);
        static uint8_t payload[64];
        uint8_t head[FY_DATA_FRAME_HEAD] = { 0 };
        for (int i = 0; i < OUTQ_LEN; i++)
                CHECK_EQ_INT(outq_data(&q, head, payload, i, sizeof payload), 0);
        CHECK(!outq_room(&q, 1));
        struct fy_msg pad = { .type = FY_PAD };
        CHECK_EQ_INT(outq_ctrl(&q, &pad), -ENOBUFS);
        CHECK_EQ_INT(outq_data(&q, head, payload, 99, sizeof payload), -ENOBUFS);
        CHECK_EQ_INT(outq_bytes(&q, payload, 1), -ENOBUFS);
        /* Half of the first frame written: a drop keeps it, releases the rest. */
        q.segs[q.head].off = 3;
        outq_drop(&q, true);
        CHECK_EQ_INT(q.len, 1);
        CHECK_EQ_INT(n, OUTQ_LEN - 1);
        CHECK_EQ_INT(released[0], 0);
        CHECK_EQ_INT(released[1], 1);
        CHECK_EQ_INT(released[OUTQ_LEN - 1], 1);
        outq_drop(&q, false);
        CHECK_EQ_INT(q.len, 0);
        CHECK_EQ_INT(n, OUTQ_LEN);
        CHECK_EQ_INT(released[0], 1);
        outq_fini(&q); /* nothing is released twice */
        CHECK_EQ_INT(n, OUTQ_LEN);
}

static void test_peer_gone(void) {
        struct outq q;
        unsigned n = 0;
        CHECK_EQ_INT(outq_init(&q, on_release, &n), 0);
        int sv[2];
        pair(sv, 0);
        close(sv[1]);
        struct fy_msg pad = { .type = FY_PAD };
        CHECK_EQ_INT(outq_ctrl(&q, &pad), 0);
        CHECK_EQ_INT(outq_flush(&q, sv[0]), -ECONNRESET);
        CHECK_EQ_INT(q.len, 1); /* nothing was written: still queued */
        outq_fini(&q);
        close(sv[0]);
}

/* A control frame the encoder refuses takes no slot. */
static void test_bad_frame(void) {
        struct outq q;
        CHECK_EQ_INT(outq_init(&q, NULL, NULL), 0);
        struct fy_msg bad = { .type = 0xEE };
        CHECK(outq_ctrl(&q, &bad) < 0);
        CHECK_EQ_INT(q.len, 0);
        outq_fini(&q);
}

int main(void) {
        signal(SIGPIPE, SIG_IGN);
        test_order_and_release(0);
        test_order_and_release(700);
        test_order_and_release(32u << 10);
        test_full_and_drop();
        test_peer_gone();
        test_bad_frame();
        return check_done();
}
