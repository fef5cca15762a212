/* SPDX-License-Identifier: MIT */
/*
 * What the sending side has yet to send, in order: files and trees the host
 * queued, GETs the guest was asked, and the entries of the tree being
 * walked.  Items are taken a few dozen ahead of sending, and the receiver
 * is asked about each file (RESUME_QUERY, PROTOCOL.md 9.8), so its answers
 * arrive while earlier files are sent and no file waits a round trip.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "session/item.h"
#include "session/tree.h"

/* Everything a session holds of what it sends is bounded, whatever the
 * peer does: a tx_item is ~13 KiB (two whole paths and telemetry), so a
 * responder holds at most SENDQ_GET_MAX + SENDQ_AHEAD + SENDQ_OUT_MAX +
 * TREE_AHEAD of them (~2.3 MiB, inside the share of --max-memory ferryd
 * counts per session besides its buffers, guest-agent/serve.h).  A host
 * keeps GETQ_IN_FLIGHT (32) GETs unanswered; one that floods is told
 * "busy" (FILE_ABORT FY_EBUSY) for the GETs over the bound, and one that
 * never sends its verdicts (FILE_STATUS) stops getting files. */
#define SENDQ_AHEAD 32      /* files queried ahead of sending (with resume) */
#define SENDQ_GET_MAX 64    /* GETs a responder queues (not yet started) before refusing */
#define SENDQ_OUT_MAX 64    /* items started whose verdict has not come */

struct sctx;

struct sendq {
        struct item_list queue;   /* not started */
        struct item_list ahead;   /* taken from the queue or a tree, maybe queried */
        struct tx_item *barrier;  /* in ahead, unsent: take nothing after it yet */
        struct tree_tx tree;      /* the tree being walked */
        unsigned out;             /* handed out by sendq_next, not yet done */
};

/* Host: a local file to send as (dest, name, flags); a local tree to send
 * into dest (made if missing; make_parent: its parent too). */
int sendq_push(struct sendq *q, struct sctx *c, const char *local, const char *dest, const char *name,
               uint32_t flags, uint32_t *ret_id);
/* Host, bench mode (PROTOCOL.md 9.11): size bytes of pattern (FY_BENCH_*)
 * made in memory, for the receiver to check and discard; and a scratch
 * directory (MKDIR FY_MK_SCRATCH), which the receiver removes when the
 * session ends. */
int sendq_push_bench(struct sendq *q, struct sctx *c, uint64_t size, uint32_t pattern, uint32_t *ret_id);
int sendq_push_scratch(struct sendq *q, struct sctx *c, const char *dest, uint32_t *ret_id);
int sendq_push_tree(struct sendq *q, struct sctx *c, const char *src, const char *dest, bool make_parent,
                    uint32_t *ret_id);
/* Guest: a GET to answer (a file, or a directory as a tree). */
int sendq_on_get(struct sendq *q, struct sctx *c, const struct fy_get *g);

/* Take items ahead and ask about them.  >0 if anything moved. */
int sendq_fill(struct sendq *q, struct sctx *c);
/* The receiver's answer to a RESUME_QUERY. */
int sendq_on_state(struct sendq *q, struct sctx *c, const struct fy_resume_state *st);
/* The next item to start, once it may (answered, if asked about); NULL: none yet. */
struct tx_item *sendq_next(struct sendq *q);
/* An item has its verdict: report it, count it toward its tree, free it. */
void sendq_done(struct sendq *q, struct sctx *c, struct tx_item *it);

bool sendq_idle(const struct sendq *q);
void sendq_reset(struct sendq *q);
