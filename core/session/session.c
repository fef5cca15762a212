/* SPDX-License-Identifier: MIT */
/*
 * The session loop: stream input and output, the handshake, and dispatch
 * of frames to tx.c (files we send) and rx.c (files we receive).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/log.h"
#include "session-int.h"
#include "base/fd.h"
#include "base/util.h"

#define SYNC_RESEND_MS 1000

#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x00000080 /* Linux 6.14; older kernels refuse it */
#endif

#define BYE_WAIT_MS 2000

int session_fail(struct session *s, int err, const char *fmt, ...) {
        if (!s->err[0]) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(s->err, sizeof s->err, fmt, ap);
                va_end(ap);
        }
        return err < 0 ? err : -EPROTO;
}

const char *session_error(const struct session *s) {
        return s->err[0] ? s->err : NULL;
}

const struct fy_hello *session_peer(const struct session *s) { return &s->peer; }
const struct session_totals *session_totals(const struct session *s) { return &s->totals; }

bool session_dontcache_refused(const struct session *s) {
        return s->fio && fio_write_flags_refused(s->fio);
}

bool session_direct_refused(const struct session *s) {
        return s->direct_refused;
}

bool session_uses_uring(const struct session *s, int *ret_why) {
        if (ret_why)
                *ret_why = s->uring_err;
        return s->uring;
}

/* ---- file completions --------------------------------------------------- */

static int fio_dispatch(struct session *s, const struct fio_cqe *c) {
        return c->is_write ? rx_on_write(s, c) : tx_on_read(s, c);
}

static int reap_all(struct session *s) {
        int did = 0;
        if (!s->fio)
                return 0;
        for (;;) {
                struct fio_cqe c;
                int r = fio_reap(s->fio, &c, false);
                if (r < 0)
                        return session_fail(s, r, "file I/O: %s", strerror(-r));
                if (r == 0)
                        return did;
                did = 1;
                r = fio_dispatch(s, &c);
                if (r < 0)
                        return r;
        }
}

void session_wake_at(struct session *s, uint64_t t) {
        if (t && (!s->wake_ns || t < s->wake_ns))
                s->wake_ns = t;
}

/* Block for one file completion and hand it on (rx.c waits for a file's
 * writes before it commits the file). */
int session_fio_wait(struct session *s) {
        struct fio_cqe c;
        int r = fio_reap(s->fio, &c, true);
        if (r < 0)
                return session_fail(s, r, "file I/O: %s", strerror(-r));
        return fio_dispatch(s, &c);
}

/* ---- handshake ---------------------------------------------------------- */

/* With a rate limit, the first grant is the rate bucket's burst, not the
 * whole window: the limit must hold from the first second on. */
static uint64_t rate_burst(const struct session_config *c) {
        if (!c->max_rate)
                return c->recv_window;
        return MAX((uint64_t)c->max_chunk, MIN(c->recv_window, c->max_rate / 4));
}

static void hello_init(struct session *s) {
        s->mine = (struct fy_hello){
                .proto_min = FY_PROTO_MIN,
                .proto_max = FY_PROTO_VERSION,
                .features = FY_FEAT_KNOWN,
                .max_frame = FY_MAX_PAYLOAD,
                .max_chunk = s->cfg.max_chunk,
                .recv_window = rate_burst(&s->cfg),
        };
        snprintf(s->mine.agent, sizeof s->mine.agent, "%s", s->cfg.agent ? s->cfg.agent : "ferry");
}

/* Drop everything in flight: the pool (after the kernel is done with it),
 * queued output, files half sent or half received.  keep_input: the input
 * buffer holds the next session's frames (a SYNC ended the old one). */
static void session_reset(struct session *s, bool keep_input) {
        s->fio = fio_free(s->fio);
        if (s->pacer_on)
                pacer_close(&s->pacer);
        s->pacer_on = false;
        s->wake_ns = 0;
        free(s->tx.slots);
        s->tx.slots = NULL;
        s->out_head = s->out_len = 0;
        rx_reset(s);
        tx_reset(s);
        pull_tree_close(s);
        s->synced = false;
        s->bye_sent = s->bye_received = false;
        if (s->in_state != IN_FRAMES)
                keep_input = false; /* the rest of a payload is meaningless now */
        s->in_state = IN_FRAMES;
        if (!keep_input)
                s->in_start = s->in_end = 0;
}

/* Both sides, once the peer's hello is known: the pool and the credit. */
int session_start(struct session *s, const struct fy_hello *peer) {
        s->peer = *peer;
        s->synced = true;
        s->tx.limit = peer->recv_window;
        s->tx.sent_total = 0;
        s->rx.consumed = s->rx.credit_sent = s->rx.received = 0;
        s->rx.granted = s->mine.recv_window;
        uint64_t now = now_ns();
        (void)pacer_init(&s->pacer, s->cfg.recv_window, s->cfg.max_chunk, s->cfg.max_rate, s->cfg.cpu_limit,
                         s->cfg.psi_dir, s->cfg.psi_threshold, now);
        pacer_granted(&s->pacer, 0, s->rx.granted, now);
        s->pacer_on = true;
        bucket_init(&s->tx.rate, s->cfg.max_rate, MAX(rate_burst(&s->cfg), (uint64_t)peer->max_chunk), now);
        if (!s->fio) {
                size_t bufsize = MAX(s->cfg.max_chunk, MIN(s->cfg.chunk_size, peer->max_chunk));
                int r = fio_new(s->cfg.depth, bufsize, s->cfg.force_psync, &s->fio, &s->uring_err);
                if (r < 0)
                        return session_fail(s, r, "file buffers: %s", strerror(-r));
                s->uring = fio_is_uring(s->fio);
                if (s->cfg.write_mode == WRITE_AUTO)
                        fio_set_write_flags(s->fio, RWF_DONTCACHE);
                else if (s->cfg.write_mode == WRITE_DIRECT)
                        fio_set_uring_writes(s->fio, true); /* depth pays for O_DIRECT */
                s->tx.slots = calloc(s->cfg.depth, sizeof *s->tx.slots);
                if (!s->tx.slots)
                        return session_fail(s, -ENOMEM, "out of memory");
        }
        return 0;
}

/* Responder: a SYNC from a new initiator. */
int session_on_sync(struct session *s, const struct fy_hello *h) {
        if (s->synced && h->nonce == s->nonce) {
                /* The initiator re-sent its SYNC before our answer arrived:
                 * answer again, but keep the session. */
        } else {
                if (s->synced) /* a new host took over: drop the old session */
                        session_reset(s, true);
                unsigned v = MIN(h->proto_max, FY_PROTO_VERSION);
                if (v < MAX(h->proto_min, FY_PROTO_MIN)) {
                        struct fy_msg e = { .type = FY_ERROR, .error = { .code = FY_EPROTO } };
                        snprintf(e.error.text, sizeof e.error.text,
                                 "no common protocol version: peer speaks %u-%u, we speak %u-%u",
                                 h->proto_min, h->proto_max, FY_PROTO_MIN, FY_PROTO_VERSION);
                        return out_ctrl(s, &e);
                }
                s->nonce = h->nonce;
                s->mine.proto_min = s->mine.proto_max = (uint16_t)v;
                s->mine.features = h->features & FY_FEAT_KNOWN;
                int r = session_start(s, h);
                if (r < 0)
                        return r;
        }
        struct fy_msg ack = { .type = FY_SYNC_ACK, .hello = s->mine };
        ack.hello.nonce = s->nonce;
        return out_ctrl(s, &ack);
}

static int send_sync(struct session *s) {
        struct fy_msg m = { .type = FY_SYNC, .hello = s->mine };
        m.hello.nonce = s->nonce;
        if (!out_room(s, 1))
                return 0;
        return out_ctrl(s, &m);
}

/* ---- the loop ----------------------------------------------------------- */

/* A received file we failed (dead) is finished for us: its sender stops
 * without FILE_END, and stray DATA still in flight is dropped on arrival. */
static bool rx_busy(const struct session *s) {
        return (s->rx.active && !s->rx.dead) || commit_pending(s);
}

static bool initiator_done(const struct session *s) {
        return s->pending == 0 && tx_idle(s) && !rx_busy(s);
}

/* One pass over everything that can move.  >0 if anything did. */
static int step(struct session *s, bool *ret_in_blocked) {
        int did = 0, r;
        s->wake_ns = 0; /* whoever still needs a timer sets it again below */
        if ((r = reap_all(s)) < 0)
                return r;
        did |= r;
        if (s->synced) {
                if ((r = gets_pump(s)) < 0)
                        return r;
                did |= r;
                if ((r = tx_pump(s)) < 0)
                        return r;
                did |= r;
        }
        if ((r = in_pump(s, ret_in_blocked)) < 0)
                return r;
        did |= r;
        if (s->synced) {
                if ((r = rx_flush_credit(s)) < 0)
                        return r;
                did |= r;
                if ((r = tx_pump(s)) < 0)
                        return r;
                did |= r;
        }
        if (s->fio && (r = fio_submit(s->fio)) < 0)
                return session_fail(s, r, "file I/O: %s", strerror(-r));
        if ((r = out_flush(s)) < 0)
                return r;
        return did | r;
}

/* Sleep until the stream or the file side can move, or timeout_ms. */
static int wait_events(struct session *s, bool in_blocked, int timeout_ms) {
        struct pollfd p[3];
        int n = 0;
        p[n++] = (struct pollfd){ .fd = s->fd, .events = (short)((in_blocked ? 0 : POLLIN) | (s->out_len ? POLLOUT : 0)) };
        struct pollfd *stop = NULL;
        if (s->cfg.stop_fd >= 0) {
                stop = &p[n];
                p[n++] = (struct pollfd){ .fd = s->cfg.stop_fd, .events = POLLIN };
        }
        if (s->fio && fio_inflight(s->fio) && fio_pollfd(s->fio) >= 0)
                p[n++] = (struct pollfd){ .fd = fio_pollfd(s->fio), .events = POLLIN };
        int r = poll(p, (nfds_t)n, timeout_ms);
        if (r < 0 && errno != EINTR)
                return -errno;
        if (stop && stop->revents)
                return session_fail(s, -ECANCELED, "stopped by a signal");
        return r;
}

/* A session we end because of the peer: say why before going, if the
 * stream still takes it (best effort, no waiting). */
void tell_peer(struct session *s, int err) {
        if (!s->synced || s->eof || err == -ECONNRESET || !s->err[0])
                return;
        struct fy_msg m = { .type = FY_ERROR, .error = { .code = fy_code_from_errno(err) } };
        snprintf(m.error.text, sizeof m.error.text, "%s", s->err);
        /* Whatever was queued is moot now, but a frame half written must be
         * finished or the ERROR would land inside it. */
        s->out_len = s->out_len > 0 && s->out[s->out_head].off > 0 ? 1 : 0;
        if (out_ctrl(s, &m) == 0)
                (void)out_flush(s);
}

int session_handshake(struct session *s) {
        uint64_t start = now_ns(), last_sync = 0;
        while (!s->synced) {
                uint64_t now = now_ns();
                if (s->cfg.timeout_ms >= 0 && now - start > (uint64_t)s->cfg.timeout_ms * 1000000ull)
                        return session_fail(s, -ETIMEDOUT, "no answer from ferryd within %d s", s->cfg.timeout_ms / 1000);
                if (now - last_sync >= SYNC_RESEND_MS * 1000000ull) {
                        if (last_sync && s->cfg.resync_padding && !s->filler) {
                                /* PAD frames: ignored by a responder in our
                                 * session, they complete a frame a stuck one
                                 * still waits for (see session.h). */
                                size_t n = FY_HDR_SIZE + FY_MAX_PAYLOAD + FY_MAX_CTRL_FRAME;
                                s->filler = malloc(n);
                                if (s->filler && out_bytes(s, s->filler, (uint32_t)fy_pad_encode(s->filler, n)) < 0)
                                        return session_fail(s, -ENOBUFS, "SYNC: output queue full");
                        }
                        int r = send_sync(s);
                        if (r < 0)
                                return session_fail(s, r, "SYNC: %s", strerror(-r));
                        last_sync = now;
                }
                bool blocked;
                int r = step(s, &blocked);
                if (r < 0)
                        return r;
                if (s->eof)
                        return session_fail(s, -ECONNRESET, "the connection closed during the handshake");
                if (r == 0 && !s->synced && (r = wait_events(s, blocked, 100)) < 0)
                        return session_fail(s, r, "poll: %s", strerror(-r));
        }
        return 0;
}

int session_run(struct session *s) {
        uint64_t idle_since = now_ns(), bye_at = 0;
        for (;;) {
                if (s->cfg.initiator && s->synced && !s->bye_sent && initiator_done(s) && out_room(s, 1)) {
                        struct fy_msg bye = { .type = FY_BYE };
                        int r = out_ctrl(s, &bye);
                        if (r < 0)
                                return r;
                        s->bye_sent = true;
                        bye_at = now_ns();
                }
                bool blocked = false;
                int r = step(s, &blocked);
                if (r < 0 && s->framing_error && !s->cfg.initiator) {
                        /* Lost frame boundaries (leftovers of a dead session on
                         * a port with no connections): say so, then look for
                         * the next SYNC in what follows, keeping the input. */
                        log_info("resynchronising: %s", s->err);
                        tell_peer(s, r);
                        session_reset(s, true);
                        s->err[0] = 0;
                        s->framing_error = false;
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
                if (s->bye_sent && s->bye_received && s->out_len == 0)
                        return 0;
                if (s->cfg.initiator && s->bye_sent && (s->eof || now_ns() - bye_at > BYE_WAIT_MS * 1000000ull))
                        return 0; /* all work is done; a missing BYE is not an error */
                if (s->eof) {
                        bool busy = rx_busy(s) || !tx_idle(s) || (s->cfg.initiator && s->pending);
                        s->totals.files_failed += rx_busy(s) + (s->tx.active != NULL);
                        session_reset(s, false);
                        if (!busy && !s->cfg.initiator)
                                return 0;
                        return session_fail(s, -ECONNRESET, "the connection closed%s",
                                            busy ? " in the middle of a transfer" : "");
                }
                if (r > 0) {
                        idle_since = now_ns();
                        continue;
                }
                /* The input went quiet: commit the small files waiting for a
                 * batch rather than let their sender wait for verdicts. */
                if (commit_pending(s) && (r = commit_flush(s)) != 0) {
                        if (r < 0)
                                return r;
                        continue;
                }
                int wait = 1000;
                if (s->wake_ns) { /* a budget wants to grant or send later */
                        uint64_t now = now_ns();
                        wait = s->wake_ns <= now ? 0 : (int)MIN((uint64_t)wait, (s->wake_ns - now) / 1000000ull + 1);
                }
                if (s->cfg.initiator && s->cfg.timeout_ms >= 0) {
                        uint64_t idle_ms = (now_ns() - idle_since) / 1000000ull;
                        if (idle_ms >= (uint64_t)s->cfg.timeout_ms)
                                return session_fail(s, -ETIMEDOUT, "the peer went silent for %d s", s->cfg.timeout_ms / 1000);
                        wait = (int)MIN((uint64_t)wait, (uint64_t)s->cfg.timeout_ms - idle_ms);
                }
                r = wait_events(s, blocked, wait);
                if (r < 0) {
                        r = session_fail(s, r, "poll: %s", strerror(-r));
                        tell_peer(s, r);
                        session_reset(s, false);
                        return r;
                }
        }
}

/* ---- setup -------------------------------------------------------------- */

void keepalive(struct session *s, uint64_t *last_ns) {
        uint64_t now = now_ns();
        if (now - *last_ns < CREDIT_KEEPALIVE_NS || !out_room(s, 1 + OUT_CTRL_RESERVE))
                return;
        struct fy_msg pad = { .type = FY_PAD };
        if (out_ctrl(s, &pad) == 0 && out_flush(s) >= 0)
                *last_ns = now;
}

void report(struct session *s, const struct file_result *res) {
        if (res->sent)
                s->totals.files_sent += res->err == 0;
        else
                s->totals.files_received += res->err == 0;
        s->totals.files_failed += res->err != 0;
        if (s->cfg.initiator && s->pending > 0 && !res->group)
                s->pending--;
        if (s->cfg.initiator && !res->sent && !res->group && s->gets_in_flight > 0)
                s->gets_in_flight--;
        /* An entry of the tree being pulled counts toward it (rx-entry.c). */
        if (s->cfg.initiator && !res->sent && res->group && res->group == s->pull_tree_id)
                tree_account(&s->pull_tree, res);
        if (s->cfg.ops && s->cfg.ops->file_done)
                s->cfg.ops->file_done(s->cfg.userdata, res);
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
        s->fd = fd;
        s->tx.fd = s->rx.fd = s->rx.dirfd = s->rx.jfd = -EBADF;
        s->in_buf = -1;
        s->next_id = cfg->initiator ? 1 : FY_RESPONDER_ID; /* ids of a pulled tree's entries */
        s->in = malloc(INBUF_SIZE);
        s->out = calloc(OUTQ_LEN, sizeof *s->out);
        if (!s->in || !s->out) {
                session_free(s);
                return -ENOMEM;
        }
        int r = fd_set_nonblock(fd, true);
        if (r < 0) {
                session_free(s);
                return r;
        }
        hello_init(s);
        if (cfg->initiator) {
                do {
                        /* GRND_NONBLOCK: a fresh guest without RDRAND or
                         * virtio-rng may not have entropy yet; a nonce needs
                         * to be unlikely to repeat, not secret. */
                        if (getrandom(&s->nonce, sizeof s->nonce, GRND_NONBLOCK) != sizeof s->nonce)
                                s->nonce = now_ns() ^ ((uint64_t)getpid() << 32);
                } while (s->nonce == 0);
        }
        if (getrandom(&s->tmp_seq, sizeof s->tmp_seq, GRND_NONBLOCK) != sizeof s->tmp_seq)
                s->tmp_seq = now_ns() ^ ((uint64_t)getpid() << 32);
        *ret = s;
        return 0;
}

struct session *session_free(struct session *s) {
        if (!s)
                return NULL;
        session_reset(s, false);
        commit_free(s);
        gets_free(s);
        free(s->filler);
        free(s->in);
        free(s->out);
        free(s);
        return NULL;
}
