/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/chunkhash.h"
#include "base/log.h"
#include "base/util.h"
#include "fs/journal.h"
#include "fs/record.h"
#include "fs/stale.h"
#include "fs/tmpname.h"
#include "session/ctx.h"
#include "session/place.h"
#include "session/resume.h"

void resume_record(struct resume *rs, int fd, const struct fy_file_begin *b, const uint8_t digest[16]) {
        if (rs->xattr_refused)
                return;
        if (record_set(fd, b, digest) == -ENOTSUP) {
                rs->xattr_refused = true;
                log_info("this filesystem keeps no user xattrs: no record vouches for a file, so a rerun "
                         "compares contents (a peer without feature bit 8: size and mtime alone)");
        }
}

bool resume_queried_size(const struct resume *rs, uint32_t id, uint64_t *ret_size) {
        for (unsigned i = 0; i < ARRAY_SIZE(rs->queried); i++)
                if (rs->queried[i].id == id && id) {
                        *ret_size = rs->queried[i].size;
                        return true;
                }
        return false;
}

static bool same_time(const struct stat *st, int64_t sec, uint32_t nsec) {
        return st->st_mtim.tv_sec == sec && (uint32_t)st->st_mtim.tv_nsec == nsec;
}

/* A partial file of a run that will never be resumed (its file is complete
 * after all): removed now rather than at --stale-age.  Not one another
 * session is writing (its lock). */
static void drop_partial(int dirfd, const char *name) {
        char part[FY_MAX_NAME + 1], jname[FY_MAX_NAME + 1];
        tmpname_partial(name, part, jname);
        _cleanup_close_ int jfd = -EBADF;
        struct jnl_ident id;
        int r = jnl_open(dirfd, jname, &jfd, &id);
        if (r == -EBUSY || (r < 0 && r != -EBADMSG))
                return;
        (void)unlinkat(dirfd, part, 0);
        (void)unlinkat(dirfd, jname, 0);
}

static bool content_digest(struct sctx *c, int dirfd, const char *name, const struct fy_file_begin *b,
                           struct fy_resume_state *ret);

/* The destination is complete: size and mtime as the sender's, and its
 * record (if the filesystem keeps one) still describes it. */
static bool complete(struct resume *rs, struct sctx *c, int dirfd, const char *name, const struct fy_file_begin *b,
                     struct fy_resume_state *ret) {
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
            (uint64_t)st.st_size != b->size || !same_time(&st, b->mtime_sec, b->mtime_nsec))
                return false;
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return false;
        uint32_t chunk = 0;
        int r = record_check(fd, b, ret->digest, &chunk);
        if (r == 0)
                return false; /* not ferry's, not verified, or another version */
        /* FY_FEAT_CHECKED: a SKIP vouches with the digest recorded when the
         * file was completed and verified (9.14); with no record, nothing
         * vouches. */
        bool vouch = sctx_peer_has(c, FY_FEAT_CHECKED);
        if (vouch && r < 0) {
                /* No records on this filesystem: what vouches is the content
                 * itself, as for --checksum (DIGEST), which a write-only
                 * ferryd does not tell. */
                rs->xattr_refused = true;
                return c->cfg->access != ACCESS_WRITE_ONLY && content_digest(c, dirfd, name, b, ret);
        }
        if (vouch && (chunk < FY_MIN_CHUNK || chunk > FY_MAX_CHUNK))
                return false;
        if (r == -ENOTSUP)
                rs->xattr_refused = true; /* no records here: size and mtime decide */
        if ((st.st_mode & 07777) != (b->mode & 07777))
                (void)fchmod(fd, b->mode & 07777); /* what a completed run would have set */
        drop_partial(dirfd, name);
        ret->verdict = FY_RS_SKIP;
        ret->offset = b->size;
        ret->chunk_size = vouch ? chunk : 0;
        return true;
}

/* --checksum: the content digest of an existing file of the same size,
 * chunked as the sender will hash its own (holes read as zeros). */
static bool content_digest(struct sctx *c, int dirfd, const char *name, const struct fy_file_begin *b,
                           struct fy_resume_state *ret) {
        uint64_t alive = now_ns();
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
            (uint64_t)st.st_size != b->size)
                return false;
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return false;
        _cleanup_free_ uint8_t *buf = malloc(b->chunk_size);
        if (!buf)
                return false;
        struct fy_file_digest d;
        fy_file_digest_init(&d);
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        for (uint64_t off = 0; off < b->size;) {
                size_t len = (size_t)MIN((uint64_t)b->chunk_size, b->size - off);
                if (pread(fd, buf, len, (off_t)off) != (ssize_t)len)
                        return false;
                fy_file_digest_add(&d, chunk_hash(buf, len));
                off += len;
                sctx_keepalive(c, &alive); /* a big file takes a while: the sender must not give up */
        }
        fy_file_digest_final(&d, ret->digest);
        ret->verdict = FY_RS_DIGEST;
        ret->offset = b->size;
        ret->chunk_size = b->chunk_size;
        return true;
}

/* A partial file of this very source version, and how much of it holds. */
static bool partial(int dirfd, const char *name, const struct fy_file_begin *b, struct fy_resume_state *ret) {
        char part[FY_MAX_NAME + 1], jname[FY_MAX_NAME + 1];
        tmpname_partial(name, part, jname);
        _cleanup_close_ int jfd = -EBADF;
        struct jnl_ident id;
        if (jnl_open(dirfd, jname, &jfd, &id) < 0)
                return false;
        if (id.size != b->size || id.mtime_sec != b->mtime_sec || id.mtime_nsec != b->mtime_nsec ||
            id.flags != (b->flags & FY_FB_SPARSE) || id.chunk_size < FY_MIN_CHUNK || id.chunk_size > FY_MAX_CHUNK)
                return false; /* another version of the source: FILE_BEGIN starts over */
        _cleanup_close_ int pfd = openat(dirfd, part, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (pfd < 0)
                return false;
        struct jnl_prefix p;
        if (jnl_scan(jfd, pfd, b->size, &p) < 0 || p.offset == 0)
                return false;
        log_info("resume '%s': %llu of %llu bytes verified, %llu had arrived", name, (unsigned long long)p.offset,
                 (unsigned long long)b->size, (unsigned long long)MIN(p.received, b->size));
        ret->verdict = FY_RS_RESUME;
        ret->offset = p.offset;
        ret->chunks = p.chunks;
        ret->received = MIN(p.received, b->size);
        ret->chunk_size = id.chunk_size;
        fy_file_digest_final(&p.digest, ret->digest);
        return true;
}

int resume_on_query(struct resume *rs, struct sctx *c, struct place *pl, struct stale *st,
                    const struct fy_resume_query *q) {
        if (!sctx_peer_has(c, FY_FEAT_RESUME))
                return sctx_fail(c, -EPROTO, "protocol error: RESUME_QUERY without the resume feature");
        const struct fy_file_begin *b = &q->file;
        struct place_dest d;
        if (place_target(pl, c, b, &d) < 0)
                return sctx_fail(c, -EPROTO, "protocol error: RESUME_QUERY for transfer %u we did not ask for",
                                 b->xfer_id);
        /* the size of a file the sender may then skip (its FILE_ABORT with
         * code 0 is reported as skipped: rx_on_abort) */
        rs->queried[rs->nqueried++ % ARRAY_SIZE(rs->queried)] = (typeof(rs->queried[0])){ b->xfer_id, b->size };
        struct fy_msg m = { .type = FY_RESUME_STATE, .state = { .xfer_id = b->xfer_id, .verdict = FY_RS_SEND } };
        _cleanup_close_ int dirfd = -EBADF;
        char fname[FY_MAX_NAME + 1];
        if (dest_resolve(d.root, d.dest, d.name, d.flags, &dirfd, fname) == 0) {
                stale_sweep_for(st, b->xfer_id, dirfd); /* first: a stale partial is not resumed */
                bool done = (q->how & FY_RQ_CHECKSUM) ? content_digest(c, dirfd, fname, b, &m.state)
                                                      : complete(rs, c, dirfd, fname, b, &m.state);
                if (!done && b->size > SMALL_FILE) /* smaller files keep no journal (rx.c) */
                        (void)partial(dirfd, fname, b, &m.state);
        }
        int r = sctx_send(c, &m);
        return r < 0 ? sctx_fail(c, r, "RESUME_STATE: %s", strerror(-r)) : 0;
}
