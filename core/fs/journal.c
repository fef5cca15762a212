/* SPDX-License-Identifier: MIT */
/* The receiver's journal of a partial file (journal.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/journal.h"
#include "base/chunkhash.h"
#include "base/util.h"

#define JNL_MAGIC "FERRYJN1"
#define JNL_SEED 0x4c4e524aull /* "JRNL" */

struct rec {
        uint64_t off, len, digest;
        uint32_t kind;
};

static uint32_t check(const uint8_t *p, size_t n) {
        return (uint32_t)XXH3_64bits_withSeed(p, n, JNL_SEED);
}

bool jnl_ident_eq(const struct jnl_ident *a, const struct jnl_ident *b) {
        return a->size == b->size && a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
               a->chunk_size == b->chunk_size && a->flags == b->flags;
}

static void header_encode(uint8_t h[JNL_HEADER_SIZE], const struct jnl_ident *id) {
        memset(h, 0, JNL_HEADER_SIZE);
        memcpy(h, JNL_MAGIC, 8);
        le_put64(h + 8, id->size);
        le_put64(h + 16, (uint64_t)id->mtime_sec);
        le_put32(h + 24, id->mtime_nsec);
        le_put32(h + 28, id->chunk_size);
        le_put32(h + 32, id->flags);
        le_put32(h + 60, check(h, 60));
}

/* All of len bytes at off (off < 0: at the file position).  A short write
 * is continued, so a disk that fills up mid-record reports -ENOSPC from
 * the next write rather than a made-up code, and errno is never read
 * after a call that did not fail. */
static int write_all(int fd, const uint8_t *p, size_t len, off_t off) {
        while (len > 0) {
                ssize_t n = off < 0 ? write(fd, p, len) : pwrite(fd, p, len, off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO; /* took nothing and said nothing: retrying would loop */
                p += n;
                len -= (size_t)n;
                if (off >= 0)
                        off += n;
        }
        return 0;
}

static int lock(int fd) {
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : -errno;
        return 0;
}

int jnl_open(int dirfd, const char *jname, int *ret_fd, struct jnl_ident *ret_id) {
        _cleanup_close_ int fd = openat(dirfd, jname, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        int r = lock(fd);
        if (r < 0)
                return r;
        uint8_t h[JNL_HEADER_SIZE];
        ssize_t n = pread(fd, h, sizeof h, 0);
        if (n < 0)
                return -errno; /* the disk's error, not "not a journal" */
        if (n != (ssize_t)sizeof h || memcmp(h, JNL_MAGIC, 8) || le_get32(h + 60) != check(h, 60))
                return -EBADMSG;
        *ret_id = (struct jnl_ident){
                .size = le_get64(h + 8),
                .mtime_sec = (int64_t)le_get64(h + 16),
                .mtime_nsec = le_get32(h + 24),
                .chunk_size = le_get32(h + 28),
                .flags = le_get32(h + 32),
        };
        *ret_fd = take_fd(&fd);
        return 0;
}

int jnl_create(int dirfd, const char *part, const char *jname, const struct jnl_ident *id, int *ret_jfd,
               int *ret_partfd, int part_flags) {
        /* An old pair may be another session's: only remove it under its lock. */
        _cleanup_close_ int old = openat(dirfd, jname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (old >= 0) {
                int r = lock(old);
                if (r < 0)
                        return r;
        }
        if (unlinkat(dirfd, part, 0) < 0 && errno != ENOENT)
                return -errno;
        if (unlinkat(dirfd, jname, 0) < 0 && errno != ENOENT)
                return -errno;
        /* O_EXCL|O_NOFOLLOW: a name planted meanwhile is refused, not followed. */
        _cleanup_close_ int jfd = openat(dirfd, jname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (jfd < 0)
                return errno == EEXIST ? -EBUSY : -errno;
        int r = lock(jfd);
        if (r < 0) {
                (void)unlinkat(dirfd, jname, 0);
                return r;
        }
        uint8_t h[JNL_HEADER_SIZE];
        header_encode(h, id);
        r = write_all(jfd, h, sizeof h, -1); /* records follow at the file position */
        if (r < 0) {
                (void)unlinkat(dirfd, jname, 0);
                return r;
        }
        int pfd = openat(dirfd, part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | part_flags, 0600);
        if (pfd < 0) {
                r = errno == EEXIST ? -EBUSY : -errno;
                (void)unlinkat(dirfd, jname, 0);
                return r;
        }
        *ret_jfd = take_fd(&jfd);
        *ret_partfd = pfd;
        return 0;
}

static void rec_encode(uint8_t b[JNL_RECORD_SIZE], enum jnl_kind kind, uint64_t off, uint64_t len, uint64_t digest) {
        le_put64(b, off);
        le_put64(b + 8, len);
        le_put64(b + 16, digest);
        le_put32(b + 24, kind);
        le_put32(b + 28, check(b, 28));
}

int jnl_append(int jfd, enum jnl_kind kind, uint64_t off, uint64_t len, uint64_t digest) {
        uint8_t b[JNL_RECORD_SIZE];
        rec_encode(b, kind, off, len, digest);
        /* O_APPEND is not needed: one writer (the lock), always at the end.
         * A record cut short by a failure is torn, which load() stops at. */
        return write_all(jfd, b, sizeof b, -1);
}

/* Every whole, intact record after the header, up to the first that is not
 * (a torn write at the end of a crashed run). */
static int load(int jfd, struct rec **ret, size_t *ret_n, uint64_t *ret_durable) {
        struct stat st;
        if (fstat(jfd, &st) < 0)
                return -errno;
        if (st.st_size < JNL_HEADER_SIZE)
                return -EBADMSG;
        uint64_t n = ((uint64_t)st.st_size - JNL_HEADER_SIZE) / JNL_RECORD_SIZE;
        if (n > JNL_MAX_RECORDS)
                return -EFBIG;
        struct rec *recs = malloc(MAX(n, 1) * sizeof *recs);
        uint8_t *raw = malloc(MAX(n, 1) * JNL_RECORD_SIZE);
        if (!recs || !raw) {
                free(recs);
                free(raw);
                return -ENOMEM;
        }
        ssize_t got = pread(jfd, raw, n * JNL_RECORD_SIZE, JNL_HEADER_SIZE);
        if (got < 0) {
                int r = -errno;
                free(recs);
                free(raw);
                return r;
        }
        n = MIN(n, (uint64_t)got / JNL_RECORD_SIZE);
        size_t k = 0;
        uint64_t durable = 0;
        for (uint64_t i = 0; i < n; i++) {
                const uint8_t *b = raw + i * JNL_RECORD_SIZE;
                if (le_get32(b + 28) != check(b, 28))
                        break;
                struct rec r = { .off = le_get64(b), .len = le_get64(b + 8), .digest = le_get64(b + 16), .kind = le_get32(b + 24) };
                if (r.kind == JNL_DURABLE) {
                        durable = MAX(durable, r.off);
                        continue;
                }
                if ((r.kind != JNL_DATA && r.kind != JNL_HOLE) || r.len == 0 || r.off > (uint64_t)INT64_MAX ||
                    r.len > (uint64_t)INT64_MAX - r.off || (r.kind == JNL_DATA && r.len > FY_MAX_CHUNK))
                        break;
                recs[k++] = r;
        }
        free(raw);
        *ret = recs;
        *ret_n = k;
        *ret_durable = durable;
        return 0;
}

static int rec_cmp(const void *a, const void *b) {
        const struct rec *x = a, *y = b;
        return x->off < y->off ? -1 : x->off > y->off;
}

/* The contiguous run of records from offset 0 (sorted in place); chunks
 * past `durable` are read back from partfd and must hash as recorded. */
static int walk(struct rec *recs, size_t n, uint64_t durable, int partfd, uint64_t limit, struct jnl_prefix *p,
                size_t *ret_used) {
        qsort(recs, n, sizeof *recs, rec_cmp);
        *p = (struct jnl_prefix){ 0 };
        fy_file_digest_init(&p->digest);
        uint8_t *buf = NULL;
        size_t i = 0;
        for (; i < n; i++)
                if (recs[i].kind == JNL_DATA)
                        p->received = MAX(p->received, recs[i].off + recs[i].len);
        for (i = 0; i < n; i++) {
                const struct rec *r = &recs[i];
                if (r->off != p->offset || r->off + r->len > limit)
                        break;
                if (r->kind == JNL_DATA && partfd >= 0 && r->off + r->len > durable) {
                        if (!buf && !(buf = malloc(FY_MAX_CHUNK)))
                                break;
                        ssize_t got = pread(partfd, buf, r->len, (off_t)r->off);
                        if (got != (ssize_t)r->len || chunk_hash(buf, r->len) != r->digest)
                                break;
                }
                if (r->kind == JNL_DATA) {
                        fy_file_digest_add(&p->digest, r->digest);
                        p->chunks++;
                } else {
                        fy_file_digest_add_hole(&p->digest, r->off, r->len);
                }
                p->offset += r->len;
                p->records++;
        }
        free(buf);
        p->received = MAX(p->received, p->offset);
        *ret_used = i;
        return 0;
}

int jnl_scan(int jfd, int partfd, uint64_t limit, struct jnl_prefix *ret) {
        struct rec *recs;
        size_t n, used;
        uint64_t durable;
        int r = load(jfd, &recs, &n, &durable);
        if (r < 0)
                return r;
        r = walk(recs, n, durable, partfd, limit, ret, &used);
        free(recs);
        return r;
}

int jnl_rewrite(int jfd, const struct jnl_ident *id, int partfd, uint64_t limit) {
        struct rec *recs;
        size_t n, used;
        uint64_t durable;
        int r = load(jfd, &recs, &n, &durable);
        if (r < 0)
                return r;
        struct jnl_prefix p;
        (void)walk(recs, n, UINT64_MAX, -1, limit, &p, &used);
        if (p.offset != limit) {
                free(recs);
                return -ESTALE; /* the journal no longer holds what we answered */
        }
        /* The prefix may have been checked in the page cache only: make it
         * durable before the journal says so. */
        if (partfd >= 0 && fdatasync(partfd) < 0) {
                r = -errno;
                free(recs);
                return r;
        }
        size_t len = JNL_HEADER_SIZE + (used + 1) * JNL_RECORD_SIZE;
        uint8_t *b = malloc(len);
        if (!b) {
                free(recs);
                return -ENOMEM;
        }
        header_encode(b, id);
        for (size_t i = 0; i < used; i++)
                rec_encode(b + JNL_HEADER_SIZE + i * JNL_RECORD_SIZE, recs[i].kind, recs[i].off, recs[i].len,
                           recs[i].digest);
        rec_encode(b + JNL_HEADER_SIZE + used * JNL_RECORD_SIZE, JNL_DURABLE, limit, 0, 0);
        free(recs);
        r = write_all(jfd, b, len, 0);
        free(b);
        if (r < 0)
                return r;
        if (ftruncate(jfd, (off_t)len) < 0 || lseek(jfd, 0, SEEK_END) < 0 || fdatasync(jfd) < 0)
                return -errno;
        return 0;
}
