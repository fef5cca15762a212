/* SPDX-License-Identifier: MIT */
/*
 * core/session: the engine end to end, both agents in one process.
 *
 * The host (initiator) runs in the test's thread, the guest (responder, as
 * ferryd sets it up) in a thread of its own, over a socketpair - or over
 * two, with a relay thread between them that can cut the stream after N
 * bytes or flip one byte inside the Nth DATA frame.  Real files in a
 * temporary directory: one directory is the guest's root, one holds the
 * host's files.  Only the public API (session.h, pathsafe.h) and the codec
 * are used, so the engine can be rebuilt behind it.
 *
 * Cases: push, pull, trees both ways, resume after a cut, files that cannot
 * be read (before and while sending), a damaged chunk both ways, a dropped
 * connection.  Small chunks and window so that a few MiB take many chunks;
 * nothing waits on a clock (the relay is event driven), and alarm() ends a
 * hang.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "check.h"
#include "session/compress.h"
#include "codec.h"
#include "fs/fio.h"
#include "fs/pathsafe.h"
#include "session/session.h"

#define CHUNK (64u << 10)
#define WINDOW (512u << 10)
#define DEPTH 4
#define BIG (3u << 20)
#define MAX_RECS 64

static char base[] = "/tmp/ferry-test-session.XXXXXX";
static char groot_path[PATH_MAX]; /* the guest's root */
static char local[PATH_MAX];      /* the host's files */
static struct fsroot groot, hroot;

/* ---- small helpers ------------------------------------------------------ */

static const char *pathf(char buf[PATH_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *pathf(char buf[PATH_MAX], const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, PATH_MAX, fmt, ap);
        va_end(ap);
        return buf;
}

static uint64_t rng_next(uint64_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

#define MTIME_SEC 1600000000

/* A file of size pseudo-random bytes (from seed), with mode and an mtime
 * that tells files apart (seed in the nanoseconds). */
static void make_file(const char *path, size_t size, uint64_t seed, mode_t mode) {
        uint8_t *p = malloc(size + 8);
        uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
        for (size_t i = 0; i < size; i += 8) {
                uint64_t v = rng_next(&s);
                memcpy(p + i, &v, 8);
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        CHECK(fd >= 0);
        CHECK_EQ_INT(write(fd, p, size), (ssize_t)size);
        CHECK_EQ_INT(fchmod(fd, mode), 0);
        struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = MTIME_SEC, .tv_nsec = (long)(seed % 1000000) * 1000 } };
        CHECK_EQ_INT(futimens(fd, ts), 0);
        safe_close(fd);
        free(p);
}

/* A file of size bytes of text (compresses 4x or better), mtime by seed. */
static void make_text(const char *path, size_t size, uint64_t seed) {
        static const char *const words[] = { "ferry ", "moves ", "large ", "files ", "between ", "a host ",
                                             "and ", "its guests, ", "verified; ", "resumable.\n" };
        uint8_t *p = malloc(size);
        uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
        for (size_t i = 0; i < size;) {
                const char *w = words[rng_next(&s) % ARRAY_SIZE(words)];
                for (size_t k = 0; w[k] && i < size; k++)
                        p[i++] = (uint8_t)w[k];
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        CHECK(fd >= 0);
        CHECK_EQ_INT(write(fd, p, size), (ssize_t)size);
        struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = MTIME_SEC, .tv_nsec = (long)(seed % 1000000) * 1000 } };
        CHECK_EQ_INT(futimens(fd, ts), 0);
        safe_close(fd);
        free(p);
}

static void make_dir(const char *path, mode_t mode) {
        CHECK_EQ_INT(mkdir(path, 0700), 0);
        CHECK_EQ_INT(chmod(path, mode), 0);
}

static void set_mtime(const char *path, long nsec) {
        struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = MTIME_SEC + 7, .tv_nsec = nsec } };
        CHECK_EQ_INT(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static bool exists(const char *path) {
        struct stat st;
        return lstat(path, &st) == 0;
}

static uint8_t *slurp(const char *path, size_t *ret_len) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                safe_close(fd);
                return NULL;
        }
        uint8_t *p = malloc((size_t)st.st_size + 1);
        ssize_t n = read(fd, p, (size_t)st.st_size + 1);
        safe_close(fd);
        if (n != st.st_size) {
                free(p);
                return NULL;
        }
        *ret_len = (size_t)n;
        return p;
}

/* Same bytes, same permission bits, same mtime. */
static void check_same_file(const char *want, const char *got) {
        unsigned before = check_failures;
        size_t la = 0, lb = 0;
        uint8_t *a = slurp(want, &la), *b = slurp(got, &lb);
        CHECK(a != NULL);
        CHECK(b != NULL);
        if (a && b) {
                CHECK_EQ_U64(lb, la);
                CHECK(la == lb && memcmp(a, b, la) == 0);
        }
        free(a);
        free(b);
        struct stat sa, sb;
        CHECK_EQ_INT(lstat(want, &sa), 0);
        if (lstat(got, &sb) == 0) {
                CHECK_EQ_INT(sb.st_mode & 07777, sa.st_mode & 07777);
                CHECK_EQ_INT(sb.st_mtim.tv_sec, sa.st_mtim.tv_sec);
                CHECK_EQ_INT(sb.st_mtim.tv_nsec, sa.st_mtim.tv_nsec);
        }
        if (check_failures != before)
                fprintf(stderr, "    (comparing '%s' with '%s')\n", want, got);
}

/* The file digest (PROTOCOL.md 6) of path chunked by chunk: what both ends
 * must report. */
static void file_digest(const char *path, uint8_t out[16]) {
        size_t len = 0;
        uint8_t *p = slurp(path, &len);
        CHECK(p != NULL);
        struct fy_file_digest d;
        fy_file_digest_init(&d);
        for (size_t off = 0; p && off < len; off += CHUNK)
                fy_file_digest_add(&d, fy_chunk_digest(p + off, MIN((size_t)CHUNK, len - off)));
        fy_file_digest_final(&d, out);
        free(p);
}

/* Entries named .ferry-* (temporary or partial files) in dir. */
static unsigned ferry_leftovers(const char *dir) {
        DIR *d = opendir(dir);
        unsigned n = 0;
        if (!d)
                return 0;
        for (struct dirent *e; (e = readdir(d));)
                if (!strncmp(e->d_name, ".ferry-", 7)) {
                        fprintf(stderr, "    left in %s: %s\n", dir, e->d_name);
                        n++;
                }
        closedir(d);
        return n;
}

/* Two trees hold the same entries: types, modes, contents, link targets,
 * mtimes (directories' too), and got holds nothing else (no .ferry-*). */
static void check_same_tree(const char *want, const char *got) {
        unsigned before = check_failures;
        struct stat sa, sb;
        CHECK_EQ_INT(lstat(want, &sa), 0);
        if (lstat(got, &sb) < 0) {
                CHECK(!"tree entry missing");
                fprintf(stderr, "    missing: %s\n", got);
                return;
        }
        CHECK_EQ_INT(sb.st_mode & S_IFMT, sa.st_mode & S_IFMT);
        if (S_ISREG(sa.st_mode)) {
                check_same_file(want, got);
                return;
        }
        if (S_ISLNK(sa.st_mode)) {
                char ta[PATH_MAX] = "", tb[PATH_MAX] = "";
                CHECK(readlink(want, ta, sizeof ta - 1) > 0);
                CHECK(readlink(got, tb, sizeof tb - 1) > 0);
                CHECK_EQ_STR(tb, ta);
                CHECK_EQ_INT(sb.st_mtim.tv_sec, sa.st_mtim.tv_sec);
                CHECK_EQ_INT(sb.st_mtim.tv_nsec, sa.st_mtim.tv_nsec);
        } else if (S_ISDIR(sa.st_mode)) {
                CHECK_EQ_INT(sb.st_mode & 07777, sa.st_mode & 07777);
                unsigned na = 0, nb = 0;
                DIR *d = opendir(want);
                CHECK(d != NULL);
                for (struct dirent *e; d && (e = readdir(d));) {
                        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                                continue;
                        char a[PATH_MAX], b[PATH_MAX];
                        check_same_tree(pathf(a, "%s/%s", want, e->d_name), pathf(b, "%s/%s", got, e->d_name));
                        na++;
                }
                if (d)
                        closedir(d);
                d = opendir(got);
                for (struct dirent *e; d && (e = readdir(d));)
                        nb += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
                if (d)
                        closedir(d);
                CHECK_EQ_INT(nb, na);
                CHECK_EQ_INT(ferry_leftovers(got), 0);
                /* After the walk above: reading does not touch mtimes. */
                CHECK_EQ_INT(sb.st_mtim.tv_sec, sa.st_mtim.tv_sec);
                CHECK_EQ_INT(sb.st_mtim.tv_nsec, sa.st_mtim.tv_nsec);
        }
        if (check_failures != before)
                fprintf(stderr, "    (tree entry '%s' vs '%s')\n", want, got);
}

/* ---- what each side reports -------------------------------------------- */

struct rec {
        struct file_result res;
        char src[FY_MAX_PATH + 1], dest[FY_MAX_PATH + 1];
};

struct reports {
        struct rec r[MAX_RECS];
        unsigned n, dropped;
};

static void record(struct reports *rp, const struct file_result *res) {
        if (rp->n >= MAX_RECS) {
                rp->dropped++;
                return;
        }
        struct rec *r = &rp->r[rp->n++];
        r->res = *res;
        snprintf(r->src, sizeof r->src, "%s", res->src ? res->src : "");
        snprintf(r->dest, sizeof r->dest, "%s", res->dest ? res->dest : "");
        r->res.src = r->src;
        r->res.dest = r->dest;
}

/* The one report of transfer id (NULL, and a failed check, if there is
 * none or more than one). */
static const struct file_result *report_of(const struct reports *rp, uint32_t id) {
        const struct file_result *found = NULL;
        unsigned n = 0;
        for (unsigned i = 0; i < rp->n; i++)
                if (rp->r[i].res.xfer_id == id && !rp->r[i].res.group) {
                        found = &rp->r[i].res;
                        n++;
                }
        CHECK_EQ_INT(n, 1);
        if (n != 1)
                fprintf(stderr, "    (%u reports of transfer %u)\n", n, id);
        return n == 1 ? found : NULL;
}

static bool any_success(const struct reports *rp, uint32_t id) {
        for (unsigned i = 0; i < rp->n; i++)
                if (rp->r[i].res.xfer_id == id && rp->r[i].res.err == 0)
                        return true;
        return false;
}

struct pull_req {
        uint32_t id;
        char remote[FY_MAX_PATH + 1];
        char name[FY_MAX_NAME + 1];
};

struct host {
        struct reports rep;
        const char *pull_dest;  /* local directory pulls go into */
        struct pull_req pulls[16];
        unsigned npulls;
        char entry_path[FY_MAX_PATH + 1];
        /* progress: truncate this source once its transfer has moved data */
        uint32_t shrink_id;
        const char *shrink_path;
        bool shrunk;
        /* progress: change the mtime of these sources once all their bytes
         * went, so the host gives each up before its FILE_END */
        struct { uint32_t id; char path[PATH_MAX]; bool done; } touch[32];
        unsigned ntouch, touched;
        struct fy_stats stats[4]; /* STATS answers (session_stats) */
        unsigned nstats;
};

static void host_stats_done(void *ud, const struct fy_stats *st) {
        struct host *h = ud;
        if (h->nstats < ARRAY_SIZE(h->stats))
                h->stats[h->nstats] = *st;
        h->nstats++;
}

static void host_done(void *ud, const struct file_result *res) {
        record(&((struct host *)ud)->rep, res);
}

static void host_progress(void *ud, uint32_t id, uint64_t bytes, uint64_t total) {
        struct host *h = ud;
        (void)total;
        if (h->shrink_path && id == h->shrink_id && bytes >= CHUNK && !h->shrunk) {
                CHECK_EQ_INT(truncate(h->shrink_path, 0), 0);
                h->shrunk = true;
        }
        for (unsigned i = 0; i < h->ntouch; i++)
                if (h->touch[i].id == id && bytes == total && !h->touch[i].done) {
                        struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = MTIME_SEC + 7 } };
                        CHECK_EQ_INT(utimensat(AT_FDCWD, h->touch[i].path, ts, 0), 0);
                        h->touch[i].done = true;
                        h->touched++;
                }
}

/* Where a pulled file goes, the way host-agent/xfer.c answers: a plain GET
 * into pull_dest under its own name; a tree's entries below
 * pull_dest/NAME (rsync's rule for a path without a trailing slash). */
static int host_recv_target(void *ud, const struct fy_file_begin *b, const char **ret_dest, const char **ret_name,
                            uint32_t *ret_flags) {
        struct host *h = ud;
        struct pull_req *p = NULL;
        for (unsigned i = 0; i < h->npulls; i++)
                if (h->pulls[i].id == b->xfer_id)
                        p = &h->pulls[i];
        if (!p || !h->pull_dest)
                return -ENOENT;
        if (b->flags & FY_ENTRY_REL) {
                const char *rel = b->dest;
                if (strcmp(rel, ".") && strncmp(rel, "./", 2))
                        return -EINVAL;
                rel = rel[1] ? rel + 2 : "";
                if (mkdir(h->pull_dest, 0755) < 0 && errno != EEXIST)
                        return -errno;
                int n = snprintf(h->entry_path, sizeof h->entry_path, "%s/%s%s%s", h->pull_dest, p->name,
                                 *rel ? "/" : "", rel);
                if (n >= (int)sizeof h->entry_path)
                        return -ENAMETOOLONG;
                *ret_dest = h->entry_path;
                *ret_name = "";
                *ret_flags = 0;
                return 0;
        }
        *ret_dest = h->pull_dest;
        *ret_name = p->name;
        *ret_flags = FY_FB_DEST_IS_DIR;
        return 0;
}

static const struct session_ops host_ops = {
        .file_done = host_done,
        .progress = host_progress,
        .recv_target = host_recv_target,
        .stats_done = host_stats_done,
};

struct guest {
        int fd;
        pthread_t th;
        int r;
        char err[FY_MAX_TEXT + 64];
        struct session_totals totals;
        struct reports rep;
        unsigned samples, stats_asked; /* session_ops.sample and .stats calls */
};

/* The guest's sessions share a spare pool (session_config.pool) while
 * guest_pool is set; guest_done notes whether a running session had taken
 * it (the guest's thread alone touches both while a pair runs). */
static bool guest_pool;
static struct fio *guest_spare;
static bool guest_spare_taken;
/* ferryd's count of sessions moving files (session_config.movers) while
 * set, and what it was when the guest answered STATS and finished a file */
static _Atomic unsigned *guest_movers;
static unsigned movers_at_stats, movers_at_done;

static void guest_done(void *ud, const struct file_result *res) {
        record(&((struct guest *)ud)->rep, res);
        if (guest_pool && !guest_spare)
                guest_spare_taken = true;
        if (guest_movers)
                movers_at_done = atomic_load(guest_movers);
}

/* The guest truncates this file once it has sent a chunk of it (set before
 * the guest starts, read by its thread only). */
static const char *guest_shrink_path;
static bool guest_shrunk;

static void guest_progress(void *ud, uint32_t id, uint64_t bytes, uint64_t total) {
        (void)ud, (void)id, (void)total;
        if (guest_shrink_path && bytes >= CHUNK && !guest_shrunk) {
                CHECK_EQ_INT(truncate(guest_shrink_path, 0), 0);
                guest_shrunk = true;
        }
}

static void guest_sample(void *ud, const struct session_totals *t, const struct session_gauges *gg) {
        struct guest *g = ud;
        (void)t;
        CHECK(gg->pacing == 0 || (gg->pacing & ~FY_PACE_KNOWN) == 0);
        g->samples++;
}

/* ferryd's answer to STATS_REQ: fixed figures, and how often it was asked. */
static void guest_stats(void *ud, struct fy_stats *ret) {
        struct guest *g = ud;
        if (guest_movers)
                movers_at_stats = atomic_load(guest_movers);
        *ret = (struct fy_stats){ .sessions_total = 42, .sessions = 1, .bytes_received = ++g->stats_asked,
                                  .pacing = FY_PACE_DIRTY, .pressure_pct = 3 };
}

/* ferryd's responder: no recv_target (the frame says where a file goes).
 * guest_no_stats: an older ferryd, which does not offer bit 6. */
static const struct session_ops guest_ops = { .file_done = guest_done, .progress = guest_progress,
                                              .sample = guest_sample, .stats = guest_stats };
static const struct session_ops guest_ops_nostats = { .file_done = guest_done, .progress = guest_progress };
static bool guest_no_stats;

/* --compress of each side (the cases that test compression set them). */
static enum compress_mode host_compress = COMPRESS_AUTO, guest_compress = COMPRESS_AUTO;
static bool host_checksum; /* the host's --checksum */

static struct session_config config(bool initiator) {
        return (struct session_config){
                .compress = initiator ? host_compress : guest_compress,
                .initiator = initiator,
                .agent = initiator ? "test-host" : "test-guest",
                .chunk_size = CHUNK,
                .max_chunk = CHUNK,
                .recv_window = WINDOW,
                .depth = DEPTH,
                .timeout_ms = initiator ? 5000 : -1,
                .stop_fd = -1,
                .psi_dir = "off",
                .dirty_limit = initiator ? 0 : 16 * CHUNK,
                .resume = initiator,
                .checksum = initiator && host_checksum,
                .stale_age_s = 0,
                .write_mode = WRITE_AUTO,
        };
}

static void *guest_main(void *arg) {
        struct guest *g = arg;
        struct session_config c = config(false);
        c.root = &groot;
        c.pool = guest_pool ? &guest_spare : NULL;
        c.movers = guest_movers;
        c.ops = guest_no_stats ? &guest_ops_nostats : &guest_ops;
        c.userdata = g;
        struct session *s;
        g->r = session_new(&c, g->fd, &s);
        if (g->r == 0) {
                g->r = session_run(s);
                snprintf(g->err, sizeof g->err, "%s", session_error(s) ? session_error(s) : "");
                g->totals = *session_totals(s);
                session_free(s);
        }
        g->fd = safe_close(g->fd);
        return NULL;
}

/* ---- the relay ---------------------------------------------------------- */

/* One direction of the relay: a buffer, a frame parser (to find DATA
 * frames), and what to do to the stream. */
struct rdir {
        uint64_t total;         /* bytes read from the source */
        uint64_t cut_after;     /* UINT64_MAX: never */
        unsigned flip_frame;    /* flip a byte in this DATA frame (1: the first); 0: none */
        uint32_t flip_at;       /* ... at this offset of its chunk */
        bool flip_again;        /* ... and in every DATA frame re-sending that chunk */
        uint8_t ctrl_type;      /* XOR ctrl_xor into payload byte ctrl_at of the first frame of this type */
        uint32_t ctrl_at;
        uint8_t ctrl_xor;
        bool in_ctrl;
        bool eof, done;
        uint8_t buf[64 << 10];
        size_t len, off;
        /* parser */
        uint8_t hdr[FY_HDR_SIZE];
        unsigned hgot;
        uint64_t left;          /* payload bytes of the current frame still to come */
        uint64_t pos;           /* ... and already seen */
        bool in_data, target, broken;
        unsigned ndata;
        uint8_t head[FY_DATA_HEAD_SIZE];
        unsigned nbegins, naborts; /* FILE_BEGIN and FILE_ABORT frames seen */
        uint64_t last_ns;       /* when bytes last came */
        /* results */
        bool flipped;
        unsigned nflips;
        uint64_t flipped_off;   /* file offset of the chunk flipped */
};

struct relay {
        int fd[2];              /* 0: towards the host, 1: towards the guest */
        bool closed[2];
        struct rdir d[2];       /* d[0]: host -> guest, d[1]: guest -> host */
        bool cut;
        /* Hold everything the guest says, once the host has begun a file,
         * until the host has sent this many FILE_ABORTs or has been quiet
         * for HOLD_QUIET_NS: the receiver's answers all come late.  0: no. */
        unsigned hold_aborts;
        pthread_t th;
};

#define HOLD_QUIET_NS (300 * 1000000ull)

static bool relay_holding(struct relay *r) {
        const struct rdir *h = &r->d[0];
        if (!r->hold_aborts || !h->nbegins)
                return false;
        if (h->naborts >= r->hold_aborts || now_ns() - h->last_ns >= HOLD_QUIET_NS || h->eof)
                r->hold_aborts = 0; /* released for good */
        return r->hold_aborts != 0;
}

static void relay_init(struct relay *r) {
        memset(r, 0, sizeof *r);
        r->d[0].cut_after = r->d[1].cut_after = UINT64_MAX;
}

/* Follow the frames in bytes just read, flipping the chosen byte. */
static void relay_parse(struct rdir *d, uint8_t *p, size_t n) {
        while (n > 0 && !d->broken) {
                if (d->left == 0 && d->hgot < FY_HDR_SIZE) {
                        size_t k = MIN(n, (size_t)(FY_HDR_SIZE - d->hgot));
                        memcpy(d->hdr + d->hgot, p, k);
                        d->hgot += (unsigned)k;
                        p += k;
                        n -= k;
                        if (d->hgot < FY_HDR_SIZE)
                                return;
                        struct fy_header h;
                        if (fy_header_decode(d->hdr, &h) < 0) {
                                d->broken = true; /* lost: forward as is */
                                return;
                        }
                        d->left = h.length;
                        d->pos = 0;
                        d->nbegins += h.type == FY_FILE_BEGIN;
                        d->naborts += h.type == FY_FILE_ABORT;
                        d->in_data = h.type == FY_DATA;
                        d->in_ctrl = d->ctrl_type && h.type == d->ctrl_type && !d->flipped;
                        d->target = d->in_data && (++d->ndata == d->flip_frame || (d->flip_again && d->flipped));
                        if (d->left == 0)
                                d->hgot = 0;
                        continue;
                }
                size_t k = (size_t)MIN((uint64_t)n, d->left);
                if (d->in_data && d->pos < FY_DATA_HEAD_SIZE) {
                        size_t h = MIN(k, (size_t)(FY_DATA_HEAD_SIZE - d->pos));
                        memcpy(d->head + d->pos, p, h);
                }
                if (d->in_ctrl && d->ctrl_at >= d->pos && d->ctrl_at < d->pos + k) {
                        p[d->ctrl_at - d->pos] ^= d->ctrl_xor;
                        d->flipped = true;
                        d->nflips++;
                        d->in_ctrl = false;
                }
                uint64_t at = FY_DATA_HEAD_SIZE + (uint64_t)d->flip_at;
                if (d->target && at >= d->pos && at < d->pos + k &&
                    (!d->flipped || le_get64(d->head + 8) == d->flipped_off)) {
                        p[at - d->pos] ^= 0x5a;
                        d->flipped = true;
                        d->nflips++;
                        d->flipped_off = le_get64(d->head + 8); /* DATA head: offset at 8 */
                }
                d->pos += k;
                d->left -= k;
                p += k;
                n -= k;
                if (d->left == 0)
                        d->hgot = 0;
        }
}

/* The stream from i reached its cut: i goes away at once; the other side
 * still reads what was forwarded, then EOF, and what it says is dropped. */
static void relay_cut(struct relay *r, int i) {
        r->cut = true;
        r->fd[i] = safe_close(r->fd[i]);
        r->closed[i] = true;
        r->d[!i].off = r->d[!i].len; /* bytes on their way to i have nowhere to go */
        (void)shutdown(r->fd[!i], SHUT_WR);
        r->d[i].done = true;
}

static void *relay_main(void *arg) {
        struct relay *r = arg;
        while (!(r->d[0].done && r->d[1].done)) {
                struct pollfd p[2];
                for (int i = 0; i < 2; i++)
                        p[i] = (struct pollfd){ .fd = r->closed[i] ? -1 : r->fd[i] };
                bool hold = relay_holding(r);
                for (int i = 0; i < 2; i++) {
                        struct rdir *d = &r->d[i];
                        if (d->done)
                                continue;
                        if (d->len > d->off)
                                p[!i].events |= POLLOUT;
                        else if (!d->eof && d->total < d->cut_after && !(i == 1 && hold))
                                p[i].events |= POLLIN;
                }
                if (poll(p, 2, hold ? 50 : -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                for (int i = 0; i < 2; i++) {
                        struct rdir *d = &r->d[i];
                        if (d->done)
                                continue;
                        if (d->len == d->off && !d->eof && d->total < d->cut_after && !(i == 1 && hold) &&
                            (p[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                                size_t cap = (size_t)MIN((uint64_t)sizeof d->buf, d->cut_after - d->total);
                                ssize_t n = read(r->fd[i], d->buf, cap);
                                if (n > 0) {
                                        d->last_ns = now_ns();
                                        relay_parse(d, d->buf, (size_t)n);
                                        d->total += (uint64_t)n;
                                        d->off = 0;
                                        d->len = r->closed[!i] ? 0 : (size_t)n; /* nobody to take it */
                                } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                                        d->eof = true;
                                }
                        }
                        if (d->len > d->off && p[!i].revents) {
                                ssize_t n = write(r->fd[!i], d->buf + d->off, d->len - d->off);
                                if (n > 0)
                                        d->off += (size_t)n;
                                else if (n < 0 && errno != EAGAIN && errno != EINTR)
                                        d->off = d->len, d->eof = true; /* the other side is gone */
                        }
                        if (d->len > d->off)
                                continue;
                        if (d->total == d->cut_after) {
                                relay_cut(r, i);
                        } else if (d->eof) {
                                if (!r->closed[!i])
                                        (void)shutdown(r->fd[!i], SHUT_WR);
                                d->done = true;
                        }
                }
        }
        for (int i = 0; i < 2; i++)
                if (!r->closed[i])
                        r->fd[i] = safe_close(r->fd[i]);
        return NULL;
}

/* ---- a session pair ----------------------------------------------------- */

struct pair {
        struct host *h;
        struct guest *g;
        struct relay *rl;   /* NULL: host and guest share one socketpair */
        struct session *s;
        int hfd;
        int hs;             /* the handshake's result */
        int hr;             /* session_run's */
        char herr[FY_MAX_TEXT + 64];
        struct session_totals htotals;
};

/* Start the guest (and relay), connect the host, shake hands. */
static int pair_open(struct pair *p, struct host *h, struct guest *g, struct relay *rl, bool resume) {
        memset(h, 0, sizeof *h);
        memset(g, 0, sizeof *g);
        *p = (struct pair){ .h = h, .g = g, .rl = rl, .hfd = -EBADF };
        int a[2], b[2];
        CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a), 0);
        p->hfd = a[0];
        if (rl) {
                CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b), 0);
                rl->fd[0] = a[1];
                rl->fd[1] = b[0];
                g->fd = b[1];
                CHECK_EQ_INT(fcntl(rl->fd[0], F_SETFL, O_NONBLOCK), 0);
                CHECK_EQ_INT(fcntl(rl->fd[1], F_SETFL, O_NONBLOCK), 0);
                CHECK_EQ_INT(pthread_create(&rl->th, NULL, relay_main, rl), 0);
        } else {
                g->fd = a[1];
        }
        CHECK_EQ_INT(pthread_create(&g->th, NULL, guest_main, g), 0);

        struct session_config c = config(true);
        c.resume = resume;
        c.root = &hroot;
        c.ops = &host_ops;
        c.userdata = h;
        CHECK_EQ_INT(session_new(&c, p->hfd, &p->s), 0);
        p->hs = p->s ? session_handshake(p->s) : -EINVAL;
        CHECK_EQ_INT(p->hs, 0);
        if (p->hs == 0) {
                const struct fy_hello *peer = session_peer(p->s);
                CHECK_EQ_STR(peer->agent, "test-guest");
                CHECK_EQ_INT(peer->max_chunk, CHUNK);
        }
        return p->hs;
}

static uint32_t pair_push(struct pair *p, const char *src, const char *dest, const char *name) {
        uint32_t id = 0;
        if (!p->s)
                return 0;
        CHECK_EQ_INT(session_push(p->s, src, dest, name, FY_FB_DEST_IS_DIR, &id), 0);
        return id;
}

static uint32_t pair_pull(struct pair *p, const char *remote, const char *local_dir) {
        struct host *h = p->h;
        uint32_t id = 0;
        if (!p->s)
                return 0;
        CHECK_EQ_INT(session_pull(p->s, remote, &id), 0);
        CHECK(h->npulls < ARRAY_SIZE(h->pulls));
        struct pull_req *q = &h->pulls[h->npulls++];
        q->id = id;
        snprintf(q->remote, sizeof q->remote, "%s", remote);
        const char *slash = strrchr(remote, '/');
        snprintf(q->name, sizeof q->name, "%s", slash ? slash + 1 : remote);
        h->pull_dest = local_dir;
        return id;
}

/* Run the host's queue to its end, then take everything down. */
static void pair_run(struct pair *p) {
        if (p->s && p->hs == 0)
                p->hr = session_run(p->s);
        else
                p->hr = p->hs;
        if (p->s) {
                snprintf(p->herr, sizeof p->herr, "%s", session_error(p->s) ? session_error(p->s) : "");
                p->htotals = *session_totals(p->s);
                session_free(p->s);
                p->s = NULL;
        }
        p->hfd = safe_close(p->hfd); /* the guest (or relay) sees EOF */
        CHECK_EQ_INT(pthread_join(p->g->th, NULL), 0);
        if (p->rl)
                CHECK_EQ_INT(pthread_join(p->rl->th, NULL), 0);
        CHECK_EQ_INT(p->h->rep.dropped + p->g->rep.dropped, 0);
        if (p->hr < 0 || p->g->r < 0)
                fprintf(stderr, "    session: host %d (%s), guest %d (%s)\n", p->hr, p->herr, p->g->r, p->g->err);
}

/* A file that went as pushed or pulled: both reports clean, the digest
 * each side reports is the digest of the source, bytes identical. */
static void check_arrived(const struct pair *p, uint32_t id, bool push, const char *src, const char *dst) {
        unsigned before = check_failures;
        uint8_t want[16];
        file_digest(src, want);
        struct stat st;
        CHECK_EQ_INT(stat(src, &st), 0);
        const struct file_result *hr = report_of(&p->h->rep, id), *gr = report_of(&p->g->rep, id);
        if (hr) {
                CHECK_EQ_INT(hr->err, 0);
                CHECK_EQ_INT(hr->sent, push);
                CHECK_EQ_INT(hr->kind, ENTRY_FILE);
                CHECK_EQ_U64(hr->size, (uint64_t)st.st_size);
                CHECK_EQ_MEM(hr->digest, want, 16);
                if (hr->err)
                        fprintf(stderr, "    host: %s\n", hr->text);
        }
        if (gr) {
                CHECK_EQ_INT(gr->err, 0);
                CHECK_EQ_INT(gr->sent, !push);
                CHECK_EQ_MEM(gr->digest, want, 16);
                if (gr->err)
                        fprintf(stderr, "    guest: %s\n", gr->text);
        }
        check_same_file(src, dst);
        if (check_failures != before)
                fprintf(stderr, "    (transfer %u: '%s' -> '%s')\n", id, src, dst);
}

/* ---- the cases ---------------------------------------------------------- */

/* Push a file of many chunks (journaled: over 1 MiB) and a small one. */
static void test_push(void) {
        char big[PATH_MAX], small[PATH_MAX], dst[PATH_MAX], d[PATH_MAX];
        make_file(pathf(big, "%s/push-big.bin", local), BIG, 1, 0640);
        make_file(pathf(small, "%s/push-small.txt", local), 1000, 2, 0604);
        make_dir(pathf(d, "%s/push", groot_path), 0755);

        struct host h;
        struct guest g;
        struct pair p;
        pair_open(&p, &h, &g, NULL, true);
        uint32_t id1 = pair_push(&p, big, "push", "big.bin");
        uint32_t id2 = pair_push(&p, small, "push", "small.txt");
        CHECK(id1 != id2);
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        check_arrived(&p, id1, true, big, pathf(dst, "%s/big.bin", d));
        check_arrived(&p, id2, true, small, pathf(dst, "%s/small.txt", d));
        const struct file_result *r = report_of(&h.rep, id1);
        if (r) {
                CHECK_EQ_U64(r->stats.bytes, BIG);
                CHECK_EQ_U64(r->stats.chunks, BIG / CHUNK);
                CHECK_EQ_U64(r->stats.bytes_skipped, 0);
                CHECK(!r->skipped);
        }
        CHECK_EQ_INT(ferry_leftovers(d), 0);
        CHECK_EQ_U64(p.htotals.files_sent, 2);
        CHECK_EQ_U64(p.htotals.files_failed, 0);
        CHECK_EQ_U64(p.htotals.bytes_sent, BIG + 1000);
        CHECK_EQ_U64(g.totals.files_received, 2);
        CHECK_EQ_U64(g.totals.bytes_received, BIG + 1000);
        /* every chunk written was timed; no rate, CPU or pressure budget
         * held the host back (writeback may have: the dirty budget is on) */
        CHECK_EQ_U64(g.totals.write_lat.count, BIG / CHUNK + 1);
        CHECK(g.totals.write_lat.sum_us > 0);
        for (unsigned i = 0; i < 3; i++)
                CHECK_EQ_U64(g.totals.paced_ns[i], 0);
        CHECK(g.samples > 0); /* the first turn of its loop samples at once */
}

/* Stats (PROTOCOL.md 9.12): requests now and later, alongside a push,
 * each answered once and in order; against a guest without bit 6,
 * session_stats says so and nothing is sent. */
static void test_stats(void) {
        char src[PATH_MAX], d[PATH_MAX], dst[PATH_MAX];
        make_file(pathf(src, "%s/stats.bin", local), 3 * CHUNK, 9, 0644);
        make_dir(pathf(d, "%s/stats", groot_path), 0755);

        struct host h;
        struct guest g;
        struct pair p;
        pair_open(&p, &h, &g, NULL, false);
        CHECK(session_peer(p.s)->features & FY_FEAT_STATS);
        CHECK_EQ_INT(session_stats(p.s, 0), 0);
        CHECK_EQ_INT(session_stats(p.s, now_ns() + 100000000ull), 0); /* the session waits for it */
        uint32_t id = pair_push(&p, src, "stats", "stats.bin");
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        check_arrived(&p, id, true, src, pathf(dst, "%s/stats.bin", d));
        CHECK_EQ_INT(h.nstats, 2);
        CHECK_EQ_INT(g.stats_asked, 2);
        for (unsigned i = 0; i < 2 && i < h.nstats; i++) {
                CHECK_EQ_U64(h.stats[i].sessions_total, 42);
                CHECK_EQ_U64(h.stats[i].bytes_received, i + 1); /* in order */
                CHECK_EQ_INT(h.stats[i].pacing, FY_PACE_DIRTY);
                CHECK_EQ_INT(h.stats[i].pressure_pct, 3);
        }

        guest_no_stats = true;
        pair_open(&p, &h, &g, NULL, false);
        CHECK(!(session_peer(p.s)->features & FY_FEAT_STATS));
        CHECK_EQ_INT(session_stats(p.s, 0), -EOPNOTSUPP);
        pair_run(&p);
        guest_no_stats = false;
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(h.nstats, 0);
        CHECK_EQ_INT(g.stats_asked, 0);
}

/* Pull a file whose size is no multiple of the chunk, and a small one. */
static void test_pull(void) {
        char big[PATH_MAX], small[PATH_MAX], dst[PATH_MAX], back[PATH_MAX], d[PATH_MAX];
        make_dir(pathf(d, "%s/pull", groot_path), 0755);
        make_file(pathf(big, "%s/big.bin", d), BIG + 12345, 3, 0644);
        make_file(pathf(small, "%s/small.txt", d), 77, 4, 0600);
        make_dir(pathf(back, "%s/pull-back", local), 0755);

        struct host h;
        struct guest g;
        struct pair p;
        pair_open(&p, &h, &g, NULL, true);
        uint32_t id1 = pair_pull(&p, "pull/big.bin", back);
        uint32_t id2 = pair_pull(&p, "pull/small.txt", back);
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        check_arrived(&p, id1, false, big, pathf(dst, "%s/big.bin", back));
        check_arrived(&p, id2, false, small, pathf(dst, "%s/small.txt", back));
        CHECK_EQ_INT(ferry_leftovers(back), 0);
        CHECK_EQ_U64(p.htotals.files_received, 2);
        CHECK_EQ_U64(p.htotals.bytes_received, BIG + 12345 + 77);
        CHECK_EQ_U64(g.totals.files_sent, 2);
}

/* src/{a.txt, big.bin, sub/b.txt, sub/deeper/c.bin, empty/, link, dangling} */
static void make_tree(const char *top) {
        char p[PATH_MAX];
        make_dir(top, 0755);
        make_file(pathf(p, "%s/a.txt", top), 100, 10, 0640);
        make_file(pathf(p, "%s/big.bin", top), (3u << 19) + 1, 11, 0600);
        make_dir(pathf(p, "%s/sub", top), 0750);
        make_file(pathf(p, "%s/sub/b.txt", top), 5000, 12, 0600);
        make_dir(pathf(p, "%s/sub/deeper", top), 0755);
        make_file(pathf(p, "%s/sub/deeper/c.bin", top), 200 << 10, 13, 0755);
        make_dir(pathf(p, "%s/empty", top), 0700);
        CHECK_EQ_INT(symlink("sub/b.txt", pathf(p, "%s/link", top)), 0);
        set_mtime(p, 1);
        /* Stored as is, never followed: pointing out of the root is fine. */
        CHECK_EQ_INT(symlink("../../../nowhere", pathf(p, "%s/dangling", top)), 0);
        set_mtime(p, 2);
        /* Directories last, after their contents. */
        set_mtime(pathf(p, "%s/empty", top), 3);
        set_mtime(pathf(p, "%s/sub/deeper", top), 4);
        set_mtime(pathf(p, "%s/sub", top), 5);
        set_mtime(top, 6);
}

static void check_tree_report(const struct reports *rp, uint32_t id, uint64_t entries_min) {
        const struct file_result *t = NULL;
        uint64_t entries = 0, failed = 0;
        for (unsigned i = 0; i < rp->n; i++) {
                const struct file_result *r = &rp->r[i].res;
                if (r->group == id) {
                        entries++;
                        failed += r->err != 0;
                        if (r->err)
                                fprintf(stderr, "    entry '%s': %s\n", r->src, r->text);
                } else if (r->xfer_id == id && r->kind == ENTRY_TREE) {
                        CHECK(t == NULL);
                        t = r;
                }
        }
        CHECK(t != NULL);
        CHECK(entries >= entries_min);
        CHECK_EQ_U64(failed, 0);
        if (!t)
                return;
        CHECK_EQ_INT(t->err, 0);
        CHECK_EQ_U64(t->files, 4);
        CHECK_EQ_U64(t->dirs, 4);
        CHECK_EQ_U64(t->symlinks, 2);
        CHECK_EQ_U64(t->failed, 0);
        CHECK_EQ_U64(t->skipped_files, 0);
}

/* A tree pushed as "dir" (made below a parent made for it) and as "dir/"
 * (its contents into an existing directory), then pulled back. */
static void test_tree(void) {
        char src[PATH_MAX], slash[PATH_MAX], got[PATH_MAX], back[PATH_MAX];
        make_tree(pathf(src, "%s/tree-src", local));
        make_dir(pathf(got, "%s/tree-contents", groot_path), 0755);

        struct host h;
        struct guest g;
        struct pair p;
        pair_open(&p, &h, &g, NULL, true);
        uint32_t t1 = 0, t2 = 0;
        CHECK_EQ_INT(session_push_tree(p.s, src, "tree/tree-src", true, &t1), 0);
        CHECK_EQ_INT(session_push_tree(p.s, pathf(slash, "%s/", src), "tree-contents", false, &t2), 0);
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        /* 4 files, 2 links, 4 directories and their 4 attributes */
        check_tree_report(&h.rep, t1, 14);
        check_tree_report(&h.rep, t2, 14);
        check_same_tree(src, pathf(got, "%s/tree/tree-src", groot_path));
        check_same_tree(src, pathf(got, "%s/tree-contents", groot_path));
        CHECK_EQ_INT(ferry_leftovers(pathf(got, "%s/tree", groot_path)), 0);

        /* Back: "tree/tree-src" arrives as back/tree-src (back made). */
        pathf(back, "%s/tree-back", local);
        pair_open(&p, &h, &g, NULL, true);
        uint32_t t3 = pair_pull(&p, "tree/tree-src", back);
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        check_tree_report(&h.rep, t3, 10);
        check_same_tree(src, pathf(got, "%s/tree-src", back));
}

/* A push cut in the middle of a file, then run again: it resumes after the
 * part that arrived; a third run finds everything there. */
static void test_resume(void) {
        char big[PATH_MAX], small[PATH_MAX], d[PATH_MAX], dbig[PATH_MAX], dsmall[PATH_MAX];
        make_file(pathf(big, "%s/res-big.bin", local), BIG, 5, 0644);
        make_file(pathf(small, "%s/res-small.txt", local), 4000, 6, 0644);
        make_dir(pathf(d, "%s/resume", groot_path), 0755);
        pathf(dbig, "%s/big.bin", d);
        pathf(dsmall, "%s/small.txt", d);
        const uint64_t cut = BIG / 2 + 1000;

        struct host h;
        struct guest g;
        struct pair p;
        struct relay rl;
        relay_init(&rl);
        rl.d[0].cut_after = cut;
        pair_open(&p, &h, &g, &rl, true);
        uint32_t id1 = pair_push(&p, big, "resume", "big.bin");
        uint32_t id2 = pair_push(&p, small, "resume", "small.txt");
        pair_run(&p);
        CHECK(rl.cut);
        CHECK(p.hr == -ECONNRESET || p.hr == -EPIPE);
        CHECK(p.herr[0] != 0);
        CHECK(g.r < 0);
        CHECK(!any_success(&h.rep, id1) && !any_success(&h.rep, id2));
        CHECK(!exists(dbig));
        CHECK(!exists(dsmall));

        pair_open(&p, &h, &g, NULL, true);
        id1 = pair_push(&p, big, "resume", "big.bin");
        id2 = pair_push(&p, small, "resume", "small.txt");
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        check_arrived(&p, id1, true, big, dbig);
        check_arrived(&p, id2, true, small, dsmall);
        const struct file_result *r = report_of(&h.rep, id1), *gr = report_of(&g.rep, id1);
        if (r) {
                /* Whole chunks that had arrived before the cut, not more. */
                CHECK(r->stats.bytes_skipped > 0);
                CHECK(r->stats.bytes_skipped <= cut);
                CHECK_EQ_U64(r->stats.bytes_skipped % CHUNK, 0);
                CHECK_EQ_U64(r->stats.bytes + r->stats.bytes_skipped, BIG);
                CHECK(!r->skipped);
                if (gr)
                        CHECK_EQ_U64(gr->stats.bytes_skipped, r->stats.bytes_skipped);
        }
        CHECK_EQ_INT(ferry_leftovers(d), 0);

        pair_open(&p, &h, &g, NULL, true);
        id1 = pair_push(&p, big, "resume", "big.bin");
        id2 = pair_push(&p, small, "resume", "small.txt");
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        const uint64_t sizes[] = { BIG, 4000 };
        const uint32_t ids[] = { id1, id2 };
        for (unsigned i = 0; i < 2; i++) {
                if (!(r = report_of(&h.rep, ids[i])))
                        continue;
                CHECK_EQ_INT(r->err, 0);
                CHECK(r->skipped);
                CHECK_EQ_U64(r->stats.bytes, 0);
                CHECK_EQ_U64(r->stats.bytes_skipped, sizes[i]);
                /* the guest has the verdict too (ferryd's counters) */
                const struct file_result *g2 = report_of(&g.rep, ids[i]);
                CHECK(g2 != NULL);
                if (g2) {
                        CHECK(g2->skipped);
                        CHECK_EQ_INT(g2->err, 0);
                        CHECK_EQ_U64(g2->size, sizes[i]);
                        CHECK(!g2->sent);
                }
        }
        CHECK_EQ_U64(p.htotals.bytes_sent, 0);
        check_same_file(big, dbig);
        check_same_file(small, dsmall);
}

/* Files that cannot be sent fail one by one, with their errno; the
 * session goes on to the next. */
static void test_unreadable(void) {
        char missing[PATH_MAX], fifo[PATH_MAX], ok[PATH_MAX], there[PATH_MAX], d[PATH_MAX], back[PATH_MAX], x[PATH_MAX];
        pathf(missing, "%s/abort-missing.bin", local);
        CHECK_EQ_INT(mkfifo(pathf(fifo, "%s/abort-fifo", local), 0644), 0);
        make_file(pathf(ok, "%s/abort-ok.txt", local), 3000, 7, 0644);
        make_dir(pathf(d, "%s/abort", groot_path), 0755);
        make_file(pathf(there, "%s/there.txt", d), 2500, 8, 0644);
        make_dir(pathf(back, "%s/abort-back", local), 0755);

        struct host h;
        struct guest g;
        struct pair p;
        pair_open(&p, &h, &g, NULL, true);
        uint32_t i_missing = pair_push(&p, missing, "abort", "missing.bin");
        uint32_t i_fifo = pair_push(&p, fifo, "abort", "fifo");
        uint32_t i_dir = pair_push(&p, local, "abort", "dir");
        uint32_t i_ok = pair_push(&p, ok, "abort", "ok.txt");
        uint32_t i_rmissing = pair_pull(&p, "abort/missing.txt", back);
        uint32_t i_there = pair_pull(&p, "abort/there.txt", back);
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        const struct { uint32_t id; int err; bool remote; } want[] = {
                { i_missing, -ENOENT, false },
                { i_fifo, -EOPNOTSUPP, false },
                { i_dir, -EISDIR, false },
                { i_rmissing, -ENOENT, true },
        };
        for (unsigned i = 0; i < ARRAY_SIZE(want); i++) {
                const struct file_result *r = report_of(&h.rep, want[i].id);
                if (!r)
                        continue;
                CHECK_EQ_INT(r->err, want[i].err);
                CHECK_EQ_INT(r->remote, want[i].remote);
                CHECK(r->text[0] != 0);
        }
        check_arrived(&p, i_ok, true, ok, pathf(x, "%s/ok.txt", d));
        check_arrived(&p, i_there, false, there, pathf(x, "%s/there.txt", back));
        CHECK(!exists(pathf(x, "%s/missing.bin", d)));
        CHECK(!exists(pathf(x, "%s/fifo", d)));
        CHECK(!exists(pathf(x, "%s/dir", d)));
        CHECK(!exists(pathf(x, "%s/missing.txt", back)));
        CHECK_EQ_INT(ferry_leftovers(d), 0);
        CHECK_EQ_INT(ferry_leftovers(back), 0);
        CHECK_EQ_U64(p.htotals.files_failed, 4);
}

/* What PROTOCOL.md 9.4 asks of a sender that gives up on a file with
 * FILE_ABORT: the receiver answers with a FILE_STATUS, which the sender
 * must take as the end of that file, not as a protocol error. */
static void explain_abort_failure(const struct pair *p) {
        if (p->hr == -EPROTO || p->g->r == -EPROTO)
                fprintf(stderr, "    engine bug: the sender gave up on a file (FILE_ABORT) and then took the\n"
                                "    receiver's FILE_STATUS answering it for a protocol error (PROTOCOL.md 9.4:\n"
                                "    the receiver answers FILE_ABORT with FILE_STATUS); the session died\n");
}

/* A source that shrinks while it is being pushed: the host gives up on it
 * (FILE_ABORT), the guest drops what it had, the session goes on. */
static void test_shrink_push(void) {
        char src[PATH_MAX], after[PATH_MAX], d[PATH_MAX], x[PATH_MAX];
        make_file(pathf(src, "%s/shrink.bin", local), BIG, 9, 0644);
        make_file(pathf(after, "%s/shrink-after.txt", local), 600, 14, 0644);
        make_dir(pathf(d, "%s/shrink", groot_path), 0755);

        struct host h;
        struct guest g;
        struct pair p;
        pair_open(&p, &h, &g, NULL, true);
        uint32_t id1 = pair_push(&p, src, "shrink", "shrink.bin");
        uint32_t id2 = pair_push(&p, after, "shrink", "after.txt");
        h.shrink_id = id1;
        h.shrink_path = src;
        pair_run(&p);
        CHECK(h.shrunk);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        explain_abort_failure(&p);
        const struct file_result *r = report_of(&h.rep, id1);
        if (r) {
                CHECK_EQ_INT(r->err, -EIO);
                CHECK(!r->remote);
        }
        check_arrived(&p, id2, true, after, pathf(x, "%s/after.txt", d));
        CHECK(!exists(pathf(x, "%s/shrink.bin", d)));
        CHECK_EQ_INT(ferry_leftovers(d), 0);
}

/* Many files given up on before their FILE_END, while the receiver's
 * answers (FILE_STATUS to each FILE_ABORT) all come late: the sender must
 * recognise every answer, however many aborts are outstanding (it once
 * kept the last 16 and took the 17th answer for a protocol error). */
static void test_many_aborts(void) {
        enum { N = 24 };
        char d[PATH_MAX], x[PATH_MAX];
        make_dir(pathf(d, "%s/aborts", groot_path), 0755);
        struct host h;
        struct guest g;
        struct relay rl;
        struct pair p;
        relay_init(&rl);
        rl.hold_aborts = N;
        pair_open(&p, &h, &g, &rl, false);
        for (unsigned i = 0; i < N; i++) {
                char name[32];
                snprintf(name, sizeof name, "a%u.txt", i);
                make_file(pathf(h.touch[i].path, "%s/abort-%u.txt", local, i), 100 + i, 40 + i, 0644);
                h.touch[i].id = pair_push(&p, h.touch[i].path, "aborts", name);
        }
        h.ntouch = N;
        /* A file after them keeps the session going while the answers come. */
        char big[PATH_MAX];
        make_file(pathf(big, "%s/abort-after.bin", local), BIG, 64, 0644);
        uint32_t after = pair_push(&p, big, "aborts", "after.bin");
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        explain_abort_failure(&p);
        CHECK_EQ_INT(h.touched, N);
        for (unsigned i = 0; i < N; i++) {
                const struct file_result *r = report_of(&h.rep, h.touch[i].id);
                if (r) {
                        CHECK_EQ_INT(r->err, -ESTALE);
                        CHECK(!r->remote);
                }
                CHECK(!exists(pathf(x, "%s/a%u.txt", d, i)));
        }
        check_arrived(&p, after, true, big, pathf(x, "%s/after.bin", d));
        CHECK_EQ_U64(p.htotals.files_failed, N);
        CHECK_EQ_INT(ferry_leftovers(d), 0);
}

/* The same with the guest sending (a pull): the host hears the guest's
 * FILE_ABORT, reports the file failed, and the next file still comes. */
static void test_shrink_pull(void) {
        char src[PATH_MAX], after[PATH_MAX], d[PATH_MAX], back[PATH_MAX], x[PATH_MAX];
        make_dir(pathf(d, "%s/shrink-pull", groot_path), 0755);
        make_file(pathf(src, "%s/pull.bin", d), BIG, 20, 0644);
        make_file(pathf(after, "%s/after.txt", d), 700, 21, 0644);
        make_dir(pathf(back, "%s/shrink-back", local), 0755);

        struct host h;
        struct guest g;
        struct pair p;
        guest_shrink_path = src;
        guest_shrunk = false;
        pair_open(&p, &h, &g, NULL, true);
        uint32_t id1 = pair_pull(&p, "shrink-pull/pull.bin", back);
        uint32_t id2 = pair_pull(&p, "shrink-pull/after.txt", back);
        pair_run(&p);
        guest_shrink_path = NULL;
        CHECK(guest_shrunk);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        explain_abort_failure(&p);
        const struct file_result *r = report_of(&h.rep, id1);
        if (r) {
                CHECK_EQ_INT(r->err, -EIO);
                CHECK(r->remote);
        }
        check_arrived(&p, id2, false, after, pathf(x, "%s/after.txt", back));
        CHECK(!exists(pathf(x, "%s/pull.bin", back)));
        CHECK_EQ_INT(ferry_leftovers(back), 0);
}

/* One byte flipped inside the third DATA frame: that file fails with
 * EBADMSG and nothing at its name, the next file arrives, and a rerun
 * resumes after the two good chunks.  Push (the guest sees it) and pull
 * (the host does). */
static void test_corrupt(void) {
        char big[PATH_MAX], small[PATH_MAX], d[PATH_MAX], x[PATH_MAX], back[PATH_MAX];
        make_file(pathf(big, "%s/cor-big.bin", local), 2u << 20, 15, 0644);
        make_file(pathf(small, "%s/cor-small.txt", local), 999, 16, 0644);
        make_dir(pathf(d, "%s/corrupt", groot_path), 0755);

        /* Push: the damaged chunk is asked for again (CHUNK_NACK) and the
         * file arrives whole, the repair counted on both sides. */
        struct host h;
        struct guest g;
        struct pair p;
        struct relay rl;
        relay_init(&rl);
        rl.d[0].flip_frame = 3;
        rl.d[0].flip_at = 1234;
        pair_open(&p, &h, &g, &rl, true);
        uint32_t id1 = pair_push(&p, big, "corrupt", "big.bin");
        uint32_t id2 = pair_push(&p, small, "corrupt", "small.txt");
        pair_run(&p);
        CHECK(rl.d[0].flipped);
        CHECK_EQ_U64(rl.d[0].flipped_off, 2 * CHUNK);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        check_arrived(&p, id1, true, big, pathf(x, "%s/big.bin", d));
        check_arrived(&p, id2, true, small, pathf(x, "%s/small.txt", d));
        const struct file_result *r = report_of(&h.rep, id1), *gr = report_of(&g.rep, id1);
        if (r && gr) {
                CHECK_EQ_U64(r->stats.retransmits, 1);
                CHECK_EQ_U64(gr->stats.retransmits, 1);
                CHECK_EQ_U64(r->stats.chunks, (2u << 20) / CHUNK);
        }
        CHECK_EQ_INT(ferry_leftovers(d), 0);

        /* A chunk damaged every time it is sent fails its file after the
         * tries (nothing at its name, the good part kept); the rerun
         * resumes after the chunks before it. */
        unlink(pathf(x, "%s/big.bin", d));
        relay_init(&rl);
        rl.d[0].flip_frame = 3;
        rl.d[0].flip_at = 99;
        rl.d[0].flip_again = true;
        pair_open(&p, &h, &g, &rl, true);
        id1 = pair_push(&p, big, "corrupt", "big.bin");
        id2 = pair_push(&p, small, "corrupt", "small2.txt");
        pair_run(&p);
        CHECK_EQ_INT(rl.d[0].nflips, 1 + 3); /* the first, then each try */
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        if ((r = report_of(&h.rep, id1))) {
                CHECK_EQ_INT(r->err, -EBADMSG);
                CHECK(r->remote);
                CHECK_EQ_U64(r->stats.retransmits, 3);
        }
        CHECK(!exists(pathf(x, "%s/big.bin", d)));
        check_arrived(&p, id2, true, small, pathf(x, "%s/small2.txt", d));
        pair_open(&p, &h, &g, NULL, true);
        id1 = pair_push(&p, big, "corrupt", "big.bin");
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        check_arrived(&p, id1, true, big, pathf(x, "%s/big.bin", d));
        if ((r = report_of(&h.rep, id1)))
                CHECK_EQ_U64(r->stats.bytes_skipped, 2 * CHUNK);
        CHECK_EQ_INT(ferry_leftovers(d), 0);

        /* Pull: the flip is in what the guest sends; the host asks again. */
        char gbig[PATH_MAX], gsmall[PATH_MAX];
        make_dir(pathf(back, "%s/cor-back", local), 0755);
        make_file(pathf(gbig, "%s/pull.bin", d), 2u << 20, 17, 0644);
        make_file(pathf(gsmall, "%s/pull2.txt", d), 4321, 18, 0644);
        relay_init(&rl);
        rl.d[1].flip_frame = 3;
        rl.d[1].flip_at = 77;
        pair_open(&p, &h, &g, &rl, true);
        id1 = pair_pull(&p, "corrupt/pull.bin", back);
        id2 = pair_pull(&p, "corrupt/pull2.txt", back);
        pair_run(&p);
        CHECK(rl.d[1].flipped);
        CHECK_EQ_U64(rl.d[1].flipped_off, 2 * CHUNK);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        check_arrived(&p, id1, false, gbig, pathf(x, "%s/pull.bin", back));
        check_arrived(&p, id2, false, gsmall, pathf(x, "%s/pull2.txt", back));
        if ((r = report_of(&h.rep, id1)))
                CHECK_EQ_U64(r->stats.retransmits, 1);
        CHECK_EQ_INT(ferry_leftovers(back), 0);

        /* The last chunk damaged: the FILE_END is in before the chunk is
         * back, so the verdict waits while the next file is received. */
        make_file(pathf(big, "%s/cor-tail.bin", local), 4 * CHUNK, 19, 0644);
        relay_init(&rl);
        rl.d[0].flip_frame = 4;
        rl.d[0].flip_at = 5;
        pair_open(&p, &h, &g, &rl, true);
        id1 = pair_push(&p, big, "corrupt", "tail.bin");
        id2 = pair_push(&p, small, "corrupt", "small3.txt");
        pair_run(&p);
        CHECK_EQ_U64(rl.d[0].flipped_off, 3 * CHUNK);
        CHECK_EQ_INT(p.hr, 0);
        check_arrived(&p, id1, true, big, pathf(x, "%s/tail.bin", d));
        check_arrived(&p, id2, true, small, pathf(x, "%s/small3.txt", d));
        CHECK_EQ_INT(ferry_leftovers(d), 0);
}

/* A flipped byte in a control payload is found by its check (feature bit
 * 8, PROTOCOL.md 9.14): the session ends with 16 EBADMSG naming the frame,
 * nothing arrives at any name.  Without the check, SEND turned SKIP would
 * have been reported "skipped" and the name turned into another committed. */
static void test_ctrl_corrupt(void) {
        char src[PATH_MAX], d[PATH_MAX], x[PATH_MAX];
        make_file(pathf(src, "%s/ctrl.bin", local), 3 * CHUNK + 5, 23, 0644);
        make_dir(pathf(d, "%s/ctrl", groot_path), 0755);
        struct { int dir; uint8_t type; uint32_t at; uint8_t xor; const char *frame; } cases[] = {
                { 1, FY_RESUME_STATE, 4, FY_RS_SKIP, "RESUME_STATE" },  /* verdict SEND -> SKIP */
                { 0, FY_FILE_BEGIN, 40 + 2 + 4 + 2, 0x01, "FILE_BEGIN" }, /* name "ctrl.bin" -> "btrl.bin" */
                { 0, FY_FILE_BEGIN, 16, 0x02, "FILE_BEGIN" },          /* mode 0644 -> 0646 */
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct host h;
                struct guest g;
                struct pair p;
                struct relay rl;
                relay_init(&rl);
                rl.d[cases[i].dir].ctrl_type = cases[i].type;
                rl.d[cases[i].dir].ctrl_at = cases[i].at;
                rl.d[cases[i].dir].ctrl_xor = cases[i].xor;
                pair_open(&p, &h, &g, &rl, true);
                CHECK(session_peer(p.s) && (session_peer(p.s)->features & FY_FEAT_CHECKED));
                uint32_t id = pair_push(&p, src, "ctrl", "ctrl.bin");
                pair_run(&p);
                CHECK(rl.d[cases[i].dir].flipped);
                /* The side that read the damage says so; the other hears it. */
                int *reader = cases[i].dir ? &p.hr : &g.r;
                const char *text = cases[i].dir ? p.herr : g.err;
                CHECK_EQ_INT(*reader, -EBADMSG);
                CHECK(strstr(text, cases[i].frame) && strstr(text, "damaged in transit"));
                CHECK(p.hr < 0);
                (void)id; /* a session that ended reports no file (the CLI counts it failed) */
                CHECK(!exists(pathf(x, "%s/ctrl.bin", d)));
                CHECK(!exists(pathf(x, "%s/btrl.bin", d)));
                CHECK_EQ_INT(ferry_leftovers(d), 0);
        }
        struct host h;
        struct guest g;
        struct pair p;
        pair_open(&p, &h, &g, NULL, true);
        uint32_t id = pair_push(&p, src, "ctrl", "ctrl.bin");
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        check_arrived(&p, id, true, src, pathf(x, "%s/ctrl.bin", d));
}

/* The connection drops in the middle of a pull: both sessions end with an
 * error, nothing at the destination name; a rerun resumes. */
static void test_drop(void) {
        char src[PATH_MAX], d[PATH_MAX], back[PATH_MAX], x[PATH_MAX];
        make_dir(pathf(d, "%s/drop", groot_path), 0755);
        make_file(pathf(src, "%s/big.bin", d), BIG, 19, 0644);
        make_dir(pathf(back, "%s/drop-back", local), 0755);
        const uint64_t cut = BIG / 2;

        struct host h;
        struct guest g;
        struct pair p;
        struct relay rl;
        relay_init(&rl);
        rl.d[1].cut_after = cut;
        pair_open(&p, &h, &g, &rl, true);
        uint32_t id = pair_pull(&p, "drop/big.bin", back);
        pair_run(&p);
        CHECK(rl.cut);
        CHECK(p.hr == -ECONNRESET || p.hr == -EPIPE);
        CHECK(p.herr[0] != 0);
        CHECK(g.r < 0);
        CHECK(!any_success(&h.rep, id));
        CHECK(!exists(pathf(x, "%s/big.bin", back)));

        pair_open(&p, &h, &g, NULL, true);
        id = pair_pull(&p, "drop/big.bin", back);
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        check_arrived(&p, id, false, src, pathf(x, "%s/big.bin", back));
        const struct file_result *r = report_of(&h.rep, id);
        if (r) {
                CHECK(r->stats.bytes_skipped > 0);
                CHECK(r->stats.bytes_skipped <= cut);
        }
        CHECK_EQ_INT(ferry_leftovers(back), 0);
}

/* Sessions one after another on one spare pool (ferryd on a port): each
 * takes it and leaves it whole, also one cut off with chunks in flight;
 * what crosses is intact.  A pool the guest's depth does not fit is not
 * taken. */
static void test_pool(void) {
        char src[PATH_MAX], d[PATH_MAX], back[PATH_MAX], x[PATH_MAX];
        make_dir(pathf(d, "%s/pool", groot_path), 0755);
        make_file(pathf(src, "%s/big.bin", d), BIG, 23, 0644);
        make_dir(pathf(back, "%s/pool-back", local), 0755);
        guest_pool = true;
        struct fio *first = NULL;
        for (int round = 0; round < 4; round++) {
                struct host h;
                struct guest g;
                struct pair p;
                struct relay rl;
                relay_init(&rl);
                rl.d[1].cut_after = BIG / 3; /* round 1: cut in the middle of the pull */
                guest_spare_taken = false;
                pair_open(&p, &h, &g, round == 1 ? &rl : NULL, true);
                uint32_t id = round == 2 ? pair_push(&p, src, "pool", "pushed.bin") : pair_pull(&p, "pool/big.bin", back);
                pair_run(&p);
                CHECK(guest_spare != NULL); /* left for the next one */
                if (!guest_spare)
                        break;
                CHECK_EQ_INT(fio_free_bufs(guest_spare), DEPTH);
                CHECK_EQ_INT(fio_inflight(guest_spare), 0);
                if (round == 1) {
                        CHECK(rl.cut);
                        CHECK(g.r < 0);
                        CHECK(!any_success(&h.rep, id));
                        continue;
                }
                CHECK(guest_spare_taken); /* the running session had it */
                CHECK_EQ_INT(p.hr, 0);
                CHECK_EQ_INT(g.r, 0);
                if (round == 2)
                        check_arrived(&p, id, true, src, pathf(x, "%s/pushed.bin", d));
                else
                        check_arrived(&p, id, false, src, pathf(x, "%s/big.bin", back));
                if (round == 0)
                        first = guest_spare;
                else
                        CHECK(guest_spare == first); /* the same pool, round after round */
                CHECK(unlink(pathf(x, "%s/big.bin", back)) == 0 || round == 2);
        }
        /* a pool of another depth is not taken: the session makes its own */
        fio_free(guest_spare);
        guest_spare = NULL;
        CHECK_EQ_INT(fio_new(DEPTH + 1, CHUNK, false, &guest_spare, NULL), 0);
        struct fio *odd = guest_spare;
        struct host h;
        struct guest g;
        struct pair p;
        guest_spare_taken = false;
        pair_open(&p, &h, &g, NULL, true);
        uint32_t id = pair_pull(&p, "pool/big.bin", back);
        pair_run(&p);
        CHECK_EQ_INT(g.r, 0);
        CHECK(!guest_spare_taken);
        CHECK(guest_spare == odd);
        check_arrived(&p, id, false, src, pathf(x, "%s/big.bin", back));
        guest_spare = fio_free(guest_spare);
        guest_pool = false;
}

/* ferryd divides its budgets among its sessions that move files: a session
 * counts itself in at its first file, pushed or pulled, and out at its end,
 * however it ends; one that only asks for STATS (ferry stats --watch) never
 * does.  Another session moving files is simulated by the count it starts
 * from. */
static void test_movers(void) {
        char src[PATH_MAX], d[PATH_MAX], back[PATH_MAX], x[PATH_MAX];
        make_dir(pathf(d, "%s/movers", groot_path), 0755);
        make_file(pathf(src, "%s/movers.bin", local), BIG, 29, 0644);
        make_file(pathf(x, "%s/pulled.bin", d), CHUNK + 1, 30, 0644);
        make_dir(pathf(back, "%s/movers-back", local), 0755);
        _Atomic unsigned movers = 0;
        guest_movers = &movers;
        for (unsigned others = 0; others < 2; others++) {
                struct host h;
                struct guest g;
                struct pair p;
                struct relay rl;
                atomic_store(&movers, others);

                /* stats only */
                movers_at_stats = 999;
                pair_open(&p, &h, &g, NULL, false);
                CHECK_EQ_INT(session_stats(p.s, 0), 0);
                pair_run(&p);
                CHECK_EQ_INT(p.hr, 0);
                CHECK_EQ_INT(h.nstats, 1);
                CHECK_EQ_INT(movers_at_stats, others);
                CHECK_EQ_INT(atomic_load(&movers), others);

                /* a push, then stats in the same session: counted from the push on */
                movers_at_done = movers_at_stats = 999;
                pair_open(&p, &h, &g, NULL, false);
                uint32_t id = pair_push(&p, src, "movers", "pushed.bin");
                pair_run(&p);
                CHECK_EQ_INT(p.hr, 0);
                check_arrived(&p, id, true, src, pathf(x, "%s/pushed.bin", d));
                CHECK_EQ_INT(movers_at_done, others + 1);
                CHECK_EQ_INT(atomic_load(&movers), others);

                /* a pull */
                movers_at_done = 999;
                pair_open(&p, &h, &g, NULL, false);
                id = pair_pull(&p, "movers/pulled.bin", back);
                pair_run(&p);
                CHECK_EQ_INT(p.hr, 0);
                check_arrived(&p, id, false, pathf(x, "%s/pulled.bin", d), pathf(src, "%s/pulled.bin", back));
                CHECK_EQ_INT(movers_at_done, others + 1);
                CHECK_EQ_INT(atomic_load(&movers), others);
                pathf(src, "%s/movers.bin", local);
                CHECK_EQ_INT(unlink(pathf(x, "%s/pulled.bin", back)), 0);

                /* a push cut off in the middle */
                relay_init(&rl);
                rl.d[0].cut_after = BIG / 2;
                pair_open(&p, &h, &g, &rl, false);
                pair_push(&p, src, "movers", "cut.bin");
                pair_run(&p);
                CHECK(rl.cut);
                CHECK(g.r < 0);
                CHECK_EQ_INT(atomic_load(&movers), others);
        }
        guest_movers = NULL;
}

/* Compression (FY_FEAT_ZSTD): text pushed and pulled with --compress zstd
 * crosses as codec 1 chunks, several times smaller, and arrives identical;
 * random data in the same session goes raw; a guest with --compress off
 * never sees a compressed chunk. */
/* Overwrite len bytes at off of path with a pattern of seed. */
static void scribble(const char *path, uint64_t off, size_t len, uint8_t seed) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        uint8_t b[256];
        memset(b, seed, sizeof b);
        CHECK_EQ_INT(pwrite(fd, b, MIN(len, sizeof b), (off_t)off), (ssize_t)MIN(len, sizeof b));
        close(fd);
}

/* --checksum on a destination of the same size that differs in a few
 * chunks: a delta (PROTOCOL.md 9.13).  Only those chunks cross; the rest
 * are kept from the receiver's own copy; the file is identical after, both
 * ways.  A destination that differs everywhere still ends identical (every
 * keep asked for again), and an identical one is skipped. */
static void test_delta(void) {
        char src[PATH_MAX], d[PATH_MAX], dst[PATH_MAX], back[PATH_MAX], bk[PATH_MAX];
        const unsigned n = BIG / CHUNK;
        make_file(pathf(src, "%s/delta.bin", local), BIG, 31, 0644);
        make_dir(pathf(d, "%s/delta", groot_path), 0755);
        make_dir(pathf(back, "%s/delta-back", local), 0755);
        pathf(dst, "%s/delta.bin", d);
        struct host h;
        struct guest g;
        struct pair p;
        /* The first copy, whole. */
        pair_open(&p, &h, &g, NULL, true);
        pair_push(&p, src, "delta", "delta.bin");
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        check_same_file(src, dst);
        /* Two chunks of the destination change (the second at the file's
         * end), behind the same size. */
        scribble(dst, 3 * (uint64_t)CHUNK + 100, 64, 0xaa);
        scribble(dst, BIG - 10, 10, 0xbb);
        host_checksum = true;
        pair_open(&p, &h, &g, NULL, true);
        uint32_t id = pair_push(&p, src, "delta", "delta.bin");
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        check_arrived(&p, id, true, src, dst);
        const struct file_result *r = report_of(&h.rep, id), *gr = report_of(&g.rep, id);
        if (r && gr) {
                CHECK_EQ_U64(r->stats.chunks_kept, n - 2);
                CHECK_EQ_U64(gr->stats.chunks_kept, n - 2);
                CHECK_EQ_U64(r->stats.wire_bytes, 2 * (uint64_t)CHUNK);
                CHECK_EQ_U64(gr->stats.wire_bytes, 2 * (uint64_t)CHUNK);
                CHECK_EQ_U64(r->stats.retransmits, 0); /* lacked, not damaged */
                CHECK(!r->skipped);
        }
        CHECK_EQ_INT(ferry_leftovers(d), 0);
        /* Pull: the guest sends the delta of the host's copy. */
        char x[PATH_MAX];
        pair_open(&p, &h, &g, NULL, true);
        pair_pull(&p, "delta/delta.bin", back);
        pair_run(&p);
        check_same_file(src, pathf(bk, "%s/delta.bin", back));
        scribble(bk, 0, 1, 0xcc);
        pair_open(&p, &h, &g, NULL, true);
        id = pair_pull(&p, "delta/delta.bin", back);
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        check_arrived(&p, id, false, src, bk);
        if ((r = report_of(&h.rep, id))) {
                CHECK_EQ_U64(r->stats.chunks_kept, n - 1);
                CHECK_EQ_U64(r->stats.wire_bytes, CHUNK);
        }
        /* Everywhere different, same size: all kept chunks are asked for. */
        make_file(dst, BIG, 32, 0644);
        pair_open(&p, &h, &g, NULL, true);
        id = pair_push(&p, src, "delta", "delta.bin");
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        check_arrived(&p, id, true, src, dst);
        if ((r = report_of(&h.rep, id))) {
                CHECK_EQ_U64(r->stats.chunks_kept, 0);
                CHECK_EQ_U64(r->stats.wire_bytes, BIG);
        }
        /* Identical: skipped, nothing written. */
        pair_open(&p, &h, &g, NULL, true);
        id = pair_push(&p, src, "delta", "delta.bin");
        pair_run(&p);
        if ((r = report_of(&h.rep, id)))
                CHECK(r->skipped);
        CHECK_EQ_INT(ferry_leftovers(d), 0);
        CHECK_EQ_INT(ferry_leftovers(pathf(x, "%s", back)), 0);
        host_checksum = false;
}

static void test_zstd(void) {
        char txt[PATH_MAX], rnd[PATH_MAX], d[PATH_MAX], x[PATH_MAX], back[PATH_MAX];
        make_text(pathf(txt, "%s/z-text.txt", local), BIG, 21);
        make_file(pathf(rnd, "%s/z-rand.bin", local), BIG / 2, 22, 0644);
        make_dir(pathf(d, "%s/zstd", groot_path), 0755);
        make_dir(pathf(back, "%s/z-back", local), 0755);
        host_compress = guest_compress = COMPRESS_ZSTD;

        struct host h;
        struct guest g;
        struct pair p;
        pair_open(&p, &h, &g, NULL, true);
        uint32_t id1 = pair_push(&p, txt, "zstd", "text.txt");
        uint32_t id2 = pair_push(&p, rnd, "zstd", "rand.bin");
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        check_arrived(&p, id1, true, txt, pathf(x, "%s/text.txt", d));
        check_arrived(&p, id2, true, rnd, pathf(x, "%s/rand.bin", d));
        const struct file_result *r = report_of(&h.rep, id1), *gr = report_of(&g.rep, id1);
        if (r && gr) {
                CHECK_EQ_U64(r->stats.chunks_compressed, BIG / CHUNK);
                CHECK(r->stats.wire_bytes * 3 < r->stats.bytes);
                CHECK_EQ_U64(gr->stats.wire_bytes, r->stats.wire_bytes); /* the receiver counted the same */
                CHECK_EQ_U64(gr->stats.chunks_compressed, r->stats.chunks_compressed);
        }
        if ((r = report_of(&h.rep, id2))) {
                CHECK_EQ_U64(r->stats.chunks_compressed, 0);
                CHECK_EQ_U64(r->stats.wire_bytes, BIG / 2);
        }
        /* Pull: the guest compresses. */
        pair_open(&p, &h, &g, NULL, true);
        id1 = pair_pull(&p, "zstd/text.txt", back);
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        check_arrived(&p, id1, false, txt, pathf(x, "%s/text.txt", back));
        if ((r = report_of(&h.rep, id1)))
                CHECK_EQ_U64(r->stats.chunks_compressed, BIG / CHUNK);
        /* A guest that refuses compression gets none. */
        guest_compress = COMPRESS_OFF;
        pair_open(&p, &h, &g, NULL, false);
        CHECK_EQ_U64(p.s ? session_peer(p.s)->features & FY_FEAT_ZSTD : 1, 0);
        id1 = pair_push(&p, txt, "zstd", "text2.txt");
        pair_run(&p);
        CHECK_EQ_INT(p.hr, 0);
        check_arrived(&p, id1, true, txt, pathf(x, "%s/text2.txt", d));
        if ((r = report_of(&h.rep, id1))) {
                CHECK_EQ_U64(r->stats.chunks_compressed, 0);
                CHECK_EQ_U64(r->stats.wire_bytes, BIG);
        }
        CHECK_EQ_INT(ferry_leftovers(d), 0);
        host_compress = guest_compress = COMPRESS_AUTO;
}

/* A byte flipped inside a compressed chunk: the file fails (nothing at
 * its name), the session goes on, a rerun resumes after the chunks that
 * were good. */
static void test_zstd_corrupt(void) {
        char txt[PATH_MAX], d[PATH_MAX], x[PATH_MAX];
        make_text(pathf(txt, "%s/zc-text.txt", local), 2u << 20, 23);
        make_dir(pathf(d, "%s/zstd-cor", groot_path), 0755);
        host_compress = guest_compress = COMPRESS_ZSTD;
        struct host h;
        struct guest g;
        struct pair p;
        struct relay rl;
        relay_init(&rl);
        rl.d[0].flip_frame = 3;
        rl.d[0].flip_at = 40; /* inside the zstd frame */
        pair_open(&p, &h, &g, &rl, true);
        uint32_t id1 = pair_push(&p, txt, "zstd-cor", "text.txt");
        pair_run(&p);
        CHECK(rl.d[0].flipped);
        CHECK_EQ_INT(p.hr, 0);
        CHECK_EQ_INT(g.r, 0);
        check_arrived(&p, id1, true, txt, pathf(x, "%s/text.txt", d));
        const struct file_result *r = report_of(&h.rep, id1);
        if (r) {
                CHECK_EQ_U64(r->stats.retransmits, 1);
                CHECK_EQ_U64(r->stats.chunks_compressed, (2u << 20) / CHUNK);
        }
        CHECK_EQ_INT(ferry_leftovers(d), 0);
        host_compress = guest_compress = COMPRESS_AUTO;
}


/* ---- a scripted guest: frames made by hand with the codec --------------- */

/* For the host's side of rules a real ferryd never breaks: a thread reads
 * the host's frames and answers each by a script of the test's. */
struct fake {
        int fd;
        pthread_t th;
        bool (*answer)(struct fake *f, const struct fy_header *h, const struct fy_msg *m);
        uint64_t features;      /* what its SYNC_ACK agrees (of the offer) */
        uint16_t ack_min, ack_max;
        unsigned nsync, nerror, ngets, nmkdir;
        uint32_t gets[8];       /* the GETs' ids, in order */
        struct fy_msg error;    /* the last ERROR the host sent */
        uint8_t *buf;           /* fake_buf: one fake at a time */
};

static uint8_t fake_buf[FY_HDR_SIZE + FY_MAX_PAYLOAD];

static bool fake_send(struct fake *f, const struct fy_msg *m) {
        uint8_t b[FY_MAX_CTRL_FRAME];
        ssize_t n = fy_msg_encode(b, sizeof b, m);
        CHECK(n > 0);
        return n > 0 && write(f->fd, b, (size_t)n) == n;
}

static bool fake_read(struct fake *f, uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t k = read(f->fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return false;
                p += k;
                n -= (size_t)k;
        }
        return true;
}

/* Until the host closes: a SYNC gets a SYNC_ACK of ack_min..ack_max (or
 * the script's answer), everything else goes to the script. */
static void *fake_main(void *arg) {
        struct fake *f = arg;
        f->buf = fake_buf;
        struct fy_header h;
        struct fy_msg m;
        while (fake_read(f, f->buf, FY_HDR_SIZE)) {
                if (fy_header_decode(f->buf, &h) < 0 || !fake_read(f, f->buf + FY_HDR_SIZE, h.length))
                        break;
                if (h.type == FY_DATA || fy_msg_decode(&h, f->buf + FY_HDR_SIZE, h.length, &m) < 0)
                        continue;
                if (m.type == FY_SYNC)
                        f->nsync++;
                if (m.type == FY_ERROR) {
                        f->nerror++;
                        f->error = m;
                }
                if (m.type == FY_GET && f->ngets < ARRAY_SIZE(f->gets))
                        f->gets[f->ngets++] = m.get.xfer_id;
                f->nmkdir += m.type == FY_MKDIR;
                if (f->answer && f->answer(f, &h, &m))
                        continue;
                if (m.type == FY_SYNC) {
                        struct fy_msg a = { .type = FY_SYNC_ACK, .hello = m.hello };
                        a.hello.proto_min = f->ack_min ? f->ack_min : 1;
                        a.hello.proto_max = f->ack_max ? f->ack_max : 1;
                        a.hello.features = m.hello.features & f->features;
                        snprintf(a.hello.agent, sizeof a.hello.agent, "fake-guest");
                        fake_send(f, &a);
                } else if (m.type == FY_BYE) {
                        struct fy_msg b = { .type = FY_BYE };
                        fake_send(f, &b);
                }
        }
        return NULL;
}

static bool fake_serial; /* the host talks as on virtio-serial, with a short timeout */

/* The host session, against a fake: session_new and the handshake. */
static int fake_open(struct fake *f, struct session **ret_s, struct host *h, int *ret_fd) {
        int sv[2];
        memset(h, 0, sizeof *h);
        CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        f->fd = sv[1];
        *ret_fd = sv[0];
        CHECK_EQ_INT(pthread_create(&f->th, NULL, fake_main, f), 0);
        struct session_config c = config(true);
        c.resume = false;
        c.root = &hroot;
        c.ops = &host_ops;
        c.userdata = h;
        if (fake_serial) {
                c.resync_padding = true;
                c.timeout_ms = 1500;
        }
        CHECK_EQ_INT(session_new(&c, sv[0], ret_s), 0);
        return *ret_s ? session_handshake(*ret_s) : -EINVAL;
}

static void fake_close(struct fake *f, struct session *s, int fd, char *ret_err, size_t n) {
        snprintf(ret_err, n, "%s", s && session_error(s) ? session_error(s) : "");
        if (s)
                session_free(s);
        safe_close(fd);
        CHECK_EQ_INT(pthread_join(f->th, NULL), 0);
        safe_close(f->fd);
}

/* PROTOCOL.md 9.1: an ERROR answering the SYNC (no common version) is the
 * refusal, reported with the guest's text after one more SYNC (ERROR has no
 * nonce, the first could be stale) - not a wait for the timeout. */
static bool refuse_sync(struct fake *f, const struct fy_header *h, const struct fy_msg *m) {
        (void)h;
        if (m->type != FY_SYNC)
                return false;
        struct fy_msg e = { .type = FY_ERROR, .error = { .code = FY_EPROTO } };
        snprintf(e.error.text, sizeof e.error.text, "no common protocol version: peer speaks 1-1, we speak 2-2");
        fake_send(f, &e);
        return true;
}

static void test_refused(void) {
        struct fake f = { .answer = refuse_sync };
        struct host h;
        struct session *s = NULL;
        int fd;
        char err[FY_MAX_TEXT + 64];
        int r = fake_open(&f, &s, &h, &fd);
        fake_close(&f, s, fd, err, sizeof err);
        CHECK_EQ_INT(r, -EPROTO); /* not -ETIMEDOUT */
        CHECK(strstr(err, "no common protocol version: peer speaks 1-1") != NULL);
        CHECK_EQ_INT(f.nsync, 2);  /* one retry, then the refusal stands */
        CHECK_EQ_INT(f.nerror, 0); /* an ERROR is never answered (9.6) */

        /* 9.1 item 5: a SYNC_ACK must name one version, of ours. */
        struct fake g = { .ack_min = 1, .ack_max = 2 };
        r = fake_open(&g, &s, &h, &fd);
        fake_close(&g, s, fd, err, sizeof err);
        CHECK_EQ_INT(r, -EPROTONOSUPPORT);
        CHECK(strstr(err, "protocol version 1-2") != NULL);
        CHECK_EQ_INT(g.nerror, 1); /* the host says why (9.1 item 5) */
        CHECK_EQ_INT(g.error.error.code, FY_EPROTO);

        /* On virtio-serial ERRORs of dead sessions are expected: none is
         * the refusal, but the timeout names the last. */
        struct fake v = { .answer = refuse_sync };
        fake_serial = true;
        r = fake_open(&v, &s, &h, &fd);
        fake_serial = false;
        fake_close(&v, s, fd, err, sizeof err);
        CHECK_EQ_INT(r, -ETIMEDOUT);
        CHECK(strstr(err, "it said: no common protocol version") != NULL);
        CHECK(v.nsync >= 2 && v.nsync < 10); /* re-sent in its time, not once per ERROR */
        CHECK_EQ_INT(v.nerror, 0);
}

/* PROTOCOL.md 9.5, A.4: a FILE_ABORT answers a GET still waiting for its
 * answer, once; for any other id it is a protocol error, not a verdict. */
static bool abort_gets(struct fake *f, const struct fy_header *h, const struct fy_msg *m) {
        (void)h;
        if (m->type != FY_GET || f->ngets != 2)
                return false;
        struct fy_msg a = { .type = FY_FILE_ABORT, .abort = { .xfer_id = f->gets[0], .code = FY_ENOENT } };
        snprintf(a.abort.text, sizeof a.abort.text, "missing: no such file");
        fake_send(f, &a);
        fake_send(f, &a); /* the same answer again */
        return true;
}

static bool abort_unasked(struct fake *f, const struct fy_header *h, const struct fy_msg *m) {
        (void)h;
        if (m->type != FY_GET)
                return false;
        struct fy_msg a = { .type = FY_FILE_ABORT, .abort = { .xfer_id = m->get.xfer_id + 7, .code = FY_OK } };
        fake_send(f, &a);
        return true;
}

static void test_abort_unasked(void) {
        bool (*scripts[])(struct fake *, const struct fy_header *, const struct fy_msg *) = { abort_gets, abort_unasked };
        for (unsigned i = 0; i < ARRAY_SIZE(scripts); i++) {
                struct fake f = { .answer = scripts[i] };
                struct host h;
                struct session *s = NULL;
                int fd;
                char err[FY_MAX_TEXT + 64];
                uint32_t id1 = 0, id2 = 0;
                int r = fake_open(&f, &s, &h, &fd);
                CHECK_EQ_INT(r, 0);
                if (r == 0) {
                        CHECK_EQ_INT(session_pull(s, "a", &id1), 0);
                        CHECK_EQ_INT(session_pull(s, "b", &id2), 0);
                        r = session_run(s);
                }
                fake_close(&f, s, fd, err, sizeof err);
                CHECK_EQ_INT(r, -EPROTO);
                CHECK(strstr(err, "FILE_ABORT for transfer") && strstr(err, "no GET of ours"));
                if (i == 0) { /* the first answer counted, as the failure it says */
                        const struct file_result *a = report_of(&h.rep, id1);
                        CHECK(a && a->err == -ENOENT && strstr(a->text, "no such file"));
                        CHECK_EQ_INT(h.rep.n, 1);
                } else { /* nothing taken as a verdict */
                        CHECK_EQ_INT(h.rep.n, 0);
                }
        }
}

/* PROTOCOL.md 9.6: an ERROR is never answered, whatever its code. */
static uint32_t error_code;
static bool error_on_get(struct fake *f, const struct fy_header *h, const struct fy_msg *m) {
        (void)h;
        if (m->type != FY_GET)
                return false;
        struct fy_msg e = { .type = FY_ERROR, .error = { .code = error_code } };
        snprintf(e.error.text, sizeof e.error.text, "fake: going");
        fake_send(f, &e);
        return true;
}

static void test_error_unanswered(void) {
        const uint32_t codes[] = { FY_OK, FY_ECONNRESET, FY_EOTHER, 200, FY_ENOSPC };
        for (unsigned i = 0; i < ARRAY_SIZE(codes); i++) {
                struct fake f = { .answer = error_on_get };
                struct host h;
                struct session *s = NULL;
                int fd;
                char err[FY_MAX_TEXT + 64];
                uint32_t id;
                error_code = codes[i];
                int r = fake_open(&f, &s, &h, &fd);
                CHECK_EQ_INT(r, 0);
                if (r == 0) {
                        CHECK_EQ_INT(session_pull(s, "a", &id), 0);
                        r = session_run(s);
                }
                fake_close(&f, s, fd, err, sizeof err);
                CHECK(r < 0);
                CHECK(strstr(err, "fake: going") != NULL);
                CHECK_EQ_INT(f.nerror, 0);
                if (f.nerror)
                        fprintf(stderr, "    ERROR %u answered with %u\n", codes[i], f.error.error.code);
        }
}

/* Appendix F: a MKDIR's verdict has no digest; one filled in is ignored. */
static bool status_with_digest(struct fake *f, const struct fy_header *h, const struct fy_msg *m) {
        (void)h;
        if (m->type != FY_MKDIR)
                return false;
        struct fy_msg st = { .type = FY_FILE_STATUS, .status = { .xfer_id = m->mkdir.xfer_id, .code = FY_OK } };
        memset(st.status.digest, 0xa5, sizeof st.status.digest);
        fake_send(f, &st);
        return true;
}

static void test_entry_digest(void) {
        char src[PATH_MAX];
        make_dir(pathf(src, "%s/empty-tree", local), 0755);
        struct fake f = { .answer = status_with_digest, .features = FY_FEAT_TREE };
        struct host h;
        struct session *s = NULL;
        int fd;
        char err[FY_MAX_TEXT + 64];
        uint32_t id = 0;
        int r = fake_open(&f, &s, &h, &fd);
        CHECK_EQ_INT(r, 0);
        if (r == 0) {
                CHECK_EQ_INT(session_push_tree(s, src, "t", false, &id), 0);
                r = session_run(s);
        }
        fake_close(&f, s, fd, err, sizeof err);
        CHECK_EQ_INT(r, 0);
        CHECK(f.nmkdir >= 1);
        CHECK(h.rep.n >= 1);
        for (unsigned i = 0; i < h.rep.n; i++) {
                CHECK_EQ_INT(h.rep.r[i].res.err, 0);
                if (h.rep.r[i].res.err)
                        fprintf(stderr, "    %s\n", h.rep.r[i].res.text);
        }
}

/* PROTOCOL.md 9.5: a GET refused on arrival (EBUSY) is answered then, amid
 * the answer to an earlier GET; the host matches answers by id. */
static bool busy_amid(struct fake *f, const struct fy_header *h, const struct fy_msg *m) {
        (void)h;
        if (m->type != FY_GET || f->ngets != 2)
                return false;
        static uint8_t bytes[100];
        memset(bytes, 'q', sizeof bytes);
        uint64_t d = fy_chunk_digest(bytes, sizeof bytes);
        struct fy_msg b = { .type = FY_FILE_BEGIN, .begin = { .xfer_id = f->gets[0], .size = sizeof bytes, .mode = 0644,
                                                              .chunk_size = 4096, .mtime_sec = MTIME_SEC } };
        snprintf(b.begin.dest, sizeof b.begin.dest, "a");
        snprintf(b.begin.name, sizeof b.begin.name, "a");
        struct fy_data dh = { .xfer_id = f->gets[0], .raw_len = sizeof bytes, .payload_len = sizeof bytes, .digest = d };
        uint8_t head[FY_DATA_FRAME_HEAD];
        struct fy_msg busy = { .type = FY_FILE_ABORT, .abort = { .xfer_id = f->gets[1], .code = FY_EBUSY } };
        snprintf(busy.abort.text, sizeof busy.abort.text, "busy: 64 requests queued already");
        struct fy_msg e = { .type = FY_FILE_END, .end = { .xfer_id = f->gets[0], .size = sizeof bytes, .chunks = 1 } };
        struct fy_file_digest fd;
        fy_file_digest_init(&fd);
        fy_file_digest_add(&fd, d);
        fy_file_digest_final(&fd, e.end.digest);
        CHECK(fy_data_head_encode(head, &dh) > 0);
        fake_send(f, &b);
        CHECK_EQ_INT(write(f->fd, head, sizeof head), (ssize_t)sizeof head);
        CHECK_EQ_INT(write(f->fd, bytes, sizeof bytes), (ssize_t)sizeof bytes);
        fake_send(f, &busy); /* GET 2's answer, inside GET 1's */
        fake_send(f, &e);
        return true;
}

static void test_busy_amid(void) {
        char back[PATH_MAX], x[PATH_MAX];
        make_dir(pathf(back, "%s/busy-back", local), 0755);
        struct fake f = { .answer = busy_amid };
        struct host h;
        struct session *s = NULL;
        int fd;
        char err[FY_MAX_TEXT + 64];
        uint32_t id[2] = { 0, 0 };
        int r = fake_open(&f, &s, &h, &fd);
        CHECK_EQ_INT(r, 0);
        if (r == 0) {
                for (unsigned i = 0; i < 2; i++) {
                        const char *name = i ? "b" : "a";
                        CHECK_EQ_INT(session_pull(s, name, &id[i]), 0);
                        h.pulls[i] = (struct pull_req){ .id = id[i] };
                        snprintf(h.pulls[i].remote, sizeof h.pulls[i].remote, "%s", name);
                        snprintf(h.pulls[i].name, sizeof h.pulls[i].name, "%s", name);
                }
                h.npulls = 2;
                h.pull_dest = back;
                r = session_run(s);
        }
        fake_close(&f, s, fd, err, sizeof err);
        CHECK_EQ_INT(r, 0);
        if (r)
                fprintf(stderr, "    host: %s\n", err);
        const struct file_result *a = report_of(&h.rep, id[0]), *b = report_of(&h.rep, id[1]);
        CHECK(a && a->err == 0);
        CHECK(b && b->err == -EBUSY && strstr(b->text, "busy"));
        struct stat st;
        CHECK_EQ_INT(stat(pathf(x, "%s/a", back), &st), 0);
        CHECK_EQ_INT(st.st_size, 100);
        CHECK(!exists(pathf(x, "%s/b", back)));
}

static const struct {
        const char *name;
        void (*fn)(void);
} cases[] = {
        { "push", test_push },
        { "stats", test_stats },
        { "pool", test_pool },
        { "movers", test_movers },
        { "pull", test_pull },
        { "tree", test_tree },
        { "resume", test_resume },
        { "unreadable", test_unreadable },
        { "shrink-push", test_shrink_push },
        { "shrink-pull", test_shrink_pull },
        { "many-aborts", test_many_aborts },
        { "corrupt", test_corrupt },
        { "ctrl-corrupt", test_ctrl_corrupt },
        { "drop", test_drop },
        { "delta", test_delta },
        { "zstd", test_zstd },
        { "zstd-corrupt", test_zstd_corrupt },
        { "refused", test_refused },
        { "abort-unasked", test_abort_unasked },
        { "entry-digest", test_entry_digest },
        { "error-unanswered", test_error_unanswered },
        { "busy-amid", test_busy_amid },
};

int main(int argc, char **argv) {
        signal(SIGPIPE, SIG_IGN);
        alarm(120); /* a hang fails here rather than at the runner's timeout */
        umask(022);
        if (!mkdtemp(base)) {
                perror("mkdtemp");
                return T_EXIT_FAIL;
        }
        pathf(groot_path, "%s/root", base);
        pathf(local, "%s/local", base);
        CHECK_EQ_INT(mkdir(groot_path, 0755), 0);
        CHECK_EQ_INT(mkdir(local, 0755), 0);
        CHECK_EQ_INT(fsroot_open(groot_path, true, &groot), 0);
        CHECK_EQ_INT(fsroot_open(NULL, false, &hroot), 0);
        for (unsigned i = 0; i < ARRAY_SIZE(cases); i++) {
                if (argc > 1 && strcmp(argv[1], cases[i].name))
                        continue;
                unsigned before = check_failures;
                uint64_t t0 = now_ns();
                fprintf(stderr, "--- %s\n", cases[i].name);
                cases[i].fn();
                fprintf(stderr, "%s: %s (%.2f s)\n", cases[i].name, check_failures == before ? "ok" : "FAILED",
                        (double)(now_ns() - t0) / 1e9);
        }
        fsroot_close(&groot);
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf %s", base);
        if (check_failures == 0 && system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", base);
        else if (check_failures)
                fprintf(stderr, "files kept in %s\n", base);
        return check_done();
}
