/* SPDX-License-Identifier: MIT */
/*
 * Receiving files: each chunk is checked against its digest before it is
 * written; the file grows under a temporary name in its destination
 * directory and is renamed onto the real name only after fsync and a
 * matching whole-file digest.  Whatever goes wrong, nothing appears at the
 * destination name.  The receiver also grants the credit (CREDIT), as far
 * as the budgets allow (budget/pacer.h), and keeps what a file has written
 * but not yet put on disk under the dirty budget.
 *
 * Bench mode (FY_FB_BENCH, PROTOCOL.md 9.11): a sink.  Chunks are checked
 * (and decompressed) as ever, credited as ever, under the same budgets, and
 * then dropped; nothing is resolved, opened or written.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "budget/pacer.h"
#include "codec.h"
#include "session/session.h"

#define RX_CHECKPOINT (64ull << 20) /* resume: fdatasync a partial file this often */
/* Repair (FY_FEAT_RESEND, PROTOCOL.md 9.10): a damaged chunk is asked for
 * again with CHUNK_NACK, up to RX_NACK_TRIES times, before its file fails;
 * at most RX_NACKS chunks of a file at once; a file whose FILE_END came
 * while chunks were still asked for waits, parked, for them (RX_PARKED at
 * once) while the next file is received. */
#define RX_NACK_TRIES 3
#define RX_NACKS 8
/* A delta (FY_FB_DELTA): kept chunks this file lacked, asked for and not
 * yet back, at most (the sender keeps under TX_KEEPS of them and their
 * re-sends, so twice that plus some). */
#define RX_KEEP_NACKS 40
#define RX_PARKED 2
#define RX_BENCH_IDS 64 /* host: bench GETs (FY_GET_BENCH) whose FILE_BEGIN is due */

struct sctx;
struct fio_cqe;
struct commits;
struct resume;
struct place;
struct stale;
struct compress;

/* A chunk asked for again. */
struct rx_nack {
        uint64_t off;
        uint32_t len;
        unsigned tries;
        bool keep;      /* a kept chunk we lacked (delta), not a damaged one */
};

/* From the first chunk asked for on, chunks' digests wait here in file
 * order (the file digest is over them in order, PROTOCOL.md 6). */
struct rx_pend {
        uint64_t off, len; /* len: a hole's */
        uint64_t digest;
        bool ok;           /* arrived intact (a hole always) */
        bool hole;
};

/* The file being received; made anew for every FILE_BEGIN. */
struct rx_file {
        bool active;
        bool dead;          /* a status with an error went out: drop its frames */
        bool sink;          /* bench mode: checked, then discarded; no descriptors */
        uint32_t xfer_id;
        int fd, dirfd;
        int base_fd;        /* a delta's base: the destination as it was (< 0: none) */
        char tmpname[FY_MAX_NAME + 1]; /* in dirfd, removed on failure */
        char name[FY_MAX_NAME + 1];    /* the destination name in dirfd */
        /* a journaled (resumable) file: its journal; tmpname is the .part */
        int jfd;
        char jname[FY_MAX_NAME + 1];
        uint64_t ckpt_off;  /* the journal's last DURABLE mark */
        bool keep_partial;  /* a failure now is the stream's: keep the partial */
        struct fy_file_begin begin;
        uint64_t next_off;
        uint64_t chunks;
        unsigned writes;    /* in flight */
        struct fy_file_digest digest;
        struct file_result res;
        /* writeback control (dirty budget): [synced_off, flush_off) writeback
         * started, [flush_off, next_off) written only; everything before
         * synced_off is on disk */
        uint64_t synced_off, flush_off;
        uint64_t dirty_prev, dirty_cur; /* data bytes in those two ranges */
        uint64_t dirty_peak;
        bool direct;        /* the temporary file is open with O_DIRECT */
        /* repair */
        struct rx_nack nack[RX_NACKS + RX_KEEP_NACKS];
        unsigned nnack;
        unsigned nkeep;       /* of them, kept chunks we lacked */
        struct rx_pend *pend; /* ring of pend_cap, owned, allocated at the first NACK */
        unsigned pend_head, pend_len, pend_cap;
        bool end_seen;        /* FILE_END came while chunks were asked for: it waits */
        struct fy_file_end end;
};

struct rx {
        /* modules the receiver hands work to (session.c composes them) */
        struct commits *cm;
        struct resume *rs;
        struct place *pl;
        struct stale *st;
        struct compress *z;    /* codec 1 payloads are unpacked here */
        struct rx_file f;
        struct rx_file parked[RX_PARKED]; /* past FILE_END, waiting for re-sent chunks */
        /* credit, for the whole session */
        uint64_t consumed, credit_sent;
        uint64_t received;     /* DATA bytes taken off the stream, cumulative */
        uint64_t granted;      /* the highest limit we announced */
        uint64_t share_banked; /* taken from cfg->share, not yet announced */
        uint32_t reasons_sent; /* pacing reasons in the last CREDIT */
        uint64_t credit_ns;    /* when the last CREDIT went out */
        uint64_t paced_ns;     /* pacing time is counted up to here (session_totals.paced_ns) */
        bool dirty_waited;     /* waited for writeback since the last CREDIT */
        bool closed;           /* BYE went out: no more CREDIT */
        struct pacer pacer;
        bool pacer_on;
        bool direct_refused;   /* O_DIRECT refused here: buffered from now on */
        /* host: the ids of its bench GETs not yet begun (0: free slot); a
         * FY_FB_BENCH FILE_BEGIN is taken only for one of them, so a guest
         * cannot answer a real GET with a measurement */
        uint32_t bench_ids[RX_BENCH_IDS];
        /* what each pool buffer's write in flight holds, for its journal record */
        /* and when it went to the disk (session_totals.write_lat) */
        struct { struct rx_file *f; uint64_t off, digest, t0; uint32_t len; } wr[SESSION_MAX_DEPTH];
};

void rx_init(struct rx *x, struct commits *cm, struct resume *rs, struct place *pl, struct stale *st,
             struct compress *z);
/* The handshake is done: the budgets, and the first grant we announced. */
void rx_start(struct rx *x, struct sctx *c, uint64_t first_grant);

int rx_on_begin(struct rx *x, struct sctx *c, const struct fy_file_begin *b);
/* Host: GET id asks for bench data (FY_GET_BENCH): its FY_FB_BENCH answer is
 * expected.  -ENOBUFS when RX_BENCH_IDS are due already. */
int rx_expect_bench(struct rx *x, uint32_t id);
/* A DATA head: whether its payload is wanted (else it is dropped, credited). */
int rx_on_data_head(struct rx *x, struct sctx *c, const struct fy_data *d, bool *ret_want);
int rx_on_data(struct rx *x, struct sctx *c, const struct fy_data *d, int buf);
void rx_on_discarded(struct rx *x, uint32_t len);
int rx_on_hole(struct rx *x, struct sctx *c, const struct fy_hole *h);
int rx_on_end(struct rx *x, struct sctx *c, const struct fy_file_end *e);
/* asked: the initiator had a GET of this id still waiting for its answer
 * (getq_begun); a FILE_ABORT for an id neither open nor asked for is a
 * protocol error there. */
int rx_on_abort(struct rx *x, struct sctx *c, const struct fy_file_abort *a, bool asked);
/* A write of ours completed. */
int rx_on_write(struct rx *x, struct sctx *c, const struct fio_cqe *cqe);
/* Grant what the budgets allow.  >0 if a CREDIT went out. */
int rx_flush_credit(struct rx *x, struct sctx *c);

/* What the receiving budgets stand at now (session_ops.sample). */
void rx_sample(const struct rx *x, struct session_gauges *ret);

/* A file is open and not given up on. */
bool rx_receiving(const struct rx *x);
/* Files past FILE_END still wait for re-sent chunks. */
bool rx_repairing(const struct rx *x);
/* Forget the file being received (the session broke); the pool is drained.
 * A journaled partial stays for the rerun. */
void rx_reset(struct rx *x);
