/* SPDX-License-Identifier: MIT */
/*
 * ferry push / ferry pull: parse the command line, connect, queue every
 * file on one session, and report each file's outcome.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "base/log.h"
#include "budget/share.h"
#include "domain.h"
#include "fanout.h"
#include "progress.h"
#include "report.h"
#include "session/compress.h"
#include "session/session.h"
#include "transport/transport.h"
#include "base/util.h"
#include "base/version.h"

struct job {
        const char *op; /* "push" or "pull" */
        bool push;
        struct target target;
        char target_name[256];
        /* --domain: the target is looked up at every connect */
        const char *domain;      /* this job's domain, or NULL (--to) */
        struct domain_conn *dconn;
        struct domain_opts dopts;
        const char *uri;         /* -c */
        char **patterns;         /* every --domain, as given */
        size_t npatterns;
        bool fanout;             /* several domains, or a glob: one job each */
        unsigned parallel;       /* sessions at once (--parallel) */
        char *own_dest;          /* fan-out pull: LOCAL_DEST/DOMAIN */
        int exit;                /* fan-out: this job's exit status */
        bool json;
        int progress;   /* -1: auto (stderr is a TTY), 0 off, 1 the meter, 2 ndjson */
        struct progress_ndjson nd; /* --progress ndjson's state (prog.nd points here) */
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
        uint64_t wire_bytes, chunks, chunks_compressed; /* ... and as they crossed */
        uint64_t chunks_kept;
        char entry_path[FY_MAX_PATH + 1]; /* recv_target's answer for a pulled tree's entry */
};

static void help(bool push) {
        if (push)
                printf("Usage: ferry push [--to TARGET | --domain NAME...] [OPTIONS] LOCAL... REMOTE_DEST\n"
                       "\n"
                       "Copies files and directory trees into the guest.  REMOTE_DEST is inside\n"
                       "ferryd's root; with a trailing '/', several sources, or when it is an\n"
                       "existing directory, files go into it under their own names.  A directory\n"
                       "DIR goes in as REMOTE_DEST/DIR, DIR/ puts its contents into REMOTE_DEST\n"
                       "(rsync's rule); modes, mtimes, symlinks and holes are kept.\n");
        else
                printf("Usage: ferry pull [--from TARGET | --domain NAME...] [OPTIONS] REMOTE_PATH... LOCAL_DEST\n"
                       "\n"
                       "Copies files and directory trees out of the guest.  REMOTE_PATHs are\n"
                       "inside ferryd's root; with a trailing '/', several files, or when\n"
                       "LOCAL_DEST is an existing directory, files go into it under their own\n"
                       "names.  A directory DIR arrives as LOCAL_DEST/DIR, DIR/ fills LOCAL_DEST\n"
                       "(rsync's rule); modes, mtimes, symlinks and holes are kept.  From several\n"
                       "domains, LOCAL_DEST must be a directory and each guest's files go into\n"
                       "LOCAL_DEST/DOMAIN.\n");
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
               "Guests by their libvirt name (instead of a target):\n"
               "      --domain NAME    the domain; repeat it, or give a glob ('web-*'), to copy\n"
               "                       to several guests at once, one session each\n"
               "  -c, --connect URI    libvirt URI (default: $LIBVIRT_DEFAULT_URI, else\n"
               "                       qemu:///system, then qemu:///session), read-only\n"
               "      --via vsock|serial  how to reach the guest (default: its vsock CID when\n"
               "                       this host reaches AF_VSOCK, else the channel)\n"
               "      --channel NAME   the virtio channel's target name (default " DOMAIN_CHANNEL ")\n"
               "      --port N         ferryd's vsock port (default %u)\n"
               "      --parallel N     with several domains, sessions at once (default 16)\n"
               "  The domain's XML is read again at every (re)connect.  'ferry setup'\n"
               "  adds the device ferry needs.\n"
               "\n"
               "Options:\n"
               "  -t, --%s TARGET     where ferryd is\n"
               "      --json           one JSON object per file on stdout (telemetry)\n"
               "      --progress [ndjson]  progress line on stderr (default: when it is a\n"
               "                       TTY); ndjson: a JSON object a line instead, at least\n"
               "                       once a second and at the end (bytes, total, rate,\n"
               "                       ETA, files done, current file, waits by cause)\n"
               "      --no-progress    no progress line\n"
               "      --chunk-size SIZE  bytes per chunk (default 1M, 4k..4M; k/M/G suffixes)\n"
               "      --window SIZE    bytes ferryd may have in flight to us on pull (default 8M)\n"
               "      --depth N        file buffers, i.e. file I/O in flight (default 8)\n"
               "      --timeout SEC    give up when ferryd is silent this long (default 30)\n"
               "      --retry N        reconnect up to N times when the connection is lost,\n"
               "                       backing off from 0.5 s; transfers resume (3)\n"
               "      --no-resume      send everything: skip nothing, continue nothing\n"
               "      --checksum       skip a file only when its content digest matches the\n"
               "                       destination's (reads both), not by size and mtime;\n"
               "                       one that differs sends only the chunks that differ\n"
               "      --max-rate RATE  at most RATE bytes/s (k/M/G) on the channel (after\n"
               "                       compression); ferryd's own limit applies too, the\n"
               "                       lower one wins.  With several domains, RATE is for\n"
               "                       all of them together\n"
               "      --compress auto|zstd|off\n"
               "                       zstd per chunk: auto when it makes the copy faster\n"
               "                       (default), zstd whenever a chunk shrinks, off never\n"
               "      --compress-level N  zstd level, 1 (fastest, default) to 19\n"
               "      --compress-threads N  threads compressing beside the session's own,\n"
               "                       0 to 8 (default: the cores ferry may use, less one)\n"
               "      --no-io-uring    use pread/pwrite (also: FERRY_NO_IO_URING=1)\n"
               "  -v, --verbose        a summary line per file on stderr\n"
               "  -q, --quiet          no progress, errors only\n"
               "  -h, --help           this text\n"
               "\n"
               "Exit status: 0 all files verified, 1 a file failed, 2 usage error,\n"
               "3 cannot connect (or no such domain, not running, no device), 4 session\n"
               "broke, 5 data corrupted.  With several domains: the highest of theirs.\n",
               DOMAIN_VSOCK_PORT, push ? "to  " : "from");
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
        if (res->kind == ENTRY_FILE) {
                j->bytes_sent += res->stats.bytes;
                j->wire_bytes += res->stats.wire_bytes;
                j->chunks += res->stats.chunks;
                j->chunks_compressed += res->stats.chunks_compressed;
                j->chunks_kept += res->stats.chunks_kept;
                if (res->sent)
                        progress_waits(&j->prog, res->stats.wait_ns);
        }
        if (res->group) {
                /* An entry of a tree: files count toward progress; failures
                 * are named one by one; --json has a line per file. */
                if (res->kind == ENTRY_FILE)
                        progress_file_done(&j->prog, res->size);
                if (res->err || (j->json && res->kind == ENTRY_FILE)) {
                        progress_hold(&j->prog);
                        report_result(j->op, j->domain, res->src, res->dest, res, j->json && res->kind == ENTRY_FILE, false,
                                      j->target.kind, j->uring);
                        progress_release(&j->prog);
                }
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
        if (res->kind != ENTRY_TREE) { /* (a tree's entries were counted one by one) */
                uint64_t moved = res->err ? res->stats.bytes : res->size; /* a failure: what moved */
                progress_update(&j->prog, j->push ? it->local : it->remote, moved, res->size, true);
                progress_file_done(&j->prog, moved);
        }
        progress_hold(&j->prog);
        report_item(j->op, j->domain, it, j->json, log_get_level() >= LOG_INFO, j->target.kind, j->uring);
        progress_release(&j->prog);
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

/* About every 250 ms while the session runs: --progress ndjson's line,
 * also when no byte moves. */
static void on_sample(void *ud, const struct session_totals *t, const struct session_gauges *g) {
        struct job *j = ud;
        (void)t, (void)g;
        progress_tick(&j->prog);
}

static const struct session_ops ops = {
        .file_done = on_done,
        .progress = on_progress,
        .recv_target = recv_target,
        .sample = on_sample,
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
               OPT_MAX_RATE, OPT_RETRY, OPT_NO_RESUME, OPT_CHECKSUM, OPT_DOMAIN, OPT_VIA, OPT_CHANNEL, OPT_PORT,
               OPT_PARALLEL, OPT_COMPRESS, OPT_COMPRESS_LEVEL, OPT_COMPRESS_THREADS };
        const struct option opts[] = {
                { j->push ? "to" : "from", required_argument, NULL, 't' },
                { "json", no_argument, NULL, OPT_JSON },
                { "progress", optional_argument, NULL, OPT_PROGRESS },
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
                { "domain", required_argument, NULL, OPT_DOMAIN },
                { "connect", required_argument, NULL, 'c' },
                { "via", required_argument, NULL, OPT_VIA },
                { "channel", required_argument, NULL, OPT_CHANNEL },
                { "port", required_argument, NULL, OPT_PORT },
                { "parallel", required_argument, NULL, OPT_PARALLEL },
                { "compress", required_argument, NULL, OPT_COMPRESS },
                { "compress-level", required_argument, NULL, OPT_COMPRESS_LEVEL },
                { "compress-threads", required_argument, NULL, OPT_COMPRESS_THREADS },
                { "verbose", no_argument, NULL, 'v' },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *target = NULL;
        int c, level = LOG_WARN;
        uint64_t v;
        bool domain_opts = false;
        j->progress = -1;
        j->timeout_s = 30;
        j->retries = 3;
        j->parallel = 16;
        j->patterns = calloc((size_t)argc, sizeof *j->patterns);
        if (!j->patterns)
                return EXIT_FAILED;
        opterr = 0; /* one specific line of our own instead of getopt's */
        while ((c = getopt_long(argc, argv, ":t:c:vqh", opts, NULL)) >= 0) {
                switch (c) {
                case 't': target = optarg; break;
                case OPT_DOMAIN:
                        if (!optarg[0])
                                return usage_error(j->op, "--domain: the name is empty");
                        j->patterns[j->npatterns++] = optarg;
                        break;
                case 'c': j->uri = optarg; domain_opts = true; break;
                case OPT_CHANNEL: j->dopts.channel = optarg; domain_opts = true; break;
                case OPT_VIA:
                        if (!strcmp(optarg, "vsock"))
                                j->dopts.via = DOMAIN_VIA_VSOCK;
                        else if (!strcmp(optarg, "serial"))
                                j->dopts.via = DOMAIN_VIA_SERIAL;
                        else
                                return usage_error(j->op, "--via: '%s' is neither vsock nor serial", optarg);
                        domain_opts = true;
                        break;
                case OPT_PORT:
                        if (size_arg(j->op, "--port", optarg, 1, UINT32_MAX - 1, &v))
                                return EXIT_USAGE;
                        j->dopts.port = (uint32_t)v;
                        domain_opts = true;
                        break;
                case OPT_PARALLEL:
                        if (size_arg(j->op, "--parallel", optarg, 1, 256, &v))
                                return EXIT_USAGE;
                        j->parallel = (unsigned)v;
                        break;
                case OPT_JSON: j->json = true; break;
                case OPT_PROGRESS: {
                        /* "--progress ndjson" as well as "--progress=ndjson":
                         * a word after it is its value only if it is one. */
                        const char *how = optarg;
                        if (!how && optind < argc && (!strcmp(argv[optind], "ndjson") || !strcmp(argv[optind], "tty")))
                                how = argv[optind++];
                        if (how && strcmp(how, "ndjson") && strcmp(how, "tty"))
                                return usage_error(j->op, "--progress: '%s' is not tty or ndjson", how);
                        j->progress = how && !strcmp(how, "ndjson") ? 2 : 1;
                        break;
                }
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
                case OPT_COMPRESS:
                        if (compress_mode_parse(optarg, &j->cfg.compress) < 0)
                                return usage_error(j->op, "--compress: '%s' is not auto, zstd or off", optarg);
                        break;
                case OPT_COMPRESS_LEVEL:
                        if (size_arg(j->op, "--compress-level", optarg, 1, 19, &v))
                                return EXIT_USAGE;
                        j->cfg.compress_level = (int)v;
                        break;
                case OPT_COMPRESS_THREADS:
                        if (size_arg(j->op, "--compress-threads", optarg, 0, 8, &v))
                                return EXIT_USAGE;
                        j->cfg.compress_threads = (int)v;
                        break;
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
        if (target && j->npatterns)
                return usage_error(j->op, "--%s and --domain name the guest twice: use one", j->push ? "to" : "from");
        if (domain_opts && !j->npatterns)
                return usage_error(j->op, "-c, --via, --channel and --port go with --domain");
        if (!target && !j->npatterns)
                target = getenv("FERRY_TARGET");
        if (!target && !j->npatterns)
                return usage_error(j->op, "no target: use --%s TARGET, --domain NAME, or set FERRY_TARGET",
                                   j->push ? "to" : "from");
        for (size_t i = 0; i < j->npatterns; i++)
                j->fanout |= j->npatterns > 1 || domain_is_glob(j->patterns[i]);
        int r = target ? target_parse(target, &j->target) : 0;
        if (r < 0)
                return usage_error(j->op, "'%s' is not a target (vsock:CID:PORT, serial:PATH, fc:PATH:PORT, unix:PATH, tcp:HOST:PORT)", target);
        target_format(&j->target, j->target_name, sizeof j->target_name);
        if (target && j->target.kind == TARGET_VSOCK && j->target.cid == VSOCK_CID_ANY)
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
                else if (j->fanout)
                        return usage_error(j->op, "'%s': not an existing directory (from several domains, each "
                                           "guest's files go into LOCAL_DEST/DOMAIN)", j->dest);
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
                /* "dir/" (even "./" or "/") means its contents: no name is made from it. */
                bool contents = src[0] && src[strlen(src) - 1] == '/';
                if (!contents && (!it->name[0] || !strcmp(it->name, "/") || !strcmp(it->name, ".") || !strcmp(it->name, "..")))
                        return usage_error(j->op, "'%s': not a file name (a directory's contents: '%s/')", src, src);
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
                        progress_hold(&j->prog);
                        report_item(j->op, j->domain, it, j->json, false, j->target.kind, j->uring);
                        progress_release(&j->prog);
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
               r == -ECONNABORTED || r == -EHOSTDOWN /* a domain being restarted */;
}

/* A line on stderr about the job: "ferry: [DOMAIN: ]OP: ...". */
static void job_say(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_say(struct job *j, const char *fmt, ...) {
        char msg[1200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        progress_hold(&j->prog);
        fprintf(stderr, "ferry: %s%s%s: %s\n", j->domain ? j->domain : "", j->domain ? ": " : "", j->op, msg);
        progress_release(&j->prog);
}

/* --domain: where the guest is now (the domain's XML, read again at every
 * connect: a CID or a socket path may have changed since the last). */
static int resolve(struct job *j, bool first, char *errbuf, size_t errlen) {
        char derr[1024];
        struct target t;
        int r = domain_target(j->dconn, j->domain, &j->dopts, &t, derr, sizeof derr);
        if (r < 0) {
                /* The message names the domain; a retry line names it once. */
                size_t dl = strlen(j->domain);
                bool named = !strncmp(derr, j->domain, dl) && !strncmp(derr + dl, ": ", 2);
                snprintf(errbuf, errlen, "%s", named ? derr + dl + 2 : derr);
                if (first) {
                        progress_hold(&j->prog);
                        fprintf(stderr, "ferry: %s%s%s\n", named ? "" : j->domain, named ? "" : ": ", derr);
                        progress_release(&j->prog);
                }
                return r;
        }
        j->target = t;
        target_format(&t, j->target_name, sizeof j->target_name);
        j->cfg.resync_padding = t.kind == TARGET_SERIAL;
        log_info("%s: %s", j->domain, j->target_name);
        return 0;
}

/* One connection, one session, every item still without a verdict.
 * *ret_err: the session's error (0 if it ended cleanly). */
static int run_once(struct job *j, bool first, int *ret_err, char *errbuf, size_t errlen) {
        int fd = -EBADF;
        *ret_err = 0;
        int r = j->domain ? resolve(j, first, errbuf, errlen) : 0;
        if (r < 0) {
                *ret_err = r;
                return EXIT_CONNECT;
        }
        r = target_connect(&j->target, j->timeout_s * 1000, &fd);
        if (r < 0) {
                *ret_err = r;
                snprintf(errbuf, errlen, "cannot connect to %s: %s", j->target_name, strerror(-r));
                if (first)
                        job_say(j, "%s", errbuf);
                return EXIT_CONNECT;
        }
        struct session *s;
        r = session_new(&j->cfg, fd, &s);
        if (r < 0) {
                safe_close(fd);
                job_say(j, "%s", strerror(-r));
                return EXIT_FAILED;
        }
        int ret = EXIT_OK;
        r = session_handshake(s);
        if (r < 0) {
                *ret_err = r;
                snprintf(errbuf, errlen, "%s: %s", j->target_name, session_error(s));
                if (first)
                        job_say(j, "%s", errbuf);
                ret = EXIT_CONNECT;
                goto out;
        }
        j->uring = session_uses_uring(s, &j->uring_why);
        if (first && !j->uring && j->uring_why)
                log_warn("%s%sio_uring unavailable (%s): file I/O uses pread/pwrite", j->domain ? j->domain : "",
                         j->domain ? ": " : "", strerror(-j->uring_why));

        uint64_t total, files = 0;
        bool trees;
        queue_items(j, s, &total, &trees);
        for (size_t i = 0; i < j->n; i++) /* (those that could not be queued are done) */
                files += !j->items[i].done;
        j->prog.nd = j->progress == 2 ? &j->nd : NULL;
        if (j->prog.nd)
                j->nd = (struct progress_ndjson){ .op = j->op, .domain = j->domain };
        /* a tree's size and file count are not known up front */
        progress_init(&j->prog, j->progress == 1 || (j->progress < 0 && !j->json && isatty(STDERR_FILENO)),
                      trees ? 0 : total, trees ? 0 : files);
        r = session_run(s);
        progress_end(&j->prog);
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
        struct run_summary m = { .bytes_sent = j->bytes_sent, .wire_bytes = j->wire_bytes, .chunks = j->chunks,
                                 .chunks_compressed = j->chunks_compressed, .chunks_kept = j->chunks_kept, .seconds = (double)ns / 1e9 };
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
                {
                        progress_hold(&j->prog);
                        report_summary(j->op, j->domain, &m, j->json, log_get_level() >= LOG_INFO);
                        progress_release(&j->prog);
                }
}

/* One guest's run: connect (again, after a loss), queue, report.  The
 * caller owns cfg.stop_fd. */
static int run(struct job *j) {
        struct fsroot root;
        (void)fsroot_open(NULL, false, &root);
        j->cfg.root = &root;
        j->cfg.ops = &ops;
        j->cfg.userdata = j;
        j->cfg.timeout_ms = j->timeout_s * 1000;
        j->cfg.resync_padding = j->target.kind == TARGET_SERIAL;

        char err[1100] = "";
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
                job_say(j, "%s; retrying in %.1f s (%u of %u)", err, ms / 1000.0, attempt + 1, j->retries);
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
                        job_say(j, "%s", err);
                for (size_t i = 0; i < j->n; i++) {
                        struct job_item *it = &j->items[i];
                        if (it->done)
                                continue;
                        it->done = true;
                        it->res = (struct file_result){ .xfer_id = it->xfer_id, .err = r };
                        snprintf(it->res.text, sizeof it->res.text, "%s", err);
                        progress_hold(&j->prog);
                        report_item(j->op, j->domain, it, j->json, false, j->target.kind, j->uring);
                        progress_release(&j->prog);
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
        if (j->cfg.share)
                share_leave(j->cfg.share);
        return ret;
}

static void run_job(void *ud, size_t i) {
        struct job *jobs = ud;
        jobs[i].exit = run(&jobs[i]);
        if (jobs[i].prog.board)
                board_done(jobs[i].prog.board, i, jobs[i].exit == EXIT_OK);
}

/* Exit statuses by weight, for the one a run over several guests ends
 * with: the worst any guest had. */
static int worse(int a, int b) {
        return a > b ? a : b;
}

/* Several guests: one job each, run side by side; the summary says which
 * failed, and the exit status is the worst of theirs. */
static int run_fleet(struct job *t, char **names, size_t n) {
        struct job *jobs = calloc(n, sizeof *jobs);
        struct share *share = NULL;
        struct board *board = NULL;
        int ret = EXIT_OK, r;
        if (!jobs)
                return EXIT_FAILED;
        /* On a terminal, one line per guest and a total. */
        if ((t->progress == 1 || (t->progress < 0 && !t->json && isatty(STDERR_FILENO))) &&
            board_new(n, names, &board) < 0)
                board = NULL;
        /* --max-rate is for the host: every session takes from one shared
         * bucket, chunk by chunk (pushes as they send, pulls as they grant
         * credit), so the guests that can take more get what slower ones
         * leave. */
        uint64_t rate = t->cfg.max_rate;
        if (rate) {
                uint64_t burst = MAX(2ull * t->cfg.chunk_size, rate / 20);
                if ((r = share_new(rate, burst, (unsigned)n, now_ns(), &share)) < 0) {
                        fprintf(stderr, "ferry: %s: %s\n", t->op, strerror(-r));
                        free(jobs);
                        return EXIT_FAILED;
                }
        }
        size_t made = 0;
        for (; made < n; made++) {
                struct job *j = &jobs[made];
                *j = *t;
                j->domain = names[made];
                j->prog = (struct progress){ .board = board, .row = made };
                if (!board && j->progress != 2) /* (ndjson: each guest its own lines) */
                        j->progress = 0;
                j->items = calloc(t->n, sizeof *j->items);
                if (!j->items)
                        break;
                for (size_t k = 0; k < t->n; k++)
                        j->items[k] = t->items[k];
                if (share) {
                        j->cfg.max_rate = 0;
                        j->cfg.share = share_member(share, (unsigned)made);
                }
                if (!t->push) {
                        /* each guest's files in LOCAL_DEST/DOMAIN */
                        if (asprintf(&j->own_dest, "%s/%s", t->dest, j->domain) < 0) {
                                j->own_dest = NULL;
                                free(j->items);
                                break;
                        }
                        if (mkdir(j->own_dest, 0755) < 0 && errno != EEXIST) {
                                fprintf(stderr, "ferry: %s: pull: cannot make '%s': %s\n", j->domain, j->own_dest,
                                        strerror(errno));
                                free(j->items);
                                free(j->own_dest);
                                break;
                        }
                        j->dest = j->own_dest;
                        j->dest_flags = FY_FB_DEST_IS_DIR;
                        for (size_t k = 0; k < t->n; k++)
                                j->items[k].local = j->dest;
                }
        }
        if (made < n) {
                ret = EXIT_FAILED;
                goto out;
        }
        if ((r = fanout_run(n, t->parallel, run_job, jobs)) < 0) {
                fprintf(stderr, "ferry: %s: cannot start threads: %s\n", t->op, strerror(-r));
                ret = EXIT_FAILED;
                goto out;
        }
        board = board_free(board); /* drawn a last time, above what follows */
        size_t failed = 0;
        for (size_t i = 0; i < n; i++) {
                ret = worse(ret, jobs[i].exit);
                failed += jobs[i].exit != EXIT_OK;
        }
        if (failed) {
                char list[2048] = "";
                size_t len = 0;
                for (size_t i = 0; i < n && len < sizeof list; i++)
                        if (jobs[i].exit)
                                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s (exit %d)",
                                                        len ? ", " : "", jobs[i].domain, jobs[i].exit);
                fprintf(stderr, "ferry: %s: %zu of %zu domains failed: %s\n", t->op, failed, n, list);
        }
        if (t->json) {
                flockfile(stdout);
                printf("{\"op\":\"%s\",\"kind\":\"domains\",\"status\":\"%s\",\"failed\":%zu,\"domains\":[",
                       t->op, failed ? "error" : "ok", failed);
                for (size_t i = 0; i < n; i++) {
                        printf("%s{\"domain\":", i ? "," : "");
                        report_json_str(stdout, jobs[i].domain);
                        printf(",\"status\":\"%s\",\"exit\":%d", jobs[i].exit ? "error" : "ok", jobs[i].exit);
                        if (share)
                                printf(",\"bytes_sent\":%llu", (unsigned long long)jobs[i].bytes_sent);
                        printf("}");
                }
                printf("]}\n");
                fflush(stdout);
                funlockfile(stdout);
        }
out:
        for (size_t i = 0; i < made; i++) {
                free(jobs[i].items);
                free(jobs[i].own_dest);
        }
        free(jobs);
        share_free(share);
        board_free(board);
        return ret;
}

/* --domain: open libvirt, name the guests, run one or several. */
static int run_domains(struct job *t) {
        char err[1024];
        char **names = NULL;
        size_t n = 0;
        int r = domain_open(t->uri, false, &t->dconn, err, sizeof err);
        if (r < 0) {
                fprintf(stderr, "ferry: ");
                for (size_t i = 0; i < t->npatterns; i++)
                        fprintf(stderr, "%s%s", i ? ", " : "", t->patterns[i]);
                fprintf(stderr, ": %s\n", err);
                return r == -EOPNOTSUPP ? EXIT_USAGE : EXIT_CONNECT;
        }
        r = domain_match(t->dconn, t->patterns, t->npatterns, &names, &n, err, sizeof err);
        if (r < 0) {
                fprintf(stderr, "ferry: %s: %s\n", t->op, err);
                r = EXIT_CONNECT;
        } else if (!t->fanout) {
                t->domain = names[0];
                r = run(t);
        } else {
                r = run_fleet(t, names, n);
        }
        free(names);
        t->dconn = domain_close(t->dconn);
        return r;
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
                        .compress_threads = SESSION_THREADS_AUTO,
                        .resume = true,
                        /* Pulls sweep what a killed ferry left, as ferryd
                         * does (fs/stale.h; ferryd's --stale-age default). */
                        .stale_age_s = 86400,
                },
        };
        signal(SIGPIPE, SIG_IGN);
        int r = parse(&j, argc, argv);
        if (r == 0) {
                /* Before any thread: blocks the signals for every thread
                 * to come, and each session polls this one descriptor. */
                j.cfg.stop_fd = stop_signal_fd();
                r = j.npatterns ? run_domains(&j) : run(&j);
                safe_close(j.cfg.stop_fd);
        }
        free(j.items);
        free(j.patterns);
        return r;
}

int cmd_push(int argc, char **argv) { return cmd_xfer(true, argc, argv); }
int cmd_pull(int argc, char **argv) { return cmd_xfer(false, argc, argv); }
