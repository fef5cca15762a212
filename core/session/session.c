/* SPDX-License-Identifier: MIT */
/*
 * The session: the one place that composes the engine's modules.  It owns
 * them all, runs the loop (stream in, stream out, file completions,
 * timers), does the handshake, and hands each frame to the module it is
 * for.  The modules never call back up here except through the two calls
 * in struct sctx (report, io_wait) and the callbacks of input.h and outq.h.
 *
 *   input  -> frames -> dispatch -> rx (files in) -> commit, resume, place
 *                                -> entry (dirs, links in)
 *                                -> tx (files out) -> sendq -> tree
 *   tx, rx, getq, ... -> outq -> the stream
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fd.h"
#include "base/log.h"
#include "base/util.h"
#include "fs/fio.h"
#include "fs/stale.h"
#include "session/commit.h"
#include "session/compress.h"
#include "session/pack.h"
#include "session/ctx.h"
#include "session/entry.h"
#include "session/getq.h"
#include "session/input.h"
#include "session/place.h"
#include "session/resume.h"
#include "session/rx.h"
#include "session/sendq.h"
#include "session/tx.h"

#define SYNC_RESEND_MS 1000
#define BYE_WAIT_MS 2000

#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x00000080 /* Linux 6.14; older kernels refuse it */
#endif

struct session {
        struct session_config cfg;
        struct sctx c;           /* what the modules share */
        struct input in;
        struct getq gets;        /* initiator: pulls */
        struct sendq sq;         /* what is to be sent */
        struct tx tx;            /* files going out */
        struct rx rx;            /* files coming in */
        struct commits cm;       /* small files waiting for their batch */
        struct resume rs;        /* answers to RESUME_QUERY */
        struct place pl;         /* where received entries go */
        struct stale st;         /* directories swept of stale temporaries */
        struct compress z;       /* the chunks' compression stage, both ways */
        struct fy_hello mine;
        uint64_t offer;          /* the features we offer (mine.features: what was agreed) */
        uint64_t nonce;
        bool bye_sent, bye_received;
        bool heard_error;   /* the session ends on the peer's ERROR: not answered (9.6) */
        /* initiator, in the handshake: an ERROR came in answer to our SYNC.
         * ERROR has no nonce, so the first may be stale: SYNC once more, and
         * take the next one as the refusal (9.1 item 5).  On virtio-serial
         * (cfg.resync_padding) ERRORs of dead sessions, and the one our own
         * resync padding provokes, are expected: none is taken, but the
         * last one names the timeout. */
        unsigned refusals;
        bool sync_now;
        struct fy_error refusal;
        uint8_t *filler;         /* resync padding (serial), allocated on use */
        int uring_err;
        bool uring;              /* the pool uses io_uring (kept after the pool is gone) */
        unsigned pending;        /* initiator: queued work without a verdict */
        /* Liveness (CLOCK_MONOTONIC ns): when the session (or its latest
         * attempt at a handshake) began, when the peer was last heard (its
         * input moved, or we were not reading it), when our output last
         * moved or had nothing to move, when we last wrote anything. */
        uint64_t begun_ns, heard_ns, out_ok_ns, said_ns;
        /* cfg.movers: whether we count ourselves in it, the count our
         * budgets are divided by now (0: apply at the next look), and the
         * dirty budget we were given whole */
        bool moving;
        unsigned share_n;
        uint64_t dirty_full;
        uint64_t sampled_ns;     /* session_ops.sample was last called */
        /* initiator: STATS_REQs to send (at stats_at_ns), and answers due */
        unsigned stats_want, stats_asked;
        uint64_t stats_at_ns;
};

#define SESSION_OF(ctx) ((struct session *)((char *)(ctx) - offsetof(struct session, c)))

const char *session_error(const struct session *s) { return s->c.err[0] ? s->c.err : NULL; }
const struct fy_hello *session_peer(const struct session *s) { return &s->c.peer; }
const struct session_totals *session_totals(const struct session *s) { return &s->c.totals; }
bool session_direct_refused(const struct session *s) { return s->rx.direct_refused; }

bool session_dontcache_refused(const struct session *s) {
        return s->c.fio && fio_write_flags_refused(s->c.fio);
}

bool session_uses_uring(const struct session *s, int *ret_why) {
        if (ret_why)
                *ret_why = s->uring_err;
        return s->uring;
}

/* The agent's look at the counters and budgets (session_ops.sample). */
static void sample(struct session *s, uint64_t now) {
        if (!s->cfg.ops || !s->cfg.ops->sample || now - s->sampled_ns < SESSION_SAMPLE_NS)
                return;
        s->sampled_ns = now;
        struct session_gauges g;
        rx_sample(&s->rx, &g);
        s->cfg.ops->sample(s->cfg.userdata, &s->c.totals, &g);
}

/* ---- the modules' calls up (struct sctx) -------------------------------- */

static void on_report(struct sctx *c, const struct file_result *res) {
        struct session *s = SESSION_OF(c);
        if (res->sent)
                c->totals.files_sent += res->err == 0;
        else
                c->totals.files_received += res->err == 0;
        c->totals.files_failed += res->err != 0;
        if (s->cfg.initiator) {
                if (s->pending > 0 && !res->group)
                        s->pending--;
                if (!res->sent && !res->group)
                        getq_answered(&s->gets);
                place_tree_account(&s->pl, res); /* an entry of the tree being pulled */
        }
        if (s->cfg.ops && s->cfg.ops->file_done)
                s->cfg.ops->file_done(s->cfg.userdata, res);
}

static int fio_dispatch(struct session *s, const struct fio_cqe *cqe) {
        return cqe->is_write ? rx_on_write(&s->rx, &s->c, cqe) : tx_on_read(&s->tx, &s->c, cqe);
}

static int on_io_wait(struct sctx *c) {
        struct session *s = SESSION_OF(c);
        struct fio_cqe cqe;
        int r = fio_reap(c->fio, &cqe, true);
        if (r < 0)
                return sctx_fail(c, r, "file I/O: %s", strerror(-r));
        return fio_dispatch(s, &cqe);
}

static void on_written(void *ud, int buf) {
        struct session *s = ud;
        if (s->c.fio) /* (none once the session is reset: the pool went with it) */
                fio_buf_put(s->c.fio, (unsigned)buf);
}

static int reap_all(struct session *s) {
        int did = 0;
        if (!s->c.fio)
                return 0;
        for (;;) {
                struct fio_cqe cqe;
                int r = fio_reap(s->c.fio, &cqe, false);
                if (r < 0)
                        return sctx_fail(&s->c, r, "file I/O: %s", strerror(-r));
                if (r == 0)
                        return did;
                did = 1;
                if ((r = fio_dispatch(s, &cqe)) < 0)
                        return r;
        }
}

/* ---- handshake ---------------------------------------------------------- */

static void hello_init(struct session *s) {
        const struct session_ops *ops = s->cfg.ops;
        bool stats = ops && (s->cfg.initiator ? ops->stats_done != NULL : ops->stats != NULL);
        s->offer = FY_FEAT_KNOWN | (s->cfg.compress != COMPRESS_OFF ? FY_FEAT_ZSTD : 0) | (stats ? FY_FEAT_STATS : 0);
        s->mine = (struct fy_hello){
                .proto_min = FY_PROTO_MIN,
                .proto_max = FY_PROTO_VERSION,
                .features = s->offer,
                .max_frame = FY_MAX_PAYLOAD,
                .max_chunk = s->cfg.max_chunk,
                .recv_window = sctx_first_grant(&s->cfg),
        };
        snprintf(s->mine.agent, sizeof s->mine.agent, "%s", s->cfg.agent ? s->cfg.agent : "ferry");
}

/* Count ourselves among ferryd's sessions that move files, or not. */
static void set_moving(struct session *s, bool on) {
        if (!s->cfg.movers || s->moving == on)
                return;
        s->moving = on;
        if (on)
                atomic_fetch_add(s->cfg.movers, 1);
        else
                atomic_fetch_sub(s->cfg.movers, 1);
}

/* Drop everything in flight: queued output, the pool (after the kernel is
 * done with it; or lent on, cfg.pool), files half sent or half received.
 * keep_input: the input buffer holds the next session's frames (a SYNC
 * ended the old one). */
static void session_reset(struct session *s, bool keep_input) {
        set_moving(s, false);
        outq_drop(&s->c.out, false);
        s->c.out.checked = false;
        if (s->c.fio && s->cfg.pool && !*s->cfg.pool && fio_recycle(s->c.fio) == 0) {
                *s->cfg.pool = s->c.fio; /* the next session's */
                s->c.fio = NULL;
        }
        s->c.fio = fio_free(s->c.fio);
        s->c.wake_ns = 0;
        rx_reset(&s->rx);
        tx_reset(&s->tx);
        place_close(&s->pl);
        s->bye_sent = s->bye_received = false;
        s->heard_error = false;
        input_reset(&s->in, keep_input);
        s->begun_ns = s->heard_ns = s->out_ok_ns = now_ns();
}

/* ferryd with several sessions: this one's share of the budgets
 * (session_config.movers), applied when the count changes and after each
 * handshake, which starts the pacer and the rate bucket afresh. */
static void apply_share(struct session *s) {
        unsigned n = s->cfg.movers ? atomic_load(s->cfg.movers) : 1;
        n = MAX(n, 1u);
        if (n == s->share_n)
                return;
        s->share_n = n;
        if (s->dirty_full) {
                uint64_t floor = 4 * (uint64_t)s->cfg.max_chunk;
                s->cfg.dirty_limit = MIN(s->dirty_full, MAX(s->dirty_full / n, floor));
                commits_set_budget(&s->cm, s->cfg.dirty_limit, s->cfg.recv_window);
        }
        if (s->in.synced && s->rx.pacer_on) {
                uint64_t now = now_ns();
                pacer_share(&s->rx.pacer, s->cfg.max_rate, n, now);
                bucket_set_rate(&s->tx.rate, s->cfg.max_rate / n, now);
        }
}

/* Both sides, once the peer's hello is known: the pool and the credit. */
static int session_start(struct session *s, const struct fy_hello *peer) {
        struct sctx *c = &s->c;
        c->peer = *peer;
        /* The chunks we send: at most what the peer takes in one chunk and in
         * one frame, and never over FY_MAX_CHUNK whatever it announced
         * (PROTOCOL.md 9.2). */
        c->peer.max_chunk = MIN(MIN(peer->max_chunk, (uint32_t)FY_MAX_CHUNK), peer->max_frame - FY_DATA_HEAD_SIZE);
        /* The initiator reads what was agreed off the SYNC_ACK; the
         * responder chose it (on_sync). */
        c->agreed = s->cfg.initiator ? peer->features : s->mine.features;
        c->out.checked = c->agreed & FY_FEAT_CHECKED; /* from the SYNC_ACK on (9.14) */
        s->in.synced = true;
        tx_start(&s->tx, c);
        rx_start(&s->rx, c, s->mine.recv_window);
        s->share_n = 0;
        apply_share(s);
        if (c->fio)
                return 0;
        size_t bufsize = MAX(s->cfg.max_chunk, MIN(s->cfg.chunk_size, peer->max_chunk));
        struct fio *spare = s->cfg.pool ? *s->cfg.pool : NULL;
        if (spare && fio_nbufs(spare) == s->cfg.depth && fio_bufsize(spare) >= bufsize &&
            (s->cfg.force_psync ? !fio_is_uring(spare) : fio_is_uring(spare) || fio_uring_err(spare))) {
                c->fio = spare; /* (io_uring as asked, or as refused before) */
                *s->cfg.pool = NULL;
                s->uring_err = fio_uring_err(spare);
        } else {
                int r = fio_new(s->cfg.depth, bufsize, s->cfg.force_psync, &c->fio, &s->uring_err);
                if (r < 0)
                        return sctx_fail(c, r, "file buffers: %s", strerror(-r));
        }
        s->uring = fio_is_uring(c->fio);
        if (s->cfg.write_mode == WRITE_AUTO)
                fio_set_write_flags(c->fio, RWF_DONTCACHE);
        else if (s->cfg.write_mode == WRITE_DIRECT)
                fio_set_uring_writes(c->fio, true); /* depth pays for O_DIRECT */
        return 0;
}

static int send_ctrl(struct session *s, const struct fy_msg *m) {
        int r = sctx_send(&s->c, m);
        return r < 0 ? sctx_fail(&s->c, r, "%s: %s", fy_type_name(m->type), strerror(-r)) : 0;
}

/* Responder: a SYNC from a new initiator. */
static int on_sync(struct session *s, const struct fy_hello *h) {
        if (s->in.synced && h->nonce == s->nonce) {
                /* The initiator re-sent its SYNC before our answer arrived:
                 * answer again, but keep the session. */
        } else {
                if (s->in.synced) /* a new host took over: drop the old session */
                        session_reset(s, true);
                unsigned v = MIN(h->proto_max, FY_PROTO_VERSION);
                if (v < MAX(h->proto_min, FY_PROTO_MIN)) {
                        struct fy_msg e = { .type = FY_ERROR, .error = { .code = FY_EPROTO } };
                        snprintf(e.error.text, sizeof e.error.text,
                                 "no common protocol version: peer speaks %u-%u, we speak %u-%u",
                                 h->proto_min, h->proto_max, FY_PROTO_MIN, FY_PROTO_VERSION);
                        return send_ctrl(s, &e);
                }
                s->nonce = h->nonce;
                s->mine.proto_min = s->mine.proto_max = (uint16_t)v;
                s->mine.features = h->features & s->offer;
                int r = session_start(s, h);
                if (r < 0)
                        return r;
        }
        struct fy_msg ack = { .type = FY_SYNC_ACK, .hello = s->mine };
        ack.hello.nonce = s->nonce;
        return send_ctrl(s, &ack);
}

/* A session we end because of the peer: say why before going, if the
 * stream still takes it (best effort, no waiting). */
static void tell_peer(struct session *s, int err) {
        if (!s->in.synced || s->in.eof || err == -ECONNRESET || !s->c.err[0] || s->heard_error)
                return;
        struct fy_msg m = { .type = FY_ERROR, .error = { .code = fy_code_from_errno(err) } };
        snprintf(m.error.text, sizeof m.error.text, "%s", s->c.err);
        /* Whatever was queued is moot now, but a frame half written must be
         * finished or the ERROR would land inside it. */
        outq_drop(&s->c.out, true);
        if (outq_ctrl(&s->c.out, &m) == 0)
                (void)outq_flush(&s->c.out, s->c.fd);
}

/* The hello that starts the session (input.h). */
static int on_hello(void *ud, const struct fy_msg *m) {
        struct session *s = ud;
        if (!s->cfg.initiator)
                return on_sync(s, &m->hello);
        if (m->type == FY_ERROR) {
                s->refusal = m->error;
                if (s->cfg.resync_padding) /* SYNC again in its time: each would be answered */
                        return 0;
                if (s->refusals++ == 0) {
                        s->sync_now = true;
                        return 0;
                }
                s->heard_error = true;
                int err = m->error.code == FY_OK ? -EPROTO : -fy_code_to_errno(m->error.code);
                return sctx_fail(&s->c, err, "guest refused the session: %s", m->error.text);
        }
        /* Initiator: the responder answered our nonce, with the one version
         * it chose (proto_min = proto_max, 9.1 item 4). */
        if (m->hello.proto_max < FY_PROTO_MIN || m->hello.proto_max > FY_PROTO_VERSION ||
            m->hello.proto_min != m->hello.proto_max) {
                int r = sctx_fail(&s->c, -EPROTONOSUPPORT, "peer chose protocol version %u-%u, not one version of ours",
                                  m->hello.proto_min, m->hello.proto_max);
                struct fy_msg e = { .type = FY_ERROR, .error = { .code = FY_EPROTO } };
                snprintf(e.error.text, sizeof e.error.text, "%s", s->c.err);
                if (outq_ctrl(&s->c.out, &e) == 0) /* best effort, as tell_peer */
                        (void)outq_flush(&s->c.out, s->c.fd);
                return r;
        }
        int r = session_start(s, &m->hello);
        if (r == 0 && (m->hello.features & ~s->mine.features)) {
                r = sctx_fail(&s->c, -EPROTO, "peer accepted features we did not offer (%#llx)",
                              (unsigned long long)m->hello.features);
                tell_peer(s, r);
        }
        return r;
}

/* ---- frames in ---------------------------------------------------------- */

static void set_bye_sent(struct session *s) {
        s->bye_sent = true;
        s->rx.closed = true; /* after BYE nothing more goes out in this session */
}

/* Entries never interleave with a file. */
static int entry_allowed(struct session *s, const char *what) {
        if (rx_receiving(&s->rx))
                return sctx_fail(&s->c, -EPROTO, "protocol error: %s while a file is open", what);
        return 0;
}

/* Responder, --read-only or --write-only: what the host may not do is
 * answered here as that transfer's failure, before any module touches the
 * root.  (A FILE_BEGIN is refused by rx, which then drops its data.)  A
 * read-only root answers every RESUME_QUERY "send" without looking (the
 * file will be refused; a query would sweep the directory); a write-only
 * one tells no content digest (--checksum) of what it holds.  1: answered. */
static int access_refuse(struct session *s, const struct fy_msg *m) {
        enum session_access a = s->cfg.initiator ? ACCESS_READ_WRITE : s->cfg.access;
        struct fy_msg r = { 0 };
        const char *why = a == ACCESS_READ_ONLY ? "ferryd serves its root read-only (--read-only)"
                                                : "ferryd takes files but gives none (--write-only)";
        if (a == ACCESS_READ_WRITE)
                return 0;
        if (m->type == FY_RESUME_QUERY && (a == ACCESS_READ_ONLY || (m->query.how & FY_RQ_CHECKSUM)))
                r = (struct fy_msg){ .type = FY_RESUME_STATE,
                                     .state = { .xfer_id = m->query.file.xfer_id, .verdict = FY_RS_SEND } };
        else if (a == ACCESS_READ_ONLY && (m->type == FY_MKDIR || m->type == FY_SYMLINK)) {
                bool dir = m->type == FY_MKDIR;
                r = (struct fy_msg){ .type = FY_FILE_STATUS,
                                     .status = { .xfer_id = dir ? m->mkdir.xfer_id : m->symlink.xfer_id,
                                                 .code = fy_code_from_errno(EROFS) } };
                snprintf(r.status.text, sizeof r.status.text, "'%.900s': %s", dir ? m->mkdir.dest : m->symlink.dest, why);
        } else if (a == ACCESS_WRITE_ONLY && m->type == FY_GET) {
                r = (struct fy_msg){ .type = FY_FILE_ABORT,
                                     .abort = { .xfer_id = m->get.xfer_id, .code = fy_code_from_errno(EACCES) } };
                snprintf(r.abort.text, sizeof r.abort.text, "'%.900s': %s", m->get.path, why);
        } else
                return 0;
        int e = sctx_send(&s->c, &r);
        return e < 0 ? sctx_fail(&s->c, e, "%s: %s", fy_type_name(r.type), strerror(-e)) : 1;
}

/* Stats (PROTOCOL.md 9.12): the responder answers each STATS_REQ with the
 * agent's figures; the initiator hands each STATS to its agent. */
static int on_stats(struct session *s, const struct fy_msg *m) {
        struct sctx *c = &s->c;
        bool req = m->type == FY_STATS_REQ;
        if (!sctx_peer_has(c, FY_FEAT_STATS) || req == s->cfg.initiator || (!req && !s->stats_asked))
                return sctx_fail(c, -EPROTO, "protocol error: unexpected %s", fy_type_name(m->type));
        if (req) {
                struct fy_msg a = { .type = FY_STATS };
                s->cfg.ops->stats(s->cfg.userdata, &a.stats);
                return send_ctrl(s, &a);
        }
        s->stats_asked--;
        s->pending--;
        s->cfg.ops->stats_done(s->cfg.userdata, &m->stats);
        return 0;
}

/* Initiator: the STATS_REQs that are due. */
static int stats_send(struct session *s, uint64_t now) {
        if (!s->stats_want || !s->in.synced)
                return 0;
        if (!sctx_peer_has(&s->c, FY_FEAT_STATS))
                return sctx_fail(&s->c, -EOPNOTSUPP, "the guest (%s) does not offer stats (feature bit 6)",
                                 s->c.peer.agent[0] ? s->c.peer.agent : "no agent string");
        if (now < s->stats_at_ns) {
                sctx_wake_at(&s->c, s->stats_at_ns);
                return 0;
        }
        if (!outq_room(&s->c.out, 1))
                return 0; /* the next turn */
        struct fy_msg m = { .type = FY_STATS_REQ };
        int r = send_ctrl(s, &m);
        if (r < 0)
                return r;
        s->stats_want--;
        s->stats_asked++;
        return 1;
}

/* What a frame needs agreed (PROTOCOL.md 8): a frame type, or a flag that
 * changes what the frame's bytes mean, of a feature that was not agreed is
 * a protocol error, whatever the frame then says.  (GET flags are requests:
 * sendq serves them as if absent.  Bench mode checks itself.) */
static int feature_gate(struct sctx *c, const struct fy_msg *m) {
        uint64_t need = 0;
        switch (m->type) {
        case FY_MKDIR:
                need = m->mkdir.flags == FY_MK_SCRATCH ? 0 : FY_FEAT_TREE;
                break;
        case FY_SYMLINK:
                need = FY_FEAT_TREE;
                break;
        case FY_HOLE:
                need = FY_FEAT_SPARSE;
                break;
        case FY_RESUME_QUERY:
        case FY_RESUME_STATE:
                need = FY_FEAT_RESUME;
                break;
        case FY_CHUNK_NACK:
                need = FY_FEAT_RESEND;
                break;
        case FY_FILE_BEGIN:
                need = (m->begin.flags & FY_FB_RESUME ? FY_FEAT_RESUME : 0) |
                       (m->begin.flags & FY_FB_SPARSE ? FY_FEAT_SPARSE : 0) |
                       (m->begin.flags & FY_ENTRY_REL ? FY_FEAT_TREE : 0) |
                       (m->begin.flags & FY_FB_DELTA ? FY_FEAT_DELTA | FY_FEAT_RESEND : 0);
                break;
        }
        uint64_t missing = need & ~c->agreed;
        if (!missing)
                return 0;
        return sctx_fail(c, -EPROTO, "protocol error: %s needs feature bit %d, which was not agreed", fy_type_name(m->type),
                         __builtin_ctzll(missing));
}

/* Responder: the host numbers what it starts 1 .. 2^31-1 (PROTOCOL.md 9);
 * bit 31 is the responder's, for the entries of a tree it sends. */
static int initiator_id(struct sctx *c, const struct fy_msg *m) {
        uint32_t id;
        switch (m->type) {
        case FY_FILE_BEGIN: id = m->begin.xfer_id; break;
        case FY_RESUME_QUERY: id = m->query.file.xfer_id; break;
        case FY_GET: id = m->get.xfer_id; break;
        case FY_MKDIR: id = m->mkdir.xfer_id; break;
        case FY_SYMLINK: id = m->symlink.xfer_id; break;
        default: return 0;
        }
        if (id != 0 && !(id & FY_RESPONDER_ID))
                return 0;
        return sctx_fail(c, -EPROTO, "protocol error: %s with transfer id %#x: the host's ids are 1 .. 0x7fffffff",
                         fy_type_name(m->type), id);
}

static int on_frame(void *ud, const struct fy_msg *m) {
        struct session *s = ud;
        struct sctx *c = &s->c;
        int r;
        if ((r = feature_gate(c, m)) < 0 || (!s->cfg.initiator && (r = initiator_id(c, m)) < 0))
                return r;
        if ((r = access_refuse(s, m)) != 0)
                return r < 0 ? r : 0;
        /* Initiator: the answer to a GET begins with its FILE_BEGIN, MKDIR
         * (a tree), SYMLINK or FILE_ABORT (PROTOCOL.md A.4). */
        bool asked = false;
        if (s->cfg.initiator) {
                uint32_t id = m->type == FY_FILE_BEGIN ? m->begin.xfer_id
                              : m->type == FY_MKDIR     ? m->mkdir.xfer_id
                              : m->type == FY_SYMLINK   ? m->symlink.xfer_id
                              : m->type == FY_FILE_ABORT ? m->abort.xfer_id
                                                         : 0;
                asked = getq_begun(&s->gets, id);
        }
        switch (m->type) {
        case FY_SYNC:
                if (s->cfg.initiator)
                        return 0; /* an echo of ours from a confused stream */
                return on_sync(s, &m->hello);
        case FY_SYNC_ACK: /* a repeated answer to a repeated SYNC */
        case FY_PAD:
                return 0;
        case FY_ERROR:
                s->heard_error = true;
                return sctx_fail(c, -fy_code_to_errno(m->error.code), "%s: %s", s->cfg.initiator ? "guest" : "host",
                                 m->error.text);
        case FY_BYE:
                if (commits_pending(&s->cm) && (r = commits_flush(&s->cm, c)) <= 0)
                        return r < 0 ? r : sctx_fail(c, -ENOBUFS, "could not commit before BYE");
                s->bye_received = true;
                if (!s->cfg.initiator && !s->bye_sent) {
                        place_scratch_remove(&s->pl); /* gone before the host hears BYE */
                        struct fy_msg bye = { .type = FY_BYE };
                        set_bye_sent(s);
                        return send_ctrl(s, &bye);
                }
                return 0;
        case FY_CREDIT:
                return tx_on_credit(&s->tx, c, &m->credit);
        case FY_FILE_BEGIN:
                set_moving(s, true);
                return rx_on_begin(&s->rx, c, &m->begin);
        case FY_FILE_END:
                return rx_on_end(&s->rx, c, &m->end);
        case FY_FILE_ABORT:
                return rx_on_abort(&s->rx, c, &m->abort, asked);
        case FY_HOLE:
                return rx_on_hole(&s->rx, c, &m->hole);
        case FY_MKDIR:
                if ((r = entry_allowed(s, "MKDIR")) < 0)
                        return r;
                return entry_on_mkdir(c, &s->pl, &s->cm, &m->mkdir);
        case FY_SYMLINK:
                if ((r = entry_allowed(s, "SYMLINK")) < 0)
                        return r;
                return entry_on_symlink(c, &s->pl, &m->symlink);
        case FY_FILE_STATUS:
                return tx_on_status(&s->tx, c, &m->status);
        case FY_CHUNK_NACK:
                return tx_on_nack(&s->tx, c, &m->nack);
        case FY_RESUME_QUERY:
                return resume_on_query(&s->rs, c, &s->pl, &s->st, &m->query);
        case FY_RESUME_STATE:
                return sendq_on_state(&s->sq, c, &m->state);
        case FY_GET:
                if (s->cfg.initiator)
                        return sctx_fail(c, -EPROTO, "protocol error: the guest sent GET");
                set_moving(s, true);
                return sendq_on_get(&s->sq, c, &m->get);
        case FY_STATS_REQ:
        case FY_STATS:
                return on_stats(s, m);
        }
        return sctx_fail(c, -EPROTO, "protocol error: unexpected %s", fy_type_name(m->type));
}

static bool on_ready(void *ud, uint8_t type) {
        struct session *s = ud;
        if (!s->in.synced)
                return outq_room(&s->c.out, 1);
        if (type == FY_DATA)
                return outq_room(&s->c.out, 2) && fio_free_bufs(s->c.fio) > 0;
        /* A frame may cause a credit and a status; a FILE_END may commit a
         * whole batch of small files, each with its status. */
        bool commits = type == FY_FILE_END || type == FY_MKDIR || type == FY_BYE;
        return outq_room(&s->c.out, commits ? COMMIT_MAX + 3 : 3);
}

static int on_data_head(void *ud, const struct fy_data *d, uint8_t **ret_dst, int *ret_buf) {
        struct session *s = ud;
        bool want;
        int r = rx_on_data_head(&s->rx, &s->c, d, &want);
        if (r < 0 || !want)
                return r;
        unsigned buf;
        if ((r = fio_buf_get(s->c.fio, &buf)) < 0) /* (on_ready saw a free one) */
                return sctx_fail(&s->c, r, "no file buffer");
        *ret_dst = fio_buf(s->c.fio, buf);
        *ret_buf = (int)buf;
        return 0;
}

static int on_data(void *ud, const struct fy_data *d, int buf) {
        struct session *s = ud;
        return rx_on_data(&s->rx, &s->c, d, buf);
}

static void on_discarded(void *ud, uint32_t len) {
        struct session *s = ud;
        rx_on_discarded(&s->rx, len);
}

static const struct input_ops input_ops = {
        .hello = on_hello,
        .ready = on_ready,
        .frame = on_frame,
        .data_head = on_data_head,
        .data = on_data,
        .discarded = on_discarded,
};

/* ---- the loop ----------------------------------------------------------- */

/* A received file we failed (dead) is finished for us: its sender stops
 * without FILE_END, and stray DATA still in flight is dropped on arrival. */
static bool rx_busy(const struct session *s) {
        return rx_receiving(&s->rx) || rx_repairing(&s->rx) || commits_pending(&s->cm);
}

static bool initiator_done(const struct session *s) {
        return s->pending == 0 && tx_idle(&s->tx) && !rx_busy(s);
}

static int flush_output(struct session *s) {
        int r = outq_flush(&s->c.out, s->c.fd);
        if (r > 0 || (r == 0 && s->c.out.len == 0)) {
                uint64_t now = now_ns();
                s->out_ok_ns = now;
                if (r > 0)
                        s->said_ns = now;
        }
        if (r == -ECONNRESET)
                return sctx_fail(&s->c, r, "connection lost while sending");
        if (r < 0)
                return sctx_fail(&s->c, r, "write to the stream: %s", strerror(-r));
        return r;
}

/* One pass over everything that can move.  >0 if anything did. */
static int step(struct session *s, bool *ret_in_blocked) {
        int did = 0, r;
        s->c.wake_ns = 0; /* whoever still needs a timer sets it again below */
        if ((r = reap_all(s)) < 0)
                return r;
        did |= r;
        if (s->in.synced) {
                if ((r = getq_pump(&s->gets, &s->c)) < 0)
                        return r;
                did |= r;
                if (s->cfg.initiator && (r = stats_send(s, now_ns())) < 0)
                        return r;
                did |= r;
                if ((r = tx_pump(&s->tx, &s->c)) < 0)
                        return r;
                did |= r;
        }
        if ((r = input_pump(&s->in, ret_in_blocked)) < 0)
                return r;
        if (r > 0 || *ret_in_blocked) /* (not reading: we cannot hear it) */
                s->heard_ns = now_ns();
        did |= r;
        if (s->in.synced) {
                if ((r = rx_flush_credit(&s->rx, &s->c)) < 0)
                        return r;
                did |= r;
                if ((r = tx_pump(&s->tx, &s->c)) < 0)
                        return r;
                did |= r;
        }
        if (s->c.fio && (r = fio_submit(s->c.fio)) < 0)
                return sctx_fail(&s->c, r, "file I/O: %s", strerror(-r));
        if ((r = flush_output(s)) < 0)
                return r;
        return did | r;
}

/* Sleep until the stream or the file side can move, or timeout_ms. */
static int wait_events(struct session *s, bool in_blocked, int timeout_ms) {
        struct pollfd p[3];
        int n = 0;
        p[n++] = (struct pollfd){ .fd = s->c.fd,
                                  .events = (short)((in_blocked ? 0 : POLLIN) | (s->c.out.len ? POLLOUT : 0)) };
        struct pollfd *stop = NULL;
        if (s->cfg.stop_fd >= 0) {
                stop = &p[n];
                p[n++] = (struct pollfd){ .fd = s->cfg.stop_fd, .events = POLLIN };
        }
        if (s->c.fio && fio_inflight(s->c.fio) && fio_pollfd(s->c.fio) >= 0)
                p[n++] = (struct pollfd){ .fd = fio_pollfd(s->c.fio), .events = POLLIN };
        int r = poll(p, (nfds_t)n, timeout_ms);
        if (r < 0 && errno != EINTR)
                return -errno;
        if (stop && stop->revents)
                return sctx_fail(&s->c, -ECANCELED, "stopped by a signal");
        return r;
}

static int send_sync(struct session *s) {
        struct fy_msg m = { .type = FY_SYNC, .hello = s->mine };
        m.hello.nonce = s->nonce;
        if (!outq_room(&s->c.out, 1))
                return 0;
        return sctx_send(&s->c, &m);
}

int session_handshake(struct session *s) {
        uint64_t start = now_ns(), last_sync = 0;
        struct sctx *c = &s->c;
        while (!s->in.synced) {
                uint64_t now = now_ns();
                if (s->cfg.timeout_ms >= 0 && now - start > (uint64_t)s->cfg.timeout_ms * 1000000ull) {
                        if (s->refusal.text[0])
                                return sctx_fail(c, -ETIMEDOUT, "no SYNC_ACK from ferryd within %d s; it said: %s",
                                                 s->cfg.timeout_ms / 1000, s->refusal.text);
                        return sctx_fail(c, -ETIMEDOUT, "no answer from ferryd within %d s", s->cfg.timeout_ms / 1000);
                }
                if (now - last_sync >= SYNC_RESEND_MS * 1000000ull || s->sync_now) {
                        s->sync_now = false;
                        if (last_sync && s->cfg.resync_padding && !s->filler) {
                                /* PAD frames: ignored by a responder in our
                                 * session, they complete a frame a stuck one
                                 * still waits for (see session.h). */
                                size_t n = FY_HDR_SIZE + FY_MAX_PAYLOAD + FY_MAX_CTRL_FRAME;
                                s->filler = malloc(n);
                                if (s->filler && outq_bytes(&c->out, s->filler, (uint32_t)fy_pad_encode(s->filler, n)) < 0)
                                        return sctx_fail(c, -ENOBUFS, "SYNC: output queue full");
                        }
                        int r = send_sync(s);
                        if (r < 0)
                                return sctx_fail(c, r, "SYNC: %s", strerror(-r));
                        last_sync = now;
                }
                bool blocked;
                int r = step(s, &blocked);
                if (r < 0)
                        return r;
                if (s->in.eof)
                        return sctx_fail(c, -ECONNRESET, "the connection closed during the handshake");
                if (r == 0 && !s->in.synced && (r = wait_events(s, blocked, 100)) < 0)
                        return sctx_fail(c, r, "poll: %s", strerror(-r));
        }
        return 0;
}

/* Initiator: while we wait (for credit, a verdict, our own disk or rate)
 * the responder must still hear from us, or it takes us for a stalled host
 * and drops us (its timeout): a PAD when nothing went out for
 * KEEPALIVE_NS.  Written here, not in step(), so that our own keepalives
 * do not count as the progress our own idle timeout looks for. */
static void initiator_keepalive(struct session *s, uint64_t now) {
        if (!s->cfg.initiator || !s->in.synced || s->bye_sent || s->c.out.len || now - s->said_ns < KEEPALIVE_NS)
                return;
        struct fy_msg pad = { .type = FY_PAD };
        if (outq_ctrl(&s->c.out, &pad) == 0 && outq_flush(&s->c.out, s->c.fd) > 0)
                s->said_ns = now;
}

/* Responder: a peer that has not completed the handshake, has sent
 * nothing, or has read nothing of ours for timeout_ms is dropped, so a
 * stalled, stopped or hostile host cannot hold ferryd (sshd's
 * LoginGraceTime and ClientAlive, in one).  An idle but live host says PAD
 * every second (initiator_keepalive); a pause of ours (credit held back)
 * does not count, as the host keeps talking through it.  *wait_ms is
 * lowered to the next deadline. */
static int responder_check(struct session *s, uint64_t now, int *wait_ms) {
        if (s->cfg.initiator || s->cfg.timeout_ms < 0 || (!s->in.synced && s->cfg.connectionless))
                return 0;
        uint64_t t = (uint64_t)s->cfg.timeout_ms * 1000000ull, due = UINT64_MAX;
        int secs = (s->cfg.timeout_ms + 999) / 1000;
        if (!s->in.synced) {
                if (now >= s->begun_ns + t)
                        return sctx_fail(&s->c, -ETIMEDOUT, "no handshake from the host within %d s", secs);
                due = s->begun_ns + t;
        } else {
                if (now >= s->heard_ns + t)
                        return sctx_fail(&s->c, -ETIMEDOUT, "the host sent nothing for %d s", secs);
                due = s->heard_ns + t;
                if (s->c.out.len) {
                        if (now >= s->out_ok_ns + t)
                                return sctx_fail(&s->c, -ETIMEDOUT, "the host read nothing for %d s", secs);
                        due = MIN(due, s->out_ok_ns + t);
                }
        }
        *wait_ms = (int)MIN((uint64_t)*wait_ms, (due - now) / 1000000ull + 1);
        return 0;
}

int session_run(struct session *s) {
        struct sctx *c = &s->c;
        uint64_t idle_since = now_ns(), bye_at = 0;
        s->begun_ns = s->heard_ns = s->out_ok_ns = idle_since;
        for (;;) {
                apply_share(s);
                uint64_t now = now_ns();
                initiator_keepalive(s, now);
                sample(s, now);
                if (s->cfg.initiator && s->in.synced && !s->bye_sent && initiator_done(s) && outq_room(&c->out, 1)) {
                        struct fy_msg bye = { .type = FY_BYE };
                        int r = send_ctrl(s, &bye);
                        if (r < 0)
                                return r;
                        set_bye_sent(s);
                        bye_at = now_ns();
                }
                bool blocked = false;
                int r = step(s, &blocked);
                if (r < 0 && s->in.framing_error && !s->cfg.initiator && s->cfg.connectionless) {
                        /* Lost frame boundaries (leftovers of a dead session on
                         * a port with no connections): say so, then look for
                         * the next SYNC in what follows, keeping the input. */
                        log_info("resynchronising: %s", c->err);
                        tell_peer(s, r);
                        session_reset(s, true);
                        c->err[0] = 0;
                        continue;
                }
                if (r < 0 && s->cfg.initiator && s->bye_sent && initiator_done(s)) {
                        /* The peer closed right after our BYE, while stray data
                         * of a file we had already failed was still arriving:
                         * every verdict is in, so the session did its work. */
                        session_reset(s, false);
                        return 0;
                }
                if (r < 0) {
                        tell_peer(s, r);
                        session_reset(s, false);
                        return r;
                }
                if (s->bye_sent && s->bye_received && c->out.len == 0)
                        return 0;
                if (s->cfg.initiator && s->bye_sent && (s->in.eof || now_ns() - bye_at > BYE_WAIT_MS * 1000000ull))
                        return 0; /* all work is done; a missing BYE is not an error */
                int wait = 1000, gone = responder_check(s, now_ns(), &wait);
                if (gone < 0) {
                        tell_peer(s, gone);
                        c->totals.files_failed += rx_busy(s) + tx_sending(&s->tx);
                        session_reset(s, false);
                        return gone;
                }
                if (s->in.eof) {
                        bool busy = rx_busy(s) || !tx_idle(&s->tx) || (s->cfg.initiator && s->pending);
                        c->totals.files_failed += rx_busy(s) + tx_sending(&s->tx);
                        session_reset(s, false);
                        if (!busy && !s->cfg.initiator)
                                return 0;
                        return sctx_fail(c, -ECONNRESET, "the connection closed%s",
                                         busy ? " in the middle of a transfer" : "");
                }
                if (r > 0) {
                        idle_since = now_ns();
                        continue;
                }
                /* The input went quiet: commit the small files waiting for a
                 * batch rather than let their sender wait for verdicts. */
                if (commits_pending(&s->cm) && (r = commits_flush(&s->cm, c)) != 0) {
                        if (r < 0)
                                return r;
                        continue;
                }
                if (c->wake_ns) { /* a budget wants to grant or send later */
                        uint64_t now = now_ns();
                        wait = c->wake_ns <= now ? 0 : (int)MIN((uint64_t)wait, (c->wake_ns - now) / 1000000ull + 1);
                }
                if (s->cfg.initiator && s->cfg.timeout_ms >= 0) {
                        uint64_t idle_ms = (now_ns() - idle_since) / 1000000ull;
                        if (idle_ms >= (uint64_t)s->cfg.timeout_ms)
                                return sctx_fail(c, -ETIMEDOUT, "the peer went silent for %d s", s->cfg.timeout_ms / 1000);
                        wait = (int)MIN((uint64_t)wait, (uint64_t)s->cfg.timeout_ms - idle_ms);
                }
                if (s->cfg.initiator && s->in.synced && !s->bye_sent) /* the next keepalive */
                        wait = (int)MIN((uint64_t)wait, (s->said_ns + KEEPALIVE_NS - MIN(s->said_ns + KEEPALIVE_NS, now_ns())) / 1000000ull + 1);
                if ((r = wait_events(s, blocked, wait)) < 0) {
                        r = sctx_fail(c, r, "poll: %s", strerror(-r));
                        tell_peer(s, r);
                        session_reset(s, false);
                        return r;
                }
        }
}

/* ---- work for the initiator --------------------------------------------- */

int session_push(struct session *s, const char *local, const char *dest, const char *name, uint32_t flags,
                 uint32_t *ret_id) {
        int r = sendq_push(&s->sq, &s->c, local, dest, name, flags, ret_id);
        s->pending += r == 0;
        return r;
}

int session_push_tree(struct session *s, const char *src, const char *dest, bool make_parent, uint32_t *ret_id) {
        int r = sendq_push_tree(&s->sq, &s->c, src, dest, make_parent, ret_id);
        s->pending += r == 0;
        return r;
}

int session_pull(struct session *s, const char *remote, uint32_t *ret_id) {
        int r = getq_add(&s->gets, &s->c, remote, ret_id);
        s->pending += r == 0;
        return r;
}

int session_bench_push(struct session *s, uint64_t size, uint32_t pattern, uint32_t *ret_id) {
        int r = sendq_push_bench(&s->sq, &s->c, size, pattern, ret_id);
        s->pending += r == 0;
        return r;
}

int session_bench_pull(struct session *s, uint64_t size, uint32_t pattern, uint32_t *ret_id) {
        /* Its answer is expected under the id the GET is about to get (a
         * slot left by a GET that then failed to queue is harmless). */
        int r = rx_expect_bench(&s->rx, s->c.next_id);
        if (r == 0)
                r = getq_add_bench(&s->gets, &s->c, size, pattern, ret_id);
        s->pending += r == 0;
        return r;
}

int session_stats(struct session *s, uint64_t at_ns) {
        if (!s->cfg.initiator || !s->cfg.ops || !s->cfg.ops->stats_done)
                return -EINVAL;
        if (s->in.synced && !sctx_peer_has(&s->c, FY_FEAT_STATS))
                return -EOPNOTSUPP;
        if (!s->stats_want || at_ns < s->stats_at_ns)
                s->stats_at_ns = at_ns;
        s->stats_want++;
        s->pending++;
        return 0;
}

int session_scratch(struct session *s, const char *dir, uint32_t *ret_id) {
        int r = sendq_push_scratch(&s->sq, &s->c, dir, ret_id);
        s->pending += r == 0;
        return r;
}

/* ---- setup -------------------------------------------------------------- */

static uint64_t random_u64(void) {
        uint64_t v;
        /* GRND_NONBLOCK: a fresh guest without RDRAND or virtio-rng may not
         * have entropy yet; a nonce needs to be unlikely to repeat, not secret. */
        if (getrandom(&v, sizeof v, GRND_NONBLOCK) != sizeof v)
                v = now_ns() ^ ((uint64_t)getpid() << 32);
        return v;
}

/* A virtio-serial port is a character device whose driver has plain read()
 * and write() only: a read() hands over one of the buffers the guest queued
 * for the host (a page each), a write() takes at most 32 KiB.  For such a
 * driver readv()/writev() call it once per iovec inside one system call,
 * going on while each piece is filled whole, so iovecs of those sizes move
 * up to 1 MiB (reads) or 8 MiB (writes) per system call instead of one
 * piece.  Measured in the TCG guest (bench/vm/raw-and-qga.sh): 256 reads
 * and 32 writes per MiB before.  Other streams take one iovec as it is. */
static void stream_pieces(struct session *s, int fd) {
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode))
                return;
        long page = sysconf(_SC_PAGESIZE);
        s->in.read_piece = page > 0 ? (uint32_t)page : 4096;
        s->c.out.write_piece = 32u << 10;
}

int session_new(const struct session_config *cfg, int fd, struct session **ret) {
        if (cfg->depth < 2 || cfg->depth > SESSION_MAX_DEPTH || cfg->max_chunk < FY_MIN_CHUNK ||
            cfg->max_chunk > FY_MAX_CHUNK || cfg->chunk_size < FY_MIN_CHUNK || cfg->chunk_size > FY_MAX_CHUNK ||
            cfg->recv_window < cfg->max_chunk || !cfg->root)
                return -EINVAL;
        struct session *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->cfg = *cfg;
        s->dirty_full = cfg->dirty_limit;
        s->c = (struct sctx){
                .cfg = &s->cfg,
                .fd = fd,
                .next_id = cfg->initiator ? 1 : FY_RESPONDER_ID, /* ids of a pulled tree's entries */
                .tmp_seq = random_u64(),
                .report = on_report,
                .io_wait = on_io_wait,
        };
        compress_init(&s->z, cfg->compress == COMPRESS_AUTO && cfg->auto_sends_raw ? COMPRESS_OFF : cfg->compress,
                      cfg->compress_level);
        rx_init(&s->rx, &s->cm, &s->rs, &s->pl, &s->st, &s->z);
        commits_init(&s->cm, cfg->dirty_limit, cfg->recv_window);
        stale_init(&s->st, cfg->stale_age_s);
        int r = outq_init(&s->c.out, on_written, s);
        if (r == 0)
                r = input_init(&s->in, &s->c, cfg->initiator, &input_ops, s);
        if (r == 0)
                r = tx_init(&s->tx, &s->sq, &s->z, cfg->depth,
                            cfg->compress_threads == SESSION_THREADS_AUTO ? packer_default_threads()
                                                                          : (unsigned)MAX(cfg->compress_threads, 0));
        if (r == 0)
                r = fd_set_nonblock(fd, true);
        if (r < 0) {
                session_free(s);
                return r;
        }
        stream_pieces(s, fd);
        hello_init(s);
        if (cfg->initiator)
                do
                        s->nonce = random_u64();
                while (s->nonce == 0);
        s->in.nonce = s->nonce;
        *ret = s;
        return 0;
}

struct session *session_free(struct session *s) {
        if (!s)
                return NULL;
        session_reset(s, false);
        commits_fini(&s->cm);
        getq_free(&s->gets);
        tx_fini(&s->tx);
        compress_fini(&s->z);
        input_fini(&s->in);
        outq_fini(&s->c.out);
        free(s->filler);
        free(s);
        return NULL;
}
