/* SPDX-License-Identifier: MIT */
/*
 * The output queue: frames waiting for the stream, written with writev as
 * far as the stream takes them.  A bounded FIFO of OUTQ_LEN segments,
 * allocated once; a full queue is the back-pressure (callers ask
 * outq_room first).  A DATA payload is not copied: it stays in its owner's
 * buffer until written, then the release callback hands the buffer back.
 * Knows nothing of sessions; tests/test-outq.c drives it alone.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"

#define OUTQ_LEN 64        /* frames queued for the stream */
#define OUTQ_CTRL_RESERVE 8 /* slots DATA and look-ahead leave for control frames */

struct fy_msg;

struct outseg {
        uint8_t head[FY_MAX_CTRL_FRAME]; /* a control frame whole, or a DATA frame's head */
        uint32_t head_len;
        uint32_t payload_len;
        const uint8_t *payload; /* not owned: a pool buffer (buf >= 0) or the caller's bytes */
        int buf;                /* released once written; -1: nothing to release */
        uint32_t off;           /* bytes of head + payload already written */
};

struct outq {
        struct outseg *segs; /* OUTQ_LEN of them, owned */
        unsigned head, len;  /* FIFO: the oldest segment and how many */
        /* A payload with buf >= 0 has left (written, or dropped). */
        void (*release)(void *ud, int buf);
        void *ud;
        bool checked; /* control frames carry their payload check (FY_FEAT_CHECKED) */
        /* 0, or: no iovec longer than this.  A virtio-serial port takes at
         * most 32 KiB per write(); with writev of such pieces the kernel
         * loops over them inside one call (see session.c). */
        uint32_t write_piece;
};

int outq_init(struct outq *q, void (*release)(void *ud, int buf), void *ud);
void outq_fini(struct outq *q);

/* Whether n more frames fit now. */
bool outq_room(const struct outq *q, unsigned n);
/* Queue a control frame (encoded here, with its payload check when
 * ->checked); -ENOBUFS when full, or the encoder's error. */
int outq_ctrl(struct outq *q, const struct fy_msg *m);
/* Queue a DATA frame: its encoded head and len payload bytes at payload. */
int outq_data(struct outq *q, const uint8_t head[FY_DATA_FRAME_HEAD], const uint8_t *payload, int buf, uint32_t len);
/* Queue raw bytes that are not a frame (resync padding), the caller's until written. */
int outq_bytes(struct outq *q, const uint8_t *p, uint32_t len);

/* Write as much as fd takes now: >0 if anything was written, 0 if nothing
 * could be, -ECONNRESET when the peer is gone, other -errno. */
int outq_flush(struct outq *q, int fd);
/* Drop what is queued (releasing payloads); keep_partial keeps a frame
 * already half written, which must be finished before any other. */
void outq_drop(struct outq *q, bool keep_partial);
