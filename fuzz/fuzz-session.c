/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness over ferryd's session engine (core/session), not only
 * the frame decoder: a responder configured as ferryd configures it, with a
 * real root directory, is sent a valid SYNC and then the fuzz input, and
 * runs until the stream ends.  Built from the real sources (Makefile,
 * $(BUILD)/fuzz/fuzz-session); seeds from fuzz/gen-corpus-session.c.
 *
 * The first input byte sets up the session:
 *   bit 0  0: the rest is the byte stream as sent after the SYNC;
 *          1: records of (type u8, length u16 LE, payload), each made into a
 *             frame with a correct header (the header check is a hash a
 *             mutator never hits).  Type bit 7 asks for a fix-up, so that a
 *             mutated file can still get through to its commit:
 *               DATA       the payload is the chunk alone; the DATA head is
 *                          made: the open file's id and next offset, the
 *                          chunk's digest
 *               HOLE       the payload is the length (u64 LE, 4096 if
 *                          shorter); id and offset are the open file's
 *               FILE_END   id, size, chunk count and whole-file digest of
 *                          what the fix-ups sent since the last FILE_BEGIN
 *             (FILE_BEGIN with bit 7 opens that file for the fix-ups; a
 *             resume where they stopped keeps the digest so far.)
 *             Type 0xff is no frame: the sender pauses there until the
 *             responder has been quiet for 3 ms, as a host waits for
 *             answers (at most 8 pauses count).
 *   bit 1  pread/pwrite instead of io_uring
 *   bits 2-3  write mode: auto (uncached), buffered, O_DIRECT, auto
 *   bit 4  keep written pages cached
 *   bit 5  offer FY_FEAT_CHECKED (PROTOCOL.md 9.14): every frame after the
 *          SYNC but DATA is sent with its payload check; without the bit
 *          it is not offered, and frames go as in v1
 *
 * The stream is written by a second thread that also reads and keeps what
 * the responder sends, then closes its half; the session must end (a hang
 * is a libFuzzer timeout).  Checked besides the sanitizers: everything the
 * responder sent is well-formed frames (a cut last frame aside), starting
 * with a SYNC_ACK or an ERROR, every DATA chunk matching its digest; no
 * descriptor outlives the session.
 *
 * The root is ferry-fuzz-session.PID under $FUZZ_SESSION_ROOT, else
 * /dev/shm (tmpfs: commits run syncfs, which on a disk would flush everyone's
 * dirty data), else $TMPDIR or /tmp.  It is emptied after every input, so an
 * input reproduces on its own; RLIMIT_FSIZE keeps any one file small (a
 * fuzzed FILE_BEGIN can ask the receiver to reserve any size).
 * FUZZ_SESSION_LOG=1 lets the engine's log lines through; FUZZ_SESSION_DUMP=1
 * prints the frames the responder sent.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sanitizer/asan_interface.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "codec.h"
#include "fs/pathsafe.h"
#include "session/session.h"

#define FUZZ_ASSERT(c)                                                        \
        do {                                                                  \
                if (!(c)) {                                                   \
                        fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c); \
                        abort();                                              \
                }                                                             \
        } while (0)

#define NONCE 0x6665727279667a7aull /* "ferryfzz" */
#define CHUNK FY_MIN_CHUNK          /* small everything: more states per second */
#define FILE_LIMIT (4ull << 20)     /* RLIMIT_FSIZE: above the 1 MiB of a journaled file */
#define KEEP_MAX (8u << 20)         /* responder output kept for checking */
#define PAUSE 0xff                  /* record: let the responder catch up */
#define MAX_PAUSES 8
#define QUIET_MS 3

static char root_path[256];
static struct fsroot root;

/* ---- big blocks ------------------------------------------------------------ */

/* A session allocates about 1 MB in a few blocks (its input buffer, output
 * queue, the session itself).  Under ASan every block over 128 KiB is a
 * fresh mmap, unmapped again when it leaves quarantine; the page faults and
 * TLB flushes cost 3-4 ms per session on a VM like this one, most of an
 * exec.  So the harness is linked with --wrap=malloc,calloc,realloc,free
 * (Makefile), and blocks of BIG or more allocated during a session are kept
 * here and handed out again for the same size.  ASan still sees them: a kept
 * block stays allocated (its redzones catch overflows), is poisoned while
 * kept (a use after free reports), and its first 4 KiB are refilled as
 * ASan's malloc does; a second free of it aborts, and one still in use when
 * the input is done is a leak. */
#define BIG (128u << 10)
#define NKEEP 32

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static struct kept {
        void *p;
        size_t size;
        bool busy;
} kept[NKEEP];
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static bool keeping; /* a session is on: keep big blocks */

void *__wrap_malloc(size_t n) {
        if (n < BIG || !keeping)
                return __real_malloc(n);
        pthread_mutex_lock(&kept_lock);
        struct kept *free_slot = NULL;
        for (struct kept *k = kept; k < kept + NKEEP; k++) {
                if (k->p && !k->busy && k->size == n) {
                        k->busy = true;
                        pthread_mutex_unlock(&kept_lock);
                        ASAN_UNPOISON_MEMORY_REGION(k->p, n);
                        memset(k->p, 0xbe, 4096);
                        return k->p;
                }
                if (!k->p && !free_slot)
                        free_slot = k;
        }
        void *p = __real_malloc(n);
        if (p && free_slot)
                *free_slot = (struct kept){ .p = p, .size = n, .busy = true };
        pthread_mutex_unlock(&kept_lock);
        return p;
}

void *__wrap_calloc(size_t n, size_t size) {
        if (size && n > SIZE_MAX / size)
                return NULL;
        if (n * size < BIG || !keeping)
                return __real_calloc(n, size);
        void *p = __wrap_malloc(n * size);
        if (p)
                memset(p, 0, n * size);
        return p;
}

static struct kept *kept_find(const void *p) {
        for (struct kept *k = kept; k < kept + NKEEP; k++)
                if (p && k->p == p)
                        return k;
        return NULL;
}

void __wrap_free(void *p) {
        pthread_mutex_lock(&kept_lock);
        struct kept *k = kept_find(p);
        if (k) {
                FUZZ_ASSERT(k->busy); /* a double free */
                k->busy = false;
                ASAN_POISON_MEMORY_REGION(p, k->size);
        }
        pthread_mutex_unlock(&kept_lock);
        if (!k)
                __real_free(p);
}

void *__wrap_realloc(void *p, size_t n) {
        pthread_mutex_lock(&kept_lock);
        struct kept *k = kept_find(p);
        size_t old = k ? k->size : 0;
        FUZZ_ASSERT(!k || k->busy);
        pthread_mutex_unlock(&kept_lock);
        if (!k)
                return __real_realloc(p, n);
        void *q = __wrap_malloc(n);
        if (q) {
                memcpy(q, p, old < n ? old : n);
                __wrap_free(p);
        }
        return q;
}

/* After an input: every kept block was given back. */
static void kept_check(void) {
        for (struct kept *k = kept; k < kept + NKEEP; k++)
                if (k->busy)
                        fprintf(stderr, "leak: a block of %zu bytes allocated during the session\n", k->size);
        for (struct kept *k = kept; k < kept + NKEEP; k++)
                FUZZ_ASSERT(!k->busy);
}

/* ---- the root ------------------------------------------------------------ */

/* Remove everything below dirfd (closed here); depth-first, never following
 * a symlink.  A directory made without permissions is opened anyway: we may
 * not be root. */
static void empty_dir(int dirfd) {
        DIR *d = fdopendir(dirfd);
        if (!d) {
                close(dirfd);
                return;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                        continue;
                if (unlinkat(dirfd, e->d_name, 0) == 0)
                        continue;
                (void)fchmodat(dirfd, e->d_name, 0700, 0);
                int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub >= 0)
                        empty_dir(sub);
                (void)unlinkat(dirfd, e->d_name, AT_REMOVEDIR);
        }
        closedir(d);
}

static void empty_root(void) {
        (void)fchmod(root.fd, 0700);
        int fd = openat(root.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FUZZ_ASSERT(fd >= 0);
        empty_dir(fd);
}

/* Roots of harness processes that are gone. */
static void remove_orphans(const char *base) {
        DIR *d = opendir(base);
        if (!d)
                return;
        struct dirent *e;
        while ((e = readdir(d))) {
                int pid;
                char end;
                if (sscanf(e->d_name, "ferry-fuzz-session.%d%c", &pid, &end) != 1 || pid <= 0)
                        continue;
                if (pid != getpid() && (kill(pid, 0) == 0 || errno != ESRCH))
                        continue; /* alive: another harness's */
                int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd >= 0)
                        empty_dir(fd);
                (void)unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
        }
        closedir(d);
}

static void remove_root(void) {
        empty_root();
        fsroot_close(&root);
        (void)rmdir(root_path);
}

/* Descriptors open in this process; with show, each one and what it is. */
static int count_fds(bool show) {
        DIR *d = opendir("/proc/self/fd");
        if (!d)
                return -1;
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                n++;
                if (show && e->d_name[0] != '.') {
                        char target[256];
                        ssize_t k = readlinkat(dirfd(d), e->d_name, target, sizeof target - 1);
                        target[k > 0 ? k : 0] = 0;
                        fprintf(stderr, "    fd %s -> %s\n", e->d_name, target);
                }
        }
        closedir(d);
        return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void)argc;
        (void)argv;
        const char *base = getenv("FUZZ_SESSION_ROOT");
        struct stat st;
        if (!base || !*base)
                base = stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NULL;
        if (!base)
                base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        /* Named for this process, so that a later run removes what a
         * crashed one left (the crash skips atexit). */
        remove_orphans(base);
        snprintf(root_path, sizeof root_path, "%.200s/ferry-fuzz-session.%d", base, (int)getpid());
        if (mkdir(root_path, 0700) < 0) {
                perror(root_path);
                exit(1);
        }
        int r = fsroot_open(root_path, true, &root);
        if (r < 0) {
                fprintf(stderr, "fsroot_open %s: %s\n", root_path, strerror(-r));
                exit(1);
        }
        atexit(remove_root);

        struct rlimit lim = { FILE_LIMIT, FILE_LIMIT };
        signal(SIGPIPE, SIG_IGN); /* as ferryd */
        if (setrlimit(RLIMIT_FSIZE, &lim) < 0) {
                perror("setrlimit");
                exit(1);
        }
        const char *v = getenv("FUZZ_SESSION_LOG");
        log_init("fuzz-session", v && *v == '1' ? LOG_DEBUG : -1);
        return 0;
}

/* ---- the stream we send --------------------------------------------------- */

struct buf {
        uint8_t *p;
        size_t len, cap;
};

static void buf_put(struct buf *b, const void *p, size_t n) {
        if (b->len + n > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                while (cap < b->len + n)
                        cap *= 2;
                b->p = realloc(b->p, cap);
                FUZZ_ASSERT(b->p);
                b->cap = cap;
        }
        memcpy(b->p + b->len, p, n);
        b->len += n;
}

static bool checked_mode; /* input bit 5 */

static void put_msg(struct buf *b, const struct fy_msg *m) {
        static uint8_t f[FY_MAX_CTRL_FRAME];
        ssize_t n = checked_mode && m->type != FY_SYNC ? fy_msg_encode_checked(f, sizeof f, m)
                                                      : fy_msg_encode(f, sizeof f, m);
        if (n > 0)
                buf_put(b, f, (size_t)n);
}

/* What the fix-ups have sent of the file opened last. */
struct fixup {
        uint32_t xfer_id;
        uint64_t off, chunks;
        struct fy_file_digest digest;
};

static void record(struct buf *b, struct fixup *fx, uint8_t type, const uint8_t *p, size_t n) {
        uint8_t h[FY_DATA_FRAME_HEAD];
        bool fix = type & 0x80;
        type &= 0x7f;
        if (fix && type == FY_DATA) {
                if (n > FY_MAX_CHUNK)
                        n = FY_MAX_CHUNK;
                struct fy_data d = { .xfer_id = fx->xfer_id, .offset = fx->off, .raw_len = (uint32_t)n,
                                     .payload_len = (uint32_t)n, .digest = fy_chunk_digest(p, n) };
                FUZZ_ASSERT(fy_data_head_encode(h, &d) == FY_DATA_FRAME_HEAD);
                buf_put(b, h, sizeof h);
                buf_put(b, p, n);
                fy_file_digest_add(&fx->digest, d.digest);
                fx->off += n;
                fx->chunks++;
                return;
        }
        if (fix && type == FY_HOLE) {
                uint64_t len = 4096;
                if (n >= 8) {
                        len = 0;
                        for (int i = 7; i >= 0; i--)
                                len = len << 8 | p[i];
                }
                struct fy_msg m = { .type = FY_HOLE, .hole = { .xfer_id = fx->xfer_id, .offset = fx->off, .length = len } };
                put_msg(b, &m);
                fy_file_digest_add_hole(&fx->digest, fx->off, len);
                fx->off += len;
                return;
        }
        if (fix && type == FY_FILE_END) {
                struct fy_msg m = { .type = FY_FILE_END,
                                    .end = { .xfer_id = fx->xfer_id, .size = fx->off, .chunks = fx->chunks } };
                struct fy_file_digest copy = fx->digest; /* a second FILE_END gets the same */
                fy_file_digest_final(&copy, m.end.digest);
                put_msg(b, &m);
                return;
        }
        if (checked_mode && type != FY_DATA && n <= FY_MAX_CTRL - FY_CHECK_SIZE) {
                /* The payload as given, then its check (PROTOCOL.md 9.14). */
                fy_header_encode(h, type, (uint32_t)(n + FY_CHECK_SIZE));
                h[6] = FY_HF_CHECKED; /* flags, u16 LE */
                h[7] = 0;
                le_put32(h + 12, (uint32_t)XXH3_64bits(h, 12));
                uint8_t c[FY_CHECK_SIZE];
                le_put64(c, XXH3_64bits_withSeed(p, n, XXH3_64bits(h, 12)));
                buf_put(b, h, FY_HDR_SIZE);
                buf_put(b, p, n);
                buf_put(b, c, sizeof c);
        } else {
                fy_header_encode(h, type, (uint32_t)n);
                buf_put(b, h, FY_HDR_SIZE);
                buf_put(b, p, n);
        }
        fy_header_encode(h, type, (uint32_t)n); /* the plain form, to read the fix-ups' FILE_BEGIN */
        if (fix && type == FY_FILE_BEGIN) {
                static struct fy_msg m;
                struct fy_header hd;
                if (fy_header_decode(h, &hd) == 0 && fy_msg_decode(&hd, p, n, &m) == 0) {
                        /* A resume that continues where the fix-ups of this
                         * file stopped keeps their digest. */
                        const struct fy_file_begin *fb = &m.begin;
                        bool resume = fb->flags & FY_FB_RESUME;
                        if (!resume || fb->xfer_id != fx->xfer_id || fb->resume_off != fx->off ||
                            fb->resume_chunks != fx->chunks)
                                fy_file_digest_init(&fx->digest);
                        fx->xfer_id = fb->xfer_id;
                        fx->off = resume ? fb->resume_off : 0;
                        fx->chunks = resume ? fb->resume_chunks : 0;
                }
        }
}

/* The stream, and where in it the peer waits for the responder. */
struct script {
        struct buf b;
        size_t pause_at[MAX_PAUSES];
        unsigned npauses;
};

static void make_stream(struct script *sc, const uint8_t *data, size_t size) {
        struct buf *b = &sc->b;
        checked_mode = data[0] & 32;
        struct fy_msg sync = { .type = FY_SYNC };
        sync.hello = (struct fy_hello){ .nonce = NONCE, .proto_min = FY_PROTO_MIN, .proto_max = FY_PROTO_VERSION,
                                        .features = FY_FEAT_KNOWN & ~(checked_mode ? 0 : FY_FEAT_CHECKED),
                                        .max_frame = FY_MAX_PAYLOAD,
                                        .max_chunk = CHUNK, .recv_window = 16 * CHUNK };
        strcpy(sync.hello.agent, "ferry/fuzz");
        put_msg(b, &sync);
        if (!(data[0] & 1)) {
                buf_put(b, data + 1, size - 1);
                return;
        }
        static struct fixup fx;
        memset(&fx, 0, sizeof fx);
        fy_file_digest_init(&fx.digest);
        size_t i = 1;
        while (size - i >= 3) {
                uint8_t type = data[i];
                size_t n = (size_t)data[i + 1] | (size_t)data[i + 2] << 8;
                i += 3;
                if (n > size - i)
                        n = size - i;
                if (type == PAUSE) {
                        if (sc->npauses < MAX_PAUSES)
                                sc->pause_at[sc->npauses++] = b->len;
                } else
                        record(b, &fx, type, data + i, n);
                i += n;
        }
}

/* ---- the peer: writes the stream, keeps what comes back -------------------- */

struct peer {
        int fd;
        const struct script *sc;
        struct buf in; /* what the responder sent, up to KEEP_MAX */
};

/* Read what is there; false at the end of the stream. */
static bool peer_read(struct peer *p) {
        static uint8_t tmp[64 << 10]; /* one peer at a time */
        ssize_t n = recv(p->fd, tmp, sizeof tmp, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                return false;
        if (n > 0 && p->in.len + (size_t)n <= KEEP_MAX)
                buf_put(&p->in, tmp, (size_t)n);
        return true;
}

static void peer_run(struct peer *p) {
        const struct buf *out = &p->sc->b;
        size_t pos = 0;
        unsigned pause = 0;
        struct timespec since = { 0 };
        bool shut = false;
        for (;;) {
                size_t stop = pause < p->sc->npauses ? p->sc->pause_at[pause] : out->len;
                bool pausing = pos == stop && pause < p->sc->npauses;
                if (!shut && pos == out->len && !pausing) {
                        (void)shutdown(p->fd, SHUT_WR);
                        shut = true;
                }
                struct pollfd pfd = { .fd = p->fd, .events = (short)(POLLIN | (shut || pausing ? 0 : POLLOUT)) };
                int r = poll(&pfd, 1, pausing ? QUIET_MS : -1);
                if (r < 0) {
                        FUZZ_ASSERT(errno == EINTR);
                        continue;
                }
                if (pausing) {
                        struct timespec now;
                        clock_gettime(CLOCK_MONOTONIC, &now);
                        if (!since.tv_sec)
                                since = now;
                        if (r == 0 || now.tv_sec - since.tv_sec > 1) {
                                pause++; /* the responder went quiet (or took too long): go on */
                                since.tv_sec = 0;
                                continue;
                        }
                }
                if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) && !peer_read(p))
                        return; /* the responder closed: done */
                if (!shut && !pausing && (pfd.revents & POLLOUT)) {
                        ssize_t n = send(p->fd, out->p + pos, stop - pos, MSG_DONTWAIT | MSG_NOSIGNAL);
                        if (n > 0)
                                pos += (size_t)n;
                        else if (n < 0 && errno != EAGAIN && errno != EINTR)
                                pos = out->len, pause = p->sc->npauses; /* the responder is gone */
                }
        }
}

/* One thread for every input's peer, started once: a thread per input
 * costs more than most inputs (stacks, ASan's per-thread state). */
static struct peer *peer_job;
static sem_t peer_go, peer_done;

static void *peer_thread(void *arg) {
        (void)arg;
        for (;;) {
                while (sem_wait(&peer_go) < 0)
                        FUZZ_ASSERT(errno == EINTR);
                peer_run(peer_job);
                FUZZ_ASSERT(sem_post(&peer_done) == 0);
        }
        return NULL;
}

/* FUZZ_SESSION_DUMP: one line per frame the responder sent. */
static void dump(size_t pos, const struct fy_msg *m) {
        fprintf(stderr, "responder @%zu: %s", pos, fy_type_name(m->type));
        switch (m->type) {
        case FY_SYNC_ACK: fprintf(stderr, " nonce %llx", (unsigned long long)m->hello.nonce); break;
        case FY_ERROR: fprintf(stderr, " %u '%s'", m->error.code, m->error.text); break;
        case FY_CREDIT: fprintf(stderr, " %llu/%llu", (unsigned long long)m->credit.consumed,
                                (unsigned long long)m->credit.limit); break;
        case FY_FILE_STATUS: fprintf(stderr, " %u: %u '%s'", m->status.xfer_id, m->status.code, m->status.text); break;
        case FY_RESUME_STATE: fprintf(stderr, " %u: verdict %u offset %llu", m->state.xfer_id, m->state.verdict,
                                      (unsigned long long)m->state.offset); break;
        case FY_FILE_BEGIN: fprintf(stderr, " %u '%s' '%s'", m->begin.xfer_id, m->begin.dest, m->begin.name); break;
        case FY_DATA: fprintf(stderr, " %u @%llu +%u", m->data.xfer_id, (unsigned long long)m->data.offset,
                              m->data.payload_len); break;
        }
        fprintf(stderr, "\n");
}

/* What the responder sent: whole frames, each decodable, the first one a
 * SYNC_ACK (ours, or one for a SYNC in the input: a new host drops what the
 * old session had queued) or an ERROR (so does a session that fails).  Only
 * the last may be cut short: a session that ends drops what it had not
 * written yet. */
static void check_output(const uint8_t *b, size_t n) {
        static struct fy_msg m;
        static int verbose = -1;
        if (verbose < 0)
                verbose = getenv("FUZZ_SESSION_DUMP") != NULL;
        size_t pos = 0;
        bool first = true;
        while (n - pos >= FY_HDR_SIZE) {
                struct fy_header h;
                int r = fy_header_decode(b + pos, &h);
                if (r != 0)
                        fprintf(stderr, "responder output at %zu: %s\n", pos, fy_strerror_decode(r));
                FUZZ_ASSERT(r == 0);
                if (n - pos - FY_HDR_SIZE < h.length)
                        break;
                const uint8_t *p = b + pos + FY_HDR_SIZE;
                r = fy_msg_decode(&h, p, h.length, &m);
                if (r != 0)
                        fprintf(stderr, "responder output at %zu, %s: %s\n", pos, fy_type_name(h.type),
                                fy_strerror_decode(r));
                FUZZ_ASSERT(r == 0);
                if (verbose)
                        dump(pos, &m);
                if (first) {
                        FUZZ_ASSERT(m.type == FY_SYNC_ACK || m.type == FY_ERROR);
                        first = false;
                }
                if (m.type == FY_DATA) {
                        FUZZ_ASSERT(m.data.codec == FY_CODEC_RAW);
                        FUZZ_ASSERT(m.data.payload_len <= CHUNK);
                        FUZZ_ASSERT(fy_chunk_digest(p + FY_DATA_HEAD_SIZE, m.data.payload_len) == m.data.digest);
                }
                pos += FY_HDR_SIZE + h.length;
        }
}

/* ---- one input -------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static bool once;
        if (!once) {
                /* A file over RLIMIT_FSIZE: EFBIG, not death.  Set here, not
                 * in LLVMFuzzerInitialize: libFuzzer installs its own
                 * SIGXFSZ handler after that, which exits. */
                signal(SIGXFSZ, SIG_IGN);
                pthread_t t;
                FUZZ_ASSERT(sem_init(&peer_go, 0, 0) == 0 && sem_init(&peer_done, 0, 0) == 0);
                FUZZ_ASSERT(pthread_create(&t, NULL, peer_thread, NULL) == 0);
                once = true;
        }
        if (size < 1)
                return 0;
        static const enum write_mode modes[4] = { WRITE_AUTO, WRITE_BUFFERED, WRITE_DIRECT, WRITE_AUTO };
        struct session_config cfg = {
                .initiator = false,
                .agent = "ferryd/fuzz",
                .chunk_size = CHUNK,
                .max_chunk = CHUNK,
                .recv_window = 4 * CHUNK,
                .depth = 2,
                .force_psync = data[0] & 2,
                .timeout_ms = 1000,
                .stop_fd = -1,
                .psi_dir = "off",
                .dirty_limit = 4 * CHUNK,
                .keep_cache = data[0] & 16,
                .stale_age_s = 86400,
                .write_mode = modes[(data[0] >> 2) & 3],
                .root = &root,
        };

        keeping = true;
        struct script sc = { 0 };
        make_stream(&sc, data, size);
        /* Counted now, not once: libFuzzer opens pipes of its own between
         * inputs (to symbolize what it reports). */
        int base_fds = count_fds(false);

        int sv[2];
        FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
        struct session *s = NULL;
        int r = session_new(&cfg, sv[0], &s);
        FUZZ_ASSERT(r == 0);

        struct peer peer = { .fd = sv[1], .sc = &sc };
        peer_job = &peer;
        FUZZ_ASSERT(sem_post(&peer_go) == 0);
        r = session_run(s);
        FUZZ_ASSERT(r <= 0 && r > -4096);
        session_free(s);
        close(sv[0]);
        while (sem_wait(&peer_done) < 0) /* it reads our end's EOF and stops */
                FUZZ_ASSERT(errno == EINTR);
        close(sv[1]);

        check_output(peer.in.p, peer.in.len);
        free(peer.in.p);
        free(sc.b.p);
        keeping = false;
        kept_check();

        empty_root();
        if (base_fds >= 0 && count_fds(false) != base_fds) {
                fprintf(stderr, "%d descriptors open after the session, %d before:\n", count_fds(true), base_fds);
                FUZZ_ASSERT(!"a descriptor outlived the session");
        }
        return 0;
}
