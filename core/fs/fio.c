/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fs/fio.h"
#include "base/util.h"

struct fio_op {
        int fd;
        bool active;
        bool is_write;
        size_t len;  /* bytes asked for */
        size_t done; /* bytes done so far (short reads/writes resubmit the rest) */
        uint64_t off;
        uint64_t tag;
};

struct fio {
        bool uring;
        int uring_err; /* why not, when asked for (fio_new) */
        bool fixed; /* buffers registered with the ring */
        /* Buffered writes are a copy into the page cache that io_uring cannot
         * do inline: it punts each one to an io-wq worker thread.  Measured
         * here (bench/, 2 GiB pull): 1.49 CPU s/GiB on the receiver through
         * io_uring against 0.60 with pwrite, and slower.  So writes run as
         * pwrite; io_uring keeps the reads, which it overlaps with the
         * stream.  (Uncached and O_DIRECT writes are where io_uring pays.) */
        bool sync_writes;
        int rwf;            /* pwritev2 flags for writes */
        bool rwf_refused;   /* the kernel refused them; dropped */
        struct io_uring ring;
        unsigned nbufs;
        size_t bufsize;
        uint8_t *mem;       /* nbufs * bufsize, page aligned; owned */
        unsigned *freelist; /* stack of free buffer indexes; owned */
        unsigned nfree;
        struct fio_op *ops; /* one slot per buffer; owned */
        unsigned inflight;  /* operations not yet reported */
        unsigned queued;    /* SQEs prepared but not submitted */
        /* psync: completed operations waiting to be reaped, a FIFO */
        struct fio_cqe *done;
        unsigned done_head, done_len;
};

static int op_prep(struct fio *f, unsigned buf) {
        struct fio_op *op = &f->ops[buf];
        struct io_uring_sqe *sqe = io_uring_get_sqe(&f->ring);
        if (!sqe) {
                /* The ring has twice as many entries as buffers, so this only
                 * happens if completions were not reaped; submit and retry. */
                int r = io_uring_submit(&f->ring);
                if (r < 0)
                        return r;
                f->queued = 0;
                sqe = io_uring_get_sqe(&f->ring);
                if (!sqe)
                        return -EBUSY;
        }
        uint8_t *p = f->mem + (size_t)buf * f->bufsize + op->done;
        unsigned n = (unsigned)(op->len - op->done);
        if (f->fixed) {
                if (op->is_write)
                        io_uring_prep_write_fixed(sqe, op->fd, p, n, op->off + op->done, (int)buf);
                else
                        io_uring_prep_read_fixed(sqe, op->fd, p, n, op->off + op->done, (int)buf);
        } else {
                if (op->is_write)
                        io_uring_prep_write(sqe, op->fd, p, n, op->off + op->done);
                else
                        io_uring_prep_read(sqe, op->fd, p, n, op->off + op->done);
        }
        io_uring_sqe_set_data64(sqe, buf);
        f->queued++;
        return 0;
}

static void done_push(struct fio *f, unsigned buf, int res) {
        struct fio_op *op = &f->ops[buf];
        unsigned tail = (f->done_head + f->done_len) % f->nbufs;
        f->done[tail] = (struct fio_cqe){ .buf = buf, .tag = op->tag, .res = res, .is_write = op->is_write };
        f->done_len++;
}

/* pread/pwrite backend: run the whole operation now. */
static void op_run_sync(struct fio *f, unsigned buf) {
        struct fio_op *op = &f->ops[buf];
        uint8_t *p = f->mem + (size_t)buf * f->bufsize;
        int res = 0;
        while (op->done < op->len) {
                ssize_t n;
                if (op->is_write) {
                        struct iovec iov = { p + op->done, op->len - op->done };
                        n = pwritev2(op->fd, &iov, 1, (off_t)(op->off + op->done), f->rwf);
                        if (n < 0 && f->rwf && (errno == EOPNOTSUPP || errno == EINVAL)) {
                                /* An older kernel (RWF_DONTCACHE is 6.14+) or a
                                 * filesystem without it: write plainly. */
                                f->rwf = 0;
                                f->rwf_refused = true;
                                continue;
                        }
                } else {
                        n = pread(op->fd, p + op->done, op->len - op->done, (off_t)(op->off + op->done));
                }
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        res = -errno;
                        break;
                }
                if (n == 0) {
                        if (op->is_write)
                                res = -EIO; /* no progress: retrying would loop forever */
                        break;              /* read: end of file */
                }
                op->done += (size_t)n;
        }
        done_push(f, buf, res < 0 ? res : (int)op->done);
}

static int op_start(struct fio *f, int fd, unsigned buf, size_t len, uint64_t off, uint64_t tag, bool is_write) {
        if (buf >= f->nbufs || len > f->bufsize || f->ops[buf].active)
                return -EINVAL;
        f->ops[buf] = (struct fio_op){ .fd = fd, .active = true, .is_write = is_write, .len = len, .off = off, .tag = tag };
        f->inflight++;
        if (!f->uring || (is_write && f->sync_writes)) {
                op_run_sync(f, buf);
                return 0;
        }
        return op_prep(f, buf);
}

int fio_read(struct fio *f, int fd, unsigned buf, size_t len, uint64_t off, uint64_t tag) {
        return op_start(f, fd, buf, len, off, tag, false);
}

int fio_write(struct fio *f, int fd, unsigned buf, size_t len, uint64_t off, uint64_t tag) {
        return op_start(f, fd, buf, len, off, tag, true);
}

int fio_submit(struct fio *f) {
        if (!f->uring || f->queued == 0)
                return 0;
        int r = io_uring_submit(&f->ring);
        if (r < 0)
                return r;
        f->queued = 0;
        return 0;
}

int fio_reap(struct fio *f, struct fio_cqe *ret, bool wait) {
        if (!f->uring || f->done_len > 0) {
                if (f->done_len == 0)
                        return f->inflight ? -EIO : (wait ? -EDEADLK : 0);
                *ret = f->done[f->done_head];
                f->done_head = (f->done_head + 1) % f->nbufs;
                f->done_len--;
                f->ops[ret->buf].active = false;
                f->inflight--;
                return 1;
        }

        for (;;) {
                struct io_uring_cqe *cqe;
                int r;
                if (f->inflight == 0)
                        return wait ? -EDEADLK : 0;
                if (f->queued) {
                        r = fio_submit(f);
                        if (r < 0)
                                return r;
                }
                r = wait ? io_uring_wait_cqe(&f->ring, &cqe) : io_uring_peek_cqe(&f->ring, &cqe);
                if (r == -EAGAIN && !wait)
                        return 0;
                if (r == -EINTR)
                        continue;
                if (r < 0)
                        return r;
                unsigned buf = (unsigned)io_uring_cqe_get_data64(cqe);
                int res = cqe->res;
                io_uring_cqe_seen(&f->ring, cqe);
                if (buf >= f->nbufs || !f->ops[buf].active)
                        return -EIO; /* cannot happen: every SQE carries an active slot */
                struct fio_op *op = &f->ops[buf];

                if (res == -EAGAIN || res == -EINTR) {
                        r = op_prep(f, buf);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (res > 0) {
                        op->done += (size_t)res;
                        if (op->done < op->len) { /* short: resubmit the rest */
                                r = op_prep(f, buf);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                } else if (res == 0 && op->is_write && op->len > 0) {
                        res = -EIO; /* no progress: resubmitting would loop */
                }
                *ret = (struct fio_cqe){
                        .buf = buf,
                        .tag = op->tag,
                        .res = res < 0 ? res : (int)op->done,
                        .is_write = op->is_write,
                };
                op->active = false;
                f->inflight--;
                return 1;
        }
}

int fio_buf_get(struct fio *f, unsigned *ret_buf) {
        if (f->nfree == 0)
                return -ENOBUFS;
        *ret_buf = f->freelist[--f->nfree];
        return 0;
}

void fio_buf_put(struct fio *f, unsigned buf) {
        assert(f->nfree < f->nbufs && buf < f->nbufs); /* a double put is a bug */
        f->freelist[f->nfree++] = buf;
}

uint8_t *fio_buf(struct fio *f, unsigned buf) { return f->mem + (size_t)buf * f->bufsize; }
bool fio_is_uring(const struct fio *f) { return f->uring; }
size_t fio_bufsize(const struct fio *f) { return f->bufsize; }
unsigned fio_nbufs(const struct fio *f) { return f->nbufs; }
unsigned fio_free_bufs(const struct fio *f) { return f->nfree; }
unsigned fio_inflight(const struct fio *f) { return f->inflight; }
int fio_pollfd(const struct fio *f) { return f->uring ? f->ring.ring_fd : -1; }
/* Registering the pool pins it, which first faults in every page of it
 * (depth x the largest chunk: 32 MiB with 4 MiB chunks), per session,
 * whatever the file's size: 34 ms per session measured in the TCG guest,
 * where ferryd's pulls of 64 MiB took ~1 s of CPU.  It saves the pinning
 * on each operation, which pays for O_DIRECT writes at depth; buffered
 * reads and writes copy through the page cache, where it saves nothing
 * measurable (FACTS: io_uring and pread alike for cached reads).  So the
 * pool is registered only once O_DIRECT writes go through the ring.  A low
 * RLIMIT_MEMLOCK refuses it, and plain reads and writes still work. */
static void register_pool(struct fio *f) {
        if (!f->uring || f->fixed || f->inflight)
                return;
        struct iovec *iov = calloc(f->nbufs, sizeof *iov);
        if (!iov)
                return;
        for (unsigned i = 0; i < f->nbufs; i++)
                iov[i] = (struct iovec){ f->mem + (size_t)i * f->bufsize, f->bufsize };
        f->fixed = io_uring_register_buffers(&f->ring, iov, f->nbufs) == 0;
        free(iov);
}

void fio_set_uring_writes(struct fio *f, bool on) {
        f->sync_writes = !(on && f->uring);
        if (on)
                register_pool(f);
}
void fio_set_write_flags(struct fio *f, int rwf) { f->rwf = rwf; }
bool fio_write_flags_refused(const struct fio *f) { return f->rwf_refused; }

/* Every buffer free, the lowest index taken first. */
static void free_all(struct fio *f) {
        for (unsigned i = 0; i < f->nbufs; i++)
                f->freelist[i] = f->nbufs - 1 - i;
        f->nfree = f->nbufs;
}

/* Wait for every operation in flight: the kernel may still be writing
 * into the buffers.  0, or -errno when one could not be waited for. */
static int drain(struct fio *f) {
        struct fio_cqe c;
        int r = 0;
        while (f->inflight && (r = fio_reap(f, &c, true)) > 0)
                ;
        return f->inflight ? (r < 0 ? r : -EIO) : 0;
}

int fio_recycle(struct fio *f) {
        int r = drain(f);
        if (r < 0)
                return r;
        free_all(f);
        f->done_head = f->done_len = 0;
        f->sync_writes = true;
        f->rwf = 0;
        f->rwf_refused = false;
        (void)madvise(f->mem, f->bufsize * f->nbufs, MADV_FREE); /* (Linux 4.5+; else kept as is) */
        return 0;
}

int fio_uring_err(const struct fio *f) { return f->uring_err; }

struct fio *fio_free(struct fio *f) {
        if (!f)
                return NULL;
        if (f->uring) {
                (void)drain(f);
                io_uring_queue_exit(&f->ring);
        }
        free(f->mem);
        free(f->freelist);
        free(f->ops);
        free(f->done);
        free(f);
        return NULL;
}

int fio_new(unsigned nbufs, size_t bufsize, bool force_psync, struct fio **ret, int *ret_uring_err) {
        if (nbufs == 0 || nbufs > 1024 || bufsize == 0 || bufsize > (64u << 20))
                return -EINVAL;
        bufsize = (bufsize + 4095) & ~(size_t)4095;

        struct fio *f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->nbufs = nbufs;
        f->bufsize = bufsize;
        f->mem = aligned_alloc(4096, bufsize * nbufs);
        f->freelist = calloc(nbufs, sizeof *f->freelist);
        f->ops = calloc(nbufs, sizeof *f->ops);
        f->done = calloc(nbufs, sizeof *f->done);
        if (!f->mem || !f->freelist || !f->ops || !f->done) {
                fio_free(f);
                return -ENOMEM;
        }
        free_all(f);

        int uerr = 0;
        const char *no_uring = getenv("FERRY_NO_IO_URING");
        if (no_uring && *no_uring && strcmp(no_uring, "0") != 0)
                force_psync = true;
        if (!force_psync) {
                uerr = io_uring_queue_init(nbufs * 2, &f->ring, 0);
                if (uerr == 0) {
                        f->uring = true;
                        f->sync_writes = true;
                }
        }
        f->uring_err = uerr;
        if (ret_uring_err)
                *ret_uring_err = uerr;
        *ret = f;
        return 0;
}
