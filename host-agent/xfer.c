/* SPDX-License-Identifier: MIT */
/*
 * ferry push / ferry pull: parse the command line, connect, queue every
 * file on one session, and report each file's outcome.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "base/log.h"
#include "progress.h"
#include "report.h"
#include "session/session.h"
#include "transport/transport.h"
#include "base/util.h"
#include "base/version.h"

struct job {
        const char *op; /* "push" or "pull" */
        bool push;
        struct target target;
        char target_name[256];
        bool json;
        int progress;   /* -1: auto (stderr is a TTY) */
        unsigned retries; /* reconnects after a transport loss */
        int timeout_s;
        struct session_config cfg;
        size_t n;
        struct job_item *items;
        const char *dest;   /* REMOTE_DEST (push) or LOCAL_DEST (pull) */
        uint32_t dest_flags;
        struct progress prog;
        bool uring;
        int uring_why;
        uint64_t bytes_sent; /* file bytes moved, over every connection */
        char entry_path[FY_MAX_PATH + 1]; /* recv_target's answer for a pulled tree's entry */
};

static void help(bool push) {
        if (push)
                printf("Usage: ferry push [--to TARGET] [OPTIONS] LOCAL... REMOTE_DEST\n"
                       "\n"
                       "Copies files and directory trees into the guest.  REMOTE_DEST is inside\n"
                       "ferryd's root; with a trailing '/', several sources, or when it is an\n"
                       "existing directory, files go into it under their own names.  A directory\n"
                       "DIR goes in as REMOTE_DEST/DIR, DIR/ puts its contents into REMOTE_DEST\n"
                       "(rsync's rule); modes, mtimes, symlinks and holes are kept.\n");
        else
                printf("Usage: ferry pull [--from TARGET] [OPTIONS] REMOTE_PATH... LOCAL_DEST\n"
                       "\n"
                       "Copies files and directory trees out of the guest.  REMOTE_PATHs are\n"
                       "inside ferryd's root; with a trailing '/', several files, or when\n"
                       "LOCAL_DEST is an existing directory, files go into it under their own\n"
                       "names.  A directory DIR arrives as LOCAL_DEST/DIR, DIR/ fills LOCAL_DEST\n"
                       "(rsync's rule); modes, mtimes, symlinks and holes are kept.\n");
        printf("\n"
               "Every chunk carries an XXH3-64 digest and every file an XXH3-128 digest;\n"
               "a file appears at its destination name only once it is complete, synced\n"
               "and verified.\n"
               "\n"
               "Rerunning an interrupted command resumes it: files the destination has\n"
               "complete (same size and mtime, and the digest ferry recorded with them)\n"
               "are skipped, and a partly received file continues after its verified part.\n"
               "\n"
               "Targets (or $FERRY_TARGET):\n"
               "  vsock:CID:PORT     AF_VSOCK to guest CID\n"
               "  serial:PATH        the Unix socket of a QEMU chardev behind a virtserialport\n"
               "  fc:PATH:PORT       Firecracker / Cloud Hypervisor hybrid vsock socket\n"
               "  unix:PATH          a Unix socket\n"
               "  tcp:HOST:PORT      TCP (numeric HOST or localhost)\n"
               "\n"
               "Options:\n"
               "  -t, --%s TARGET     where ferryd is\n"
               "      --json           one JSON object per file on stdout (telemetry)\n"
               "      --progress       progress line on stderr (default: when it is a TTY)\n"
               "      --no-progress    no progress line\n"
               "      --chunk-size SIZE  bytes per chunk (default 1M, 4k..4M; k/M/G suffixes)\n"
               "      --window SIZE    bytes ferryd may have in flight to us on pull (default 8M)\n"
               "      --depth N        file buffers, i.e. file I/O in flight (default 8)\n"
               "      --timeout SEC    give up when ferryd is silent this long (default 30)\n"
               "      --retry N        reconnect up to N times when the connection is lost,\n"
               "                       backing off from 0.5 s; transfers resume (3)\n"
               "      --no-resume      send everything: skip nothing, continue nothing\n"
               "      --checksum       skip a file only when its content digest matches the\n"
               "                       destination's (reads both), not by size and mtime\n"
               "      --max-rate RATE  at most RATE bytes/s (k/M/G); ferryd's own limit\n"
               "                       applies too, the lower one wins\n"
               "      --no-io-uring    use pread/pwrite (also: FERRY_NO_IO_URING=1)\n"
               "  -v, --verbose        a summary line per file on stderr\n"
               "  -q, --quiet          no progress, errors only\n"
               "  -h, --help           this text\n"
               "\n"
               "Exit status: 0 all files verified, 1 a file failed, 2 usage error,\n"
               "3 cannot connect, 4 session broke, 5 data corrupted.\n",
               push ? "to  " : "from");
}

static const char *base_name(const char *path) {
        size_t len = strlen(path);
        while (len > 1 && path[len - 1] == '/')
                len--;
        const char *end = path + len, *p = end;
        while (p > path && p[-1] != '/')
                p--;
        static char buf[FY_MAX_NAME + 1]; /* one caller at a time: argv setup */
        size_t n = MIN((size_t)(end - p), (size_t)FY_MAX_NAME);
        memcpy(buf, p, n);
        buf[n] = 0;
        return buf;
}

static struct job_item *item_by_id(struct job *j, uint32_t id) {
        for (size_t i = 0; i < j->n; i++)
                if (j->items[i].xfer_id == id)
                        return &j->items[i];
        return NULL;
}

static void on_done(void *ud, const struct file_result *res) {
        struct job *j = ud;
        if (res->kind == ENTRY_FILE)
                j->bytes_sent += res->stats.bytes;
        if (res->group) {
                /* An entry of a tree: files count toward progress; failures
                 * are named one by one; --json has a line per file. */
                progress_file_done(&j->prog, res->size);
                progress_clear(&j->prog);
                if (res->err || (j->json && res->kind == ENTRY_FILE))
                        report_result(j->op, res->src, res->dest, res, j->json && res->kind == ENTRY_FILE, false,
                                      j->target.kind, j->uring);
                return;
        }
        struct job_item *it = item_by_id(j, res->xfer_id);
        if (!it)
                return;
        it->res = *res;
        if (res->skipped && !j->push) {
                it->res.size = it->res.stats.bytes_skipped = it->size_hint;
        }
        it->done = true;
        progress_update(&j->prog, j->push ? it->local : it->remote, res->size, res->size, true);
        progress_file_done(&j->prog, res->size);
        progress_clear(&j->prog);
        report_item(j->op, it, j->json, log_get_level() >= LOG_INFO, j->target.kind, j->uring);
}

static void on_progress(void *ud, uint32_t id, uint64_t bytes, uint64_t total) {
        struct job *j = ud;
        struct job_item *it = item_by_id(j, id);
        progress_update(&j->prog, it ? (j->push ? it->local : it->remote) : "(tree)", bytes, total, false);
}

static int recv_target(void *ud, const struct fy_file_begin *b, const char **ret_dest, const char **ret_name,
                       uint32_t *ret_flags) {
        struct job *j = ud;
        struct job_item *it = item_by_id(j, b->xfer_id);
        if (!it || j->push)
                return -ENOENT;
        if (b->flags & FY_ENTRY_REL) {
                /* An entry of a pulled tree, named "." or "./PATH" below it.
                 * rsync's rule: "dir/" fills LOCAL_DEST, "dir" arrives as
                 * LOCAL_DEST/dir (LOCAL_DEST made if missing, one level). */
                size_t rl = strlen(it->remote);
                bool contents = rl > 1 && it->remote[rl - 1] == '/';
                const char *rel = b->dest;
                if (strcmp(rel, ".") && strncmp(rel, "./", 2))
                        return -EINVAL;
                rel = rel[1] ? rel + 2 : "";
                if (!contents && mkdir(j->dest, 0755) < 0 && errno != EEXIST)
                        return -errno;
                int n = contents ? snprintf(j->entry_path, sizeof j->entry_path, "%s%s%s", j->dest, *rel ? "/" : "", rel)
                                 : snprintf(j->entry_path, sizeof j->entry_path, "%s/%s%s%s", j->dest, it->name,
                                            *rel ? "/" : "", rel);
                if (n >= (int)sizeof j->entry_path)
                        return -ENAMETOOLONG;
                *ret_dest = j->entry_path;
                *ret_name = "";
                *ret_flags = 0;
                return 0;
        }
        *ret_dest = j->dest;
        *ret_name = it->name;
        *ret_flags = j->dest_flags;
        it->size_hint = b->size; /* a skipped file's size: its FILE_BEGIN never comes */
        return 0;
}

static const struct session_ops ops = {
        .file_done = on_done,
        .progress = on_progress,
        .recv_target = recv_target,
};

static int size_arg(const char *cmd, const char *opt, const char *arg, uint64_t min, uint64_t max, uint64_t *ret) {
        int r = parse_size(arg, ret);
        if (r < 0 || *ret < min || *ret > max)
                return usage_error(cmd, "%s: invalid value '%s' (from %llu to %llu; k/M/G suffixes)", opt, arg,
                                   (unsigned long long)min, (unsigned long long)max);
        return 0;
}

static int parse(struct job *j, int argc, char **argv) {
        enum { OPT_JSON = 256, OPT_PROGRESS, OPT_NO_PROGRESS, OPT_CHUNK, OPT_WINDOW, OPT_DEPTH, OPT_TIMEOUT, OPT_NO_URING,
               OPT_MAX_RATE, OPT_RETRY, OPT_NO_RESUME, OPT_CHECKSUM };
        const struct option opts[] = {
                { j->push ? "to" : "from", required_argument, NULL, 't' },
                { "json", no_argument, NULL, OPT_JSON },
                { "progress", no_argument, NULL, OPT_PROGRESS },
                { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
                { "chunk-size", required_argument, NULL, OPT_CHUNK },
                { "window", required_argument, NULL, OPT_WINDOW },
                { "depth", required_argument, NULL, OPT_DEPTH },
                { "timeout", required_argument, NULL, OPT_TIMEOUT },
                { "no-io-uring", no_argument, NULL, OPT_NO_URING },
                { "max-rate", required_argument, NULL, OPT_MAX_RATE },
                { "retry", required_argument, NULL, OPT_RETRY },
                { "no-resume", no_argument, NULL, OPT_NO_RESUME },
                { "checksum", no_argument, NULL, OPT_CHECKSUM },
                { "verbose", no_argument, NULL, 'v' },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *target = getenv("FERRY_TARGET");
        int c, level = LOG_WARN;
        uint64_t v;
        j->progress = -1;
        j->timeout_s = 30;
        j->retries = 3;
        opterr = 0; /* one specific line of our own instead of getopt's */
        while ((c = getopt_long(argc, argv, ":t:vqh", opts, NULL)) >= 0) {
                switch (c) {
                case 't': target = optarg; break;
                case OPT_JSON: j->json = true; break;
                case OPT_PROGRESS: j->progress = 1; break;
                case OPT_NO_PROGRESS: j->progress = 0; break;
                case OPT_CHUNK:
                        if (size_arg(j->op, "--chunk-size", optarg, FY_MIN_CHUNK, FY_MAX_CHUNK, &v))
                                return EXIT_USAGE;
                        j->cfg.chunk_size = j->cfg.max_chunk = (uint32_t)v;
                        break;
                case OPT_WINDOW:
                        if (size_arg(j->op, "--window", optarg, FY_MIN_CHUNK, 1ull << 32, &v))
                                return EXIT_USAGE;
                        j->cfg.recv_window = v;
                        break;
                case OPT_DEPTH:
                        if (size_arg(j->op, "--depth", optarg, 2, SESSION_MAX_DEPTH, &v))
                                return EXIT_USAGE;
                        j->cfg.depth = (unsigned)v;
                        break;
                case OPT_TIMEOUT:
                        if (size_arg(j->op, "--timeout", optarg, 1, 86400, &v))
                                return EXIT_USAGE;
                        j->timeout_s = (int)v;
                        break;
                case OPT_NO_URING: j->cfg.force_psync = true; break;
                case OPT_NO_RESUME: j->cfg.resume = false; break;
                case OPT_CHECKSUM: j->cfg.checksum = true; break;
                case OPT_RETRY:
                        if (size_arg(j->op, "--retry", optarg, 0, 100, &v))
                                return EXIT_USAGE;
                        j->retries = (unsigned)v;
                        break;
                case OPT_MAX_RATE:
                        if (size_arg(j->op, "--max-rate", optarg, 4096, 1ull << 40, &v))
                                return EXIT_USAGE;
                        j->cfg.max_rate = v;
                        break;
                case 'v': level = LOG_INFO + (level >= LOG_INFO); break;
                case 'q': level = LOG_ERR; j->progress = 0; break;
                case 'h': help(j->push); exit(EXIT_OK);
                case ':': return usage_error(j->op, "option '%s' needs a value", argv[optind - 1]);
                default:
                        if (optopt)
                                return usage_error(j->op, "unknown option '-%c'", optopt);
                        return usage_error(j->op, "unknown option '%s'", argv[optind - 1]);
                }
        }
        log_init("ferry", level);
        if (!target)
                return usage_error(j->op, "no target: use --%s TARGET or set FERRY_TARGET", j->push ? "to" : "from");
        int r = target_parse(target, &j->target);
        if (r < 0)
                return usage_error(j->op, "'%s' is not a target (vsock:CID:PORT, serial:PATH, fc:PATH:PORT, unix:PATH, tcp:HOST:PORT)", target);
        target_format(&j->target, j->target_name, sizeof j->target_name);
        if (j->target.kind == TARGET_VSOCK && j->target.cid == VSOCK_CID_ANY)
                return usage_error(j->op, "'%s': the guest CID is missing (vsock:CID:PORT)", target);
        if (argc - optind < 2)
                return usage_error(j->op, "need at least one source and a destination");
        if (j->cfg.recv_window < j->cfg.max_chunk)
                j->cfg.recv_window = j->cfg.max_chunk;

        j->n = (size_t)(argc - optind - 1);
        j->dest = argv[argc - 1];
        if (!j->dest[0])
                return usage_error(j->op, "the destination is empty");
        j->items = calloc(j->n, sizeof *j->items);
        if (!j->items)
                return EXIT_FAILED;
        size_t dlen = strlen(j->dest);
        bool into_dir = j->n > 1 || (dlen > 0 && j->dest[dlen - 1] == '/');
        if (!j->push) {
                struct stat st;
                if (stat(j->dest, &st) == 0 && S_ISDIR(st.st_mode))
                        into_dir = true;
                else if (into_dir)
                        return usage_error(j->op, "'%s': not an existing directory", j->dest);
        }
        j->dest_flags = into_dir ? FY_FB_DEST_IS_DIR : FY_FB_DEST_MAYBE_DIR;

        for (size_t i = 0; i < j->n; i++) {
                struct job_item *it = &j->items[i];
                const char *src = argv[optind + (int)i];
                if (j->push) {
                        it->local = src;
                        it->remote = j->dest;
                } else {
                        it->remote = src;
                        it->local = j->dest;
                }
                snprintf(it->name, sizeof it->name, "%s", base_name(src));
                if (!it->name[0] || !strcmp(it->name, "/") || !strcmp(it->name, ".") || !strcmp(it->name, ".."))
                        return usage_error(j->op, "'%s': not a file name", src);
        }
        return 0;
}

/* Queue every item that has no verdict yet on session s. */
static void queue_items(struct job *j, struct session *s, uint64_t *ret_total, bool *ret_trees) {
        uint64_t total = 0;
        bool trees = false;
        for (size_t i = 0; i < j->n; i++) {
                struct job_item *it = &j->items[i];
                if (it->done)
                        continue;
                struct stat st;
                int r;
                /* stat, not lstat: a symlink named on the command line is
                 * followed, as by cp and scp (inside a tree, links are sent
                 * as links). */
                if (j->push && stat(it->local, &st) == 0 && S_ISDIR(st.st_mode)) {
                        /* rsync's rule: "dir/" sends the contents into DEST,
                         * "dir" sends the directory itself, as DEST/dir. */
                        char base[FY_MAX_PATH + 1];
                        size_t sl = strlen(it->local);
                        bool contents = sl > 0 && it->local[sl - 1] == '/';
                        int n = contents ? snprintf(base, sizeof base, "%s", j->dest)
                                         : snprintf(base, sizeof base, "%s%s%s", j->dest,
                                                    j->dest[strlen(j->dest) - 1] == '/' ? "" : "/", it->name);
                        r = n >= (int)sizeof base ? -ENAMETOOLONG
                                                  : session_push_tree(s, it->local, base, !contents, &it->xfer_id);
                        trees = true;
                } else if (j->push) {
                        if (stat(it->local, &st) == 0)
                                total += (uint64_t)st.st_size;
                        r = session_push(s, it->local, j->dest, it->name, j->dest_flags, &it->xfer_id);
                } else {
                        r = session_pull(s, it->remote, &it->xfer_id);
                }
                if (r < 0) {
                        it->done = true;
                        it->res = (struct file_result){ .err = r };
                        snprintf(it->res.text, sizeof it->res.text, "%s", path_strerror(r));
                        report_item(j->op, it, j->json, false, j->target.kind, j->uring);
                }
        }
        *ret_total = total;
        *ret_trees = trees;
}

/* A session that ended this way is worth another connection: the
 * transport went away (a guest rebooting, a host-side proxy restarted),
 * not the peer saying no. */
static bool retryable(int r) {
        return r == -ECONNRESET || r == -EPIPE || r == -ETIMEDOUT || r == -ECONNREFUSED || r == -ENOENT ||
               r == -ECONNABORTED;
}

/* One connection, one session, every item still without a verdict.
 * *ret_err: the session's error (0 if it ended cleanly). */
static int run_once(struct job *j, bool first, int *ret_err, char *errbuf, size_t errlen) {
        int fd = -EBADF;
        *ret_err = 0;
        int r = target_connect(&j->target, j->timeout_s * 1000, &fd);
        if (r < 0) {
                *ret_err = r;
                snprintf(errbuf, errlen, "cannot connect to %s: %s", j->target_name, strerror(-r));
                if (first)
                        fprintf(stderr, "ferry: %s: %s\n", j->op, errbuf);
                return EXIT_CONNECT;
        }
        struct session *s;
        r = session_new(&j->cfg, fd, &s);
        if (r < 0) {
                safe_close(fd);
                fprintf(stderr, "ferry: %s: %s\n", j->op, strerror(-r));
                return EXIT_FAILED;
        }
        int ret = EXIT_OK;
        r = session_handshake(s);
        if (r < 0) {
                *ret_err = r;
                snprintf(errbuf, errlen, "%s: %s", j->target_name, session_error(s));
                if (first)
                        fprintf(stderr, "ferry: %s: %s\n", j->op, errbuf);
                ret = EXIT_CONNECT;
                goto out;
        }
        j->uring = session_uses_uring(s, &j->uring_why);
        if (first && !j->uring && j->uring_why)
                log_warn("io_uring unavailable (%s): file I/O uses pread/pwrite", strerror(-j->uring_why));

        uint64_t total;
        bool trees;
        queue_items(j, s, &total, &trees);
        progress_init(&j->prog, j->progress == 1 || (j->progress < 0 && !j->json && isatty(STDERR_FILENO)),
                      trees ? 0 : total); /* a tree's size is not known up front */
        r = session_run(s);
        progress_clear(&j->prog);
        if (r < 0) {
                *ret_err = r;
                snprintf(errbuf, errlen, "%s", session_error(s) ? session_error(s) : strerror(-r));
                ret = EXIT_SESSION;
        }
out:
        session_free(s);
        safe_close(fd);
        return ret;
}

/* The run's summary: trees count as their last walk saw them (a file sent
 * before a reconnect counts as skipped by the walk after it). */
static void summarize(struct job *j, uint64_t ns) {
        struct run_summary m = { .bytes_sent = j->bytes_sent, .seconds = (double)ns / 1e9 };
        for (size_t i = 0; i < j->n; i++) {
                const struct file_result *r = &j->items[i].res;
                if (r->kind == ENTRY_TREE) {
                        m.files += r->files + r->failed;
                        m.skipped += r->skipped_files;
                        m.done += r->files - MIN(r->files, r->skipped_files);
                        m.failed += r->failed + (r->err && !r->failed); /* a tree that failed whole */
                } else {
                        m.files++;
                        m.failed += r->err != 0;
                        m.skipped += !r->err && r->skipped;
                        m.done += !r->err && !r->skipped;
                }
                m.bytes_skipped += r->stats.bytes_skipped;
                m.bytes_resent += r->stats.bytes_resent;
        }
        if (j->n > 1 || j->json || m.skipped || m.bytes_skipped || log_get_level() >= LOG_INFO)
                report_summary(j->op, &m, j->json, log_get_level() >= LOG_INFO);
}

static int run(struct job *j) {
        struct fsroot root;
        (void)fsroot_open(NULL, false, &root);
        j->cfg.root = &root;
        j->cfg.ops = &ops;
        j->cfg.userdata = j;
        j->cfg.timeout_ms = j->timeout_s * 1000;
        j->cfg.stop_fd = stop_signal_fd();
        j->cfg.resync_padding = j->target.kind == TARGET_SERIAL;

        char err[600] = "";
        int r = 0, ret = EXIT_OK;
        uint64_t t0 = now_ns();
        for (unsigned attempt = 0;; attempt++) {
                ret = run_once(j, attempt == 0, &r, err, sizeof err);
                if (ret == EXIT_CONNECT && attempt == 0)
                        goto out; /* never reached ferryd: nothing to go back to */
                if (r == 0 || !retryable(r) || attempt >= j->retries)
                        break;
                /* Back off 0.5, 1, 2 ... s; files without a verdict go again,
                 * resuming where the receiver's journal says (unless
                 * --no-resume). */
                unsigned ms = 500u << MIN(attempt, 4u);
                fprintf(stderr, "ferry: %s: %s; retrying in %.1f s (%u of %u)\n", j->op, err, ms / 1000.0,
                        attempt + 1, j->retries);
                struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
                nanosleep(&ts, NULL);
        }
        if (r < 0) {
                /* Every file without a verdict failed with the session; if
                 * none was left, the session's end still needs saying. */
                bool named = false;
                for (size_t i = 0; i < j->n; i++)
                        named |= !j->items[i].done;
                if (!named)
                        fprintf(stderr, "ferry: %s: %s\n", j->op, err);
                for (size_t i = 0; i < j->n; i++) {
                        struct job_item *it = &j->items[i];
                        if (it->done)
                                continue;
                        it->done = true;
                        it->res = (struct file_result){ .xfer_id = it->xfer_id, .err = r };
                        snprintf(it->res.text, sizeof it->res.text, "%s", err);
                        report_item(j->op, it, j->json, false, j->target.kind, j->uring);
                }
                ret = ret == EXIT_OK ? EXIT_SESSION : ret;
                if (ret == EXIT_CONNECT)
                        ret = EXIT_SESSION; /* a session had started: it is the session that broke */
        }
        for (size_t i = 0; i < j->n && ret != EXIT_SESSION; i++) {
                int e = j->items[i].res.err;
                if (e == -EBADMSG)
                        ret = EXIT_CORRUPT;
                else if (e && ret == EXIT_OK)
                        ret = EXIT_FAILED;
        }
        summarize(j, now_ns() - t0);
out:
        safe_close(j->cfg.stop_fd);
        return ret;
}

static int cmd_xfer(bool push, int argc, char **argv) {
        struct job j = {
                .op = push ? "push" : "pull",
                .push = push,
                .cfg = {
                        .initiator = true,
                        .agent = "ferry/" FERRY_VERSION,
                        .chunk_size = SESSION_DEFAULT_CHUNK,
                        .max_chunk = SESSION_DEFAULT_CHUNK,
                        .recv_window = SESSION_DEFAULT_WINDOW,
                        .depth = SESSION_DEFAULT_DEPTH,
                        .resume = true,
                },
        };
        signal(SIGPIPE, SIG_IGN);
        int r = parse(&j, argc, argv);
        if (r == 0)
                r = run(&j);
        free(j.items);
        return r;
}

int cmd_push(int argc, char **argv) { return cmd_xfer(true, argc, argv); }
int cmd_pull(int argc, char **argv) { return cmd_xfer(false, argc, argv); }
