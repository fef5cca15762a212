/* SPDX-License-Identifier: MIT */
/*
 * Input: bytes off the stream, cut into frames and handed to the caller's
 * callbacks.  Before the handshake it scans for a SYNC (responder) or a
 * SYNC_ACK carrying our nonce (initiator) anywhere in the bytes, which is
 * how a virtio-serial port's leftovers of a dead session are skipped.  A
 * DATA payload is read straight into the buffer the caller names.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define INBUF_SIZE (256u << 10) /* stream read buffer; >= FY_MAX_CTRL_FRAME */

struct sctx;
struct fy_msg;

struct input_ops {
        /* Before the handshake: the SYNC (responder) or SYNC_ACK with our
         * nonce (initiator) that starts the session. */
        int (*hello)(void *ud, const struct fy_msg *m);
        /* Whether a frame of this type can be taken now (room for what it
         * makes us send, a buffer for a payload).  false: wait. */
        bool (*ready)(void *ud, uint8_t type);
        /* A control frame, once synced. */
        int (*frame)(void *ud, const struct fy_msg *m);
        /* A DATA head: where its payload goes (*ret_dst and the buffer's id
         * in *ret_buf), or *ret_dst NULL to drop it. */
        int (*data_head)(void *ud, const struct fy_data *d, uint8_t **ret_dst, int *ret_buf);
        /* The payload of d is in buf. */
        int (*data)(void *ud, const struct fy_data *d, int buf);
        /* A dropped payload of len bytes is behind us. */
        void (*discarded)(void *ud, uint32_t len);
};

struct input {
        struct sctx *c;        /* for the failure text */
        const struct input_ops *ops;
        void *ud;
        bool initiator;
        uint64_t nonce;        /* initiator: the SYNC_ACK we wait for carries it */
        bool synced;           /* frames go to ops->frame; else scan for hello */
        bool eof;
        bool framing_error;    /* frame boundaries are lost (a bad header) */
        uint8_t *buf;          /* INBUF_SIZE, owned */
        size_t start, end;     /* unread bytes: buf[start, end) */
        enum { IN_FRAMES, IN_PAYLOAD, IN_DISCARD } state;
        struct fy_data data;   /* IN_PAYLOAD, IN_DISCARD: the DATA frame's head */
        uint8_t *dst;          /* IN_PAYLOAD: where its payload goes */
        int dst_buf;
        uint32_t got;          /* IN_PAYLOAD: payload bytes so far */
        uint32_t discard_left; /* IN_DISCARD */
        /* 0, or: read through readv with pieces of this size.  A virtio-serial
         * port hands over one driver buffer (a page) per read(); with readv
         * the kernel loops over the pieces inside one call (see session.c). */
        uint32_t read_piece;
};

int input_init(struct input *in, struct sctx *c, bool initiator, const struct input_ops *ops, void *ud);
void input_fini(struct input *in);
/* Read and handle input until the stream runs dry or a frame must wait
 * (*ret_blocked).  >0 if anything happened, 0 if not, -errno. */
int input_pump(struct input *in, bool *ret_blocked);
/* A new session: keep_bytes keeps what is buffered (the next session's
 * frames, after a SYNC replaced the old one) unless a payload was half read. */
void input_reset(struct input *in, bool keep_bytes);
