/* SPDX-License-Identifier: MIT */
/*
 * Receiving files: each chunk is checked against its digest before it is
 * written; the file grows under a temporary name in its destination
 * directory and is renamed onto the real name only after fsync and a
 * matching whole-file digest.  Whatever goes wrong, nothing appears at the
 * destination name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/journal.h"
#include "base/log.h"

#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x00000080 /* Linux 6.14; older kernels refuse it */
#endif
#include "session-int.h"
#include "base/util.h"

static void writeback_control(struct session *s);

/* Close and remove what the file left behind.  Only once no write is in
 * flight: a resubmitted short write names the descriptor by number. */
static void rx_cleanup(struct session *s, bool unlink_tmp) {
        struct rx_state *x = &s->rx;
        if (unlink_tmp && x->tmpname[0] && x->dirfd >= 0)
                (void)unlinkat(x->dirfd, x->tmpname, 0);
        if (unlink_tmp && x->jname[0] && x->dirfd >= 0)
                (void)unlinkat(x->dirfd, x->jname, 0);
        x->tmpname[0] = x->jname[0] = 0;
        x->fd = safe_close(x->fd);
        x->jfd = safe_close(x->jfd); /* and its lock */
        x->dirfd = safe_close(x->dirfd);
}

static void result_done(struct session *s, int err, bool remote, const char *text) {
        struct rx_state *x = &s->rx;
        x->res.err = err;
        x->res.remote = remote;
        snprintf(x->res.text, sizeof x->res.text, "%s", text ? text : "");
        x->res.stats.end_ns = now_ns();
        if (!x->res.stats.start_ns) /* a GET refused before any FILE_BEGIN */
                x->res.stats.start_ns = x->res.stats.end_ns;
        /* moved in this run (a skipped file: nothing) */
        x->res.stats.bytes = x->next_off > x->res.stats.bytes_skipped ? x->next_off - x->res.stats.bytes_skipped : 0;
        x->res.src = x->res.dest = x->begin.dest; /* (a pulled tree's entry: its path in the tree) */
        x->res.stats.chunks = x->chunks;
        report(s, &x->res);
}

/* The file failed on our side: tell the sender (it stops sending this
 * file), drop the temporary file, and ignore the rest of its frames. */
static int rx_file_error(struct session *s, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int rx_file_error(struct session *s, int err, const char *fmt, ...) {
        struct rx_state *x = &s->rx;
        struct fy_msg m = {
                .type = FY_FILE_STATUS,
                .status = { .xfer_id = x->xfer_id, .code = fy_code_from_errno(err), .bytes = x->next_off },
        };
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m.status.text, sizeof m.status.text, fmt, ap);
        va_end(ap);
        int r = rx_flush_credit(s);
        if (r >= 0)
                r = out_ctrl(s, &m);
        /* A file that failed is not resumed: its partial goes too - unless
         * only the stream failed it (a damaged chunk, a frame out of place:
         * on a serial port, the bytes of a host that replaced a dead one),
         * and what the journal holds is still good. */
        if (!(x->keep_partial && x->jname[0])) {
                if (x->tmpname[0] && x->dirfd >= 0)
                        (void)unlinkat(x->dirfd, x->tmpname, 0);
                if (x->jname[0] && x->dirfd >= 0)
                        (void)unlinkat(x->dirfd, x->jname, 0);
        }
        x->tmpname[0] = x->jname[0] = 0;
        if (x->writes == 0)
                rx_cleanup(s, false);
        x->dead = true;
        result_done(s, err, false, m.status.text);
        return r < 0 ? r : 0;
}

/* Wait for this file's writes to land (before committing or replacing it). */
static int rx_drain(struct session *s) {
        while (s->rx.writes > 0) {
                int r = session_fio_wait(s);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The partial file of a journaled transfer: a fresh pair, or (FY_FB_RESUME)
 * the one RESUME_STATE described, cut back to resume_off. */
static int open_journaled(struct session *s, const struct fy_file_begin *b, bool *direct) {
        struct rx_state *x = &s->rx;
        struct jnl_ident want = {
                .size = b->size, .mtime_sec = b->mtime_sec, .mtime_nsec = b->mtime_nsec,
                .chunk_size = b->chunk_size, .flags = b->flags & FY_FB_SPARSE,
        };
        char part[FY_MAX_NAME + 1], jname[FY_MAX_NAME + 1];
        jnl_names(x->name, part, jname);
        int r;
        if (!(b->flags & FY_FB_RESUME)) {
                r = jnl_create(x->dirfd, part, jname, &want, &x->jfd, &x->fd, *direct ? O_DIRECT : 0);
                if (r == -EINVAL && *direct) {
                        s->direct_refused = true; /* as below: tmpfs */
                        *direct = false;
                        r = jnl_create(x->dirfd, part, jname, &want, &x->jfd, &x->fd, 0);
                }
                if (r < 0)
                        return r == -EBUSY ? -EBUSY : r;
                strcpy(x->tmpname, part);
                strcpy(x->jname, jname);
                return 0;
        }
        struct jnl_ident id;
        r = jnl_open(x->dirfd, jname, &x->jfd, &id);
        if (r < 0)
                return r == -EBUSY ? r : -ESTALE;
        /* From here a failure removes the pair: the next run starts over. */
        strcpy(x->jname, jname);
        strcpy(x->tmpname, part);
        if (!jnl_ident_eq(&id, &want))
                return -ESTALE;
        x->fd = openat(x->dirfd, part, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | (*direct ? O_DIRECT : 0));
        if (x->fd < 0 && *direct && errno == EINVAL) {
                s->direct_refused = true;
                *direct = false;
                x->fd = openat(x->dirfd, part, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        }
        if (x->fd < 0)
                return errno == ENOENT ? -ESTALE : -errno;
        struct jnl_prefix p;
        r = jnl_rewrite(x->jfd, &id, x->fd, b->resume_off);
        if (r == 0)
                r = jnl_scan(x->jfd, -1, b->resume_off, &p);
        if (r < 0)
                return r;
        if (p.offset != b->resume_off || p.chunks != b->resume_chunks)
                return -ESTALE;
        x->digest = p.digest;
        x->next_off = x->ckpt_off = x->synced_off = x->flush_off = b->resume_off;
        x->chunks = p.chunks;
        x->res.stats.bytes_skipped = b->resume_off;
        return 0;
}

int rx_target(struct session *s, const struct fy_file_begin *b, const char **ret_dest, const char **ret_name,
              uint32_t *ret_flags, uint32_t *ret_group, struct fsroot **ret_root) {
        *ret_dest = b->dest;
        *ret_name = b->name;
        *ret_flags = b->flags;
        *ret_group = 0;
        *ret_root = s->cfg.root;
        if (!s->cfg.ops || !s->cfg.ops->recv_target)
                return (b->flags & FY_ENTRY_REL) ? -EPROTO : 0; /* the guest takes the frame's word */
        if (!(b->flags & FY_ENTRY_REL))
                return (b->xfer_id & FY_RESPONDER_ID) ? -EPROTO : s->cfg.ops->recv_target(s->cfg.userdata, b, ret_dest,
                                                                                         ret_name, ret_flags);
        /* An entry of the tree being pulled, named "." or "./PATH". */
        const char *rel = b->dest;
        if (!s->pull_tree_id || (!(b->xfer_id & FY_RESPONDER_ID) && b->xfer_id != s->pull_tree_id) ||
            (strcmp(rel, ".") && strncmp(rel, "./", 2)))
                return -EPROTO;
        *ret_group = s->pull_tree_id;
        if (!s->pull_root_open) {
                /* The top directory, opening the tree: the host says where
                 * it goes; it is made there (rx-entry.c), and every other
                 * entry resolves beneath it - never through a symlink, never
                 * above it, whatever names the guest sends. */
                if (b->xfer_id != s->pull_tree_id || strcmp(rel, "."))
                        return -EPROTO;
                return s->cfg.ops->recv_target(s->cfg.userdata, b, ret_dest, ret_name, ret_flags);
        }
        *ret_root = &s->pull_root;
        *ret_dest = rel[1] ? rel + 2 : ".";
        *ret_name = "";
        *ret_flags = 0;
        return 0;
}

int rx_on_begin(struct session *s, const struct fy_file_begin *b) {
        struct rx_state *x = &s->rx;
        if (x->active && !x->dead)
                return session_fail(s, -EPROTO, "protocol error: FILE_BEGIN %u while %u is open", b->xfer_id, x->xfer_id);
        int r = rx_drain(s);
        if (r < 0)
                return r;
        rx_cleanup(s, true);

        *x = (struct rx_state){
                .active = true,
                .xfer_id = b->xfer_id,
                .fd = -EBADF,
                .dirfd = -EBADF,
                .jfd = -EBADF,
                .begin = *b,
                .consumed = x->consumed,
                .credit_sent = x->credit_sent,
                .received = x->received,
                .granted = x->granted,
                .reasons_sent = x->reasons_sent,
                .credit_ns = x->credit_ns,
                .dirty_waited = x->dirty_waited,
                .commits = x->commits, /* the batch outlives each file */
                .ncommit = x->ncommit,
                .commit_bytes = x->commit_bytes,
                .res = { .xfer_id = b->xfer_id, .size = b->size, .stats = { .start_ns = now_ns() } },
        };
        fy_file_digest_init(&x->digest);

        const char *dest, *name;
        uint32_t flags;
        struct fsroot *root;
        r = rx_target(s, b, &dest, &name, &flags, &x->res.group, &root);
        if (r < 0)
                return session_fail(s, -EPROTO, "protocol error: FILE_BEGIN for transfer %u we did not ask for", b->xfer_id);
        if (b->chunk_size > s->cfg.max_chunk)
                return rx_file_error(s, -EPROTO, "chunk size %u over our maximum %u", b->chunk_size, s->cfg.max_chunk);

        r = dest_resolve(root, dest, name, flags, &x->dirfd, x->name);
        if (r < 0)
                return rx_file_error(s, r, "'%s': %s", dest, path_strerror(r));
        bool queried = false;
        for (unsigned i = 0; i < ARRAY_SIZE(s->swept_ids) && !queried; i++)
                queried = s->swept_ids[i] == b->xfer_id && b->xfer_id;
        if (!queried) /* (a RESUME_QUERY about this file swept its directory) */
                stale_sweep(s, x->dirfd);

        bool direct = s->cfg.write_mode == WRITE_DIRECT && !s->direct_refused && b->chunk_size % 4096 == 0;
        /* Uncached writes start writeback at once, one disk request per write:
         * right for big files, but small ones are written back together by
         * their batch commit (commit.c). */
        if (s->cfg.write_mode == WRITE_AUTO && !fio_write_flags_refused(s->fio))
                fio_set_write_flags(s->fio, b->size > COMMIT_SMALL ? RWF_DONTCACHE : 0);
        if ((s->peer.features & FY_FEAT_RESUME) && b->size > COMMIT_SMALL) {
                /* Big enough to be worth resuming: a partial file with a
                 * journal, under names a rerun finds. */
                r = open_journaled(s, b, &direct);
                if (r < 0)
                        return rx_file_error(s, r, "'%s': %s", dest, r == -ESTALE ? "the partial file to resume is gone or changed"
                                                                                     : path_strerror(r));
        } else {
                if (b->flags & FY_FB_RESUME)
                        return rx_file_error(s, -EPROTO, "'%s': resume asked for a file we keep no journal for", dest);
                /* The temporary name is one component in the destination
                 * directory: openat with O_EXCL|O_NOFOLLOW cannot be
                 * redirected by a symlink. */
                snprintf(x->tmpname, sizeof x->tmpname, ".ferry-%.200s.%08x.tmp", x->name, tmp_suffix(s));
                int oflags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;
                x->fd = openat(x->dirfd, x->tmpname, oflags | (direct ? O_DIRECT : 0), 0600);
                if (x->fd < 0 && direct && errno == EINVAL) {
                        /* tmpfs and some others refuse O_DIRECT: buffered it is. */
                        s->direct_refused = true;
                        direct = false;
                        x->fd = openat(x->dirfd, x->tmpname, oflags, 0600);
                }
                if (x->fd < 0) {
                        r = -errno;
                        x->tmpname[0] = 0;
                        return rx_file_error(s, r, "'%s': %s", dest, path_strerror(r));
                }
                /* Held until renamed: an unlocked one is an orphan (stale.c). */
                (void)flock(x->fd, LOCK_EX | LOCK_NB);
        }
        x->direct = direct && x->fd >= 0;
        if (b->flags & FY_FB_RESUME)
                return 0; /* space and size were set by the first run */
        /* Reserve the space now: a full disk is reported before a byte is
         * sent, not after most of the file has crossed. */
        if (b->flags & FY_FB_SPARSE) {
                /* Holes stay holes: the size is set, only data is written. */
                if (ftruncate(x->fd, (off_t)b->size) < 0) {
                        r = -errno;
                        return rx_file_error(s, r, "'%s': %s", dest, path_strerror(r));
                }
        } else if (b->size > COMMIT_SMALL && fallocate(x->fd, 0, 0, (off_t)b->size) < 0 && errno != EOPNOTSUPP &&
                   errno != ENOSYS) {
                /* (Small files skip this: a batch commit's syncfs finds a full
                 * disk just as well, and the call costs more than the write.) */
                r = -errno;
                return rx_file_error(s, r, "'%s': %s", dest, path_strerror(r));
        }
        return 0;
}

int rx_on_data_head(struct session *s, const struct fy_data *d, bool *ret_want) {
        struct rx_state *x = &s->rx;
        *ret_want = false;
        x->received += d->payload_len;
        if (x->received > x->granted)
                return session_fail(s, -EPROTO, "protocol error: DATA beyond the credit limit (%llu > %llu bytes)",
                                    (unsigned long long)x->received, (unsigned long long)x->granted);
        if (!x->active || d->xfer_id != x->xfer_id)
                return session_fail(s, -EPROTO, "protocol error: DATA for transfer %u, which is not open", d->xfer_id);
        if (x->dead)
                return 0; /* already failed: drop, but credit */
        x->keep_partial = true; /* the stream is wrong, not the file so far */
        if (d->offset != x->next_off)
                return rx_file_error(s, -EPROTO, "DATA at offset %llu, expected %llu",
                                     (unsigned long long)d->offset, (unsigned long long)x->next_off);
        if (d->raw_len > x->begin.chunk_size || d->offset + d->raw_len > x->begin.size)
                return rx_file_error(s, -EPROTO, "DATA of %u bytes at offset %llu overruns the file (size %llu, chunk %u)",
                                     d->raw_len, (unsigned long long)d->offset,
                                     (unsigned long long)x->begin.size, x->begin.chunk_size);
        x->keep_partial = false;
        *ret_want = true;
        return 0;
}

/* Make what the journal lists durable, and say so in it: after a crash the
 * records before this mark are trusted without reading the data back. */
static int checkpoint(struct session *s) {
        struct rx_state *x = &s->rx;
        int r = rx_drain(s);
        if (r < 0 || x->dead)
                return r;
        if (fdatasync(x->fd) < 0 || jnl_append(x->jfd, JNL_DURABLE, x->next_off, 0, 0) < 0 || fdatasync(x->jfd) < 0)
                return rx_file_error(s, -errno, "'%s': %s", x->begin.dest, path_strerror(-errno));
        x->ckpt_off = x->next_off;
        return 0;
}

int rx_on_data(struct session *s, int buf) {
        struct rx_state *x = &s->rx;
        const struct fy_data *d = &s->in_data;
        uint8_t *p = fio_buf(s->fio, (unsigned)buf);

        if (x->dead) { /* failed while this payload was arriving */
                fio_buf_put(s->fio, (unsigned)buf);
                rx_discarded(s, d->payload_len);
                return 0;
        }
        if (fy_chunk_digest(p, d->raw_len) != d->digest) {
                fio_buf_put(s->fio, (unsigned)buf);
                rx_discarded(s, d->payload_len);
                x->keep_partial = true; /* the chunk was damaged on the way: resumable */
                return rx_file_error(s, -EBADMSG, "chunk at offset %llu is corrupted (digest mismatch)",
                                     (unsigned long long)d->offset);
        }
        if (x->direct && d->raw_len % 4096 != 0) {
                /* O_DIRECT needs whole blocks: the tail goes through the page
                 * cache, after the direct writes before it have landed. */
                int r = rx_drain(s);
                if (r < 0 || x->dead) {
                        fio_buf_put(s->fio, (unsigned)buf);
                        rx_discarded(s, d->payload_len);
                        return r;
                }
                int fl = fcntl(x->fd, F_GETFL);
                if (fl < 0 || fcntl(x->fd, F_SETFL, fl & ~O_DIRECT) < 0) {
                        fio_buf_put(s->fio, (unsigned)buf);
                        rx_discarded(s, d->payload_len);
                        return rx_file_error(s, -errno, "'%s': %s", x->begin.dest, path_strerror(errno));
                }
                x->direct = false;
        }
        fy_file_digest_add(&x->digest, d->digest);
        x->chunks++;
        x->next_off += d->raw_len;
        x->dirty_cur += d->raw_len;
        s->totals.bytes_received += d->raw_len;
        s->rx_wr[buf % SESSION_MAX_DEPTH] = (typeof(s->rx_wr[0])){ .off = d->offset, .len = d->raw_len, .digest = d->digest };
        int r = fio_write(s->fio, x->fd, (unsigned)buf, d->raw_len, d->offset, d->payload_len);
        if (r < 0) {
                fio_buf_put(s->fio, (unsigned)buf);
                return session_fail(s, r, "file I/O: %s", strerror(-r));
        }
        x->writes++;
        r = fio_submit(s->fio);
        if (r < 0)
                return session_fail(s, r, "file I/O: %s", strerror(-r));
        if (x->jfd >= 0 && x->next_off - x->ckpt_off >= JNL_CHECKPOINT && (r = checkpoint(s)) < 0)
                return r;
        /* Buffered writes are done by now (pwrite): account each chunk at
         * once, not when its completion is reaped with a batch of others. */
        writeback_control(s);
        if (s->cfg.ops && s->cfg.ops->progress)
                s->cfg.ops->progress(s->cfg.userdata, x->xfer_id, x->next_off, x->begin.size);
        return 0;
}

int rx_on_hole(struct session *s, const struct fy_hole *h) {
        struct rx_state *x = &s->rx;
        if (!x->active || h->xfer_id != x->xfer_id)
                return session_fail(s, -EPROTO, "protocol error: HOLE for transfer %u, which is not open", h->xfer_id);
        if (x->dead)
                return 0;
        if (!(x->begin.flags & FY_FB_SPARSE) || h->offset != x->next_off || h->offset + h->length > x->begin.size)
                return rx_file_error(s, -EPROTO, "HOLE of %llu bytes at %llu does not fit (expected offset %llu, size %llu)",
                                     (unsigned long long)h->length, (unsigned long long)h->offset,
                                     (unsigned long long)x->next_off, (unsigned long long)x->begin.size);
        if (x->jfd >= 0 && jnl_append(x->jfd, JNL_HOLE, h->offset, h->length, 0) < 0)
                return rx_file_error(s, -errno, "'%s': journal: %s", x->begin.dest, path_strerror(-errno));
        fy_file_digest_add_hole(&x->digest, h->offset, h->length);
        x->next_off += h->length;
        return 0;
}

int rx_on_write(struct session *s, const struct fio_cqe *c) {
        struct rx_state *x = &s->rx;
        fio_buf_put(s->fio, c->buf);
        rx_discarded(s, (uint32_t)c->tag);
        if (x->writes > 0)
                x->writes--;
        if (c->res < 0 && !x->dead)
                return rx_file_error(s, c->res, "writing '%s': %s", x->begin.dest, path_strerror(c->res));
        if (x->jfd >= 0 && c->res >= 0) {
                /* Written: the chunk can be resumed from (journal.h), also
                 * when a later chunk already failed the file. */
                typeof(s->rx_wr[0]) *w = &s->rx_wr[c->buf % SESSION_MAX_DEPTH];
                if (jnl_append(x->jfd, JNL_DATA, w->off, w->len, w->digest) < 0 && !x->dead)
                        return rx_file_error(s, -errno, "'%s': journal: %s", x->begin.dest, path_strerror(-errno));
        }
        if (x->dead && x->writes == 0)
                rx_cleanup(s, true);
        return 0;
}

void rx_discarded(struct session *s, uint32_t len) {
        s->rx.consumed += len;
}

/* Grant credit for what we handled, as far as the budgets allow (pacer.h).
 * When they hold it back, a timer brings us back without new input. */
int rx_flush_credit(struct session *s) {
        struct rx_state *x = &s->rx;
        if (s->bye_sent || !s->pacer_on)
                return 0; /* after BYE nothing more goes out in this session */
        uint64_t now = now_ns();
        (void)pacer_tick(&s->pacer, now);
        unsigned reasons;
        uint64_t wake;
        uint64_t limit = pacer_limit(&s->pacer, x->consumed, x->granted, now, &reasons, &wake);
        if (x->dirty_waited)
                reasons |= FY_PACE_DIRTY;
        /* While holding credit back, repeat the CREDIT at least once a
         * second: a long pause must not look like a dead peer. */
        bool keepalive = reasons && now - x->credit_ns >= CREDIT_KEEPALIVE_NS;
        if (reasons)
                session_wake_at(s, now + MIN(wake ? wake : CREDIT_KEEPALIVE_NS, CREDIT_KEEPALIVE_NS));
        if (x->consumed == x->credit_sent && limit == x->granted && reasons == x->reasons_sent && !keepalive)
                return 0;
        struct fy_msg m = {
                .type = FY_CREDIT,
                .credit = { .consumed = x->consumed, .limit = limit, .reasons = reasons },
        };
        int r = out_ctrl(s, &m);
        if (r == -ENOBUFS)
                return 0; /* sent with the next pass; credit is cumulative */
        if (r < 0)
                return r;
        pacer_granted(&s->pacer, x->granted, limit, now);
        x->credit_sent = x->consumed;
        x->credit_ns = now;
        x->granted = limit;
        x->reasons_sent = reasons;
        x->dirty_waited = false;
        return 1;
}

/* Keep what this file has written but not yet put on disk under the dirty
 * budget: start writeback on each completed segment of half the budget,
 * wait for the segment before it, and drop its pages from the cache (they
 * will not be read again here) unless told to keep them.  The wait is the
 * back-pressure: while we wait no credit is granted, so the sender slows to
 * the disk's pace instead of the guest's memory filling with dirty pages.
 *
 * The budget is also what is queued at the disk ahead of another program's
 * fdatasync, which waits for about that much of our data to be written.
 * Measured (README, "Guest budgets"): 64M budgets, i.e. 31 MiB segments, cost
 * its p99 up to 10x idle in the test guest and 29x on a 2 GB/s host disk; 8M
 * (3 MiB segments, the default in guest-agent/main.c) 0.7-1.1x and 3-10x.
 * Under io or memory pressure the segment shrinks with the pacer's window,
 * down to one chunk: less of ours in the queue, and a wait before every
 * grant. */
#define WB_WAIT_NAMED_NS 1000000ull /* 1 ms: a wait that held us (above) */

static void writeback_control(struct session *s) {
        struct rx_state *x = &s->rx;
        uint64_t limit = s->cfg.dirty_limit;
        if (!limit || x->direct || x->fd < 0)
                return;
        uint64_t written = x->next_off; /* pwrite: written when it returns */
        /* Count data, not offsets: a sparse file's holes are not dirty. */
        if (x->dirty_prev + x->dirty_cur > x->dirty_peak)
                x->dirty_peak = x->dirty_prev + x->dirty_cur;
        /* Segments hold seg .. seg + chunk bytes, and up to two of them are
         * not yet waited for: 2 * (seg + chunk) <= limit. */
        uint64_t chunk = x->begin.chunk_size;
        uint64_t seg = limit >= 4 * chunk ? (limit - 2 * chunk) / 2 : chunk;
        if (s->pacer_on)
                seg = pacer_scale(&s->pacer, seg, chunk);
        if (x->dirty_cur < seg)
                return;
        (void)sync_file_range(x->fd, (off_t)x->flush_off, (off_t)(written - x->flush_off), SYNC_FILE_RANGE_WRITE);
        if (x->flush_off > x->synced_off) {
                uint64_t t0 = now_ns();
                (void)sync_file_range(x->fd, (off_t)x->synced_off, (off_t)(x->flush_off - x->synced_off),
                                      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
                uint64_t waited = now_ns() - t0;
                if (s->pacer_on) /* our own wait is not the guest's io pressure */
                        pacer_own_io(&s->pacer, waited);
                if (!s->cfg.keep_cache)
                        (void)posix_fadvise(x->fd, (off_t)x->synced_off, (off_t)(x->flush_off - x->synced_off),
                                            POSIX_FADV_DONTNEED);
                x->synced_off = x->flush_off;
                /* Name writeback as the reason only when it held us: with
                 * small segments most waits find the data on disk already
                 * (tens of us), and the sender's wait is then for
                 * something else (the receiver's CPU, most often). */
                if (waited >= WB_WAIT_NAMED_NS)
                        x->dirty_waited = true;
        }
        x->flush_off = written;
        x->dirty_prev = x->dirty_cur;
        x->dirty_cur = 0;
}

/* Peak resident memory of this process, from /proc/self/status (0 if it
 * cannot be read). */
uint64_t rx_rss_peak(void) {
        char buf[4096];
        int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        safe_close(fd);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        const char *p = strstr(buf, "VmHWM:");
        return p ? strtoull(p + 6, NULL, 10) * 1024 : 0;
}

int rx_on_end(struct session *s, const struct fy_file_end *e) {
        struct rx_state *x = &s->rx;
        if (!x->active || e->xfer_id != x->xfer_id)
                return session_fail(s, -EPROTO, "protocol error: FILE_END for transfer %u, which is not open", e->xfer_id);
        if (x->dead) {
                x->active = false;
                return 0;
        }
        int r = rx_drain(s);
        if (r < 0)
                return r;
        if (x->dead) { /* a write failed while draining */
                x->active = false;
                return 0;
        }
        const char *dest = x->begin.dest;
        if (e->size != x->begin.size || x->next_off != x->begin.size)
                return rx_file_error(s, -EPROTO, "'%s': size mismatch: announced %llu, received %llu, end says %llu", dest,
                                     (unsigned long long)x->begin.size, (unsigned long long)x->next_off,
                                     (unsigned long long)e->size);
        if (e->chunks != x->chunks)
                return rx_file_error(s, -EPROTO, "'%s': %llu chunks received, end says %llu", dest,
                                     (unsigned long long)x->chunks, (unsigned long long)e->chunks);
        x->res.stats.peer_rtt = (struct rtt_summary){
                .count = e->rtt_count, .p50_us = e->rtt_p50_us, .p99_us = e->rtt_p99_us, .max_us = e->rtt_max_us,
        };
        fy_file_digest_final(&x->digest, x->res.digest);
        if (memcmp(x->res.digest, e->digest, 16) != 0)
                return rx_file_error(s, -EBADMSG, "'%s': file digest mismatch", dest);

        struct timespec ts[2] = {
                { .tv_nsec = UTIME_OMIT },
                { .tv_sec = x->begin.mtime_sec, .tv_nsec = x->begin.mtime_nsec },
        };
        if (fchmod(x->fd, x->begin.mode & 07777) < 0 || futimens(x->fd, ts) < 0)
                return rx_file_error(s, -errno, "'%s': setting mode and time: %s", dest, strerror(errno));
        if (s->peer.features & FY_FEAT_RESUME)
                record_set(s, x->fd, &x->begin, x->res.digest);
        if (commit_wants(s, x->begin.size)) {
                r = commit_add(s);
                if (r < 0)
                        return rx_file_error(s, r, "'%s': %s", dest, path_strerror(r));
                return commit_wants(s, 1) ? 0 : commit_flush(s) < 0 ? -EIO : 0;
        }
        if (fsync(x->fd) < 0)
                return rx_file_error(s, -errno, "'%s': fsync: %s", dest, path_strerror(errno));
        if (!s->cfg.keep_cache && !x->direct && s->cfg.dirty_limit)
                (void)posix_fadvise(x->fd, 0, 0, POSIX_FADV_DONTNEED); /* on disk now */
        if (renameat(x->dirfd, x->tmpname, x->dirfd, x->name) < 0)
                return rx_file_error(s, -errno, "'%s': %s", dest, path_strerror(-errno));
        x->tmpname[0] = 0;
        /* Make the new name durable too; failure here cannot undo the file. */
        (void)fsync(x->dirfd);
        if (x->jname[0]) /* after the rename: a crash between leaves a complete file */
                (void)unlinkat(x->dirfd, x->jname, 0);
        x->jname[0] = 0;
        rx_cleanup(s, false);
        x->active = false;

        struct fy_msg m = {
                .type = FY_FILE_STATUS,
                .status = { .xfer_id = x->xfer_id, .code = FY_OK, .bytes = x->next_off,
                            .dirty_peak = x->dirty_peak, .rss_peak = rx_rss_peak() },
        };
        memcpy(m.status.digest, x->res.digest, 16);
        x->res.stats.dirty_peak = m.status.dirty_peak;
        x->res.stats.rss_peak = m.status.rss_peak;
        r = rx_flush_credit(s);
        if (r >= 0)
                r = out_ctrl(s, &m);
        result_done(s, 0, false, NULL);
        return r < 0 ? r : 0;
}

int rx_on_abort(struct session *s, const struct fy_file_abort *a) {
        struct rx_state *x = &s->rx;
        if (!x->active || a->xfer_id != x->xfer_id || x->dead) {
                if (x->active && a->xfer_id == x->xfer_id)
                        x->active = false; /* we had given up already */
                else if (s->cfg.initiator) {
                        /* The answer to a GET the guest could not serve, or
                         * (code 0, after RESUME_STATE) did not need to; or
                         * an entry of a pulled tree it could not read. */
                        x->res = (struct file_result){ .xfer_id = a->xfer_id, .skipped = a->code == FY_OK };
                        if (a->xfer_id & FY_RESPONDER_ID) {
                                if (!s->pull_tree_id)
                                        return session_fail(s, -EPROTO, "protocol error: FILE_ABORT for transfer %u, not ours",
                                                            a->xfer_id);
                                x->res.group = s->pull_tree_id;
                                x->res.src = x->res.dest = "(an entry)";
                        }
                        for (unsigned i = 0; i < ARRAY_SIZE(s->queried) && x->res.skipped; i++)
                                if (s->queried[i].id == a->xfer_id)
                                        x->res.size = x->res.stats.bytes_skipped = s->queried[i].size;
                        x->next_off = x->chunks = 0;
                        result_done(s, a->code == FY_OK ? 0 : -fy_code_to_errno(a->code), true,
                                    a->code == FY_OK ? NULL : a->text);
                }
                return 0;
        }
        int r = rx_drain(s);
        if (r < 0)
                return r;
        rx_cleanup(s, true);
        x->active = false;
        struct fy_msg m = {
                .type = FY_FILE_STATUS,
                .status = { .xfer_id = x->xfer_id, .code = a->code, .bytes = x->next_off },
        };
        snprintf(m.status.text, sizeof m.status.text, "aborted by the sender");
        r = out_ctrl(s, &m);
        result_done(s, -fy_code_to_errno(a->code), true, a->text);
        return r < 0 ? r : 0;
}

/* Forget the file being received; the pool is already drained. */
void rx_reset(struct session *s) {
        struct rx_state *x = &s->rx;
        commit_abort(s);
        x->writes = 0;
        /* The session broke: a journaled partial stays for the rerun. */
        rx_cleanup(s, x->jfd < 0);
        x->active = false;
        x->dead = false;
}
