/* SPDX-License-Identifier: MIT */
/*
 * core/fio through one backend: the bounded buffer pool, chunked reads and
 * writes with several in flight, end of file, errors in completions, misuse
 * refused up front, freeing with operations in flight.  Shared by
 * test-fio.c (pread/pwrite, always there) and test-fio-uring.c (io_uring,
 * skipped where the kernel refuses it), so each half passes, fails or skips
 * on its own.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fs/fio.h"

#define NBUFS 4
#define BUFSZ (64u << 10)

static char tmpdir[PATH_MAX / 2];
static unsigned nfiles;

static void cleanup(void) {
        char p[PATH_MAX];
        if (!tmpdir[0])
                return;
        for (unsigned i = 0; i < nfiles; i++) {
                snprintf(p, sizeof p, "%s/f%u", tmpdir, i);
                (void)unlink(p);
        }
        if (rmdir(tmpdir) < 0)
                perror("rmdir");
}

/* A fresh directory for the test's files, removed at exit. */
static void fio_test_setup(void) {
        const char *tmp = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/ferry-fio.XXXXXX", tmp && *tmp && strlen(tmp) < 1000 ? tmp : "/tmp");
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                exit(T_EXIT_FAIL);
        }
        atexit(cleanup);
}

/* A fresh file in tmpdir, opened with flags. */
static int new_file(int flags, char *path, size_t cap) {
        snprintf(path, cap, "%s/f%u", tmpdir, nfiles++);
        int fd = open(path, flags | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
                perror(path);
                exit(T_EXIT_FAIL);
        }
        return fd;
}

static uint8_t pat(uint64_t off) {
        return (uint8_t)(off * 131 + (off >> 8) * 7 + (off >> 16));
}

static void fill(uint8_t *p, uint64_t off, size_t len) {
        for (size_t i = 0; i < len; i++)
                p[i] = pat(off + i);
}

static bool matches(const uint8_t *p, uint64_t off, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (p[i] != pat(off + i)) {
                        fprintf(stderr, "    byte at %llu: %02x, want %02x\n", (unsigned long long)(off + i), p[i],
                                pat(off + i));
                        return false;
                }
        return true;
}

/* Chunks of a file written and read back: varied lengths, out of order. */
struct chunk {
        uint64_t off;
        size_t len;
};
static const size_t chunk_lens[] = { BUFSZ, 12345, BUFSZ, 4096, 1, BUFSZ, 777, BUFSZ - 1, BUFSZ, 30000 };
#define NCHUNKS (sizeof chunk_lens / sizeof chunk_lens[0])

/* Run all chunks through the pool with up to NBUFS in flight; issue order
 * is reversed so completions for high offsets come first.  On reads, check
 * the bytes.  Returns the total size. */
static uint64_t run_chunks(struct fio *f, int fd, bool is_write) {
        struct chunk ch[NCHUNKS];
        uint64_t off = 0;
        for (size_t i = 0; i < NCHUNKS; i++) {
                ch[i] = (struct chunk){ off, chunk_lens[i] };
                off += chunk_lens[i];
        }
        bool seen[NCHUNKS] = { 0 };
        unsigned buf_of[NCHUNKS];
        size_t next = 0, done = 0;
        bool saw_full = false;
        while (done < NCHUNKS) {
                unsigned b;
                while (next < NCHUNKS) {
                        int r = fio_buf_get(f, &b);
                        if (r == -ENOBUFS) {
                                saw_full = true;
                                CHECK_EQ_INT(fio_free_bufs(f), 0);
                                CHECK_EQ_INT(fio_inflight(f), NBUFS);
                                break;
                        }
                        CHECK_EQ_INT(r, 0);
                        if (r < 0)
                                return 0;
                        size_t idx = NCHUNKS - 1 - next;
                        uint64_t tag = 0xf10000000000ull | idx;
                        if (is_write)
                                fill(fio_buf(f, b), ch[idx].off, ch[idx].len);
                        else
                                memset(fio_buf(f, b), 0xee, ch[idx].len);
                        unsigned before = fio_inflight(f);
                        r = is_write ? fio_write(f, fd, b, ch[idx].len, ch[idx].off, tag)
                                     : fio_read(f, fd, b, ch[idx].len, ch[idx].off, tag);
                        CHECK_EQ_INT(r, 0);
                        CHECK_EQ_INT(fio_inflight(f), before + 1);
                        buf_of[idx] = b;
                        next++;
                }
                CHECK_EQ_INT(fio_submit(f), 0);
                struct fio_cqe c;
                int r = fio_reap(f, &c, true);
                CHECK_EQ_INT(r, 1);
                if (r != 1)
                        return 0;
                size_t idx = (size_t)(c.tag & 0xffff);
                CHECK_EQ_U64(c.tag >> 16, 0xf1000000ull);
                CHECK(idx < NCHUNKS);
                if (idx >= NCHUNKS)
                        return 0;
                CHECK(!seen[idx]);
                seen[idx] = true;
                CHECK_EQ_INT(c.is_write, is_write);
                CHECK_EQ_INT(c.buf, buf_of[idx]);
                CHECK_EQ_INT(c.res, (long long)ch[idx].len);
                if (!is_write && c.res == (int)ch[idx].len)
                        CHECK(matches(fio_buf(f, c.buf), ch[idx].off, ch[idx].len));
                fio_buf_put(f, c.buf);
                done++;
        }
        CHECK(saw_full); /* the pool really was the limit */
        CHECK_EQ_INT(fio_inflight(f), 0);
        CHECK_EQ_INT(fio_free_bufs(f), NBUFS);
        return off;
}

/* One operation, submitted and reaped; returns the completion's res.  A
 * write stores the pattern for [off, off+len); a read checks what it got
 * against it. */
static int one_op(struct fio *f, int fd, bool is_write, size_t len, uint64_t off, uint64_t tag) {
        unsigned b;
        int r = fio_buf_get(f, &b);
        CHECK_EQ_INT(r, 0);
        if (r < 0)
                return r;
        if (is_write)
                fill(fio_buf(f, b), off, len);
        else
                memset(fio_buf(f, b), 0xee, fio_bufsize(f));
        r = is_write ? fio_write(f, fd, b, len, off, tag) : fio_read(f, fd, b, len, off, tag);
        CHECK_EQ_INT(r, 0);
        if (r < 0) {
                fio_buf_put(f, b);
                return r;
        }
        CHECK_EQ_INT(fio_inflight(f), 1);
        CHECK_EQ_INT(fio_submit(f), 0);
        struct fio_cqe c;
        r = fio_reap(f, &c, true);
        CHECK_EQ_INT(r, 1);
        if (r != 1)
                return -1000;
        CHECK_EQ_U64(c.tag, tag);
        CHECK_EQ_INT(c.buf, b);
        CHECK_EQ_INT(c.is_write, is_write);
        CHECK_EQ_INT(fio_inflight(f), 0);
        if (!is_write && c.res > 0) {
                CHECK(c.res <= (int)len);
                CHECK(matches(fio_buf(f, b), off, (size_t)c.res));
        }
        fio_buf_put(f, c.buf);
        return c.res;
}

/* Everything fio promises, through one backend.  The caller has made sure
 * the backend is there (test-fio-uring skips when the kernel refuses
 * io_uring); here a fall back to the other one is a failure. */
static void test_backend(bool psync) {
        const char *name = psync ? "psync" : "io_uring";
        struct fio *f = NULL;
        int uerr = 12345;
        int r = fio_new(NBUFS, BUFSZ, psync, &f, &uerr);
        CHECK_EQ_INT(r, 0);
        if (r < 0)
                return;
        CHECK_EQ_INT(uerr, 0);
        if (psync) {
                CHECK(!fio_is_uring(f));
                CHECK_EQ_INT(fio_pollfd(f), -1);
        } else {
                CHECK(fio_is_uring(f));
                CHECK(fio_pollfd(f) >= 0);
                if (!fio_is_uring(f)) {
                        fprintf(stderr, "    io_uring asked for, pread/pwrite given (%s)\n", strerror(-uerr));
                        fio_free(f);
                        return;
                }
        }
        printf("%s backend\n", name);
        CHECK_EQ_U64(fio_bufsize(f), BUFSZ);
        CHECK_EQ_INT(fio_nbufs(f), NBUFS);
        CHECK_EQ_INT(fio_free_bufs(f), NBUFS);
        CHECK_EQ_INT(fio_inflight(f), 0);

        /* nothing in flight */
        struct fio_cqe c;
        memset(&c, 0x5a, sizeof c);
        CHECK_EQ_INT(fio_reap(f, &c, false), 0);
        CHECK_EQ_INT(fio_reap(f, &c, true), -EDEADLK);
        CHECK_EQ_INT(c.res, 0x5a5a5a5a); /* untouched */
        CHECK_EQ_INT(fio_submit(f), 0);

        /* the pool: NBUFS distinct page-aligned buffers, then -ENOBUFS */
        unsigned got[NBUFS], extra = 999;
        bool used[NBUFS] = { 0 };
        for (unsigned i = 0; i < NBUFS; i++) {
                CHECK_EQ_INT(fio_buf_get(f, &got[i]), 0);
                CHECK(got[i] < NBUFS);
                if (got[i] < NBUFS) {
                        CHECK(!used[got[i]]);
                        used[got[i]] = true;
                }
                CHECK(((uintptr_t)fio_buf(f, got[i]) & 4095) == 0);
                memset(fio_buf(f, got[i]), (int)i, BUFSZ); /* whole buffer is ours (ASan) */
        }
        CHECK_EQ_INT(fio_free_bufs(f), 0);
        CHECK_EQ_INT(fio_buf_get(f, &extra), -ENOBUFS);
        CHECK_EQ_INT(extra, 999);
        for (unsigned i = 0; i < NBUFS; i++)
                CHECK_EQ_INT(fio_buf(f, got[i])[BUFSZ - 1], i); /* no overlap */
        for (unsigned i = 0; i < NBUFS; i++)
                fio_buf_put(f, got[i]);
        CHECK_EQ_INT(fio_free_bufs(f), NBUFS);

        /* write a pattern, read it back */
        char path[PATH_MAX];
        int fd = new_file(O_RDWR, path, sizeof path);
        uint64_t size = run_chunks(f, fd, true);
        struct stat st;
        CHECK_EQ_INT(fstat(fd, &st), 0);
        CHECK_EQ_U64((uint64_t)st.st_size, size);
        {       /* and check with plain pread, independently of fio */
                uint8_t *all = malloc(size);
                CHECK_EQ_INT(pread(fd, all, size, 0), (long long)size);
                CHECK(matches(all, 0, size));
                free(all);
        }
        CHECK_EQ_U64(run_chunks(f, fd, false), size);
        close(fd);

        /* end of file: 100000 bytes, a read across EOF is short, at EOF 0 */
        fd = new_file(O_RDWR, path, sizeof path);
        CHECK_EQ_INT(one_op(f, fd, true, BUFSZ, 0, 1), (int)BUFSZ);
        CHECK_EQ_INT(one_op(f, fd, true, 100000 - BUFSZ, BUFSZ, 2), 100000 - (int)BUFSZ);
        CHECK_EQ_INT(fstat(fd, &st), 0);
        CHECK_EQ_U64((uint64_t)st.st_size, 100000);
        CHECK_EQ_INT(one_op(f, fd, false, BUFSZ, BUFSZ, 3), 34464);
        CHECK_EQ_INT(one_op(f, fd, false, BUFSZ, 100000, 4), 0);
        CHECK_EQ_INT(one_op(f, fd, false, BUFSZ, 200000, 5), 0);
        CHECK_EQ_INT(one_op(f, fd, false, 100, 99950, 6), 50);
        CHECK_EQ_INT(one_op(f, fd, false, 0, 0, 7), 0);
        close(fd);

        /* errors arrive in the completion, as -errno */
        int wfd = open(path, O_WRONLY | O_CLOEXEC);
        int rfd = open(path, O_RDONLY | O_CLOEXEC);
        CHECK(wfd >= 0 && rfd >= 0);
        CHECK_EQ_INT(one_op(f, wfd, false, 4096, 0, 8), -EBADF);
        CHECK_EQ_INT(one_op(f, rfd, true, 4096, 0, 9), -EBADF);
        close(wfd);
        close(rfd);
        int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(dfd >= 0);
        CHECK_EQ_INT(one_op(f, dfd, false, 4096, 0, 10), -EISDIR);
        close(dfd);

        /* a zero-length write does nothing and reports 0, like a zero-length read */
        fd = new_file(O_RDWR, path, sizeof path);
        r = one_op(f, fd, true, 0, 0, 11);
        if (r != 0)
                fprintf(stderr, "    %s: zero-length write: res %d (%s), want 0\n", name, r, strerror(-r));
        CHECK_EQ_INT(r, 0);

        /* A write cut short by RLIMIT_FSIZE: the first part lands (a short
         * write, resubmitted), the rest fails with EFBIG. */
        struct rlimit old;
        CHECK_EQ_INT(getrlimit(RLIMIT_FSIZE, &old), 0);
        struct rlimit lim = { 10000, old.rlim_max };
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
                CHECK_EQ_INT(one_op(f, fd, true, BUFSZ, 0, 12), -EFBIG);
                CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &old), 0);
                CHECK_EQ_INT(fstat(fd, &st), 0);
                CHECK_EQ_U64((uint64_t)st.st_size, 10000);
        }
        signal(SIGXFSZ, SIG_DFL);
        close(fd);

        /* misuse is refused up front, before anything is in flight */
        fd = new_file(O_RDWR, path, sizeof path);
        unsigned b;
        CHECK_EQ_INT(fio_buf_get(f, &b), 0);
        CHECK_EQ_INT(fio_read(f, fd, NBUFS, 10, 0, 0), -EINVAL);   /* no such buffer */
        CHECK_EQ_INT(fio_read(f, fd, b, BUFSZ + 1, 0, 0), -EINVAL); /* over the buffer */
        CHECK_EQ_INT(fio_write(f, fd, b, BUFSZ + 1, 0, 0), -EINVAL);
        CHECK_EQ_INT(fio_inflight(f), 0);
        CHECK_EQ_INT(fio_write(f, fd, b, 10, 0, 13), 0);
        CHECK_EQ_INT(fio_read(f, fd, b, 10, 0, 14), -EINVAL); /* the buffer is busy */
        CHECK_EQ_INT(fio_inflight(f), 1);
        /* reaping without waiting: 0 (not done yet) or 1; then wait */
        memset(&c, 0, sizeof c);
        r = fio_reap(f, &c, false);
        CHECK(r == 0 || r == 1);
        if (r == 0)
                r = fio_reap(f, &c, true);
        CHECK_EQ_INT(r, 1);
        CHECK_EQ_U64(c.tag, 13);
        CHECK_EQ_INT(c.res, 10);
        CHECK_EQ_INT(fio_inflight(f), 0);
        CHECK_EQ_INT(fio_reap(f, &c, false), 0);
        fio_buf_put(f, b);

        /* recycling: the pool comes back as new, whatever its last user
         * left - buffers not put back, operations queued, submitted or done
         * but not reaped, write flags - and keeps its memory */
        uint8_t *first = fio_buf(f, 0);
        fio_set_write_flags(f, 0x40000000); /* no such RWF_ flag: refused, then dropped */
        CHECK_EQ_INT(one_op(f, fd, true, 4096, 0, 20), 4096);
        CHECK(fio_write_flags_refused(f));
        for (unsigned i = 0; i < NBUFS - 1; i++) {
                CHECK_EQ_INT(fio_buf_get(f, &b), 0);
                CHECK_EQ_INT(fio_read(f, fd, b, 4096, 0, 200 + i), 0);
                if (i == 1)
                        CHECK_EQ_INT(fio_submit(f), 0);
        }
        CHECK_EQ_INT(fio_buf_get(f, &b), 0); /* held, nothing in flight */
        CHECK_EQ_INT(fio_free_bufs(f), 0);
        CHECK_EQ_INT(fio_recycle(f), 0);
        CHECK_EQ_INT(fio_inflight(f), 0);
        CHECK_EQ_INT(fio_free_bufs(f), NBUFS);
        CHECK(!fio_write_flags_refused(f));
        CHECK(fio_buf(f, 0) == first);
        CHECK_EQ_INT(fio_reap(f, &c, false), 0); /* nothing left over to reap */
        CHECK_EQ_INT(fio_is_uring(f), !psync);
        CHECK_EQ_INT(fio_uring_err(f), 0);
        CHECK_EQ_U64(run_chunks(f, fd, true), size); /* and it works as before */
        CHECK_EQ_U64(run_chunks(f, fd, false), size);

        /* freeing with operations still in flight (queued, submitted or
         * done but not reaped) must not crash or leak; ASan watches */
        for (unsigned i = 0; i < NBUFS; i++) {
                CHECK_EQ_INT(fio_buf_get(f, &b), 0);
                CHECK_EQ_INT(fio_read(f, fd, b, BUFSZ, 0, 100 + i), 0);
                if (i == 1)
                        CHECK_EQ_INT(fio_submit(f), 0); /* some submitted, some only queued */
        }
        CHECK_EQ_INT(fio_inflight(f), NBUFS);
        CHECK(fio_free(f) == NULL);
        close(fd);
}
