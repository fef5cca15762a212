/* SPDX-License-Identifier: MIT */
/*
 * Sending files: read chunks ahead through the pool, hash them, frame them
 * and queue them while the receiver's credit allows.  Reads complete in any
 * order; chunks leave in file order.  Nothing waits for a per-chunk reply:
 * CREDIT frames move the limit forward as the receiver writes.  Items come
 * from the send queue (sendq.h); one file is active at a time, and files
 * whose FILE_END went out wait for their FILE_STATUS here.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "budget/pacer.h"
#include "codec.h"
#include "session/item.h"

#define TX_RTT_RING 4096 /* chunks awaiting credit, for latency */
#define TX_ABORTED 16    /* files given up on whose receiver's FILE_STATUS is due */
#define TX_RESENDS 64    /* chunks asked for again (CHUNK_NACK) and not yet re-sent */
/* A delta (FY_FB_DELTA): kept chunks (codec 2) the receiver has not
 * credited yet, plus chunks it lacked not yet sent again, at most this
 * many - so the chunks it asks for (each one kept chunk) stay under its
 * table (RX_KEEP_NACKS) and our re-send queue. */
#define TX_KEEPS 16

struct sctx;
struct sendq;
struct compress;
struct fio_cqe;

/* A chunk the receiver asked for again: read anew from the source, then
 * sent like any other as far as credit allows. */
struct tx_resend {
        uint32_t xfer_id;
        uint64_t off;
        uint32_t len;
        int buf;         /* -1 until read */
        bool keep_miss;  /* a kept chunk the receiver lacked (delta), not a damaged one */
        uint8_t codec;
        uint32_t plen;
        uint64_t digest;
};

/* A chunk read (or being read) for the active file, in order. */
struct tx_slot {
        int buf;       /* -1: a hole, nothing to read */
        bool ready;
        bool packed;   /* digest taken, compressed in place if it paid */
        bool packed_on; /* ... while compression was on (auto's measure) */
        uint8_t codec; /* packed: FY_CODEC_* */
        uint32_t plen; /* packed: payload bytes */
        uint64_t digest; /* packed: of the raw bytes */
        uint32_t len;
        uint64_t off;
        uint64_t hole; /* buf < 0: the hole's length */
};

struct tx {
        struct sendq *q;          /* where items come from and verdicts go */
        struct compress *z;       /* the compression stage */
        struct packer *pk;        /* its helper threads, made on first use; owned */
        unsigned pack_threads;    /* how many (0: none, pack here) */
        bool pk_failed;           /* they could not be started: pack here */
        struct tx_item *active;   /* being sent */
        struct item_list waiting; /* FILE_END (or MKDIR, SYMLINK) sent, no status yet */
        /* the active file */
        int fd;
        uint64_t size;
        uint32_t chunk;
        bool sparse;              /* sent with holes */
        bool delta;               /* chunks go as codec 2 (keep): FY_FB_DELTA */
        /* delta: where each kept chunk ends in sent_total, until credited */
        uint64_t keep_end[2 * TX_KEEPS];
        unsigned keep_head, keep_len;
        unsigned keep_pending;    /* chunks the receiver lacked, not yet sent again */
        uint64_t data_end;        /* sparse: end of the data extent being read */
        uint64_t read_off;        /* next offset to read */
        uint64_t sent_off;        /* next offset to send */
        bool abandoning;          /* draining the reads of a file given up on */
        /* Resume: [0, verify_end) is read and hashed, not sent, then its
         * digest must equal verify_digest (the receiver's prefix, or with
         * --checksum its whole file) */
        uint64_t verify_end;
        uint32_t verify_verdict;  /* FY_RS_RESUME or FY_RS_DIGEST; 0: none */
        uint8_t verify_digest[16];
        uint64_t chunks;          /* data chunks of the active file so far */
        uint64_t alive_ns;        /* the last frame sent while checking (keepalive) */
        struct fy_msg begin;      /* the FILE_BEGIN, sent once the check is done */
        bool begun;               /* ... and it went: the receiver has the file open */
        struct fy_file_digest digest;
        struct tx_slot *slots;    /* ring of depth entries, by chunk sequence; owned */
        unsigned depth;
        uint64_t seq_head, seq_tail;
        /* Files we abandoned after their FILE_BEGIN: the receiver answers our
         * FILE_ABORT with a FILE_STATUS (PROTOCOL.md 9.4), which is then
         * expected, not a stranger's. */
        uint32_t aborted[TX_ABORTED];
        unsigned naborted;          /* slots in use, plus those untracked */
        unsigned aborted_untracked; /* aborted while every slot was in use */
        struct tx_resend resend[TX_RESENDS]; /* FIFO */
        unsigned resend_head, resend_len;
        /* credit */
        uint64_t sent_total, limit;
        uint64_t consumed;        /* the receiver's, from the latest CREDIT (send_window) */
        uint64_t raw_inflight;    /* raw bytes of the chunks in rtt[] (a try of compression's cap) */
        uint32_t peer_reasons;    /* from the latest CREDIT */
        uint64_t blocked_since;   /* data ready but not sent, since (ns) */
        int blocked_kind;         /* enum wait_kind of that wait */
        struct bucket rate;       /* our own --max-rate */
        /* chunks sent and not yet credited: their latency, and auto's
         * measure of each mode (compress.h), taken when the receiver
         * credits a chunk - the rate it drains, where the rate chunks are
         * framed counts the credit window filling too, and a compressed
         * window holds several times the raw bytes of a raw one */
        struct {
                uint64_t end;
                uint64_t t;
                uint32_t xfer_id;
                uint32_t raw, wire; /* auto: the chunk's bytes, raw and on the wire */
                bool measure;       /* auto: a first send (not a repair), to count */
                bool packed_on;     /* auto: packed while compression was on */
        } rtt[TX_RTT_RING];
        unsigned rtt_head, rtt_len;
};

int tx_init(struct tx *t, struct sendq *q, struct compress *z, unsigned depth, unsigned pack_threads);
void tx_fini(struct tx *t);
/* The handshake is done: the peer's window, our rate limit. */
void tx_start(struct tx *t, struct sctx *c);

/* Start files, read, hash and frame as far as credit and room allow.
 * >0 if anything moved. */
int tx_pump(struct tx *t, struct sctx *c);
int tx_on_credit(struct tx *t, struct sctx *c, const struct fy_credit *cr);
int tx_on_status(struct tx *t, struct sctx *c, const struct fy_file_status *st);
/* The receiver asks for a damaged chunk again (FY_FEAT_RESEND). */
int tx_on_nack(struct tx *t, struct sctx *c, const struct fy_chunk_nack *n);
/* A read of ours completed. */
int tx_on_read(struct tx *t, struct sctx *c, const struct fio_cqe *cqe);

bool tx_idle(const struct tx *t);
bool tx_sending(const struct tx *t); /* a file is active */
/* Forget everything; the pool is gone already (no reads in flight). */
void tx_reset(struct tx *t);
