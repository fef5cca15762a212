/* SPDX-License-Identifier: MIT */
/*
 * Sending files: read chunks ahead through the pool, hash them, frame them
 * and queue them while the receiver's credit allows.  Reads complete in any
 * order; chunks leave in file order.  Nothing waits for a per-chunk reply:
 * CREDIT frames move the limit forward as the receiver writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "session-int.h"
#include "base/fd.h"
#include "base/util.h"

void tx_item_append(struct tx_item **head, struct tx_item **tail, struct tx_item *it) {
        it->next = NULL;
        if (*tail)
                (*tail)->next = it;
        else
                *head = it;
        *tail = it;
}

static struct tx_item *item_take(struct tx_item **head, struct tx_item **tail, uint32_t id) {
        for (struct tx_item **pp = head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
                struct tx_item *it = *pp;
                if (it->xfer_id != id)
                        continue;
                *pp = it->next;
                if (*tail == it)
                        *tail = prev;
                return it;
        }
        return NULL;
}

struct tx_item *tx_item_new(uint32_t id) {
        struct tx_item *it = calloc(1, sizeof *it);
        if (!it)
                return NULL;
        it->xfer_id = id;
        it->res.xfer_id = id;
        it->res.sent = true;
        return it;
}

void tx_item_free(struct tx_item *it) {
        if (it) {
                free(it->target);
                free(it);
        }
}

/* An item has its verdict: tell the host, and its tree if it has one. */
void tx_item_done(struct session *s, struct tx_item *it) {
        it->res.src = it->path;
        it->res.dest = it->dest;
        report(s, &it->res);
        if (it->res.group)
                tree_entry_done(s, &it->res);
        tx_item_free(it);
}

int session_push(struct session *s, const char *local, const char *dest, const char *name,
                 uint32_t flags, uint32_t *ret_id) {
        if (strlen(local) > FY_MAX_PATH || strlen(dest) > FY_MAX_PATH || strlen(name) > FY_MAX_NAME)
                return -ENAMETOOLONG;
        struct tx_item *it = tx_item_new(s->next_id);
        if (!it)
                return -ENOMEM;
        strcpy(it->path, local);
        strcpy(it->dest, dest);
        strcpy(it->name, name);
        it->flags = flags;
        tx_item_append(&s->tx.queue, &s->tx.queue_tail, it);
        s->tx.queued++;
        s->pending++;
        *ret_id = s->next_id++;
        return 0;
}

int tx_on_get(struct session *s, const struct fy_get *g) {
        if (s->tx.queued >= GET_QUEUE_MAX) {
                struct fy_msg m = { .type = FY_FILE_ABORT, .abort = { .xfer_id = g->xfer_id, .code = FY_EBUSY } };
                snprintf(m.abort.text, sizeof m.abort.text, "too many requests queued (%u)", GET_QUEUE_MAX);
                return out_ctrl(s, &m);
        }
        struct tx_item *it = tx_item_new(g->xfer_id);
        if (!it)
                return session_fail(s, -ENOMEM, "out of memory");
        it->is_get = true;
        it->chunk = g->chunk_size;
        if (g->flags & FY_GET_RESUME)
                it->query = QUERY_ASK | (g->flags & FY_GET_CHECKSUM ? QUERY_CHECKSUM : 0);
        strcpy(it->path, g->path);
        if (g->flags & FY_GET_TREE) {
                /* A directory is sent as a tree: its entries named below "."
                 * (FY_ENTRY_REL), the host places them (PROTOCOL.md 9.7). */
                _cleanup_close_ int fd = -EBADF;
                struct stat st;
                if (fsroot_open_at(s->cfg.root, g->path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, &fd) == 0 &&
                    fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
                        it->kind = it->res.kind = ENTRY_TREE;
                        strcpy(it->dest, ".");
                        tx_item_append(&s->tx.queue, &s->tx.queue_tail, it);
                        s->tx.queued++;
                        return 0;
                }
        }
        const char *slash = strrchr(g->path, '/');
        snprintf(it->name, sizeof it->name, "%.255s", slash ? slash + 1 : g->path);
        strcpy(it->dest, g->path);
        tx_item_append(&s->tx.queue, &s->tx.queue_tail, it);
        s->tx.queued++;
        return 0;
}

/* A file we send failed on our side.  The peer hears FILE_ABORT (if it
 * heard FILE_BEGIN, or asked with GET); the host hears through report(). */
static int tx_fail(struct session *s, struct tx_item *it, int err, const char *what, bool tell_peer) {
        struct fy_msg m = { .type = FY_FILE_ABORT, .abort = { .xfer_id = it->xfer_id, .code = fy_code_from_errno(err) } };
        snprintf(m.abort.text, sizeof m.abort.text, "%s: %s", what, path_strerror(err));
        int r = tell_peer ? out_ctrl(s, &m) : 0;
        it->res.err = err;
        it->res.remote = false;
        snprintf(it->res.text, sizeof it->res.text, "%s", m.abort.text);
        it->res.stats.end_ns = now_ns();
        tx_item_done(s, it);
        return r;
}

static void close_active(struct session *s) {
        s->tx.fd = safe_close(s->tx.fd);
        s->tx.active = NULL;
}

/* Start the next queued file: open it, say FILE_BEGIN. */
/* A directory or a symbolic link of a tree: one frame, then its verdict. */
static int send_entry(struct session *s, struct tx_item *it) {
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
                        .flags = (it->kind == ENTRY_DIR_ATTRS ? FY_MK_ATTRS : 0) | (it->is_get ? FY_ENTRY_REL : 0),
                        .mode = it->mode, .mtime_sec = it->mtime.tv_sec, .mtime_nsec = (uint32_t)it->mtime.tv_nsec } };
                strcpy(m.mkdir.dest, it->dest);
        }
        int r = out_ctrl(s, &m);
        if (r < 0)
                return tx_fail(s, it, r, it->dest, false);
        tx_item_append(&s->tx.waiting, &s->tx.waiting_tail, it);
        return 1;
}

/* Open a file this side sends (a GET's path is under our root). */
int tx_open_source(struct session *s, const struct tx_item *it, int *ret_fd, struct stat *ret_st) {
        /* O_NONBLOCK: opening a FIFO or a device must not hang the loop; only
         * regular files are sent. */
        int fd = -EBADF, r;
        if (it->is_get)
                r = fsroot_open_at(s->cfg.root, it->path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, &fd);
        else {
                fd = open(it->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                r = fd < 0 ? -errno : 0;
        }
        if (r < 0)
                return r;
        if (fstat(fd, ret_st) < 0 || !S_ISREG(ret_st->st_mode)) {
                r = S_ISDIR(ret_st->st_mode) ? -EISDIR : -EOPNOTSUPP;
                safe_close(fd);
                return r;
        }
        (void)fd_set_nonblock(fd, false);
        *ret_fd = fd;
        return 0;
}

/* The FILE_BEGIN (or, for a query, its copy) that describes a file. */
void tx_describe(struct session *s, const struct tx_item *it, const struct stat *st, struct fy_file_begin *b) {
        /* Holes travel as HOLE frames when the file has any (fewer blocks
         * than its size) and the peer takes them: VM images are sparse. */
        bool sparse = (s->peer.features & FY_FEAT_SPARSE) && st->st_size > 0 &&
                      (uint64_t)st->st_blocks * 512 < (uint64_t)st->st_size;
        uint32_t chunk = MIN(s->cfg.chunk_size, s->peer.max_chunk);
        if (it->chunk && it->chunk < chunk) /* a GET may ask for smaller chunks */
                chunk = it->chunk;
        *b = (struct fy_file_begin){
                .xfer_id = it->xfer_id,
                .flags = it->flags | (sparse ? FY_FB_SPARSE : 0),
                .size = (uint64_t)st->st_size,
                .mode = st->st_mode & 07777,
                .chunk_size = chunk,
                .mtime_sec = st->st_mtim.tv_sec,
                .mtime_nsec = (uint32_t)st->st_mtim.tv_nsec,
        };
        strcpy(b->dest, it->dest);
        strcpy(b->name, it->name);
}

static int start_next(struct session *s, struct tx_item *it) {
        it->res.stats.start_ns = now_ns();
        if (s->tx.barrier == it)
                s->tx.barrier = NULL;
        if (it->kind != ENTRY_FILE)
                return send_entry(s, it);
        if (it->unreadable)
                return tx_fail(s, it, it->unreadable, it->path, true);

        int fd = -EBADF;
        struct stat st;
        int r = tx_open_source(s, it, &fd, &st);
        if (r < 0)
                return tx_fail(s, it, r, it->path, it->is_get);
        uint32_t verdict = it->answered ? it->state.verdict : FY_RS_SEND;
        if (verdict != FY_RS_SEND && !tx_same_version(&st, &it->st))
                verdict = FY_RS_SEND; /* changed since we asked: the answer is about another file */
        if (verdict == FY_RS_SKIP) {
                safe_close(fd);
                return tx_skip_item(s, it, it->state.digest);
        }
        struct tx_state *t = &s->tx;
        t->begin = (struct fy_msg){ .type = FY_FILE_BEGIN };
        tx_describe(s, it, &st, &t->begin.begin);
        uint32_t chunk = t->begin.begin.chunk_size;
        if (verdict == FY_RS_RESUME) {
                /* The prefix is chunked as it was sent before. */
                chunk = it->state.chunk_size;
                if (chunk > s->peer.max_chunk || chunk > fio_bufsize(s->fio))
                        verdict = FY_RS_SEND;
                else
                        t->begin.begin.chunk_size = chunk;
        } else if (verdict == FY_RS_DIGEST && it->state.chunk_size != chunk) {
                verdict = FY_RS_SEND; /* not the chunking we asked about */
        }
        if (verdict == FY_RS_SEND) {
                r = out_ctrl(s, &t->begin);
                if (r < 0) {
                        safe_close(fd);
                        return tx_fail(s, it, r, it->path, it->is_get);
                }
        }
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
        t->alive_ns = now_ns();
        t->verify_end = verdict == FY_RS_SEND ? 0 : it->state.offset;
        memcpy(t->verify_digest, it->state.digest, 16);
        fy_file_digest_init(&t->digest);
        it->res.size = t->size;
        return 1;
}

/* Slots whose reads the kernel still owns; the file cannot be closed and
 * its buffers cannot be reused until they complete. */
static unsigned reads_in_flight(const struct session *s) {
        unsigned n = 0;
        for (uint64_t q = s->tx.seq_head; q < s->tx.seq_tail; q++)
                n += !s->tx.slots[q % s->cfg.depth].ready;
        return n;
}

/* Stop reading the active file and free what is read. */
int tx_drop_reads(struct session *s) {
        s->tx.abandoning = true;
        while (reads_in_flight(s) > 0) {
                int r = session_fio_wait(s);
                if (r < 0)
                        return r;
        }
        for (uint64_t q = s->tx.seq_head; q < s->tx.seq_tail; q++)
                if (s->tx.slots[q % s->cfg.depth].buf >= 0)
                        fio_buf_put(s->fio, (unsigned)s->tx.slots[q % s->cfg.depth].buf);
        s->tx.seq_head = s->tx.seq_tail = 0;
        s->tx.abandoning = false;
        return 0;
}

/* Give up on the active file. */
static int abandon_active(struct session *s) {
        int r = tx_drop_reads(s);
        if (r < 0)
                return r;
        close_active(s);
        return 0;
}

int tx_on_read(struct session *s, const struct fio_cqe *c) {
        struct tx_slot *slot = &s->tx.slots[c->tag % s->cfg.depth];
        slot->ready = true;
        if (c->res == (int)slot->len)
                return 0;
        /* A read error, or the file shrank under us: the receiver must not
         * commit a file that never existed in this form. */
        struct tx_item *it = s->tx.active;
        if (!it || s->tx.abandoning)
                return 0;
        int err = c->res < 0 ? c->res : -ENODATA;
        int r = abandon_active(s);
        if (r < 0)
                return r;
        char what[FY_MAX_PATH + 64];
        snprintf(what, sizeof what, "%s: %s at offset %llu", it->path,
                 c->res < 0 ? "read failed" : "file shrank while being sent", (unsigned long long)slot->off);
        return tx_fail(s, it, err == -ENODATA ? -EIO : err, what, true);
}

int tx_on_write_done(struct session *s, int buf) {
        fio_buf_put(s->fio, (unsigned)buf);
        return 0;
}

static struct tx_item *find_sent(struct session *s, uint32_t id) {
        if (s->tx.active && s->tx.active->xfer_id == id)
                return s->tx.active;
        for (struct tx_item *it = s->tx.waiting; it; it = it->next)
                if (it->xfer_id == id)
                        return it;
        return NULL;
}

int tx_on_credit(struct session *s, const struct fy_credit *c) {
        if (c->limit < s->tx.limit)
                return session_fail(s, -EPROTO, "protocol error: CREDIT limit went back from %llu to %llu",
                                    (unsigned long long)s->tx.limit, (unsigned long long)c->limit);
        if (c->consumed > s->tx.sent_total)
                return session_fail(s, -EPROTO, "protocol error: CREDIT for %llu bytes, only %llu sent",
                                    (unsigned long long)c->consumed, (unsigned long long)s->tx.sent_total);
        s->tx.limit = c->limit;
        s->tx.peer_reasons = c->reasons;
        uint64_t now = now_ns();
        while (s->tx.rtt_len > 0) {
                typeof(s->tx.rtt[0]) *e = &s->tx.rtt[s->tx.rtt_head];
                if (e->end > c->consumed)
                        break;
                uint64_t us = (now - e->t) / 1000;
                lat_record(&s->totals.rtt, us);
                struct tx_item *it = find_sent(s, e->xfer_id);
                if (it)
                        lat_record(&it->res.stats.rtt, us);
                s->tx.rtt_head = (s->tx.rtt_head + 1) % RTT_RING;
                s->tx.rtt_len--;
        }
        return 0;
}

int tx_on_status(struct session *s, const struct fy_file_status *st) {
        struct tx_item *it;
        if (s->tx.active && s->tx.active->xfer_id == st->xfer_id) {
                /* An early verdict: the receiver gave up before FILE_END. */
                if (st->code == FY_OK)
                        return session_fail(s, -EPROTO, "protocol error: FILE_STATUS ok before FILE_END");
                it = s->tx.active;
                int r = abandon_active(s);
                if (r < 0)
                        return r;
        } else {
                it = item_take(&s->tx.waiting, &s->tx.waiting_tail, st->xfer_id);
                if (!it)
                        return session_fail(s, -EPROTO, "protocol error: FILE_STATUS for unknown transfer %u", st->xfer_id);
        }
        it->res.stats.end_ns = now_ns();
        it->res.stats.dirty_peak = st->dirty_peak;
        it->res.stats.rss_peak = st->rss_peak;
        if (st->code != FY_OK) {
                it->res.err = -fy_code_to_errno(st->code);
                it->res.remote = true;
                snprintf(it->res.text, sizeof it->res.text, "%s", st->text);
        } else if (memcmp(st->digest, it->res.digest, 16) != 0) {
                it->res.err = -EBADMSG;
                it->res.remote = true;
                snprintf(it->res.text, sizeof it->res.text, "the receiver's file digest differs from ours");
        }
        tx_item_done(s, it);
        return 0;
}

/* Queue reads ahead, as far as the pool allows.  One buffer always stays
 * free for the receive side, so a session that sends and receives at once
 * cannot starve itself. */
static int issue_reads(struct session *s) {
        int did = 0;
        struct tx_state *t = &s->tx;
        while (t->read_off < t->size && t->seq_tail - t->seq_head < s->cfg.depth) {
                if (t->read_off >= t->data_end) {
                        /* Sparse: where does the next data start, and end? */
                        off_t d = lseek(t->fd, (off_t)t->read_off, SEEK_DATA);
                        if (d < 0)
                                d = errno == ENXIO ? (off_t)t->size : (off_t)t->read_off; /* no SEEK_DATA: all data */
                        if ((uint64_t)d > t->read_off) {
                                /* (A hole never spans the end of a checked prefix.) */
                                if (t->read_off < t->verify_end && (uint64_t)d > t->verify_end)
                                        d = (off_t)t->verify_end;
                                t->slots[t->seq_tail % s->cfg.depth] = (struct tx_slot){
                                        .buf = -1, .ready = true, .off = t->read_off, .hole = (uint64_t)d - t->read_off };
                                t->seq_tail++;
                                t->read_off = (uint64_t)d;
                                did = 1;
                                continue;
                        }
                        off_t h = lseek(t->fd, d, SEEK_HOLE);
                        t->data_end = h > d ? MIN((uint64_t)h, t->size) : t->size;
                }
                unsigned buf;
                if (fio_free_bufs(s->fio) <= 1 || fio_buf_get(s->fio, &buf) < 0)
                        break;
                uint32_t len = (uint32_t)MIN((uint64_t)t->chunk, t->data_end - t->read_off);
                if (t->read_off < t->verify_end) /* chunks end where the checked prefix does */
                        len = (uint32_t)MIN((uint64_t)len, t->verify_end - t->read_off);
                struct tx_slot *slot = &t->slots[t->seq_tail % s->cfg.depth];
                *slot = (struct tx_slot){ .buf = (int)buf, .ready = false, .len = len, .off = t->read_off };
                int r = fio_read(s->fio, t->fd, buf, len, t->read_off, t->seq_tail);
                if (r < 0) {
                        fio_buf_put(s->fio, buf);
                        return session_fail(s, r, "file I/O: %s", strerror(-r));
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

static void account_wait(struct tx_item *it, struct tx_state *t, uint64_t now) {
        uint64_t d = now - t->blocked_since;
        it->res.stats.wait_ns[t->blocked_kind] += d;
        if (t->blocked_kind != WAIT_RATE_LOCAL)
                it->res.stats.credit_wait_ns += d;
        t->blocked_since = 0;
}

/* Frame ready chunks in order while credit and the output queue allow. */
static int send_ready(struct session *s) {
        int did = 0;
        struct tx_state *t = &s->tx;
        struct tx_item *it = t->active;
        while (t->seq_head < t->seq_tail && out_room(s, 1 + OUT_CTRL_RESERVE)) {
                struct tx_slot *slot = &t->slots[t->seq_head % s->cfg.depth];
                if (!slot->ready)
                        break;
                if (t->verify_verdict) {
                        /* The receiver has this part: hash it, send nothing. */
                        if (t->sent_off >= t->verify_end)
                                break;
                        if (slot->buf < 0) {
                                fy_file_digest_add_hole(&t->digest, slot->off, slot->hole);
                                t->sent_off += slot->hole;
                        } else {
                                uint8_t *p = fio_buf(s->fio, (unsigned)slot->buf);
                                fy_file_digest_add(&t->digest, fy_chunk_digest(p, slot->len));
                                fio_buf_put(s->fio, (unsigned)slot->buf);
                                t->chunks++;
                                t->sent_off += slot->len;
                        }
                        t->seq_head++;
                        did = 1;
                        continue;
                }
                if (slot->buf < 0) { /* a hole: no data, no credit */
                        struct fy_msg h = { .type = FY_HOLE, .hole = {
                                .xfer_id = it->xfer_id, .offset = slot->off, .length = slot->hole } };
                        int r = out_ctrl(s, &h);
                        if (r < 0)
                                return r;
                        fy_file_digest_add_hole(&t->digest, slot->off, slot->hole);
                        t->sent_off += slot->hole;
                        t->seq_head++;
                        did = 1;
                        continue;
                }
                uint64_t now = now_ns();
                int kind = -1;
                if (t->sent_total + slot->len > t->limit) {
                        kind = wait_for_credit(t->peer_reasons);
                } else if (!bucket_take(&t->rate, slot->len, now)) {
                        kind = WAIT_RATE_LOCAL;
                        session_wake_at(s, now + bucket_wait_ns(&t->rate, slot->len, now));
                }
                if (kind >= 0) {
                        if (t->blocked_since && t->blocked_kind != kind)
                                account_wait(it, t, now);
                        if (!t->blocked_since) {
                                t->blocked_since = now;
                                t->blocked_kind = kind;
                        }
                        break;
                }
                if (t->blocked_since)
                        account_wait(it, t, now);
                uint8_t *p = fio_buf(s->fio, (unsigned)slot->buf);
                struct fy_data d = {
                        .xfer_id = it->xfer_id,
                        .codec = FY_CODEC_RAW,
                        .offset = slot->off,
                        .raw_len = slot->len,
                        .digest = fy_chunk_digest(p, slot->len),
                        .payload_len = slot->len,
                };
                uint8_t head[FY_DATA_FRAME_HEAD];
                (void)fy_data_head_encode(head, &d);
                int r = out_data(s, head, slot->buf, slot->len);
                if (r < 0)
                        return r;
                fy_file_digest_add(&t->digest, d.digest);
                t->chunks++;
                t->sent_total += slot->len;
                t->sent_off += slot->len;
                t->seq_head++;
                it->res.stats.bytes += slot->len;
                it->res.stats.chunks++;
                s->totals.bytes_sent += slot->len;
                if (t->rtt_len < RTT_RING) {
                        typeof(t->rtt[0]) *e = &t->rtt[(t->rtt_head + t->rtt_len) % RTT_RING];
                        e->end = t->sent_total;
                        e->t = now;
                        e->xfer_id = it->xfer_id;
                        t->rtt_len++;
                }
                if (s->cfg.ops && s->cfg.ops->progress)
                        s->cfg.ops->progress(s->cfg.userdata, it->xfer_id, t->sent_off, t->size);
                did = 1;
        }
        return did;
}

int tx_pump(struct session *s) {
        int did = 0, r;
        for (;;) {
                if ((r = tx_fill_ahead(s)) < 0)
                        return r;
                did |= r;
                if (!s->tx.active) {
                        struct tx_item *it = s->tx.ahead;
                        if (!it || (it->query && !it->answered) || !out_room(s, 2 + OUT_CTRL_RESERVE))
                                return did;
                        s->tx.ahead = it->next;
                        if (!s->tx.ahead)
                                s->tx.ahead_tail = NULL;
                        s->tx.nahead--;
                        r = start_next(s, it);
                        if (r < 0)
                                return r;
                        did = 1;
                        continue;
                }
                if ((r = issue_reads(s)) < 0)
                        return r;
                did |= r;
                if ((r = send_ready(s)) < 0)
                        return r;
                did |= r;
                if (s->tx.verify_verdict) {
                        if ((r = tx_verify_done(s)) < 0)
                                return r;
                        if (r == 0) {
                                keepalive(s, &s->tx.alive_ns); /* hashing a large prefix */
                                return did;
                        }
                        did = 1;
                        continue;
                }

                struct tx_state *t = &s->tx;
                if (t->sent_off < t->size || t->seq_head != t->seq_tail || !out_room(s, 1))
                        return did;
                /* Everything is framed: FILE_END, then on to the next file
                 * without waiting for the verdict. */
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
                r = out_ctrl(s, &m);
                if (r < 0)
                        return r;
                close_active(s);
                tx_item_append(&s->tx.waiting, &s->tx.waiting_tail, it);
                did = 1;
        }
}

bool tx_idle(const struct session *s) {
        return !s->tx.active && !s->tx.queue && !s->tx.waiting && !s->tx.tree && !s->tx.ahead;
}

static void free_list(struct tx_item **head, struct tx_item **tail) {
        while (*head) {
                struct tx_item *it = *head;
                *head = it->next;
                tx_item_free(it);
        }
        *tail = NULL;
}

/* Forget all sending state; the pool is already gone (session_reset). */
void tx_reset(struct session *s) {
        if (s->tx.active) {
                tx_item_free(s->tx.active);
                s->tx.active = NULL;
        }
        tree_reset(s);
        s->tx.fd = safe_close(s->tx.fd);
        free_list(&s->tx.queue, &s->tx.queue_tail);
        free_list(&s->tx.waiting, &s->tx.waiting_tail);
        free_list(&s->tx.ahead, &s->tx.ahead_tail);
        s->tx.queued = s->tx.nahead = 0;
        s->tx.barrier = NULL;
        s->tx.verify_verdict = 0;
        s->tx.verify_end = 0;
        s->tx.seq_head = s->tx.seq_tail = 0;
        s->tx.read_off = s->tx.sent_off = s->tx.size = 0;
        s->tx.sent_total = s->tx.limit = 0;
        s->tx.blocked_since = 0;
        s->tx.abandoning = false;
        s->tx.rtt_head = s->tx.rtt_len = 0;
}
