/* SPDX-License-Identifier: MIT */
/*
 * Resume, receiving side: answering RESUME_QUERY, and the record a
 * completed file carries so that a rerun can skip it.
 *
 * The answer is advice, never a commitment: whatever cannot be looked at
 * (a missing directory, an unreadable journal, another session's lock)
 * answers "send it all", and FILE_BEGIN then reports any real error.
 *
 * A completed file keeps, in the extended attribute user.ferry.v1, the
 * size, mtime and digest it was verified with.  A rerun skips a file whose
 * size and mtime match the sender's and whose record still matches the
 * file (a file changed in place since has another mtime or size).  Where
 * the filesystem takes no user xattrs (tmpfs before Linux 6.6), size and
 * mtime alone decide, as rsync's quick check does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/journal.h"
#include "base/log.h"
#include "session-int.h"
#include "base/util.h"

#define RECORD_XATTR "user.ferry.v1"
#define RECORD_SIZE 40 /* size u64, mtime_sec i64, mtime_nsec u32, chunk u32, digest[16] */

void record_set(struct session *s, int fd, const struct fy_file_begin *b, const uint8_t digest[16]) {
        if (s->xattr_refused)
                return;
        uint8_t v[RECORD_SIZE];
        le_put64(v, b->size);
        le_put64(v + 8, (uint64_t)b->mtime_sec);
        le_put64(v + 16, (uint64_t)b->mtime_nsec | (uint64_t)b->chunk_size << 32);
        memcpy(v + 24, digest, 16);
        if (fsetxattr(fd, RECORD_XATTR, v, sizeof v, 0) < 0 && (errno == ENOTSUP || errno == EPERM)) {
                s->xattr_refused = true;
                log_info("this filesystem keeps no user xattrs: a rerun skips files by size and mtime alone");
        }
}

static bool same_time(const struct stat *st, int64_t sec, uint32_t nsec) {
        return st->st_mtim.tv_sec == sec && (uint32_t)st->st_mtim.tv_nsec == nsec;
}

/* A partial file of a run that will never be resumed (its file is complete
 * after all): removed now rather than at --stale-age.  Not one another
 * session is writing (its lock). */
static void drop_partial(int dirfd, const char *name) {
        char part[FY_MAX_NAME + 1], jname[FY_MAX_NAME + 1];
        jnl_names(name, part, jname);
        _cleanup_close_ int jfd = -EBADF;
        struct jnl_ident id;
        int r = jnl_open(dirfd, jname, &jfd, &id);
        if (r == -EBUSY || (r < 0 && r != -EBADMSG))
                return;
        (void)unlinkat(dirfd, part, 0);
        (void)unlinkat(dirfd, jname, 0);
}

/* The destination is complete: size and mtime as the sender's, and its
 * record (if the filesystem keeps one) still describes it. */
static bool complete(struct session *s, int dirfd, const char *name, const struct fy_file_begin *b,
                     struct fy_resume_state *ret) {
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
            (uint64_t)st.st_size != b->size || !same_time(&st, b->mtime_sec, b->mtime_nsec))
                return false;
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0)
                return false;
        uint8_t v[RECORD_SIZE];
        ssize_t n = fgetxattr(fd, RECORD_XATTR, v, sizeof v);
        if (n < 0 && errno != ENOTSUP)
                return false; /* ENODATA: not ferry's, or not verified: send */
        if (n < 0)
                s->xattr_refused = true; /* no records here: size and mtime decide */
        if (n >= 0) {
                if (n != RECORD_SIZE || le_get64(v) != b->size || (int64_t)le_get64(v + 8) != b->mtime_sec ||
                    (uint32_t)le_get64(v + 16) != b->mtime_nsec)
                        return false;
                memcpy(ret->digest, v + 24, 16);
        }
        if ((st.st_mode & 07777) != (b->mode & 07777))
                (void)fchmod(fd, b->mode & 07777); /* what a completed run would have set */
        drop_partial(dirfd, name);
        ret->verdict = FY_RS_SKIP;
        ret->offset = b->size;
        return true;
}

/* --checksum: the content digest of an existing file of the same size,
 * chunked as the sender will hash its own (holes read as zeros). */
static bool content_digest(struct session *s, int dirfd, const char *name, const struct fy_file_begin *b,
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
                fy_file_digest_add(&d, fy_chunk_digest(buf, len));
                off += len;
                keepalive(s, &alive); /* a big file takes a while: the sender must not give up */
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
        jnl_names(name, part, jname);
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

int rx_on_query(struct session *s, const struct fy_resume_query *q) {
        if (!(s->peer.features & FY_FEAT_RESUME))
                return session_fail(s, -EPROTO, "protocol error: RESUME_QUERY without the resume feature");
        const struct fy_file_begin *b = &q->file;
        const char *dest, *name;
        uint32_t flags, group;
        struct fsroot *root;
        if (rx_target(s, b, &dest, &name, &flags, &group, &root) < 0)
                return session_fail(s, -EPROTO, "protocol error: RESUME_QUERY for transfer %u we did not ask for",
                                    b->xfer_id);
        if (s->cfg.initiator) /* the size of a file the guest may then skip */
                s->queried[s->nqueried++ % ARRAY_SIZE(s->queried)] = (typeof(s->queried[0])){ b->xfer_id, b->size };
        struct fy_msg m = { .type = FY_RESUME_STATE, .state = { .xfer_id = b->xfer_id, .verdict = FY_RS_SEND } };
        int dirfd = -EBADF;
        char fname[FY_MAX_NAME + 1];
        if (dest_resolve(root, dest, name, flags, &dirfd, fname) == 0) {
                stale_sweep(s, dirfd); /* first: a stale partial is not resumed */
                s->swept_ids[s->nswept_ids++ % ARRAY_SIZE(s->swept_ids)] = b->xfer_id;
                bool done = (q->how & FY_RQ_CHECKSUM) ? content_digest(s, dirfd, fname, b, &m.state)
                                                      : complete(s, dirfd, fname, b, &m.state);
                if (!done && b->size > COMMIT_SMALL) /* smaller files keep no journal (rx.c) */
                        (void)partial(dirfd, fname, b, &m.state);
                safe_close(dirfd);
        }
        return out_ctrl(s, &m);
}
