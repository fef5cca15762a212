/* SPDX-License-Identifier: MIT */
/*
 * What every module of the session engine shares, and nothing more: the
 * configuration, the output queue, the buffer pool, the peer's hello, the
 * session's error text and counters.  session.c owns it and fills in the
 * two calls that run back up to it (report, io_wait), so no module calls
 * session.c, or a module that calls it.  See docs/ARCHITECTURE.md.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "session/outq.h"
#include "session/session.h"

/* Files up to this size are committed in batches (commit.h) and keep no
 * journal: resuming them costs more than sending them again. */
#define SMALL_FILE (1u << 20)
/* Long local work, or credit held back, still says something this often:
 * the peer must not take the silence for a dead session. */
#define KEEPALIVE_NS 1000000000ull

struct fio;

struct sctx {
        const struct session_config *cfg;
        int fd;                 /* the stream */
        struct outq out;        /* frames for the stream */
        struct fio *fio;        /* the buffer pool; NULL before the handshake */
        struct fy_hello peer;   /* what the peer said of itself (once synced) */
        uint64_t agreed;        /* the features both sides use: the SYNC_ACK's */
        struct session_totals totals;
        uint64_t wake_ns;       /* a module wants the loop to look again then (0: none) */
        uint64_t tmp_seq;       /* temporary names' suffixes (fs/tmpname.h) */
        uint32_t next_id;       /* the next transfer id this side hands out */
        char err[512];          /* the first failure of the session, for session_error() */
        /* Filled in by session.c: */
        /* A transfer has its verdict (count it, tell the agent). */
        void (*report)(struct sctx *c, const struct file_result *res);
        /* Block for one file completion and hand it to its module. */
        int (*io_wait)(struct sctx *c);
};

/* Whether a feature was agreed (PROTOCOL.md 8): the responder's answer,
 * not what the initiator offered. */
static inline bool sctx_peer_has(const struct sctx *c, uint64_t feature) {
        return (c->agreed & feature) != 0;
}

/* Record the session's failure (the first one wins) and return err, or
 * -EPROTO when err is not negative. */
int sctx_fail(struct sctx *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The loop should look again at t (ns, CLOCK_MONOTONIC) even without input. */
void sctx_wake_at(struct sctx *c, uint64_t t);
/* During long local work: a PAD frame when nothing went out for
 * KEEPALIVE_NS.  *last_ns: when the last one went. */
void sctx_keepalive(struct sctx *c, uint64_t *last_ns);
/* Queue a control frame; the caller checked for room (else -ENOBUFS). */
int sctx_send(struct sctx *c, const struct fy_msg *m);
/* The next temporary-name suffix of this session. */
uint32_t sctx_tmp_suffix(struct sctx *c);

/* The first credit a receiver grants: the window, or with a rate limit the
 * rate bucket's burst (the limit must hold from the first second on). */
uint64_t sctx_first_grant(const struct session_config *cfg);

/* Add an entry's verdict to its tree's: the tree fails with its first
 * failure, sizes and waits add up. */
void result_account(struct file_result *tree, const struct file_result *entry);
