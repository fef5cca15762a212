/* SPDX-License-Identifier: MIT */
/*
 * ferry bench: measure one path to a running ferryd, the way iperf3
 * measures a network, and nothing else.
 *
 *   - the raw ceiling each way: bench mode (PROTOCOL.md 9.11), bytes made
 *     in memory, checked chunk by chunk and dropped - no disk on either
 *     side, still inside ferryd's budgets;
 *   - ferry end to end: real files pushed into a scratch directory under
 *     ferryd's root (temporary name, digests, fsync, rename) and pulled
 *     back into one of ours, across chunk sizes, windows, compression and
 *     data that does or does not compress; ferryd removes the scratch
 *     directory when the session ends, and we remove ours.
 *
 * A cell moves files of --size back to back (two queued, so no file waits
 * for the one before) until --duration has passed, then waits for the
 * verdicts: its MB/s is the bytes of every verified file over that time.
 * Each configuration is a session of its own (chunk size and window are a
 * session's); its push cell runs first and leaves the file its pull cell
 * reads.  A benchmark, not a test: it prints figures and ratios and fails
 * only when a transfer does.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "domain.h"
#include "base/log.h"
#include "base/util.h"
#include "base/version.h"
#include "session/compress.h"
#include "transport/transport.h"

#define BENCH_DEFAULT_SIZE (64ull << 20)
#define BENCH_DEFAULT_DURATION 1.0
#define BENCH_QUEUED 2        /* files of a cell queued at once */
#define BENCH_MAX_LIST 8      /* entries of --chunks, --windows */
#define BENCH_FILE "data"     /* the end-to-end file's name, in both scratch directories */

struct bench {
        /* options */
        struct target target;
        const char *domain, *uri;
        uint64_t size;
        double duration_s;
        bool dir[2];            /* directions to measure */
        bool json;
        const char *svg;
        const char *tmpbase;
        int timeout_s;
        bool force_psync;
        bool progress;
        uint32_t chunks[BENCH_MAX_LIST];
        size_t nchunks;
        uint64_t windows[BENCH_MAX_LIST];
        size_t nwindows;
        uint32_t base_chunk;
        uint64_t base_window;
        bool data_cells;        /* compression off/auto on random and text */
        int stop_fd;
        /* ours on the host: the sources by pattern, the pulled copies */
        char tmpdir[PATH_MAX];
        char src[2][PATH_MAX + 16];
        char back[PATH_MAX + 16];
        struct bench_report rep;
        unsigned cell_no;       /* for the progress line */
};

/* One session: up to three phases, each a cell (or the unmeasured push
 * that gives a pull-only run its file). */
struct run {
        struct bench *b;
        struct session *s;
        struct {
                struct bench_cell *cell;
                bool measured;
                bool seed;      /* one push, unmeasured: the file a pull-only run reads */
        } ph[3];
        unsigned nph, cur;
        unsigned inflight;
        bool stopping;          /* this phase queues nothing more */
        uint64_t deadline;
        double p50_acc;         /* pull: count-weighted sum of ferryd's p50s */
        char scratch[96];       /* ferryd's scratch directory (end to end) */
        char remote[128];       /* ... and the file in it */
        int setup_err;          /* the scratch directory could not be made */
        char setup_text[FY_MAX_TEXT + 160];
        bool cancelled;         /* a signal: stop the whole run */
};

static void help(void) {
        printf("Usage: ferry bench [--to TARGET | --domain NAME] [OPTIONS]\n"
               "\n"
               "Measures the path to one ferryd, as iperf3 measures a network:\n"
               "  - the raw ceiling each way: bench mode, bytes made in memory, every\n"
               "    chunk checked and dropped, no disk on either side (ferryd's budgets\n"
               "    still apply);\n"
               "  - ferry end to end: real files pushed into a scratch directory in\n"
               "    ferryd's root (digests, fsync) and pulled back, across chunk sizes,\n"
               "    windows, compression off/auto and random or text data; the chunk\n"
               "    round trips (p50/p90/p99/max) and what the sender waited for.\n"
               "Every figure is also given as a share of the raw ceiling.  Nothing is\n"
               "left behind: ferryd removes its scratch directory when the session ends.\n"
               "\n"
               "Options:\n"
               "  -t, --to TARGET      where ferryd is (vsock:CID:PORT, serial:PATH,\n"
               "                       fc:PATH:PORT, unix:PATH, tcp:HOST:PORT; or $FERRY_TARGET)\n"
               "      --domain NAME    a libvirt guest instead (-c URI as for push)\n"
               "  -c, --connect URI    libvirt URI for --domain\n"
               "      --size SIZE      bytes per file (default 64M; k/M/G)\n"
               "      --duration SEC   how long each cell moves files (default %.0f; at\n"
               "                       least one file each)\n"
               "      --directions push|pull|both  (default both)\n"
               "      --chunks LIST    chunk sizes to sweep (default 64K,256K,1M,4M)\n"
               "      --windows LIST   windows to sweep at 1M chunks (default 2M,8M,32M);\n"
               "                       push: what we keep in flight, at most ferryd's window\n"
               "      --no-data        no compression/data cells\n"
               "      --json           one JSON document on stdout instead of the table\n"
               "      --svg FILE       throughput against chunk size and the round-trip\n"
               "                       CDF, as an SVG picture\n"
               "      --tmpdir DIR     where our copies go (default $TMPDIR, else /var/tmp)\n"
               "      --timeout SEC    give up when ferryd is silent this long (default 30)\n"
               "      --no-io-uring    use pread/pwrite\n"
               "  -v, --verbose        each cell on stderr as it ends\n"
               "  -q, --quiet          no progress line\n"
               "  -h, --help           this text\n"
               "\n"
               "ferryd's own --max-chunk (default 1M) and --chunk-size cap the chunks of\n"
               "push and pull; the table says when a cell ran with less than it asked.\n"
               "Defaults take about 20 s on a local socket.\n"
               "\n"
               "Exit status: 0 every cell ran, 1 a cell failed, 2 usage error, 3 cannot\n"
               "connect, 4 a session broke.\n",
               BENCH_DEFAULT_DURATION);
}

/* ---- our files on the host -------------------------------------------- */

/* The bytes of our local sources: wyrand, as ferryd makes bench data
 * (incompressible), or words from a small set (zstd -1: about 6x). */
static uint64_t gen_next(uint64_t *s) {
        *s += 0xa0761d6478bd642full;
        __uint128_t t = (__uint128_t)*s * (*s ^ 0xe7037ed1a0b428dbull);
        return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

static void gen_fill(uint8_t *p, size_t len, uint64_t *s, uint32_t pattern) {
        static const char words[16][8] = { "ferry   ", "moves   ", "files,  ", "chunk   ", "by chunk", "verified",
                                           "between ", "a host  ", "and its ", "guests; ", "the     ", "window  ",
                                           "credit  ", "of      ", "session\n", "engine. " };
        size_t i = 0;
        if (pattern == FY_BENCH_TEXT) {
                for (; i + 8 <= len; i += 8)
                        memcpy(p + i, words[gen_next(s) & 15], 8);
        } else {
                for (; i + 8 <= len; i += 8) {
                        uint64_t v = gen_next(s);
                        memcpy(p + i, &v, 8);
                }
        }
        for (; i < len; i++)
                p[i] = (uint8_t)gen_next(s);
}

/* The local source of the end-to-end pushes of pattern, made once. */
static int make_source(struct bench *b, uint32_t pattern) {
        char *path = b->src[pattern];
        if (path[0])
                return 0;
        snprintf(path, sizeof b->src[0], "%s/src-%s", b->tmpdir, bench_pattern_name(pattern));
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
                int r = -errno;
                path[0] = 0;
                return r;
        }
        size_t blen = 1u << 20;
        uint8_t *buf = malloc(blen);
        if (!buf)
                return -ENOMEM;
        uint64_t s = 0x66657272792d6265ull + pattern;
        int r = 0;
        for (uint64_t left = b->size; left > 0 && r == 0;) {
                size_t n = (size_t)MIN((uint64_t)blen, left);
                gen_fill(buf, n, &s, pattern);
                for (size_t done = 0; done < n;) {
                        ssize_t w = write(fd, buf + done, n - done);
                        if (w < 0) {
                                r = -errno;
                                break;
                        }
                        done += (size_t)w;
                }
                left -= n;
        }
        free(buf);
        return r;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void)st, (void)ftw;
        if (flag == FTW_DP)
                rmdir(path);
        else
                unlink(path);
        return 0;
}

static void remove_tmpdir(struct bench *b) {
        if (b->tmpdir[0])
                (void)nftw(b->tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        b->tmpdir[0] = 0;
}

/* ---- one session -------------------------------------------------------- */

static void cell_fail(struct bench_cell *c, int err, const char *text) {
        if (c->err)
                return;
        c->err = err ? err : -EIO;
        snprintf(c->text, sizeof c->text, "%.*s", (int)sizeof c->text - 1, text && *text ? text : strerror(-c->err));
}

static int queue_one(struct run *run) {
        struct bench *b = run->b;
        struct bench_cell *c = run->ph[run->cur].cell;
        enum bench_dir dir = run->ph[run->cur].seed ? BENCH_PUSH : c->dir;
        uint32_t id;
        int r;
        if (c->kind == BENCH_RAW)
                r = dir == BENCH_PUSH ? session_bench_push(run->s, b->size, c->pattern, &id)
                                      : session_bench_pull(run->s, b->size, c->pattern, &id);
        else if (dir == BENCH_PUSH)
                r = session_push(run->s, b->src[c->pattern], run->scratch, BENCH_FILE, FY_FB_DEST_IS_DIR, &id);
        else
                r = session_pull(run->s, run->remote, &id);
        if (r < 0) {
                cell_fail(c, r, NULL);
                return r;
        }
        run->inflight++;
        return 0;
}

static void progress_line(struct run *run) {
        struct bench *b = run->b;
        if (!b->progress)
                return;
        const struct bench_cell *c = run->ph[run->cur].cell;
        char cs[32], ws[32];
        fprintf(stderr, "\r\033[Kferry bench: [%u/%zu] %s %s, chunk %s, window %s, compress %s, %s data", ++b->cell_no,
                b->rep.ncells, c->kind == BENCH_RAW ? "raw" : "end to end", bench_dir_name(c->dir), bench_size_name(c->chunk, cs),
                bench_size_name(c->window, ws), bench_compress_name(c->compress), bench_pattern_name(c->pattern));
        fflush(stderr);
}

static void start_phase(struct run *run) {
        struct bench_cell *c = run->ph[run->cur].cell;
        bool measured = run->ph[run->cur].measured;
        run->stopping = false;
        run->p50_acc = 0;
        if (measured) {
                c->ran = true;
                progress_line(run);
        }
        if (run->setup_err) {
                cell_fail(c, run->setup_err, run->setup_text);
                return;
        }
        c->t0 = now_ns();
        run->deadline = c->t0 + (measured ? (uint64_t)(run->b->duration_s * 1e9) : 0);
        for (unsigned i = 0; i < (measured ? BENCH_QUEUED : 1u); i++)
                if (queue_one(run) < 0)
                        break;
}

/* Start phases until one has files in flight, or none is left (the
 * session then ends: nothing is pending). */
static void run_phases(struct run *run) {
        for (; run->cur < run->nph; run->cur++) {
                struct bench_cell *c = run->ph[run->cur].cell;
                const struct bench_cell *prev = run->cur ? run->ph[run->cur - 1].cell : NULL;
                /* An end-to-end pull reads what the push before it left. */
                if (c->kind == BENCH_E2E && c->dir == BENCH_PULL && prev && prev->kind == BENCH_E2E && prev->err &&
                    (prev == c || !prev->files)) {
                        c->ran = true;
                        cell_fail(c, prev->err, "the push before it failed: nothing to pull");
                        continue;
                }
                start_phase(run);
                if (run->inflight > 0)
                        return;
        }
}

static void account(struct run *run, struct bench_cell *c, const struct file_result *res) {
        const struct xfer_stats *st = &res->stats;
        c->files++;
        c->bytes += st->bytes;
        c->wire_bytes += st->wire_bytes;
        c->chunks += st->chunks;
        c->chunks_compressed += st->chunks_compressed;
        c->retransmits += st->retransmits;
        if (res->sent) { /* push: we sent it, we timed its chunks and know our waits */
                lat_merge(&c->rtt, &st->rtt);
                c->waits_known = true;
                for (int k = 0; k < 6; k++)
                        c->wait_ns[k] += st->wait_ns[k];
        } else if (st->peer_rtt.count) { /* pull: as ferryd measured them (FILE_END) */
                c->peer_rtt.count += st->peer_rtt.count;
                run->p50_acc += (double)st->peer_rtt.p50_us * (double)st->peer_rtt.count;
                c->peer_rtt.p50_us = (uint64_t)(run->p50_acc / (double)c->peer_rtt.count + 0.5);
                c->peer_rtt.p99_us = MAX(c->peer_rtt.p99_us, st->peer_rtt.p99_us);
                c->peer_rtt.max_us = MAX(c->peer_rtt.max_us, st->peer_rtt.max_us);
        }
}

static void on_done(void *ud, const struct file_result *res) {
        struct run *run = ud;
        if (res->kind != ENTRY_FILE) { /* the scratch directory */
                if (res->err && !run->setup_err) {
                        run->setup_err = res->err;
                        snprintf(run->setup_text, sizeof run->setup_text, "ferryd's scratch directory '%s': %s",
                                 run->scratch, res->text[0] ? res->text : strerror(-res->err));
                }
                return;
        }
        if (run->cur >= run->nph)
                return;
        struct bench_cell *c = run->ph[run->cur].cell;
        bool measured = run->ph[run->cur].measured;
        run->inflight -= run->inflight > 0;
        if (res->err) {
                cell_fail(c, res->err, run->setup_err ? run->setup_text : res->text);
                run->stopping = true;
        } else if (measured) {
                account(run, c, res);
        }
        uint64_t now = now_ns();
        if (!run->stopping && now < run->deadline && queue_one(run) == 0)
                return;
        run->stopping = true;
        if (run->inflight > 0)
                return;
        if (measured)
                c->t1 = now;
        run->cur++;
        run_phases(run); /* the next one, in the same session */
}

static int recv_target(void *ud, const struct fy_file_begin *b, const char **ret_dest, const char **ret_name,
                       uint32_t *ret_flags) {
        struct run *run = ud;
        const struct bench_cell *c = run->cur < run->nph ? run->ph[run->cur].cell : NULL;
        /* Only the answer to our own pull of the end-to-end file. */
        if (!c || c->kind != BENCH_E2E || c->dir != BENCH_PULL || run->ph[run->cur].seed ||
            (b->flags & (FY_ENTRY_REL | FY_FB_BENCH)))
                return -EPROTO;
        run->ph[run->cur].cell->chunk_used = b->chunk_size; /* what ferryd sends with */
        *ret_dest = run->b->back;
        *ret_name = BENCH_FILE;
        *ret_flags = FY_FB_DEST_IS_DIR;
        return 0;
}

static const struct session_ops bench_ops = {
        .file_done = on_done,
        .recv_target = recv_target,
};

/* Connect, check that ferryd offers bench mode, run the phases, end. */
static int run_session(struct bench *b, struct run *run) {
        struct bench_cell *first = run->ph[0].cell;
        struct fsroot root;
        (void)fsroot_open(NULL, false, &root);
        struct session_config cfg = {
                .initiator = true,
                .agent = "ferry/" FERRY_VERSION,
                .chunk_size = first->chunk,
                .max_chunk = first->chunk,
                .recv_window = MAX(first->window, (uint64_t)first->chunk),
                .send_window = first->window,
                .depth = SESSION_DEFAULT_DEPTH,
                .timeout_ms = b->timeout_s * 1000,
                .stop_fd = b->stop_fd,
                .resync_padding = b->target.kind == TARGET_SERIAL,
                .force_psync = b->force_psync,
                .compress = first->compress,
                .compress_threads = SESSION_THREADS_AUTO,
                .root = &root,
                .ops = &bench_ops,
                .userdata = run,
        };
        int fd = -EBADF, ret = EXIT_OK;
        int r = target_connect(&b->target, b->timeout_s * 1000, &fd);
        if (r < 0) {
                fprintf(stderr, "%sferry: bench: cannot connect to %s: %s\n", b->progress ? "\r\033[K" : "",
                        b->rep.target, strerror(-r));
                return EXIT_CONNECT;
        }
        struct session *s;
        if ((r = session_new(&cfg, fd, &s)) < 0) {
                safe_close(fd);
                fprintf(stderr, "ferry: bench: %s\n", strerror(-r));
                return EXIT_FAILED;
        }
        run->s = s;
        if ((r = session_handshake(s)) < 0) {
                fprintf(stderr, "%sferry: bench: %s: %s\n", b->progress ? "\r\033[K" : "", b->rep.target,
                        session_error(s));
                ret = EXIT_CONNECT;
                goto out;
        }
        const struct fy_hello *peer = session_peer(s);
        if (!(peer->features & FY_FEAT_BENCH)) {
                fprintf(stderr, "ferry: bench: %s (%s) does not offer bench mode (feature bit 7): it is older than "
                                "this ferry\n", b->rep.target, peer->agent[0] ? peer->agent : "no agent string");
                ret = EXIT_FAILED;
                goto out;
        }
        if (!b->rep.agent[0]) {
                snprintf(b->rep.agent, sizeof b->rep.agent, "%s", peer->agent);
                b->rep.peer_max_chunk = peer->max_chunk;
                b->rep.peer_window = peer->recv_window;
        }
        for (unsigned i = 0; i < run->nph; i++) {
                struct bench_cell *c = run->ph[i].cell;
                c->window_used = c->dir == BENCH_PUSH ? MIN(c->window, peer->recv_window) : cfg.recv_window;
                if (c->dir == BENCH_PUSH) /* ours, as far as ferryd takes it */
                        c->chunk_used = MIN(c->chunk, peer->max_chunk);
        }
        uint32_t id;
        if (first->kind == BENCH_E2E) {
                uint64_t rnd = 0;
                (void)!getrandom(&rnd, sizeof rnd, GRND_NONBLOCK);
                snprintf(run->scratch, sizeof run->scratch, ".ferry-bench.%d.%08llx", (int)getpid(),
                         (unsigned long long)(rnd ^ now_ns()) & 0xffffffffull);
                snprintf(run->remote, sizeof run->remote, "%s/%s", run->scratch, BENCH_FILE);
                if ((r = session_scratch(s, run->scratch, &id)) < 0) {
                        cell_fail(first, r, "cannot queue the scratch directory");
                        ret = EXIT_FAILED;
                        goto out;
                }
        }
        run->cur = 0;
        run_phases(run);
        r = session_run(s);
        if (r < 0) {
                const char *why = session_error(s) ? session_error(s) : strerror(-r);
                for (unsigned i = 0; i < run->nph; i++) {
                        struct bench_cell *c = run->ph[i].cell;
                        if (run->ph[i].measured && (!c->t1 || c->err)) {
                                c->ran = true;
                                cell_fail(c, r, why);
                        }
                }
                run->cancelled = r == -ECANCELED;
                ret = EXIT_SESSION;
        }
out:
        session_free(s);
        safe_close(fd);
        return ret;
}

/* ---- the plan ---------------------------------------------------------- */

static struct bench_cell *add_cell(struct bench *b, enum bench_kind kind, enum bench_dir dir, const char *sweep,
                                   uint32_t chunk, uint64_t window, enum compress_mode compress, uint32_t pattern) {
        for (size_t i = 0; i < b->rep.ncells; i++) { /* a configuration in two sweeps runs once */
                struct bench_cell *c = &b->rep.cells[i];
                if (c->kind == kind && c->dir == dir && c->chunk == chunk && c->window == window &&
                    c->compress == compress && c->pattern == pattern)
                        return NULL;
        }
        struct bench_cell *c = &b->rep.cells[b->rep.ncells++];
        *c = (struct bench_cell){ .kind = kind, .dir = dir, .sweep = sweep, .chunk = chunk, .window = window,
                                  .compress = compress, .pattern = pattern };
        return c;
}

/* Both directions of one configuration: a session. */
static void add_pair(struct bench *b, enum bench_kind kind, const char *sweep, uint32_t chunk, uint64_t window,
                     enum compress_mode compress, uint32_t pattern) {
        for (int d = 0; d < 2; d++)
                if (b->dir[d])
                        add_cell(b, kind, (enum bench_dir)d, sweep, chunk, window, compress, pattern);
}

static int plan(struct bench *b) {
        size_t max = 2 * (1 + b->nchunks + b->nwindows + 3);
        b->rep.cells = calloc(max, sizeof *b->rep.cells);
        if (!b->rep.cells)
                return -ENOMEM;
        add_pair(b, BENCH_RAW, "raw", b->base_chunk, b->base_window, COMPRESS_OFF, FY_BENCH_RANDOM);
        for (size_t i = 0; i < b->nchunks; i++)
                add_pair(b, BENCH_E2E, "chunk", b->chunks[i], MAX(b->base_window, (uint64_t)b->chunks[i]),
                         COMPRESS_OFF, FY_BENCH_RANDOM);
        for (size_t i = 0; i < b->nwindows; i++)
                add_pair(b, BENCH_E2E, "window", b->base_chunk, MAX(b->windows[i], (uint64_t)b->base_chunk),
                         COMPRESS_OFF, FY_BENCH_RANDOM);
        if (b->data_cells) {
                add_pair(b, BENCH_E2E, "data", b->base_chunk, b->base_window, COMPRESS_AUTO, FY_BENCH_RANDOM);
                add_pair(b, BENCH_E2E, "data", b->base_chunk, b->base_window, COMPRESS_OFF, FY_BENCH_TEXT);
                add_pair(b, BENCH_E2E, "data", b->base_chunk, b->base_window, COMPRESS_AUTO, FY_BENCH_TEXT);
        }
        return 0;
}

/* Cells of one configuration run in one session: push, then pull. */
static int run_all(struct bench *b) {
        int ret = EXIT_OK;
        bool *done = calloc(b->rep.ncells, sizeof *done);
        if (!done)
                return EXIT_FAILED;
        for (size_t i = 0; i < b->rep.ncells; i++) {
                if (done[i])
                        continue;
                struct bench_cell *c = &b->rep.cells[i];
                struct run run = { .b = b };
                int r = c->kind == BENCH_E2E ? make_source(b, c->pattern) : 0;
                if (r < 0) {
                        fprintf(stderr, "ferry: bench: cannot make a source file in %s: %s\n", b->tmpdir, strerror(-r));
                        ret = EXIT_FAILED;
                        break;
                }
                for (size_t j = i; j < b->rep.ncells; j++) {
                        struct bench_cell *o = &b->rep.cells[j];
                        if (done[j] || o->kind != c->kind || o->chunk != c->chunk || o->window != c->window ||
                            o->compress != c->compress || o->pattern != c->pattern)
                                continue;
                        done[j] = true;
                        if (o->kind == BENCH_E2E && o->dir == BENCH_PULL && run.nph == 0)
                                run.ph[run.nph++].seed = true, run.ph[run.nph - 1].cell = o; /* its file first */
                        run.ph[run.nph].cell = o;
                        run.ph[run.nph++].measured = true;
                }
                r = run_session(b, &run);
                /* The pulled copy goes; the next configuration pulls its own. */
                char path[PATH_MAX + 32];
                snprintf(path, sizeof path, "%s/%s", b->back, BENCH_FILE);
                (void)unlink(path);
                for (unsigned k = 0; k < run.nph && log_get_level() >= LOG_INFO; k++) {
                        const struct bench_cell *x = run.ph[k].cell;
                        char cs[32], ws[32];
                        if (run.ph[k].measured)
                                fprintf(stderr, "%sferry: bench: %s %s chunk %s window %s %s/%s: %.1f MB/s%s%s\n",
                                        b->progress ? "\r\033[K" : "", x->kind == BENCH_RAW ? "raw" : "e2e",
                                        bench_dir_name(x->dir), bench_size_name(x->chunk, cs), bench_size_name(x->window, ws),
                                        bench_compress_name(x->compress), bench_pattern_name(x->pattern), bench_mb_per_s(x),
                                        x->err ? ": " : "", x->err ? x->text : "");
                }
                ret = MAX(ret, r);
                /* Nothing more will go better: ferryd cannot be reached, has
                 * no bench mode, or we were stopped. */
                if (r == EXIT_CONNECT || run.cancelled || (r == EXIT_FAILED && !c->ran))
                        break;
        }
        for (size_t i = 0; i < b->rep.ncells; i++)
                if (b->rep.cells[i].kind == BENCH_RAW && !b->rep.cells[i].err && b->rep.cells[i].ran)
                        b->rep.raw[b->rep.cells[i].dir] = bench_mb_per_s(&b->rep.cells[i]);
        for (size_t i = 0; i < b->rep.ncells; i++) {
                struct bench_cell *x = &b->rep.cells[i];
                /* A raw pull's chunk is ferryd's choice, seen only in its
                 * DATA: bytes per chunk (a file smaller than a chunk is one). */
                if (!x->chunk_used && x->chunks)
                        x->chunk_used = (uint32_t)MIN((x->bytes + x->chunks - 1) / x->chunks, (uint64_t)x->chunk);
                if (x->err && ret == EXIT_OK)
                        ret = EXIT_FAILED;
        }
        free(done);
        return ret;
}

/* ---- command line -------------------------------------------------------- */

static int size_list(const char *opt, const char *arg, uint64_t min, uint64_t max, uint64_t *out, size_t *n) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", arg);
        *n = 0;
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                uint64_t v;
                if (*n == BENCH_MAX_LIST)
                        return usage_error("bench", "%s: at most %d sizes", opt, BENCH_MAX_LIST);
                if (parse_size(tok, &v) < 0 || v < min || v > max)
                        return usage_error("bench", "%s: invalid size '%s' (from %llu to %llu; k/M/G suffixes)", opt, tok,
                                           (unsigned long long)min, (unsigned long long)max);
                out[(*n)++] = v;
        }
        return 0;
}

static int parse(struct bench *b, int argc, char **argv) {
        enum { OPT_SIZE = 256, OPT_DURATION, OPT_DIRECTIONS, OPT_CHUNKS, OPT_WINDOWS, OPT_NO_DATA, OPT_JSON, OPT_SVG,
               OPT_TMPDIR, OPT_TIMEOUT, OPT_NO_URING, OPT_DOMAIN };
        static const struct option opts[] = {
                { "to", required_argument, NULL, 't' },
                { "domain", required_argument, NULL, OPT_DOMAIN },
                { "connect", required_argument, NULL, 'c' },
                { "size", required_argument, NULL, OPT_SIZE },
                { "duration", required_argument, NULL, OPT_DURATION },
                { "directions", required_argument, NULL, OPT_DIRECTIONS },
                { "chunks", required_argument, NULL, OPT_CHUNKS },
                { "windows", required_argument, NULL, OPT_WINDOWS },
                { "no-data", no_argument, NULL, OPT_NO_DATA },
                { "json", no_argument, NULL, OPT_JSON },
                { "svg", required_argument, NULL, OPT_SVG },
                { "tmpdir", required_argument, NULL, OPT_TMPDIR },
                { "timeout", required_argument, NULL, OPT_TIMEOUT },
                { "no-io-uring", no_argument, NULL, OPT_NO_URING },
                { "verbose", no_argument, NULL, 'v' },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *target = NULL;
        int c, level = LOG_WARN, progress = -1;
        uint64_t v, list[BENCH_MAX_LIST];
        size_t n;
        char *end;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":t:c:vqh", opts, NULL)) >= 0) {
                switch (c) {
                case 't': target = optarg; break;
                case OPT_DOMAIN: b->domain = optarg; break;
                case 'c': b->uri = optarg; break;
                case OPT_SIZE:
                        if (parse_size(optarg, &v) < 0 || v < 1 || v > (1ull << 40))
                                return usage_error("bench", "--size: invalid value '%s' (1 to 1T; k/M/G suffixes)", optarg);
                        b->size = v;
                        break;
                case OPT_DURATION:
                        errno = 0;
                        b->duration_s = strtod(optarg, &end);
                        if (errno || end == optarg || *end || !(b->duration_s >= 0 && b->duration_s <= 3600))
                                return usage_error("bench", "--duration: invalid value '%s' (seconds, 0 to 3600)", optarg);
                        break;
                case OPT_DIRECTIONS:
                        if (!strcmp(optarg, "push") || !strcmp(optarg, "pull") || !strcmp(optarg, "both")) {
                                b->dir[BENCH_PUSH] = strcmp(optarg, "pull") != 0;
                                b->dir[BENCH_PULL] = strcmp(optarg, "push") != 0;
                        } else {
                                return usage_error("bench", "--directions: '%s' is not push, pull or both", optarg);
                        }
                        break;
                case OPT_CHUNKS:
                        if (size_list("--chunks", optarg, FY_MIN_CHUNK, FY_MAX_CHUNK, list, &n))
                                return EXIT_USAGE;
                        for (size_t i = 0; i < n; i++)
                                b->chunks[i] = (uint32_t)list[i];
                        b->nchunks = n;
                        break;
                case OPT_WINDOWS:
                        if (size_list("--windows", optarg, FY_MIN_CHUNK, 1ull << 32, b->windows, &b->nwindows))
                                return EXIT_USAGE;
                        break;
                case OPT_NO_DATA: b->data_cells = false; break;
                case OPT_JSON: b->json = true; break;
                case OPT_SVG: b->svg = optarg; break;
                case OPT_TMPDIR: b->tmpbase = optarg; break;
                case OPT_TIMEOUT:
                        if (parse_size(optarg, &v) < 0 || v < 1 || v > 86400)
                                return usage_error("bench", "--timeout: invalid value '%s' (1 to 86400)", optarg);
                        b->timeout_s = (int)v;
                        break;
                case OPT_NO_URING: b->force_psync = true; break;
                case 'v': level = LOG_INFO + (level >= LOG_INFO); break;
                case 'q': level = LOG_ERR; progress = 0; break;
                case 'h': help(); exit(EXIT_OK);
                case ':': return usage_error("bench", "option '%s' needs a value", argv[optind - 1]);
                default:
                        if (optopt)
                                return usage_error("bench", "unknown option '-%c'", optopt);
                        return usage_error("bench", "unknown option '%s'", argv[optind - 1]);
                }
        }
        log_init("ferry", level);
        if (optind < argc)
                return usage_error("bench", "unexpected argument '%s'", argv[optind]);
        if (target && b->domain)
                return usage_error("bench", "--to and --domain name the guest twice: use one");
        if (b->uri && !b->domain)
                return usage_error("bench", "-c goes with --domain");
        if (!target && !b->domain)
                target = getenv("FERRY_TARGET");
        if (!target && !b->domain)
                return usage_error("bench", "no target: use --to TARGET, --domain NAME, or set FERRY_TARGET");
        if (target) {
                if (target_parse(target, &b->target) < 0)
                        return usage_error("bench", "'%s' is not a target (vsock:CID:PORT, serial:PATH, fc:PATH:PORT, "
                                           "unix:PATH, tcp:HOST:PORT)", target);
                if (b->target.kind == TARGET_VSOCK && b->target.cid == VSOCK_CID_ANY)
                        return usage_error("bench", "'%s': the guest CID is missing (vsock:CID:PORT)", target);
        }
        /* The sweeps around 1M chunks and an 8M window, ferry's defaults,
         * or the nearest the lists hold. */
        b->base_chunk = SESSION_DEFAULT_CHUNK;
        b->base_window = SESSION_DEFAULT_WINDOW;
        b->progress = progress == 1 || (progress < 0 && !b->json && isatty(STDERR_FILENO));
        if (log_get_level() >= LOG_INFO)
                b->progress = false;
        return 0;
}

static int make_tmpdir(struct bench *b) {
        const char *base = b->tmpbase ? b->tmpbase : getenv("TMPDIR");
        if (!base || !*base)
                base = "/var/tmp";
        if (snprintf(b->tmpdir, sizeof b->tmpdir, "%s/ferry-bench.XXXXXX", base) >= (int)sizeof b->tmpdir)
                return -ENAMETOOLONG;
        if (!mkdtemp(b->tmpdir)) {
                int r = -errno;
                b->tmpdir[0] = 0;
                return r;
        }
        snprintf(b->back, sizeof b->back, "%s/back", b->tmpdir);
        if (mkdir(b->back, 0700) < 0)
                return -errno;
        return 0;
}

int cmd_bench(int argc, char **argv) {
        struct bench b = {
                .size = BENCH_DEFAULT_SIZE,
                .duration_s = BENCH_DEFAULT_DURATION,
                .dir = { true, true },
                .timeout_s = 30,
                .chunks = { 64u << 10, 256u << 10, 1u << 20, 4u << 20 },
                .nchunks = 4,
                .windows = { 2u << 20, 8u << 20, 32u << 20 },
                .nwindows = 3,
                .data_cells = true,
                .stop_fd = -1,
        };
        signal(SIGPIPE, SIG_IGN);
        int r = parse(&b, argc, argv);
        if (r)
                return r;
        if (b.domain) {
                struct domain_conn *dc;
                char err[1024];
                struct domain_opts o = { 0 };
                if ((r = domain_open(b.uri, false, &dc, err, sizeof err)) < 0) {
                        fprintf(stderr, "ferry: %s: %s\n", b.domain, err);
                        return r == -EOPNOTSUPP ? EXIT_USAGE : EXIT_CONNECT;
                }
                r = domain_target(dc, b.domain, &o, &b.target, err, sizeof err);
                domain_close(dc);
                if (r < 0) {
                        fprintf(stderr, "ferry: %s\n", err);
                        return EXIT_CONNECT;
                }
        }
        target_format(&b.target, b.rep.target, sizeof b.rep.target);
        b.rep.size = b.size;
        b.rep.duration_s = b.duration_s;
        b.rep.dir[0] = b.dir[0];
        b.rep.dir[1] = b.dir[1];
        if ((r = plan(&b)) < 0 || (r = make_tmpdir(&b)) < 0) {
                fprintf(stderr, "ferry: bench: %s%s%s\n", b.tmpdir[0] ? b.tmpdir : "", b.tmpdir[0] ? ": " : "",
                        strerror(-r));
                remove_tmpdir(&b);
                free(b.rep.cells);
                return EXIT_FAILED;
        }
        b.stop_fd = stop_signal_fd(); /* sessions poll it: a ^C still cleans up */
        int ret = run_all(&b);
        if (b.progress)
                fprintf(stderr, "\r\033[K");
        remove_tmpdir(&b);
        safe_close(b.stop_fd);
        bool measured = false;
        for (size_t i = 0; i < b.rep.ncells; i++)
                measured |= b.rep.cells[i].ran;
        if (measured) {
                if (b.json)
                        bench_print_json(&b.rep, stdout);
                else
                        bench_print_table(&b.rep, stdout);
                fflush(stdout);
        }
        if (measured && b.svg) {
                FILE *f = fopen(b.svg, "we");
                r = f ? bench_svg(&b.rep, f) : -errno;
                if (f && fclose(f) != 0 && r == 0)
                        r = -errno;
                if (r < 0) {
                        fprintf(stderr, "ferry: bench: %s: %s\n", b.svg, strerror(-r));
                        ret = MAX(ret, EXIT_FAILED);
                }
        }
        free(b.rep.cells);
        return ret;
}
