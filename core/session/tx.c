/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/chunkhash.h"
#include "base/log.h"
#include "base/util.h"
#include "budget/share.h"
#include "fs/fio.h"
#include "fs/pathsafe.h"
#include "session/compress.h"
#include "session/pack.h"
#include "session/ctx.h"
#include "session/sendq.h"
#include "session/tx.h"

int tx_init(struct tx *t, struct sendq *q, struct compress *z, unsigned depth, unsigned pack_threads) {
        *t = (struct tx){ .q = q, .z = z, .fd = -EBADF, .depth = depth, .pack_threads = pack_threads };
        compress_set_threads(z, pack_threads + 1); /* the helpers and this thread */
        t->slots = calloc(depth, sizeof *t->slots);
        return t->slots ? 0 : -ENOMEM;
}

void tx_fini(struct tx *t) {
        tx_reset(t);
        packer_free(t->pk);
        t->pk = NULL;
        free(t->slots);
        t->slots = NULL;
}

void tx_start(struct tx *t, struct sctx *c) {
        const struct session_config *cfg = c->cfg;
        t->limit = c->peer.recv_window;
        t->sent_total = t->consumed = t->raw_inflight = 0;
        bucket_init(&t->rate, cfg->max_rate, MAX(sctx_first_grant(cfg), (uint64_t)c->peer.max_chunk), now_ns());
}

static bool may_send(struct tx *t, struct sctx *c, struct tx_item *it, uint32_t len, uint64_t now);
static void drop_resends(struct tx *t, struct sctx *c, uint32_t id);

/* A file given up on after its FILE_BEGIN: the receiver's FILE_STATUS
 * answers our FILE_ABORT and must be recognised when it comes.  tx_pump
 * starts no file while every slot waits; only files already waiting for
 * their verdict can overflow them (a re-send that failed), and those are
 * counted so their answers are still recognised, by code. */
static void note_aborted(struct tx *t, uint32_t id) {
        t->naborted++;
        for (unsigned i = 0; i < TX_ABORTED; i++)
                if (!t->aborted[i]) {
                        t->aborted[i] = id;
                        return;
                }
        t->aborted_untracked++;
}

/* Is st the answer to a FILE_ABORT of ours?  Then it is consumed. */
static bool answers_abort(struct tx *t, uint32_t id, uint32_t code) {
        if (code == FY_OK || !id)
                return false;
        for (unsigned i = 0; i < TX_ABORTED; i++)
                if (t->aborted[i] == id) {
                        t->aborted[i] = 0;
                        t->naborted--;
                        return true;
                }
        if (t->aborted_untracked) {
                t->aborted_untracked--;
                t->naborted--;
                return true;
        }
        return false;
}

/* Send a control frame the caller made room for; a failure is the session's. */
static int send_ctrl(struct sctx *c, const struct fy_msg *m) {
        int r = sctx_send(c, m);
        return r < 0 ? sctx_fail(c, r, "%s: %s", fy_type_name(m->type), strerror(-r)) : 0;
}

/* A file we send failed on our side.  The peer hears FILE_ABORT (if it
 * heard FILE_BEGIN, or asked with GET); the host hears through report. */
static int fail_item(struct tx *t, struct sctx *c, struct tx_item *it, int err, const char *what, bool tell) {
        struct fy_msg m = { .type = FY_FILE_ABORT, .abort = { .xfer_id = it->xfer_id, .code = fy_code_from_errno(err) } };
        snprintf(m.abort.text, sizeof m.abort.text, "%s: %s", what, path_strerror(err));
        int r = tell ? send_ctrl(c, &m) : 0;
        it->res.err = err;
        it->res.remote = false;
        snprintf(it->res.text, sizeof it->res.text, "%s", m.abort.text);
        it->res.stats.end_ns = now_ns();
        sendq_done(t->q, c, it);
        return r;
}

/* A file the receiver already has: nothing is sent but a FILE_ABORT with
 * code 0, which closes the transfer for a receiver that asked for it. */
static int skip_item(struct tx *t, struct sctx *c, struct tx_item *it, const uint8_t digest[16]) {
        struct fy_msg m = { .type = FY_FILE_ABORT, .abort = { .xfer_id = it->xfer_id, .code = FY_OK } };
        snprintf(m.abort.text, sizeof m.abort.text, "skipped: the receiver has it");
        int r = send_ctrl(c, &m);
        it->res.skipped = true;
        it->res.size = (uint64_t)it->st.st_size;
        it->res.stats.bytes_skipped = it->res.size;
        memcpy(it->res.digest, digest, 16);
        it->res.stats.end_ns = now_ns();
        sendq_done(t->q, c, it);
        return r < 0 ? r : 1;
}

/* A directory or a symbolic link of a tree: one frame, then its verdict. */
static int send_entry(struct tx *t, struct sctx *c, struct tx_item *it) {
        struct fy_msg m;
        if (it->kind == ENTRY_SYMLINK) {
                m = (struct fy_msg){ .type = FY_SYMLINK, .symlink = {
                        .xfer_id = it->xfer_id, .flags = it->is_get ? FY_ENTRY_REL : 0,
                        .mtime_sec = it->mtime.tv_sec, .mtime_nsec = (uint32_t)it->mtime.tv_nsec } };
                strcpy(m.symlink.dest, it->dest);
                snprintf(m.symlink.target, sizeof m.symlink.target, "%s", it->target);
        } else {
                m = (struct fy_msg){ .type = FY_MKDIR, .mkdir = {
                        .xfer_id = it->xfer_id,
                        .flags = (it->kind == ENTRY_DIR_ATTRS ? FY_MK_ATTRS : 0) | (it->is_get ? FY_ENTRY_REL : 0) |
                                 (it->kind == ENTRY_DIR ? it->flags & FY_MK_SCRATCH : 0),
                        .mode = it->mode, .mtime_sec = it->mtime.tv_sec, .mtime_nsec = (uint32_t)it->mtime.tv_nsec } };
                strcpy(m.mkdir.dest, it->dest);
        }
        int r = sctx_send(c, &m);
        if (r < 0)
                return fail_item(t, c, it, r, it->dest, false);
        items_push(&t->waiting, it);
        return 1;
}

/* Start an item: a file is opened and announced (FILE_BEGIN) - or, when
 * the receiver has some of it, checked first. */
static int start_item(struct tx *t, struct sctx *c, struct tx_item *it) {
        it->res.stats.start_ns = now_ns();
        bool scratch = it->kind == ENTRY_DIR && (it->flags & FY_MK_SCRATCH);
        if ((scratch || item_is_bench(it)) && !sctx_peer_has(c, FY_FEAT_BENCH))
                return fail_item(t, c, it, -EOPNOTSUPP, "bench mode (feature bit 7 was not agreed)", it->is_get);
        if (it->kind != ENTRY_FILE)
                return send_entry(t, c, it);
        if (it->unreadable)
                return fail_item(t, c, it, it->unreadable, it->path, true);

        int fd = -EBADF;
        struct stat st;
        int r = item_open_source(c->cfg->root, it, &fd, &st);
        if (r < 0)
                return fail_item(t, c, it, r, it->path, it->is_get);
        it->opened = st;
        uint32_t verdict = it->answered ? it->state.verdict : FY_RS_SEND;
        if (verdict != FY_RS_SEND && !item_same_version(&st, &it->st))
                verdict = FY_RS_SEND; /* changed since we asked: the answer is about another file */
        /* A SKIP: the receiver holds the verified copy of this very version
         * (size, mtime), and with FY_FEAT_CHECKED vouches with the digest
         * its record keeps (sendq checked it is there, 9.14).  Reading the
         * whole source again to compare would make every rerun a
         * --checksum run; that is what --checksum is for. */
        if (verdict == FY_RS_SKIP) {
                safe_close(fd);
                return skip_item(t, c, it, it->state.digest);
        }
        t->begin = (struct fy_msg){ .type = FY_FILE_BEGIN };
        item_describe(c, it, &st, &t->begin.begin);
        uint32_t chunk = t->begin.begin.chunk_size;
        if (verdict == FY_RS_RESUME) {
                /* The prefix is chunked as it was sent before. */
                chunk = it->state.chunk_size;
                if (chunk > c->peer.max_chunk || chunk > fio_bufsize(c->fio))
                        verdict = FY_RS_SEND;
                else
                        t->begin.begin.chunk_size = chunk;
        } else if (verdict == FY_RS_DIGEST && it->state.chunk_size != chunk) {
                verdict = FY_RS_SEND; /* not the chunking we asked about */
        }
        if (verdict == FY_RS_SEND && (r = sctx_send(c, &t->begin)) < 0) {
                safe_close(fd);
                return fail_item(t, c, it, r, it->path, it->is_get);
        }
        t->begun = verdict == FY_RS_SEND;
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

        t->active = it;
        t->fd = fd;
        t->size = (uint64_t)st.st_size;
        t->chunk = verdict == FY_RS_SEND ? t->begin.begin.chunk_size : chunk;
        t->read_off = t->sent_off = 0;
        t->seq_head = t->seq_tail = 0;
        t->chunks = 0;
        /* --checksum hashes the content as the receiver did: no holes. */
        t->sparse = (t->begin.begin.flags & FY_FB_SPARSE) && verdict != FY_RS_DIGEST;
        t->data_end = t->sparse ? 0 : t->size;
        t->verify_verdict = verdict == FY_RS_SEND ? 0 : verdict;
        t->delta = false;
        t->alive_ns = now_ns();
        t->verify_end = verdict == FY_RS_SEND ? 0 : it->state.offset;
        memcpy(t->verify_digest, it->state.digest, 16);
        fy_file_digest_init(&t->digest);
        it->res.size = t->size;
        return 1;
}

/* Slots whose reads the kernel still owns; the file cannot be closed and
 * its buffers cannot be reused until they complete. */
static unsigned reads_in_flight(const struct tx *t) {
        unsigned n = 0;
        for (uint64_t q = t->seq_head; q < t->seq_tail; q++)
                n += !t->slots[q % t->depth].ready;
        return n;
}

/* Stop reading the active file and free what is read. */
static int drop_reads(struct tx *t, struct sctx *c) {
        t->abandoning = true;
        while (reads_in_flight(t) > 0) {
                int r = c->io_wait(c);
                if (r < 0)
                        return r;
        }
        for (uint64_t q = t->seq_head; q < t->seq_tail; q++)
                if (t->slots[q % t->depth].buf >= 0)
                        fio_buf_put(c->fio, (unsigned)t->slots[q % t->depth].buf);
        t->seq_head = t->seq_tail = 0;
        t->abandoning = false;
        return 0;
}

static void close_active(struct tx *t) {
        t->fd = safe_close(t->fd);
        t->active = NULL;
}

/* Give up on the active file. */
static int abandon_active(struct tx *t, struct sctx *c) {
        drop_resends(t, c, t->active->xfer_id);
        int r = drop_reads(t, c);
        if (r < 0)
                return r;
        close_active(t);
        return 0;
}

int tx_on_read(struct tx *t, struct sctx *c, const struct fio_cqe *cqe) {
        struct tx_slot *slot = &t->slots[cqe->tag % t->depth];
        slot->ready = true;
        if (cqe->res == (int)slot->len)
                return 0;
        /* A read error, or the file shrank under us: the receiver must not
         * commit a file that never existed in this form. */
        struct tx_item *it = t->active;
        if (!it || t->abandoning)
                return 0;
        int r = abandon_active(t, c);
        if (r < 0)
                return r;
        if (t->begun) /* its FILE_STATUS will answer the FILE_ABORT */
                note_aborted(t, it->xfer_id);
        char what[FY_MAX_PATH + 64];
        snprintf(what, sizeof what, "%s: %s at offset %llu", it->path,
                 cqe->res < 0 ? "read failed" : "file shrank while being sent", (unsigned long long)slot->off);
        return fail_item(t, c, it, cqe->res < 0 ? cqe->res : -EIO, what, true);
}

static struct tx_item *find_sent(struct tx *t, uint32_t id) {
        if (t->active && t->active->xfer_id == id)
                return t->active;
        return items_find(&t->waiting, id);
}

/* Forget the re-sends of transfer id (0: all), giving their buffers back. */
static void drop_resends(struct tx *t, struct sctx *c, uint32_t id) {
        unsigned n = t->resend_len;
        for (unsigned i = 0; i < n; i++) {
                struct tx_resend r = t->resend[t->resend_head];
                t->resend_head = (t->resend_head + 1) % TX_RESENDS;
                t->resend_len--;
                if (id && r.xfer_id != id) {
                        t->resend[(t->resend_head + t->resend_len) % TX_RESENDS] = r;
                        t->resend_len++;
                        continue;
                }
                if (r.keep_miss)
                        t->keep_pending--;
                if (r.buf >= 0 && c->fio)
                        fio_buf_put(c->fio, (unsigned)r.buf);
        }
}

static bool resends_for(const struct tx *t, uint32_t id) {
        for (unsigned i = 0; i < t->resend_len; i++)
                if (t->resend[(t->resend_head + i) % TX_RESENDS].xfer_id == id)
                        return true;
        return false;
}

int tx_on_nack(struct tx *t, struct sctx *c, const struct fy_chunk_nack *n) {
        if (!sctx_peer_has(c, FY_FEAT_RESEND))
                return sctx_fail(c, -EPROTO, "protocol error: CHUNK_NACK without the re-send feature");
        struct tx_item *it = find_sent(t, n->xfer_id);
        if (!it) {
                for (unsigned i = 0; i < TX_ABORTED; i++)
                        if (t->aborted[i] == n->xfer_id && n->xfer_id)
                                return 0; /* a file we gave up on: its FILE_ABORT is on its way */
                return sctx_fail(c, -EPROTO, "protocol error: CHUNK_NACK for transfer %u, which is not being sent",
                                 n->xfer_id);
        }
        uint64_t size = it == t->active ? t->size : it->res.size;
        uint64_t sent = it == t->active ? t->sent_off : size;
        if (n->offset + n->raw_len > sent)
                return sctx_fail(c, -EPROTO, "protocol error: CHUNK_NACK for %u bytes at %llu of transfer %u, not sent",
                                 n->raw_len, (unsigned long long)n->offset, n->xfer_id);
        if (t->resend_len == TX_RESENDS)
                return sctx_fail(c, -EPROTO, "protocol error: more than %u chunks asked for again at once", TX_RESENDS);
        /* A delta's chunk the receiver lacks (not one damaged on the way):
         * sent as data, counted as sent rather than kept. */
        bool miss = it->delta && n->code == FY_ENOENT;
        t->resend[(t->resend_head + t->resend_len++) % TX_RESENDS] = (struct tx_resend){
                .xfer_id = n->xfer_id, .off = n->offset, .len = n->raw_len, .buf = -1, .keep_miss = miss };
        if (miss) {
                t->keep_pending++;
                it->res.stats.chunks_kept -= MIN(it->res.stats.chunks_kept, 1u);
        }
        return 0;
}

/* A re-send that cannot be read any more: the file is given up on. */
static int resend_failed(struct tx *t, struct sctx *c, struct tx_item *it, int err, uint64_t off) {
        char what[FY_MAX_PATH + 64];
        snprintf(what, sizeof what, "%s: re-reading the chunk at %llu to send it again", it->path,
                 (unsigned long long)off);
        drop_resends(t, c, it->xfer_id);
        note_aborted(t, it->xfer_id); /* its FILE_STATUS answers */
        if (it == t->active) {
                int r = abandon_active(t, c);
                if (r < 0)
                        return r;
        } else {
                items_take(&t->waiting, it->xfer_id);
        }
        return fail_item(t, c, it, err, what, true);
}

/* Send the chunks asked for again, in the order asked, before new ones. */
static int send_resends(struct tx *t, struct sctx *c) {
        int did = 0;
        while (t->resend_len > 0 && outq_room(&c->out, 1 + OUTQ_CTRL_RESERVE)) {
                struct tx_resend *rs = &t->resend[t->resend_head];
                struct tx_item *it = find_sent(t, rs->xfer_id);
                if (!it) { /* its verdict came meanwhile */
                        drop_resends(t, c, rs->xfer_id);
                        continue;
                }
                if (rs->buf < 0) {
                        unsigned buf;
                        if (fio_free_bufs(c->fio) <= 1 || fio_buf_get(c->fio, &buf) < 0)
                                return did;
                        uint8_t *p = fio_buf(c->fio, buf);
                        int fd = it == t->active ? t->fd : it->fd;
                        ssize_t n = (ssize_t)rs->len;
                        if (item_is_bench(it))
                                item_bench_fill(p, rs->len, rs->off, it->bench_pattern);
                        else
                                n = pread(fd, p, rs->len, (off_t)rs->off);
                        if (n != (ssize_t)rs->len) {
                                fio_buf_put(c->fio, buf);
                                return resend_failed(t, c, it, n < 0 ? -errno : -EIO, rs->off);
                        }
                        rs->buf = (int)buf;
                        rs->digest = chunk_hash(p, rs->len);
                        rs->codec = FY_CODEC_RAW;
                        rs->plen = rs->len;
                        if (sctx_peer_has(c, FY_FEAT_ZSTD))
                                compress_pack(t->z, p, rs->len, &rs->codec, &rs->plen);
                }
                uint64_t now = now_ns();
                if (!may_send(t, c, it, rs->plen, now))
                        return did;
                struct fy_data d = { .xfer_id = it->xfer_id, .codec = rs->codec, .offset = rs->off, .raw_len = rs->len,
                                     .digest = rs->digest, .payload_len = rs->plen };
                uint8_t head[FY_DATA_FRAME_HEAD];
                (void)fy_data_head_encode(head, &d);
                int r = outq_data(&c->out, head, fio_buf(c->fio, (unsigned)rs->buf), rs->buf, rs->plen);
                if (r < 0)
                        return sctx_fail(c, r, "DATA: %s", strerror(-r));
                t->sent_total += rs->plen;
                if (rs->keep_miss) {
                        t->keep_pending--;
                        if (t->keep_len < ARRAY_SIZE(t->keep_end))
                                t->keep_end[(t->keep_head + t->keep_len++) % ARRAY_SIZE(t->keep_end)] = t->sent_total;
                        it->res.stats.chunks_compressed += rs->codec == FY_CODEC_ZSTD;
                } else {
                        it->res.stats.retransmits++;
                }
                it->res.stats.wire_bytes += rs->plen;
                if (t->rtt_len < TX_RTT_RING) {
                        typeof(t->rtt[0]) *e = &t->rtt[(t->rtt_head + t->rtt_len) % TX_RTT_RING];
                        *e = (typeof(*e)){ .end = t->sent_total, .t = now, .xfer_id = it->xfer_id };
                        t->rtt_len++;
                }
                t->resend_head = (t->resend_head + 1) % TX_RESENDS;
                t->resend_len--;
                did = 1;
        }
        return did;
}

int tx_on_credit(struct tx *t, struct sctx *c, const struct fy_credit *cr) {
        if (cr->limit < t->limit)
                return sctx_fail(c, -EPROTO, "protocol error: CREDIT limit went back from %llu to %llu",
                                 (unsigned long long)t->limit, (unsigned long long)cr->limit);
        if (cr->consumed > t->sent_total)
                return sctx_fail(c, -EPROTO, "protocol error: CREDIT for %llu bytes, only %llu sent",
                                 (unsigned long long)cr->consumed, (unsigned long long)t->sent_total);
        t->limit = cr->limit;
        t->consumed = cr->consumed;
        while (t->keep_len && t->keep_end[t->keep_head] <= cr->consumed) {
                t->keep_head = (t->keep_head + 1) % ARRAY_SIZE(t->keep_end);
                t->keep_len--;
        }
        t->peer_reasons = cr->reasons;
        uint64_t now = now_ns();
        while (t->rtt_len > 0) {
                typeof(t->rtt[0]) *e = &t->rtt[t->rtt_head];
                if (e->end > cr->consumed)
                        break;
                uint64_t us = (now - e->t) / 1000;
                lat_record(&c->totals.rtt, us);
                struct tx_item *it = find_sent(t, e->xfer_id);
                if (it)
                        lat_record(&it->res.stats.rtt, us);
                if (e->measure)
                        compress_account(t->z, e->raw, e->wire, e->packed_on, now);
                t->raw_inflight -= e->raw;
                t->rtt_head = (t->rtt_head + 1) % TX_RTT_RING;
                t->rtt_len--;
        }
        return 0;
}

int tx_on_status(struct tx *t, struct sctx *c, const struct fy_file_status *st) {
        struct tx_item *it;
        if (t->active && t->active->xfer_id == st->xfer_id) {
                /* An early verdict: the receiver gave up before FILE_END. */
                if (st->code == FY_OK)
                        return sctx_fail(c, -EPROTO, "protocol error: FILE_STATUS ok before FILE_END");
                it = t->active;
                int r = abandon_active(t, c);
                if (r < 0)
                        return r;
        } else if (!(it = items_take(&t->waiting, st->xfer_id))) {
                if (answers_abort(t, st->xfer_id, st->code))
                        return 0;
                return sctx_fail(c, -EPROTO, "protocol error: FILE_STATUS for unknown transfer %u", st->xfer_id);
        }
        it->res.stats.end_ns = now_ns();
        it->res.stats.dirty_peak = st->dirty_peak;
        it->res.stats.rss_peak = st->rss_peak;
        if (st->code != FY_OK) {
                it->res.err = -fy_code_to_errno(st->code);
                it->res.remote = true;
                snprintf(it->res.text, sizeof it->res.text, "%s", st->text);
        } else if (it->kind == ENTRY_FILE && memcmp(st->digest, it->res.digest, 16) != 0) {
                /* (A MKDIR's or SYMLINK's verdict has no digest to vouch
                 * for: whatever it carries is ignored, Appendix F.) */
                it->res.err = -EBADMSG;
                it->res.remote = true;
                snprintf(it->res.text, sizeof it->res.text, "the receiver's file digest differs from ours");
        }
        sendq_done(t->q, c, it);
        return 0;
}

/* Queue reads ahead, as far as the pool allows.  One buffer always stays
 * free for the receive side, so a session that sends and receives at once
 * cannot starve itself. */
static int issue_reads(struct tx *t, struct sctx *c) {
        int did = 0;
        while (t->read_off < t->size && t->seq_tail - t->seq_head < t->depth) {
                if (t->read_off >= t->data_end) {
                        /* Sparse: where does the next data start, and end? */
                        off_t d = lseek(t->fd, (off_t)t->read_off, SEEK_DATA);
                        if (d < 0)
                                d = errno == ENXIO ? (off_t)t->size : (off_t)t->read_off; /* no SEEK_DATA: all data */
                        if ((uint64_t)d > t->read_off) {
                                /* (A hole never spans the end of a checked prefix.) */
                                if (t->read_off < t->verify_end && (uint64_t)d > t->verify_end)
                                        d = (off_t)t->verify_end;
                                t->slots[t->seq_tail % t->depth] = (struct tx_slot){
                                        .buf = -1, .ready = true, .off = t->read_off, .hole = (uint64_t)d - t->read_off };
                                t->seq_tail++;
                                t->read_off = (uint64_t)d;
                                did = 1;
                                continue;
                        }
                        off_t h = lseek(t->fd, d, SEEK_HOLE);
                        t->data_end = h > d ? MIN((uint64_t)h, t->size) : t->size;
                }
                /* A delta leaves one more: the chunks read ahead may wait
                 * for the re-sends of chunks the receiver lacked (TX_KEEPS),
                 * and those need a buffer to be read into. */
                unsigned buf;
                if (fio_free_bufs(c->fio) <= 1u + t->delta || fio_buf_get(c->fio, &buf) < 0)
                        break;
                uint32_t len = (uint32_t)MIN((uint64_t)t->chunk, t->data_end - t->read_off);
                if (t->read_off < t->verify_end) /* chunks end where the checked prefix does */
                        len = (uint32_t)MIN((uint64_t)len, t->verify_end - t->read_off);
                struct tx_slot *slot = &t->slots[t->seq_tail % t->depth];
                *slot = (struct tx_slot){ .buf = (int)buf, .len = len, .off = t->read_off };
                if (item_is_bench(t->active)) { /* made, not read: ready at once */
                        item_bench_fill(fio_buf(c->fio, buf), len, t->read_off, t->active->bench_pattern);
                        slot->ready = true;
                        t->seq_tail++;
                        t->read_off += len;
                        did = 1;
                        continue;
                }
                int r = fio_read(c->fio, t->fd, buf, len, t->read_off, t->seq_tail);
                if (r < 0) {
                        fio_buf_put(c->fio, buf);
                        return sctx_fail(c, r, "file I/O: %s", strerror(-r));
                }
                t->seq_tail++;
                t->read_off += len;
                did = 1;
        }
        return did;
}

/* Which wait a lack of credit is, by the receiver's latest reasons (the
 * most telling one when several are set). */
static int wait_for_credit(uint32_t reasons) {
        if (reasons & FY_PACE_DIRTY)
                return WAIT_PEER_DIRTY;
        if (reasons & FY_PACE_PSI)
                return WAIT_PEER_PSI;
        if (reasons & FY_PACE_CPU)
                return WAIT_PEER_CPU;
        if (reasons & FY_PACE_RATE)
                return WAIT_PEER_RATE;
        return WAIT_RECEIVER;
}

static void account_wait(struct tx_item *it, struct tx *t, uint64_t now) {
        uint64_t d = now - t->blocked_since;
        it->res.stats.wait_ns[t->blocked_kind] += d;
        if (t->blocked_kind != WAIT_RATE_LOCAL)
                it->res.stats.credit_wait_ns += d;
        t->blocked_since = 0;
}

/* Whether a chunk of len may go now (credit, our rate); if not, the wait
 * is accounted to its cause. */
static bool may_send(struct tx *t, struct sctx *c, struct tx_item *it, uint32_t len, uint64_t now) {
        int kind = -1;
        uint64_t wait, limit = t->limit;
        if (c->cfg->send_window) /* our own cap on what is in flight */
                limit = MIN(limit, t->consumed + MAX(c->cfg->send_window, (uint64_t)len));
        if (t->sent_total + len > limit) {
                kind = wait_for_credit(t->peer_reasons);
        } else if (!bucket_take(&t->rate, len, now)) {
                kind = WAIT_RATE_LOCAL;
                sctx_wake_at(c, now + bucket_wait_ns(&t->rate, len, now));
        } else if (c->cfg->share && (wait = share_take(c->cfg->share, len, now))) {
                kind = WAIT_RATE_LOCAL; /* a rate shared with other sessions */
                sctx_wake_at(c, now + wait);
        }
        if (kind < 0) {
                if (t->blocked_since)
                        account_wait(it, t, now);
                return true;
        }
        if (t->blocked_since && t->blocked_kind != kind)
                account_wait(it, t, now);
        if (!t->blocked_since) {
                t->blocked_since = now;
                t->blocked_kind = kind;
        }
        return false;
}

/* A chunk the receiver has already (the checked prefix): hash it, send nothing. */
static void verify_slot(struct tx *t, struct sctx *c, struct tx_slot *slot) {
        if (slot->buf < 0) {
                fy_file_digest_add_hole(&t->digest, slot->off, slot->hole);
                t->sent_off += slot->hole;
        } else {
                uint8_t *p = fio_buf(c->fio, (unsigned)slot->buf);
                fy_file_digest_add(&t->digest, chunk_hash(p, slot->len));
                fio_buf_put(c->fio, (unsigned)slot->buf);
                t->chunks++;
                t->sent_off += slot->len;
        }
        t->seq_head++;
}

/* The raw bytes a try of compression (compress.h) may have in flight: one
 * measuring window, and no more than a raw window (the receiver's, or our
 * own cap).  Its wire window would hold several times that, which a
 * receiver slow to decompress (a guest on an emulated core) takes long to
 * drain whatever the try's verdict; this bounds what a losing try costs. */
static uint64_t try_window(const struct sctx *c) {
        uint64_t w = MIN(c->peer.recv_window, (uint64_t)COMPRESS_WINDOW);
        if (c->cfg->send_window)
                w = MIN(w, c->cfg->send_window);
        return w;
}

/* Hash the chunks ready at the head, then compress each in place if that
 * pays (compress.h): once, however long they then wait for credit.  With
 * compression on and helper threads allowed, the ready run is packed as
 * one batch across the cores (pack.h); else the head alone, here. */
static void pack_ready(struct tx *t, struct sctx *c) {
        /* a keep has no payload; off, auto may still want one chunk as a sample */
        bool peer = sctx_peer_has(c, FY_FEAT_ZSTD) && !t->delta;
        bool zstd = peer && t->z->on;
        bool sample = peer && !zstd && compress_wanted(t->z, now_ns());
        if (zstd && t->pack_threads && !t->pk && !t->pk_failed) {
                int r = packer_new(t->z, t->pack_threads, &t->pk);
                if (r < 0) { /* one core is still right, only slower */
                        log_info("compression stays on one thread: %s", strerror(-r));
                        t->pk_failed = true;
                }
        }
        /* A try packs no more than it may have in flight (send_ready):
         * what it packed compressed goes compressed, whatever the verdict. */
        uint64_t budget = UINT64_MAX, sum = 0;
        if (zstd && compress_trying(t->z))
                budget = try_window(c) > t->raw_inflight ? try_window(c) - t->raw_inflight : 0;
        struct pack_job jobs[SESSION_MAX_DEPTH];
        unsigned n = 0;
        for (uint64_t q = t->seq_head; q < t->seq_tail && n < ARRAY_SIZE(jobs); q++) {
                struct tx_slot *slot = &t->slots[q % t->depth];
                if (!slot->ready || slot->buf < 0 || slot->packed)
                        break;
                if (n && sum + slot->len > budget)
                        break;
                sum += slot->len;
                jobs[n++] = (struct pack_job){ .p = fio_buf(c->fio, (unsigned)slot->buf),
                                               .len = slot->len,
                                               .compress = zstd || sample };
                if (!zstd || !t->pk)
                        break;
        }
        if (t->pk)
                packer_run(t->pk, jobs, n);
        else if (n)
                pack_one(t->z, &jobs[0]);
        for (unsigned i = 0; i < n; i++) {
                struct tx_slot *slot = &t->slots[(t->seq_head + i) % t->depth];
                slot->digest = jobs[i].digest;
                slot->codec = jobs[i].codec;
                slot->plen = jobs[i].plen;
                slot->packed = true;
                slot->packed_on = t->z->on;
                if (jobs[i].compress)
                        compress_sample(t->z, jobs[i].len, jobs[i].plen, jobs[i].tried, jobs[i].z_ns);
        }
}

static int send_chunk(struct tx *t, struct sctx *c, struct tx_item *it, struct tx_slot *slot, uint64_t now) {
        uint8_t *p = fio_buf(c->fio, (unsigned)slot->buf);
        struct fy_data d = {
                .xfer_id = it->xfer_id,
                .codec = slot->codec,
                .offset = slot->off,
                .raw_len = slot->len,
                .digest = slot->digest,
                .payload_len = slot->plen,
        };
        uint8_t head[FY_DATA_FRAME_HEAD];
        (void)fy_data_head_encode(head, &d);
        bool keep = d.codec == FY_CODEC_KEEP;
        int r = outq_data(&c->out, head, p, keep ? -1 : slot->buf, slot->plen);
        if (r < 0)
                return sctx_fail(c, r, "DATA: %s", strerror(-r));
        if (keep) /* nothing of it goes on the wire */
                fio_buf_put(c->fio, (unsigned)slot->buf);
        fy_file_digest_add(&t->digest, d.digest);
        t->chunks++;
        t->sent_total += fy_data_credit(&d); /* credit: payload bytes, a keep's raw length */
        if (keep) {
                t->keep_end[(t->keep_head + t->keep_len++) % ARRAY_SIZE(t->keep_end)] = t->sent_total;
                it->res.stats.chunks_kept++;
        }
        t->sent_off += slot->len;
        t->seq_head++;
        it->res.stats.bytes += slot->len;
        it->res.stats.wire_bytes += slot->plen;
        it->res.stats.chunks++;
        it->res.stats.chunks_compressed += slot->codec == FY_CODEC_ZSTD;
        c->totals.bytes_sent += slot->len;
        if (t->rtt_len < TX_RTT_RING) {
                typeof(t->rtt[0]) *e = &t->rtt[(t->rtt_head + t->rtt_len) % TX_RTT_RING];
                *e = (typeof(*e)){ .end = t->sent_total,
                                   .t = now,
                                   .xfer_id = it->xfer_id,
                                   .raw = slot->len,
                                   .wire = slot->plen,
                                   .measure = !keep,
                                   .packed_on = slot->packed_on };
                t->rtt_len++;
                t->raw_inflight += slot->len;
        }
        if (c->cfg->ops && c->cfg->ops->progress)
                c->cfg->ops->progress(c->cfg->userdata, it->xfer_id, t->sent_off, t->size);
        return 0;
}

/* Frame ready chunks in order while credit and the output queue allow. */
static int send_ready(struct tx *t, struct sctx *c) {
        int did = 0, r;
        struct tx_item *it = t->active;
        while (t->seq_head < t->seq_tail && outq_room(&c->out, 1 + OUTQ_CTRL_RESERVE)) {
                struct tx_slot *slot = &t->slots[t->seq_head % t->depth];
                if (!slot->ready)
                        break;
                if (t->verify_verdict) {
                        if (t->sent_off >= t->verify_end)
                                break;
                        verify_slot(t, c, slot);
                        did = 1;
                        continue;
                }
                if (slot->buf < 0) { /* a hole: no data, no credit */
                        struct fy_msg h = { .type = FY_HOLE, .hole = {
                                .xfer_id = it->xfer_id, .offset = slot->off, .length = slot->hole } };
                        if ((r = send_ctrl(c, &h)) < 0)
                                return r;
                        fy_file_digest_add_hole(&t->digest, slot->off, slot->hole);
                        t->sent_off += slot->hole;
                        t->seq_head++;
                        did = 1;
                        continue;
                }
                if (!slot->packed)
                        pack_ready(t, c);
                if (t->delta) { /* the receiver's own bytes, if its digest is this one */
                        if (t->keep_len + t->keep_pending >= TX_KEEPS)
                                break; /* its credit, or our re-sends, make room */
                        slot->codec = FY_CODEC_KEEP;
                        slot->plen = 0;
                }
                /* A try of compression: a window in flight (try_window).
                 * A credit wakes us. */
                if (slot->codec == FY_CODEC_ZSTD && compress_trying(t->z) && t->raw_inflight &&
                    t->raw_inflight + slot->len > try_window(c))
                        break;
                uint64_t now = now_ns();
                if (!may_send(t, c, it, slot->codec == FY_CODEC_KEEP ? slot->len : slot->plen, now))
                        break;
                if ((r = send_chunk(t, c, it, slot, now)) < 0)
                        return r;
                did = 1;
        }
        return did;
}

/* The checked part is hashed: resume after it, skip the file, or (the
 * source is not what the receiver has) send it all from the start.
 * Returns 1 when it decided, 0 while the check is still running. */
static int verify_done(struct tx *t, struct sctx *c) {
        struct tx_item *it = t->active;
        if (t->sent_off < t->verify_end || !outq_room(&c->out, 1 + OUTQ_CTRL_RESERVE))
                return 0;
        struct fy_file_digest d = t->digest; /* a copy: the file digest goes on */
        uint8_t mine[16];
        fy_file_digest_final(&d, mine);
        bool same = memcmp(mine, t->verify_digest, 16) == 0;
        uint32_t verdict = t->verify_verdict;
        t->verify_verdict = 0;
        t->verify_end = 0;
        int r;
        if (same && verdict == FY_RS_DIGEST) {
                if ((r = abandon_active(t, c)) < 0)
                        return r;
                return skip_item(t, c, it, mine);
        }
        if (same) {
                t->begin.begin.flags |= FY_FB_RESUME;
                t->begin.begin.resume_off = t->sent_off;
                t->begin.begin.resume_chunks = t->chunks;
                it->res.stats.bytes_skipped = t->sent_off;
                it->res.stats.bytes_resent = it->state.received - t->sent_off;
                if ((r = send_ctrl(c, &t->begin)) < 0)
                        return r;
                t->begun = true;
                return 1;
        }
        /* Another file than the receiver's: from the start, as a new one -
         * or, after --checksum, as a delta of the receiver's own (9.13):
         * each chunk as a keep, and the receiver asks for those it lacks. */
        if (verdict == FY_RS_RESUME)
                log_info("'%s' changed since the interrupted run: sending it whole", it->path);
        if (verdict == FY_RS_DIGEST && sctx_peer_has(c, FY_FEAT_DELTA) && sctx_peer_has(c, FY_FEAT_RESEND) &&
            t->depth >= 4 /* issue_reads leaves a buffer more */) {
                t->begin.begin.flags |= FY_FB_DELTA;
                t->delta = it->delta = true;
        }
        if ((r = drop_reads(t, c)) < 0)
                return r;
        t->read_off = t->sent_off = t->chunks = 0;
        t->chunk = t->begin.begin.chunk_size;
        t->sparse = t->begin.begin.flags & FY_FB_SPARSE;
        t->data_end = t->sparse ? 0 : t->size;
        fy_file_digest_init(&t->digest);
        if ((r = send_ctrl(c, &t->begin)) < 0)
                return r;
        t->begun = true;
        return 1;
}

/* Everything of the active file is framed: FILE_END, then on to the next
 * file without waiting for the verdict. */
static int end_file(struct tx *t, struct sctx *c) {
        struct tx_item *it = t->active;
        struct fy_msg m = {
                .type = FY_FILE_END,
                .end = { .xfer_id = it->xfer_id, .size = t->size, .chunks = t->chunks },
        };
        fy_file_digest_final(&t->digest, m.end.digest);
        const struct lat_hist *h = &it->res.stats.rtt;
        m.end.rtt_count = (uint32_t)MIN(h->count, UINT32_MAX);
        m.end.rtt_p50_us = (uint32_t)MIN(lat_quantile(h, 0.5), UINT32_MAX);
        m.end.rtt_p99_us = (uint32_t)MIN(lat_quantile(h, 0.99), UINT32_MAX);
        m.end.rtt_max_us = (uint32_t)MIN(h->max_us, UINT32_MAX);
        memcpy(it->res.digest, m.end.digest, 16);
        if (t->fd >= 0 && item_source_changed(c->cfg->root, it, t->fd)) { /* item.h; its FILE_STATUS answers */
                note_aborted(t, it->xfer_id);
                close_active(t);
                return fail_item(t, c, it, -ESTALE, it->path, true);
        }
        int r = send_ctrl(c, &m);
        if (r < 0)
                return r;
        if (sctx_peer_has(c, FY_FEAT_RESEND)) { /* a chunk may be asked for again until the verdict */
                it->fd = t->fd;
                t->fd = -EBADF;
        }
        close_active(t);
        items_push(&t->waiting, it);
        return 1;
}

int tx_pump(struct tx *t, struct sctx *c) {
        int did = 0, r;
        for (;;) {
                if (t->resend_len && (r = send_resends(t, c)) != 0) {
                        if (r < 0)
                                return r;
                        did = 1;
                }
                if ((r = sendq_fill(t->q, c)) < 0)
                        return r;
                did |= r;
                if (!t->active) {
                        /* Every aborted slot awaits its verdict: the next file,
                         * which may be aborted too, waits for one to come. */
                        if (!outq_room(&c->out, 2 + OUTQ_CTRL_RESERVE) || t->naborted >= TX_ABORTED)
                                return did;
                        struct tx_item *it = sendq_next(t->q);
                        if (!it)
                                return did;
                        if ((r = start_item(t, c, it)) < 0)
                                return r;
                        did = 1;
                        continue;
                }
                if ((r = issue_reads(t, c)) < 0)
                        return r;
                did |= r;
                if ((r = send_ready(t, c)) < 0)
                        return r;
                did |= r;
                if (t->verify_verdict) {
                        if ((r = verify_done(t, c)) < 0)
                                return r;
                        if (r == 0) {
                                sctx_keepalive(c, &t->alive_ns); /* hashing a large prefix */
                                return did;
                        }
                        did = 1;
                        continue;
                }
                if (t->sent_off < t->size || t->seq_head != t->seq_tail || !outq_room(&c->out, 1) ||
                    resends_for(t, t->active->xfer_id))
                        return did;
                if ((r = end_file(t, c)) < 0)
                        return r;
                did = 1;
        }
}

bool tx_idle(const struct tx *t) {
        return !t->active && !t->waiting.head && !t->resend_len && sendq_idle(t->q);
}

bool tx_sending(const struct tx *t) {
        return t->active != NULL;
}

void tx_reset(struct tx *t) {
        item_free(t->active);
        t->active = NULL;
        t->fd = safe_close(t->fd);
        sendq_reset(t->q);
        items_free(&t->waiting);
        t->verify_verdict = 0;
        t->verify_end = 0;
        t->seq_head = t->seq_tail = 0;
        t->read_off = t->sent_off = t->size = 0;
        t->sent_total = t->limit = t->consumed = t->raw_inflight = 0;
        t->blocked_since = 0;
        t->abandoning = false;
        t->begun = false;
        t->resend_head = t->resend_len = 0; /* (their buffers went with the pool) */
        t->naborted = t->aborted_untracked = 0;
        t->delta = false;
        t->keep_head = t->keep_len = t->keep_pending = 0;
        memset(t->aborted, 0, sizeof t->aborted);
        t->rtt_head = t->rtt_len = 0;
}
