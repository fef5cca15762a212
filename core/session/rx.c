/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/chunkhash.h"
#include "base/proc.h"
#include "base/util.h"
#include "budget/share.h"
#include "fs/fio.h"
#include "fs/journal.h"
#include "fs/pathsafe.h"
#include "fs/space.h"
#include "fs/stale.h"
#include "fs/tmpname.h"
#include "session/commit.h"
#include "session/compress.h"
#include "session/ctx.h"
#include "session/place.h"
#include "session/resume.h"
#include "session/rx.h"

#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x00000080 /* Linux 6.14; older kernels refuse it */
#endif

static void writeback_control(struct rx *x, struct sctx *c, struct rx_file *f);

void rx_init(struct rx *x, struct commits *cm, struct resume *rs, struct place *pl, struct stale *st,
             struct compress *z) {
        *x = (struct rx){ .cm = cm, .rs = rs, .pl = pl, .st = st, .z = z,
                          .f = { .fd = -EBADF, .dirfd = -EBADF, .jfd = -EBADF, .base_fd = -EBADF } };
        for (unsigned i = 0; i < RX_PARKED; i++)
                x->parked[i] = x->f;
}

void rx_start(struct rx *x, struct sctx *c, uint64_t first_grant) {
        const struct session_config *cfg = c->cfg;
        uint64_t now = now_ns();
        x->consumed = x->credit_sent = x->received = 0;
        x->granted = first_grant;
        x->share_banked = 0;
        x->closed = false;
        (void)pacer_init(&x->pacer, cfg->recv_window, cfg->max_chunk, cfg->max_rate, cfg->cpu_limit, cfg->psi_dir,
                         cfg->psi_threshold, now);
        pacer_granted(&x->pacer, 0, x->granted, now);
        x->pacer_on = true;
}

bool rx_receiving(const struct rx *x) {
        return x->f.active && !x->f.dead && !x->f.end_seen;
}

bool rx_repairing(const struct rx *x) {
        for (unsigned i = 0; i < RX_PARKED; i++)
                if (x->parked[i].active && !x->parked[i].dead)
                        return true;
        return false;
}

/* The file transfer id is for: the open one, or one parked for repair. */
static struct rx_file *find_file(struct rx *x, uint32_t id) {
        if (x->f.active && x->f.xfer_id == id)
                return &x->f;
        for (unsigned i = 0; i < RX_PARKED; i++)
                if (x->parked[i].active && x->parked[i].xfer_id == id)
                        return &x->parked[i];
        return NULL;
}

/* Close and remove what the file left behind.  Only once no write is in
 * flight: a resubmitted short write names the descriptor by number. */
static void file_cleanup(struct rx_file *f, bool unlink_tmp) {
        if (unlink_tmp && f->tmpname[0] && f->dirfd >= 0)
                (void)unlinkat(f->dirfd, f->tmpname, 0);
        if (unlink_tmp && f->jname[0] && f->dirfd >= 0)
                (void)unlinkat(f->dirfd, f->jname, 0);
        f->tmpname[0] = f->jname[0] = 0;
        f->fd = safe_close(f->fd);
        f->jfd = safe_close(f->jfd); /* and its lock */
        f->base_fd = safe_close(f->base_fd);
        f->dirfd = safe_close(f->dirfd);
        free(f->pend);
        f->pend = NULL;
        f->pend_len = f->pend_cap = 0;
}

static void report_file(struct sctx *c, struct rx_file *f, int err, bool remote, const char *text) {
        f->res.err = err;
        f->res.remote = remote;
        snprintf(f->res.text, sizeof f->res.text, "%s", text ? text : "");
        f->res.stats.end_ns = now_ns();
        /* moved in this run (a resumed file: not its verified prefix) */
        f->res.stats.bytes = f->next_off > f->res.stats.bytes_skipped ? f->next_off - f->res.stats.bytes_skipped : 0;
        f->res.src = f->res.dest = f->begin.dest; /* (a pulled tree's entry: its path in the tree) */
        f->res.stats.chunks = f->chunks;
        c->report(c, &f->res);
}

static int send_status(struct sctx *c, const struct fy_msg *m) {
        int r = sctx_send(c, m);
        return r < 0 ? sctx_fail(c, r, "FILE_STATUS: %s", strerror(-r)) : 0;
}

/* The file failed on our side: tell the sender (it stops sending this
 * file), drop the temporary file, and ignore the rest of its frames. */
static int file_error(struct rx *x, struct sctx *c, struct rx_file *f, int err, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
static int file_error(struct rx *x, struct sctx *c, struct rx_file *f, int err, const char *fmt, ...) {
        struct fy_msg m = {
                .type = FY_FILE_STATUS,
                .status = { .xfer_id = f->xfer_id, .code = fy_code_from_errno(err), .bytes = f->next_off },
        };
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m.status.text, sizeof m.status.text, fmt, ap);
        va_end(ap);
        int r = rx_flush_credit(x, c);
        if (r >= 0)
                r = send_status(c, &m);
        /* A file that failed is not resumed: its partial goes too - unless
         * only the stream failed it (a damaged chunk, a frame out of place:
         * on a serial port, the bytes of a host that replaced a dead one),
         * and what the journal holds is still good. */
        if (!(f->keep_partial && f->jname[0])) {
                if (f->tmpname[0] && f->dirfd >= 0)
                        (void)unlinkat(f->dirfd, f->tmpname, 0);
                if (f->jname[0] && f->dirfd >= 0)
                        (void)unlinkat(f->dirfd, f->jname, 0);
        }
        f->tmpname[0] = f->jname[0] = 0;
        if (f->writes == 0)
                file_cleanup(f, false);
        f->dead = true;
        if (f != &x->f && f->writes == 0)
                f->active = false; /* a parked file: its slot is free */
        report_file(c, f, err, false, m.status.text);
        return r < 0 ? r : 0;
}

/* Wait for this file's writes to land (before committing or replacing it). */
static int drain(struct sctx *c, struct rx_file *f) {
        while (f->writes > 0) {
                int r = c->io_wait(c);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Open a file in dirfd, O_DIRECT when asked and the filesystem takes it
 * (tmpfs and some others refuse it: buffered it is, and we say so once). */
static int open_maybe_direct(struct rx *x, int dirfd, const char *name, int flags, bool *direct) {
        int fd = openat(dirfd, name, flags | (*direct ? O_DIRECT : 0), 0600);
        if (fd < 0 && *direct && errno == EINVAL) {
                x->direct_refused = true;
                *direct = false;
                fd = openat(dirfd, name, flags, 0600);
        }
        return fd < 0 ? -errno : fd;
}

/* The partial file of a journaled transfer: a fresh pair, or (FY_FB_RESUME)
 * the one RESUME_STATE described, cut back to resume_off. */
static int open_journaled(struct rx *x, const struct fy_file_begin *b, bool *direct) {
        struct rx_file *f = &x->f;
        struct jnl_ident want = {
                .size = b->size, .mtime_sec = b->mtime_sec, .mtime_nsec = b->mtime_nsec,
                .chunk_size = b->chunk_size, .flags = b->flags & FY_FB_SPARSE,
        };
        char part[FY_MAX_NAME + 1], jname[FY_MAX_NAME + 1];
        tmpname_partial(f->name, part, jname);
        int r;
        if (!(b->flags & FY_FB_RESUME)) {
                r = jnl_create(f->dirfd, part, jname, &want, &f->jfd, &f->fd, *direct ? O_DIRECT : 0);
                if (r == -EINVAL && *direct) {
                        x->direct_refused = true; /* as in open_maybe_direct */
                        *direct = false;
                        r = jnl_create(f->dirfd, part, jname, &want, &f->jfd, &f->fd, 0);
                }
                if (r < 0)
                        return r;
                strcpy(f->tmpname, part);
                strcpy(f->jname, jname);
                return 0;
        }
        struct jnl_ident id;
        r = jnl_open(f->dirfd, jname, &f->jfd, &id);
        if (r < 0)
                return r == -EBUSY ? r : -ESTALE;
        /* From here a failure removes the pair: the next run starts over. */
        strcpy(f->jname, jname);
        strcpy(f->tmpname, part);
        if (!jnl_ident_eq(&id, &want))
                return -ESTALE;
        r = open_maybe_direct(x, f->dirfd, part, O_WRONLY | O_CLOEXEC | O_NOFOLLOW, direct);
        if (r < 0)
                return r == -ENOENT ? -ESTALE : r;
        f->fd = r;
        struct jnl_prefix p;
        r = jnl_rewrite(f->jfd, &id, f->fd, b->resume_off);
        if (r == 0)
                r = jnl_scan(f->jfd, -1, b->resume_off, &p);
        if (r < 0)
                return r;
        if (p.offset != b->resume_off || p.chunks != b->resume_chunks)
                return -ESTALE;
        f->digest = p.digest;
        f->next_off = f->ckpt_off = f->synced_off = f->flush_off = b->resume_off;
        f->chunks = p.chunks;
        f->res.stats.bytes_skipped = b->resume_off;
        return 0;
}

/* A small file: a temporary name, one component in the destination
 * directory - openat with O_EXCL|O_NOFOLLOW cannot be redirected by a
 * symlink - locked until renamed (an unlocked one is an orphan, fs/stale.h). */
static int open_tmp(struct rx *x, struct sctx *c, bool *direct) {
        struct rx_file *f = &x->f;
        tmpname_tmp(f->name, sctx_tmp_suffix(c), f->tmpname);
        int r = stale_create_tmp(f->dirfd, f->tmpname, O_WRONLY | (*direct ? O_DIRECT : 0));
        if (r == -EINVAL && *direct) { /* as in open_maybe_direct */
                x->direct_refused = true;
                *direct = false;
                r = stale_create_tmp(f->dirfd, f->tmpname, O_WRONLY);
        }
        if (r < 0) {
                f->tmpname[0] = 0;
                return r;
        }
        f->fd = r;
        return 0;
}

/* A full disk is reported before a byte is sent, not after most of the
 * file has crossed; the space itself is reserved as the data comes. */
static int reserve(struct rx_file *f, const struct fy_file_begin *b) {
        if (b->flags & FY_FB_SPARSE) /* holes stay holes: the size is set, only data is written */
                return ftruncate(f->fd, (off_t)b->size) < 0 ? -errno : 0;
        /* (Small files skip this: a batch commit's syncfs finds a full disk
         * just as well, and the call costs more than the write.) */
        return b->size > SMALL_FILE ? space_begin(f->fd, b->size) : 0; /* (fs/space.h: as it arrives) */
}

/* The open file's FILE_END came while chunks of it were still asked for:
 * it waits in a slot of its own while the next file is received.  With no
 * free slot the file waiting longest gives up (its partial stays). */
static int park(struct rx *x, struct sctx *c) {
        struct rx_file *f = &x->f;
        int r = drain(c, f); /* writes in flight name &x->f */
        if (r < 0 || f->dead)
                return r;
        struct rx_file *slot = NULL;
        for (unsigned i = 0; i < RX_PARKED && !slot; i++)
                if (!x->parked[i].active)
                        slot = &x->parked[i];
        if (!slot) {
                slot = &x->parked[0];
                struct rx_file *old = slot;
                if ((r = drain(c, old)) < 0)
                        return r;
                old->keep_partial = true;
                if ((r = file_error(x, c, old, -EBADMSG, "'%s': damaged chunks were not sent again in time",
                                    old->begin.dest)) < 0)
                        return r;
                file_cleanup(old, false);
        }
        *slot = *f;
        *f = (struct rx_file){ .fd = -EBADF, .dirfd = -EBADF, .jfd = -EBADF, .base_fd = -EBADF };
        return 0;
}

int rx_expect_bench(struct rx *x, uint32_t id) {
        for (unsigned i = 0; i < RX_BENCH_IDS; i++)
                if (!x->bench_ids[i]) {
                        x->bench_ids[i] = id;
                        return 0;
                }
        return -ENOBUFS;
}

/* Bench mode: a file that is only checked.  The responder takes one when
 * bench mode was agreed; the host only as the answer to its bench GET. */
static int sink_begin(struct rx *x, struct sctx *c, struct rx_file *f, const struct fy_file_begin *b) {
        if (!sctx_peer_has(c, FY_FEAT_BENCH))
                return sctx_fail(c, -EPROTO, "protocol error: FILE_BEGIN %u is a bench file, but bench mode (feature bit 7) "
                                 "was not agreed", b->xfer_id);
        if (c->cfg->initiator) {
                unsigned i = 0;
                while (i < RX_BENCH_IDS && x->bench_ids[i] != b->xfer_id)
                        i++;
                if (!b->xfer_id || i == RX_BENCH_IDS)
                        return sctx_fail(c, -EPROTO, "protocol error: FILE_BEGIN %u is a bench file, but we asked for no "
                                         "bench data there", b->xfer_id);
                x->bench_ids[i] = 0;
        }
        f->sink = true;
        if (b->chunk_size > c->cfg->max_chunk)
                return file_error(x, c, f, -EPROTO, "chunk size %u over our maximum %u", b->chunk_size, c->cfg->max_chunk);
        return 0;
}

/* The file is in place (or, a bench file, checked and dropped): its OK
 * verdict with the receiver's figures, then its report. */
static int file_ok(struct rx *x, struct sctx *c, struct rx_file *f) {
        struct fy_msg m = {
                .type = FY_FILE_STATUS,
                .status = { .xfer_id = f->xfer_id, .code = FY_OK, .bytes = f->next_off,
                            .dirty_peak = f->dirty_peak, .rss_peak = proc_rss_peak() },
        };
        memcpy(m.status.digest, f->res.digest, 16);
        f->res.stats.dirty_peak = m.status.dirty_peak;
        f->res.stats.rss_peak = m.status.rss_peak;
        int r = rx_flush_credit(x, c);
        if (r >= 0)
                r = send_status(c, &m);
        report_file(c, f, 0, false, NULL);
        return r < 0 ? r : 0;
}

/* Everything of a bench file is here and checked: its verdict, nothing to commit. */
static int sink_done(struct rx *x, struct sctx *c, struct rx_file *f) {
        f->active = false;
        return file_ok(x, c, f);
}

static enum session_access cfg_access(const struct sctx *c) {
        return c->cfg->initiator ? ACCESS_READ_WRITE : c->cfg->access;
}

int rx_on_begin(struct rx *x, struct sctx *c, const struct fy_file_begin *b) {
        struct rx_file *f = &x->f;
        if (rx_receiving(x))
                return sctx_fail(c, -EPROTO, "protocol error: FILE_BEGIN %u while %u is open", b->xfer_id, f->xfer_id);
        int r;
        if (f->active && f->end_seen && !f->dead && (r = park(x, c)) < 0)
                return r;
        if ((r = drain(c, f)) < 0)
                return r;
        file_cleanup(f, true);
        *f = (struct rx_file){
                .active = true,
                .xfer_id = b->xfer_id,
                .fd = -EBADF, .dirfd = -EBADF, .jfd = -EBADF, .base_fd = -EBADF,
                .begin = *b,
                .res = { .xfer_id = b->xfer_id, .size = b->size, .stats = { .start_ns = now_ns() } },
        };
        fy_file_digest_init(&f->digest);
        if (b->flags & FY_FB_BENCH)
                return sink_begin(x, c, f, b);

        struct place_dest d;
        if (place_target(x->pl, c, b, &d) < 0)
                return sctx_fail(c, -EPROTO, "protocol error: FILE_BEGIN for transfer %u we did not ask for", b->xfer_id);
        f->res.group = d.group;
        if (c->cfg->access == ACCESS_READ_ONLY) /* (session.c refuses the rest) */
                return file_error(x, c, f, -EROFS, "'%s': ferryd serves its root read-only (--read-only)", b->dest);
        if (b->chunk_size > c->cfg->max_chunk)
                return file_error(x, c, f, -EPROTO, "chunk size %u over our maximum %u", b->chunk_size, c->cfg->max_chunk);
        const char *dest = b->dest;
        r = dest_resolve(d.root, d.dest, d.name, d.flags, &f->dirfd, f->name);
        if (r < 0)
                return file_error(x, c, f, r, "'%s': %s", dest, path_strerror(r));
        if (!stale_swept_for(x->st, b->xfer_id)) /* (a RESUME_QUERY about this file swept it) */
                (void)stale_sweep(x->st, f->dirfd);
        if (b->flags & FY_FB_DELTA) {
                /* (Without bits 9 and 3 agreed session.c's feature gate has
                 * ended the session already.) */
                if (b->flags & FY_FB_RESUME)
                        return file_error(x, c, f, -EPROTO, "'%s': a delta cannot be resumed", dest);
                /* The file the kept chunks come from: the destination as it
                 * is now.  None (it went away): every kept chunk is asked for. */
                if (cfg_access(c) == ACCESS_WRITE_ONLY) /* tells nothing of what it holds: no oracle */
                        f->base_fd = -EACCES;
                else if ((f->base_fd = openat(f->dirfd, f->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)) < 0)
                        f->base_fd = -errno;
        }

        const struct session_config *cfg = c->cfg;
        bool direct = cfg->write_mode == WRITE_DIRECT && !x->direct_refused && b->chunk_size % 4096 == 0;
        /* Uncached writes start writeback at once, one disk request per write:
         * right for big files, but small ones are written back together by
         * their batch commit (commit.h). */
        if (cfg->write_mode == WRITE_AUTO && !fio_write_flags_refused(c->fio))
                fio_set_write_flags(c->fio, b->size > SMALL_FILE ? RWF_DONTCACHE : 0);
        if (sctx_peer_has(c, FY_FEAT_RESUME) && b->size > SMALL_FILE) {
                /* Big enough to be worth resuming: a partial file with a
                 * journal, under names a rerun finds. */
                if ((r = open_journaled(x, b, &direct)) < 0)
                        return file_error(x, c, f, r, "'%s': %s", dest,
                                          r == -ESTALE ? "the partial file to resume is gone or changed" : path_strerror(r));
        } else {
                if (b->flags & FY_FB_RESUME) /* as a partial file that is gone (PROTOCOL.md 9.8): 255 */
                        return file_error(x, c, f, -ESTALE, "'%s': no partial file to resume (none is kept for it)", dest);
                if ((r = open_tmp(x, c, &direct)) < 0)
                        return file_error(x, c, f, r, "'%s': %s", dest, path_strerror(r));
        }
        f->direct = direct && f->fd >= 0;
        if (b->flags & FY_FB_RESUME)
                return 0; /* space and size were set by the first run */
        if ((r = reserve(f, b)) < 0)
                return file_error(x, c, f, r, "'%s': %s", dest, path_strerror(r));
        return 0;
}

static struct rx_nack *nack_find(struct rx_file *f, uint64_t off, uint32_t len) {
        for (unsigned i = 0; i < f->nnack; i++)
                if (f->nack[i].off == off && f->nack[i].len == len)
                        return &f->nack[i];
        return NULL;
}

static int data_head(struct rx *x, struct sctx *c, const struct fy_data *d, bool *ret_want);


int rx_on_data_head(struct rx *x, struct sctx *c, const struct fy_data *d, bool *ret_want) {
        *ret_want = false;
        int r = data_head(x, c, d, ret_want);
        /* A kept chunk dropped here: its window goes back now (the payload
         * dropped, none, gives back nothing). */
        if (!*ret_want && d->codec == FY_CODEC_KEEP)
                rx_on_discarded(x, d->raw_len);
        return r;
}

static int data_head(struct rx *x, struct sctx *c, const struct fy_data *d, bool *ret_want) {
        x->received += fy_data_credit(d);
        if (x->received > x->granted)
                return sctx_fail(c, -EPROTO, "protocol error: DATA beyond the credit limit (%llu > %llu bytes)",
                                 (unsigned long long)x->received, (unsigned long long)x->granted);
        struct rx_file *f = find_file(x, d->xfer_id);
        if (!f)
                return sctx_fail(c, -EPROTO, "protocol error: DATA for transfer %u, which is not open", d->xfer_id);
        *ret_want = false;
        if (f->dead)
                return 0; /* already failed: drop, but credit */
        if (d->codec == FY_CODEC_KEEP && !(f->begin.flags & FY_FB_DELTA))
                return file_error(x, c, f, -EPROTO, "a kept chunk (codec 2) at offset %llu, but not a delta",
                                  (unsigned long long)d->offset);
        /* A chunk asked for again (CHUNK_NACK), or the next one in order. */
        if (!nack_find(f, d->offset, d->raw_len)) {
                f->keep_partial = true; /* the stream is wrong, not the file so far */
                if (d->offset != f->next_off || f->end_seen)
                        return file_error(x, c, f, -EPROTO, "DATA at offset %llu, expected %llu",
                                          (unsigned long long)d->offset, (unsigned long long)f->next_off);
                if (d->raw_len > f->begin.chunk_size || d->offset + d->raw_len > f->begin.size)
                        return file_error(x, c, f, -EPROTO,
                                          "DATA of %u bytes at offset %llu overruns the file (size %llu, chunk %u)",
                                          d->raw_len, (unsigned long long)d->offset, (unsigned long long)f->begin.size,
                                          f->begin.chunk_size);
                f->keep_partial = false;
        }
        *ret_want = true;
        return 0;
}

/* The file's digest takes chunks in file order: once a chunk is asked for
 * again, the ones after it wait in f->pend until it is back. */
static int pend_push(struct rx_file *f, uint64_t off, uint64_t len, uint64_t digest, bool ok, bool hole) {
        if (f->pend_len == f->pend_cap)
                return -ENOBUFS;
        f->pend[(f->pend_head + f->pend_len++) % f->pend_cap] =
                (struct rx_pend){ .off = off, .len = len, .digest = digest, .ok = ok, .hole = hole };
        return 0;
}

static void pend_fold(struct rx_file *f) {
        while (f->pend_len > 0 && f->pend[f->pend_head].ok) {
                struct rx_pend *e = &f->pend[f->pend_head];
                if (e->hole)
                        fy_file_digest_add_hole(&f->digest, e->off, e->len);
                else
                        fy_file_digest_add(&f->digest, e->digest);
                f->pend_head = (f->pend_head + 1) % f->pend_cap;
                f->pend_len--;
        }
}

/* A digest in its place: at once, or after the chunks still asked for. */
static int digest_in_order(struct rx_file *f, uint64_t off, uint64_t len, uint64_t digest, bool hole) {
        if (f->pend_len == 0) {
                if (hole)
                        fy_file_digest_add_hole(&f->digest, off, len);
                else
                        fy_file_digest_add(&f->digest, digest);
                return 0;
        }
        return pend_push(f, off, len, digest, true, hole);
}

static int end_file(struct rx *x, struct sctx *c, struct rx_file *f, const struct fy_file_end *e);

/* A damaged chunk (its digest, or a payload that did not decompress): ask
 * for it again while the sender takes repairs and the tries last; else the
 * file fails (its verified part kept for a rerun). */
static int damaged(struct rx *x, struct sctx *c, struct rx_file *f, const struct fy_data *d, int err,
                   const char *why) {
        struct rx_nack *n = nack_find(f, d->offset, d->raw_len);
        bool keep = d->codec == FY_CODEC_KEEP && !n; /* lacked, not damaged: its own budget */
        bool again = sctx_peer_has(c, FY_FEAT_RESEND) &&
                     (n ? n->tries < RX_NACK_TRIES : keep ? f->nkeep < RX_KEEP_NACKS : f->nnack - f->nkeep < RX_NACKS);
        if (again && !n && !f->pend) {
                /* Chunks after it wait for it: at most what the sender can
                 * have in flight until it hears, a window and some. */
                uint64_t cap = 2 * x->granted / MAX(f->begin.chunk_size / 2, 4096u) + 64;
                f->pend_cap = (unsigned)MIN(cap, 1u << 20);
                f->pend_head = f->pend_len = 0;
                if (!(f->pend = calloc(f->pend_cap, sizeof *f->pend)))
                        again = false;
        }
        if (again && !n && pend_push(f, d->offset, d->raw_len, 0, false, false) < 0)
                again = false;
        f->keep_partial = true; /* damaged on the way: what is verified stays resumable */
        if (!again)
                return file_error(x, c, f, err, "chunk at offset %llu %s%s", (unsigned long long)d->offset, why,
                                  n ? ", and again when sent again" : "");
        struct fy_msg m = { .type = FY_CHUNK_NACK, .nack = { .xfer_id = f->xfer_id, .raw_len = d->raw_len,
                                                            .offset = d->offset, .code = fy_code_from_errno(err) } };
        int r = sctx_send(c, &m);
        if (r < 0)
                return sctx_fail(c, r, "CHUNK_NACK: %s", strerror(-r));
        if (n) {
                n->tries++;
        } else {
                f->nack[f->nnack++] = (struct rx_nack){ .off = d->offset, .len = d->raw_len, .tries = 1, .keep = keep };
                f->nkeep += keep;
                f->chunks++;
                f->next_off += d->raw_len;
        }
        if (!keep)
                f->res.stats.retransmits++;
        return 0;
}

/* Make what the journal lists durable, and say so in it: after a crash the
 * records before this mark are trusted without reading the data back. */
static int checkpoint(struct rx *x, struct sctx *c, struct rx_file *f) {
        int r = drain(c, f);
        if (r < 0 || f->dead)
                return r;
        r = fdatasync(f->fd) < 0 ? -errno : 0;
        if (r == 0)
                r = jnl_append(f->jfd, JNL_DURABLE, f->next_off, 0, 0);
        if (r == 0 && fdatasync(f->jfd) < 0)
                r = -errno;
        if (r < 0)
                return file_error(x, c, f, r, "'%s': %s", f->begin.dest, path_strerror(r));
        f->ckpt_off = f->next_off;
        if (!(f->begin.flags & FY_FB_SPARSE) && (r = space_ahead(f->fd, f->next_off, f->begin.size)) < 0)
                return file_error(x, c, f, r, "'%s': %s", f->begin.dest, path_strerror(r));
        return 0;
}

/* A payload we will not write: its buffer back, its bytes credited. */
static void drop_payload(struct rx *x, struct sctx *c, const struct fy_data *d, int buf) {
        fio_buf_put(c->fio, (unsigned)buf);
        rx_on_discarded(x, fy_data_credit(d));
}

int rx_on_data(struct rx *x, struct sctx *c, const struct fy_data *d, int buf) {
        struct rx_file *f = find_file(x, d->xfer_id);
        uint8_t *p = fio_buf(c->fio, (unsigned)buf);
        if (!f || f->dead) { /* failed while this payload was arriving */
                drop_payload(x, c, d, buf);
                return 0;
        }
        struct rx_nack *n = nack_find(f, d->offset, d->raw_len);
        int r;
        if (d->codec == FY_CODEC_ZSTD) {
                if (!sctx_peer_has(c, FY_FEAT_ZSTD)) {
                        drop_payload(x, c, d, buf);
                        return file_error(x, c, f, -EPROTO, "compressed DATA at offset %llu, but zstd was not agreed",
                                          (unsigned long long)d->offset);
                }
                if ((r = compress_unpack(x->z, p, d->payload_len, d->raw_len, fio_bufsize(c->fio))) < 0) {
                        drop_payload(x, c, d, buf);
                        return damaged(x, c, f, d, r,
                                       r == -EBADMSG ? "is corrupted (the compressed payload does not decompress to its length)"
                                                     : strerror(-r));
                }
        }
        if (d->codec == FY_CODEC_KEEP) {
                /* Our own bytes at this offset, if they are what the sender
                 * has there; else we ask for them (ENOENT: not here). */
                ssize_t got = f->base_fd >= 0 ? pread(f->base_fd, p, d->raw_len, (off_t)d->offset) : -1;
                if (got != (ssize_t)d->raw_len || chunk_hash(p, d->raw_len) != d->digest) {
                        drop_payload(x, c, d, buf);
                        return damaged(x, c, f, d, -ENOENT, "is not the destination's");
                }
                f->res.stats.chunks_kept++;
        } else if (chunk_hash(p, d->raw_len) != d->digest) {
                drop_payload(x, c, d, buf);
                return damaged(x, c, f, d, -EBADMSG, "is corrupted (digest mismatch)");
        }
        if (f->direct && d->raw_len % 4096 != 0) {
                /* O_DIRECT needs whole blocks: the tail goes through the page
                 * cache, after the direct writes before it have landed. */
                if ((r = drain(c, f)) < 0 || f->dead) {
                        drop_payload(x, c, d, buf);
                        return r;
                }
                int fl = fcntl(f->fd, F_GETFL);
                if (fl < 0 || fcntl(f->fd, F_SETFL, fl & ~O_DIRECT) < 0) {
                        r = -errno;
                        drop_payload(x, c, d, buf);
                        return file_error(x, c, f, r, "'%s': %s", f->begin.dest, path_strerror(r));
                }
                f->direct = false;
        }
        if (n) {
                /* The chunk asked for again is back: its digest takes its
                 * place, and the ones waiting behind it follow. */
                for (unsigned i = 0; i < f->pend_len; i++) {
                        struct rx_pend *e = &f->pend[(f->pend_head + i) % f->pend_cap];
                        if (!e->ok && e->off == d->offset) {
                                e->ok = true;
                                e->digest = d->digest;
                        }
                }
                f->nkeep -= n->keep;
                *n = f->nack[--f->nnack];
                pend_fold(f);
        } else {
                if ((r = digest_in_order(f, d->offset, d->raw_len, d->digest, false)) < 0) {
                        drop_payload(x, c, d, buf);
                        return file_error(x, c, f, r, "chunk at offset %llu: too many chunks behind a damaged one",
                                          (unsigned long long)d->offset);
                }
                f->chunks++;
                f->next_off += d->raw_len;
                f->dirty_cur += d->raw_len;
        }
        f->res.stats.wire_bytes += d->payload_len;
        f->res.stats.chunks_compressed += d->codec == FY_CODEC_ZSTD;
        c->totals.bytes_received += d->raw_len;
        if (f->sink) { /* checked: that is all a bench file is for */
                drop_payload(x, c, d, buf);
                if (n)
                        return f->end_seen && f->nnack == 0 ? end_file(x, c, f, &f->end) : 0;
                if (c->cfg->ops && c->cfg->ops->progress)
                        c->cfg->ops->progress(c->cfg->userdata, f->xfer_id, f->next_off, f->begin.size);
                return 0;
        }
        x->wr[buf % SESSION_MAX_DEPTH] =
                (typeof(x->wr[0])){ .f = f, .off = d->offset, .len = d->raw_len, .digest = d->digest, .t0 = now_ns() };
        r = fio_write(c->fio, f->fd, (unsigned)buf, d->raw_len, d->offset, fy_data_credit(d));
        if (r < 0) {
                fio_buf_put(c->fio, (unsigned)buf);
                return sctx_fail(c, r, "file I/O: %s", strerror(-r));
        }
        f->writes++;
        if ((r = fio_submit(c->fio)) < 0)
                return sctx_fail(c, r, "file I/O: %s", strerror(-r));
        if (n) {
                /* The last chunk a finished file waited for. */
                if (f->end_seen && f->nnack == 0)
                        return end_file(x, c, f, &f->end);
                return 0;
        }
        if (f->jfd >= 0 && f->nnack == 0 && f->next_off - f->ckpt_off >= RX_CHECKPOINT && (r = checkpoint(x, c, f)) < 0)
                return r;
        /* Buffered writes are done by now (pwrite): account each chunk at
         * once, not when its completion is reaped with a batch of others. */
        writeback_control(x, c, f);
        if (c->cfg->ops && c->cfg->ops->progress)
                c->cfg->ops->progress(c->cfg->userdata, f->xfer_id, f->next_off, f->begin.size);
        return 0;
}

int rx_on_hole(struct rx *x, struct sctx *c, const struct fy_hole *h) {
        struct rx_file *f = &x->f;
        if (!f->active || h->xfer_id != f->xfer_id)
                return sctx_fail(c, -EPROTO, "protocol error: HOLE for transfer %u, which is not open", h->xfer_id);
        if (f->dead)
                return 0;
        if (!(f->begin.flags & FY_FB_SPARSE) || h->offset != f->next_off || h->offset + h->length > f->begin.size ||
            f->end_seen)
                return file_error(x, c, f, -EPROTO, "HOLE of %llu bytes at %llu does not fit (expected offset %llu, size %llu)",
                                  (unsigned long long)h->length, (unsigned long long)h->offset,
                                  (unsigned long long)f->next_off, (unsigned long long)f->begin.size);
        int r;
        if (f->jfd >= 0 && (r = jnl_append(f->jfd, JNL_HOLE, h->offset, h->length, 0)) < 0)
                return file_error(x, c, f, r, "'%s': journal: %s", f->begin.dest, path_strerror(r));
        if ((r = digest_in_order(f, h->offset, h->length, 0, true)) < 0)
                return file_error(x, c, f, r, "HOLE at offset %llu: too many chunks behind a damaged one",
                                  (unsigned long long)h->offset);
        f->next_off += h->length;
        return 0;
}

int rx_on_write(struct rx *x, struct sctx *c, const struct fio_cqe *cqe) {
        typeof(x->wr[0]) *w = &x->wr[cqe->buf % SESSION_MAX_DEPTH];
        struct rx_file *f = w->f;
        fio_buf_put(c->fio, cqe->buf);
        rx_on_discarded(x, (uint32_t)cqe->tag);
        if (f->writes > 0)
                f->writes--;
        if (cqe->res < 0 && !f->dead)
                return file_error(x, c, f, cqe->res, "writing '%s': %s", f->begin.dest, path_strerror(cqe->res));
        if (cqe->res >= 0)
                lat_record(&c->totals.write_lat, (now_ns() - w->t0) / 1000);
        if (f->jfd >= 0 && cqe->res >= 0) {
                /* Written: the chunk can be resumed from (fs/journal.h), also
                 * when a later chunk already failed the file. */
                int r = jnl_append(f->jfd, JNL_DATA, w->off, w->len, w->digest);
                if (r < 0 && !f->dead)
                        return file_error(x, c, f, r, "'%s': journal: %s", f->begin.dest, path_strerror(r));
        }
        if (f->dead && f->writes == 0) {
                file_cleanup(f, true);
                if (f != &x->f)
                        f->active = false;
        }
        return 0;
}

void rx_on_discarded(struct rx *x, uint32_t len) {
        x->consumed += len;
}

int rx_flush_credit(struct rx *x, struct sctx *c) {
        if (x->closed || !x->pacer_on)
                return 0; /* after BYE nothing more goes out in this session */
        uint64_t now = now_ns();
        /* The time since the last look was held back for what the last
         * CREDIT said (each reason it named counts it whole) - while a file
         * comes in: an idle session's reasons hold nothing back. */
        for (unsigned i = 0; i < SESSION_PACE_REASONS; i++)
                if (x->reasons_sent & (1u << i) && x->paced_ns && x->f.active)
                        c->totals.paced_ns[i] += now - x->paced_ns;
        x->paced_ns = now;
        (void)pacer_tick(&x->pacer, now);
        unsigned reasons;
        uint64_t wake;
        uint64_t limit = pacer_limit(&x->pacer, x->consumed, x->granted, now, &reasons, &wake);
        if (c->cfg->share && limit > x->granted) {
                /* A host-wide rate shared with other sessions (a pull from
                 * several guests): credit is granted only as the share
                 * allows, a chunk at a time, so a guest with more to send
                 * gets what the others leave.  Taken but not yet announced
                 * (the CREDIT did not fit) stays banked. */
                uint64_t step = c->cfg->max_chunk, w = 0;
                while (x->share_banked < limit - x->granted &&
                       !(w = share_take(c->cfg->share, MIN(step, limit - x->granted - x->share_banked), now)))
                        x->share_banked += MIN(step, limit - x->granted - x->share_banked);
                if (x->share_banked < limit - x->granted) {
                        limit = x->granted + x->share_banked;
                        reasons |= FY_PACE_RATE;
                        wake = wake ? MIN(wake, w) : w;
                }
        }
        if (x->dirty_waited)
                reasons |= FY_PACE_DIRTY;
        /* While holding credit back, repeat the CREDIT at least once a
         * second: a long pause must not look like a dead peer. */
        bool keepalive = reasons && now - x->credit_ns >= KEEPALIVE_NS;
        if (reasons)
                sctx_wake_at(c, now + MIN(wake ? wake : KEEPALIVE_NS, KEEPALIVE_NS));
        if (x->consumed == x->credit_sent && limit == x->granted && reasons == x->reasons_sent && !keepalive)
                return 0;
        struct fy_msg m = {
                .type = FY_CREDIT,
                .credit = { .consumed = x->consumed, .limit = limit, .reasons = reasons },
        };
        int r = sctx_send(c, &m);
        if (r == -ENOBUFS)
                return 0; /* sent with the next pass; credit is cumulative */
        if (r < 0)
                return sctx_fail(c, r, "CREDIT: %s", strerror(-r));
        pacer_granted(&x->pacer, x->granted, limit, now);
        x->share_banked -= MIN(x->share_banked, limit - x->granted);
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

static void writeback_control(struct rx *x, struct sctx *c, struct rx_file *f) {
        uint64_t limit = c->cfg->dirty_limit;
        if (!limit || f->direct || f->fd < 0)
                return;
        uint64_t written = f->next_off; /* pwrite: written when it returns */
        /* Count data, not offsets: a sparse file's holes are not dirty. */
        if (f->dirty_prev + f->dirty_cur > f->dirty_peak)
                f->dirty_peak = f->dirty_prev + f->dirty_cur;
        /* Segments hold seg .. seg + chunk bytes, and up to two of them are
         * not yet waited for: 2 * (seg + chunk) <= limit. */
        uint64_t chunk = f->begin.chunk_size;
        uint64_t seg = limit >= 4 * chunk ? (limit - 2 * chunk) / 2 : chunk;
        if (x->pacer_on)
                seg = pacer_scale(&x->pacer, seg, chunk);
        if (f->dirty_cur < seg)
                return;
        (void)sync_file_range(f->fd, (off_t)f->flush_off, (off_t)(written - f->flush_off), SYNC_FILE_RANGE_WRITE);
        if (f->flush_off > f->synced_off) {
                uint64_t t0 = now_ns();
                (void)sync_file_range(f->fd, (off_t)f->synced_off, (off_t)(f->flush_off - f->synced_off),
                                      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
                uint64_t waited = now_ns() - t0;
                if (x->pacer_on) /* our own wait is not the guest's io pressure */
                        pacer_own_io(&x->pacer, waited);
                if (!c->cfg->keep_cache)
                        (void)posix_fadvise(f->fd, (off_t)f->synced_off, (off_t)(f->flush_off - f->synced_off),
                                            POSIX_FADV_DONTNEED);
                f->synced_off = f->flush_off;
                /* Name writeback as the reason only when it held us: with
                 * small segments most waits find the data on disk already
                 * (tens of us), and the sender's wait is then for
                 * something else (the receiver's CPU, most often). */
                if (waited >= WB_WAIT_NAMED_NS)
                        x->dirty_waited = true;
        }
        f->flush_off = written;
        f->dirty_prev = f->dirty_cur;
        f->dirty_cur = 0;
}

/* The verified file goes to its name: in the next batch (small files), or
 * at once after an fsync. */
static int commit_file(struct rx *x, struct sctx *c, struct rx_file *f) {
        const char *dest = f->begin.dest;
        if (commits_want(x->cm, f->begin.size)) {
                struct commit_file cf = { .fd = f->fd, .dirfd = f->dirfd, .dirty_peak = f->dirty_peak, .res = f->res };
                strcpy(cf.tmpname, f->tmpname);
                strcpy(cf.name, f->name);
                snprintf(cf.dest, sizeof cf.dest, "%s", dest);
                cf.res.stats.bytes = f->next_off;
                cf.res.stats.chunks = f->chunks;
                cf.res.src = cf.res.dest = NULL;
                f->fd = f->dirfd = -EBADF; /* the batch's now */
                f->tmpname[0] = 0;
                f->active = false;
                int r = commits_add(x->cm, &cf);
                if (r < 0)
                        return file_error(x, c, f, r, "'%s': %s", dest, path_strerror(r));
                if (commits_want(x->cm, 1))
                        return 0;
                r = commits_flush(x->cm, c);
                return r < 0 ? r : 0;
        }
        if (fsync(f->fd) < 0) {
                int r = -errno;
                return file_error(x, c, f, r, "'%s': fsync: %s", dest, path_strerror(r));
        }
        if (!c->cfg->keep_cache && !f->direct && c->cfg->dirty_limit)
                (void)posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED); /* on disk now */
        if (renameat(f->dirfd, f->tmpname, f->dirfd, f->name) < 0) {
                int r = -errno;
                return file_error(x, c, f, r, "'%s': %s", dest, path_strerror(r));
        }
        f->tmpname[0] = 0;
        /* Make the new name durable too; failure here cannot undo the file. */
        (void)fsync(f->dirfd);
        if (f->jname[0]) /* after the rename: a crash between leaves a complete file */
                (void)unlinkat(f->dirfd, f->jname, 0);
        f->jname[0] = 0;
        file_cleanup(f, false);
        f->active = false;
        return file_ok(x, c, f);
}

int rx_on_end(struct rx *x, struct sctx *c, const struct fy_file_end *e) {
        struct rx_file *f = &x->f;
        if (!f->active || e->xfer_id != f->xfer_id || f->end_seen)
                return sctx_fail(c, -EPROTO, "protocol error: FILE_END for transfer %u, which is not open", e->xfer_id);
        if (f->nnack > 0 && !f->dead) {
                /* Chunks asked for again are still to come: the verdict
                 * waits for them (parked, if the next file begins first). */
                f->end = *e;
                f->end_seen = true;
                return 0;
        }
        return end_file(x, c, f, e);
}

/* Everything of the file is here: check it whole, then commit it. */
static int end_file(struct rx *x, struct sctx *c, struct rx_file *f, const struct fy_file_end *e) {
        int r;
        if (!f->dead && (r = drain(c, f)) < 0)
                return r;
        if (f->dead) { /* failed before, or a write failed while draining */
                f->active = false;
                return 0;
        }
        const char *dest = f->begin.dest;
        if (e->size != f->begin.size || f->next_off != f->begin.size)
                return file_error(x, c, f, -EPROTO, "'%s': size mismatch: announced %llu, received %llu, end says %llu", dest,
                                  (unsigned long long)f->begin.size, (unsigned long long)f->next_off,
                                  (unsigned long long)e->size);
        if (e->chunks != f->chunks)
                return file_error(x, c, f, -EPROTO, "'%s': %llu chunks received, end says %llu", dest,
                                  (unsigned long long)f->chunks, (unsigned long long)e->chunks);
        f->res.stats.peer_rtt = (struct rtt_summary){
                .count = e->rtt_count, .p50_us = e->rtt_p50_us, .p99_us = e->rtt_p99_us, .max_us = e->rtt_max_us,
        };
        fy_file_digest_final(&f->digest, f->res.digest);
        if (memcmp(f->res.digest, e->digest, 16) != 0)
                return file_error(x, c, f, -EBADMSG, "'%s': file digest mismatch", dest);
        if (f->sink)
                return sink_done(x, c, f);
        struct timespec ts[2] = {
                { .tv_nsec = UTIME_OMIT },
                { .tv_sec = f->begin.mtime_sec, .tv_nsec = f->begin.mtime_nsec },
        };
        if (fchmod(f->fd, f->begin.mode & 07777) < 0 || futimens(f->fd, ts) < 0) {
                r = -errno;
                return file_error(x, c, f, r, "'%s': setting mode and time: %s", dest, strerror(-r));
        }
        if (sctx_peer_has(c, FY_FEAT_RESUME))
                resume_record(x->rs, f->fd, &f->begin, f->res.digest);
        return commit_file(x, c, f);
}

int rx_on_abort(struct rx *x, struct sctx *c, const struct fy_file_abort *a, bool asked) {
        struct rx_file *f = find_file(x, a->xfer_id);
        if (f && f->dead) {
                f->active = false; /* we had given up already */
                return 0;
        }
        if (!f) {
                uint64_t size;
                if (!c->cfg->initiator) {
                        /* A push the host skipped after our RESUME_STATE: a
                         * verdict for ferryd's counters (session_ops). */
                        if (a->code == FY_OK && resume_queried_size(x->rs, a->xfer_id, &size))
                                c->report(c, &(struct file_result){ .xfer_id = a->xfer_id, .skipped = true,
                                                                    .size = size, .src = "", .dest = "",
                                                                    .stats = { .bytes_skipped = size } });
                        return 0;
                }
                /* The answer to a GET the guest could not serve, or (code 0,
                 * after RESUME_STATE) did not need to; or an entry of a
                 * pulled tree it could not read. */
                uint64_t now = now_ns();
                struct file_result res = { .xfer_id = a->xfer_id, .skipped = a->code == FY_OK,
                                           .err = a->code == FY_OK ? 0 : -fy_code_to_errno(a->code), .remote = true,
                                           .stats = { .start_ns = now, .end_ns = now }, .src = "", .dest = "" };
                if (a->xfer_id & FY_RESPONDER_ID) {
                        if (!x->pl->tree_id)
                                return sctx_fail(c, -EPROTO, "protocol error: FILE_ABORT for transfer %u, not ours",
                                                 a->xfer_id);
                        res.group = x->pl->tree_id;
                        res.src = res.dest = "(an entry)";
                } else if (!asked) {
                        /* Not the answer to a GET of ours (never sent, or
                         * answered already): taken, it would be a verdict
                         * for a file we never asked for, or a second one. */
                        return sctx_fail(c, -EPROTO, "protocol error: FILE_ABORT for transfer %u, which is no GET of ours "
                                         "waiting for its answer", a->xfer_id);
                }
                if (res.skipped && resume_queried_size(x->rs, a->xfer_id, &res.size))
                        res.stats.bytes_skipped = res.size;
                if (a->code != FY_OK)
                        snprintf(res.text, sizeof res.text, "%s", a->text);
                c->report(c, &res);
                return 0;
        }
        int r = drain(c, f);
        if (r < 0)
                return r;
        file_cleanup(f, true);
        f->active = false;
        /* Code 0 means "nothing to send" and is for a file never begun
         * (9.8); for a begun file it would make our FILE_STATUS a success
         * for a file that is not in place.  Refuse it as the fault it is. */
        bool bogus = a->code == FY_OK;
        struct fy_msg m = {
                .type = FY_FILE_STATUS,
                .status = { .xfer_id = f->xfer_id, .code = bogus ? FY_EPROTO : a->code, .bytes = f->next_off },
        };
        snprintf(m.status.text, sizeof m.status.text, "%s",
                 bogus ? "protocol error: FILE_ABORT with code 0 for a file begun" : "aborted by the sender");
        r = send_status(c, &m);
        report_file(c, f, bogus ? -EPROTO : -fy_code_to_errno(a->code), true, bogus ? m.status.text : a->text);
        return r;
}

void rx_reset(struct rx *x) {
        commits_abort(x->cm);
        for (unsigned i = 0; i <= RX_PARKED; i++) {
                struct rx_file *f = i < RX_PARKED ? &x->parked[i] : &x->f;
                f->writes = 0;
                /* The session broke: a journaled partial stays for the rerun,
                 * unless nothing ever arrived in it. */
                file_cleanup(f, f->jfd < 0 || f->next_off == 0);
                f->active = false;
                f->dead = false;
                f->end_seen = false;
                f->nnack = f->nkeep = 0;
        }
        if (x->pacer_on)
                pacer_close(&x->pacer);
        x->pacer_on = false;
        memset(x->bench_ids, 0, sizeof x->bench_ids);
}

void rx_sample(const struct rx *x, struct session_gauges *ret) {
        const struct rx_file *f = &x->f;
        *ret = (struct session_gauges){
                .dirty = f->active && !f->sink ? f->dirty_prev + f->dirty_cur : 0,
                .window = x->pacer_on ? x->pacer.window : 0,
                .pacing = x->pacer_on ? x->reasons_sent : 0,
                .pressure_pct = x->pacer_on ? x->pacer.psi_last_pct : 0,
        };
}
