/* SPDX-License-Identifier: MIT */
/*
 * Chunked file I/O: a bounded pool of buffers, allocated once, and reads and
 * writes of whole buffers at file offsets, through io_uring where the kernel
 * allows it and pread/pwrite otherwise.
 *
 * The pool is the flow control on the file side: a caller that finds no free
 * buffer waits for a completion.  Each buffer carries at most one operation,
 * so the number of operations in flight is bounded by the pool size.  Short
 * reads and writes and -EAGAIN are resubmitted here; a completion is reported
 * only when the whole length is done, at end of file (reads), or on error.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fio;

struct fio_cqe {
        unsigned buf;  /* pool buffer the operation used */
        uint64_t tag;  /* caller's value from fio_read/fio_write */
        int res;       /* bytes done (== len unless EOF on a read) or -errno */
        bool is_write;
};

/* nbufs buffers of bufsize bytes each (bufsize rounded up to 4096).
 * force_psync selects the pread/pwrite backend.  When io_uring cannot be
 * set up, the pread/pwrite backend is used and *ret_uring_err says why
 * (negative errno; 0 if io_uring is in use or was not asked for). */
int fio_new(unsigned nbufs, size_t bufsize, bool force_psync, struct fio **ret, int *ret_uring_err);
struct fio *fio_free(struct fio *f);
/* Make a used pool as new for its next user, keeping its memory: waits for
 * the operations in flight, frees every buffer and drops the per-user
 * settings (write flags, io_uring writes).  The memory's pages stay where
 * they are, so the next user does not fault and zero them again (a
 * session's pool, in an emulated guest: see session.h's pool); they are
 * marked free to reclaim (MADV_FREE) should memory run short meanwhile.
 * -errno if an operation could not be waited for: free the pool then. */
int fio_recycle(struct fio *f);
/* Why io_uring is not in use: as fio_new's *ret_uring_err. */
int fio_uring_err(const struct fio *f);

bool fio_is_uring(const struct fio *f);
size_t fio_bufsize(const struct fio *f);
unsigned fio_nbufs(const struct fio *f);
unsigned fio_free_bufs(const struct fio *f);
unsigned fio_inflight(const struct fio *f);

/* Take a free buffer; -ENOBUFS when all are in use. */
int fio_buf_get(struct fio *f, unsigned *ret_buf);
void fio_buf_put(struct fio *f, unsigned buf);
uint8_t *fio_buf(struct fio *f, unsigned buf);

/* Queue an operation on len bytes at the start of buffer buf.  Operations
 * are sent to the kernel by fio_submit (io_uring) or run at once (psync). */
int fio_read(struct fio *f, int fd, unsigned buf, size_t len, uint64_t off, uint64_t tag);
int fio_write(struct fio *f, int fd, unsigned buf, size_t len, uint64_t off, uint64_t tag);
int fio_submit(struct fio *f);

/* Take one completion.  Returns 1 with *ret filled, 0 if none is ready (and
 * wait is false), or -errno.  With wait, blocks until one is ready; -EDEADLK
 * if nothing is in flight. */
int fio_reap(struct fio *f, struct fio_cqe *ret, bool wait);

/* Writes through io_uring (true: for O_DIRECT, where queue depth pays) or
 * as pwrite in the caller's thread (false, the default: buffered writes are
 * a page-cache copy io_uring would hand to a worker thread). */
void fio_set_uring_writes(struct fio *f, bool on);
/* RWF_* flags for pwritev2 on every write (e.g. RWF_DONTCACHE).  If the
 * kernel refuses them, writes go on without and fio_write_flags_refused()
 * turns true. */
void fio_set_write_flags(struct fio *f, int rwf);
bool fio_write_flags_refused(const struct fio *f);

/* A descriptor that polls readable when completions are ready, or -1 when
 * completions are always ready at once (psync). */
int fio_pollfd(const struct fio *f);
