/* SPDX-License-Identifier: MIT */
/* ferryd: the guest side of ferry.  Options here, the loop in serve.c. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "priority.h"
#include "privs.h"
#include "session/compress.h"
#include "serve.h"
#include "base/util.h"
#include "base/version.h"

static void help(void) {
        printf("Usage: ferryd --listen TARGET --root DIR [OPTIONS]\n"
               "\n"
               "The guest side of ferry: receives and serves files under DIR for a host\n"
               "running 'ferry'.  Never reads or writes outside DIR.\n"
               "\n"
               "Targets:\n"
               "  serial:/dev/virtio-ports/NAME  a virtio-serial port (default name org.ferry.0)\n"
               "  vsock::PORT                    AF_VSOCK, any local CID\n"
               "  unix:PATH                      a Unix socket\n"
               "  tcp:[HOST]:PORT                TCP; HOST defaults to 127.0.0.1\n"
               "\n"
               "Options:\n"
               "  -l, --listen TARGET     where to wait for hosts (or $FERRYD_LISTEN)\n"
               "  -r, --root DIR          the directory served (or $FERRYD_ROOT)\n"
               "      --allow-cid CID|any vsock: accept this peer CID only (default 2, the host)\n"
               "      --max-chunk SIZE    largest chunk accepted (default 1M, at most 4M)\n"
               "      --chunk-size SIZE   chunk size when sending (default 1M)\n"
               "      --window SIZE       bytes a host may have in flight to us (default 8M)\n"
               "      --depth N           file buffers, i.e. file I/O in flight (default 8)\n"
               "\n"
               "Budgets (a copy must never freeze the guest):\n"
               "      --max-memory SIZE   bound on the file buffers and queues of all\n"
               "                          sessions together (default 32M)\n"
               "      --dirty-limit SIZE  bytes of a file written but not yet on disk, and so\n"
               "                          queued at the disk ahead of others (default 8M,\n"
               "                          at least four chunks)\n"
               "      --keep-cache        keep written files in the page cache\n"
               "      --stale-age SEC     remove temporary files (.ferry-*.tmp) and partial files\n"
               "                          kept for resume (.ferry-*.part, .jnl) older than SEC\n"
               "                          from directories written to (default 86400; 0: never)\n"
               "      --buffered          page-cache writes (default: uncached, RWF_DONTCACHE,\n"
               "                          where the kernel has it, else buffered)\n"
               "      --direct            O_DIRECT writes through io_uring (buffered tail)\n"
               "      --max-rate RATE     bytes/s on the channel, both directions (k/M/G)\n"
               "      --compress MODE     zstd chunks: auto (default) takes them and sends its\n"
               "                          own raw (the guest's CPU is its workload's); zstd\n"
               "                          also compresses what it sends; off refuses them\n"
               "      --cpu-limit PCT     CPU time, percent of one CPU, paced through credit\n"
               "      --psi-threshold PCT shrink the window and the writeback segment while\n"
               "                          others' io or memory stall (\"some\", less our own\n"
               "                          writeback waits) is above PCT (default 10)\n"
               "      --psi-path DIR      read pressure from DIR/{io,memory} (default\n"
               "                          /proc/pressure; 'off' to ignore pressure)\n"
               "      --nice N            CPU priority (default 10)\n"
               "      --io-class CLASS    be (default), idle or none\n"
               "      --io-level N        best-effort IO level, 0 high .. 7 low (default 7)\n"
               "      --no-io-uring       use pread/pwrite (also: FERRY_NO_IO_URING=1)\n"
               "      --max-sessions N    hosts served at once (default 4; a serial port is\n"
               "                          one stream: one); the budgets are shared by them\n"
               "      --timeout SEC       drop a host that has not completed the handshake,\n"
               "                          sends nothing or reads nothing for SEC (default 30;\n"
               "                          0: never)\n"
               "      --read-only         hosts may pull, but not push, make or remove\n"
               "      --write-only        hosts may push, but not pull (nor learn content\n"
               "                          digests with --checksum)\n"
               "      --user USER         run as USER (a name, UID or UID:GID) once the\n"
               "                          listener and the root are open\n"
               "      --once              serve one session, then exit\n"
               "      --metrics-file PATH keep PATH up to date with the daemon's counters in\n"
               "                          Prometheus text format (node_exporter's textfile\n"
               "                          collector), at most once a second and as each\n"
               "                          session ends; written as PATH.tmp, then renamed\n"
               "  -v, --verbose           more log (repeat for debug)\n"
               "  -q, --quiet             errors only\n"
               "  -h, --help              this text\n"
               "  -V, --version           version\n"
               "\n"
               "Exit status: 0 clean exit, 1 a fatal error (logged), 2 usage error.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "ferryd: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\nTry 'ferryd --help' for more information.\n");
        va_end(ap);
        return 2;
}

static int size_opt(const char *name, const char *arg, uint64_t min, uint64_t max, uint64_t *ret) {
        int r = parse_size(arg, ret);
        if (r < 0 || *ret < min || *ret > max) {
                fprintf(stderr, "ferryd: %s: invalid size '%s' (from %llu to %llu bytes; k/M/G suffixes)\n"
                                "Try 'ferryd --help' for more information.\n",
                        name, arg, (unsigned long long)min, (unsigned long long)max);
                return -EINVAL;
        }
        return 0;
}

int main(int argc, char **argv) {
        enum { OPT_ALLOW_CID = 256, OPT_MAX_CHUNK, OPT_CHUNK, OPT_WINDOW, OPT_DEPTH, OPT_NO_URING, OPT_ONCE,
               OPT_MAX_MEMORY, OPT_DIRTY, OPT_KEEP_CACHE, OPT_BUFFERED, OPT_DIRECT, OPT_MAX_RATE, OPT_CPU,
               OPT_PSI_THRESHOLD, OPT_PSI_PATH, OPT_NICE, OPT_IO_CLASS, OPT_IO_LEVEL, OPT_STALE, OPT_COMPRESS,
               OPT_MAX_SESSIONS, OPT_TIMEOUT, OPT_READ_ONLY, OPT_WRITE_ONLY, OPT_USER, OPT_METRICS };
        static const struct option opts[] = {
                { "listen", required_argument, NULL, 'l' },
                { "root", required_argument, NULL, 'r' },
                { "allow-cid", required_argument, NULL, OPT_ALLOW_CID },
                { "max-chunk", required_argument, NULL, OPT_MAX_CHUNK },
                { "chunk-size", required_argument, NULL, OPT_CHUNK },
                { "window", required_argument, NULL, OPT_WINDOW },
                { "depth", required_argument, NULL, OPT_DEPTH },
                { "no-io-uring", no_argument, NULL, OPT_NO_URING },
                { "once", no_argument, NULL, OPT_ONCE },
                { "max-sessions", required_argument, NULL, OPT_MAX_SESSIONS },
                { "timeout", required_argument, NULL, OPT_TIMEOUT },
                { "read-only", no_argument, NULL, OPT_READ_ONLY },
                { "write-only", no_argument, NULL, OPT_WRITE_ONLY },
                { "user", required_argument, NULL, OPT_USER },
                { "metrics-file", required_argument, NULL, OPT_METRICS },
                { "max-memory", required_argument, NULL, OPT_MAX_MEMORY },
                { "dirty-limit", required_argument, NULL, OPT_DIRTY },
                { "keep-cache", no_argument, NULL, OPT_KEEP_CACHE },
                { "stale-age", required_argument, NULL, OPT_STALE },
                { "buffered", no_argument, NULL, OPT_BUFFERED },
                { "direct", no_argument, NULL, OPT_DIRECT },
                { "max-rate", required_argument, NULL, OPT_MAX_RATE },
                { "compress", required_argument, NULL, OPT_COMPRESS },
                { "cpu-limit", required_argument, NULL, OPT_CPU },
                { "psi-threshold", required_argument, NULL, OPT_PSI_THRESHOLD },
                { "psi-path", required_argument, NULL, OPT_PSI_PATH },
                { "nice", required_argument, NULL, OPT_NICE },
                { "io-class", required_argument, NULL, OPT_IO_CLASS },
                { "io-level", required_argument, NULL, OPT_IO_LEVEL },
                { "verbose", no_argument, NULL, 'v' },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        struct serve_options o = {
                .allow_cid = VSOCK_CID_HOST,
                .max_sessions = 4,
                .session = {
                        .initiator = false,
                        .agent = "ferryd/" FERRY_VERSION,
                        .chunk_size = SESSION_DEFAULT_CHUNK,
                        .max_chunk = SESSION_DEFAULT_CHUNK,
                        .recv_window = SESSION_DEFAULT_WINDOW,
                        .depth = SESSION_DEFAULT_DEPTH,
                        .timeout_ms = 30000,
                        /* Also what we may have queued at the disk ahead of
                         * another program's fdatasync (core/rx.c,
                         * writeback_control). */
                        .dirty_limit = 8u << 20,
                        .stale_age_s = 86400,
                        .write_mode = WRITE_AUTO,
                        .auto_sends_raw = true, /* the guest's CPU is its workload's */
                },
        };
        uint64_t max_memory = 32u << 20;
        bool dirty_given = false;
        int nice_value = 10, io_class = 2, io_level = 7;
        const char *listen = getenv("FERRYD_LISTEN");
        o.root = getenv("FERRYD_ROOT");
        int level = LOG_INFO, c;
        uint64_t v;

        while ((c = getopt_long(argc, argv, "l:r:vqhV", opts, NULL)) >= 0) {
                switch (c) {
                case 'l': listen = optarg; break;
                case 'r': o.root = optarg; break;
                case OPT_ALLOW_CID:
                        if (!strcmp(optarg, "any"))
                                o.allow_cid = VSOCK_CID_ANY;
                        else if (size_opt("--allow-cid", optarg, 0, UINT32_MAX - 1, &v) < 0)
                                return 2;
                        else
                                o.allow_cid = (uint32_t)v;
                        break;
                case OPT_MAX_CHUNK:
                        if (size_opt("--max-chunk", optarg, FY_MIN_CHUNK, FY_MAX_CHUNK, &v) < 0)
                                return 2;
                        o.session.max_chunk = (uint32_t)v;
                        break;
                case OPT_CHUNK:
                        if (size_opt("--chunk-size", optarg, FY_MIN_CHUNK, FY_MAX_CHUNK, &v) < 0)
                                return 2;
                        o.session.chunk_size = (uint32_t)v;
                        break;
                case OPT_WINDOW:
                        if (size_opt("--window", optarg, FY_MIN_CHUNK, 1ull << 32, &v) < 0)
                                return 2;
                        o.session.recv_window = v;
                        break;
                case OPT_DEPTH:
                        if (size_opt("--depth", optarg, 2, SESSION_MAX_DEPTH, &v) < 0)
                                return 2;
                        o.session.depth = (unsigned)v;
                        break;
                case OPT_NO_URING: o.session.force_psync = true; break;
                case OPT_MAX_MEMORY:
                        if (size_opt("--max-memory", optarg, 4u << 20, 1ull << 40, &max_memory) < 0)
                                return 2;
                        break;
                case OPT_DIRTY:
                        if (size_opt("--dirty-limit", optarg, 0, 1ull << 40, &v) < 0)
                                return 2;
                        o.session.dirty_limit = v;
                        dirty_given = true;
                        break;
                case OPT_KEEP_CACHE: o.session.keep_cache = true; break;
                case OPT_STALE:
                        if (size_opt("--stale-age", optarg, 0, 1ull << 40, &v) < 0)
                                return 2;
                        o.session.stale_age_s = v;
                        break;
                case OPT_BUFFERED: o.session.write_mode = WRITE_BUFFERED; break;
                case OPT_DIRECT: o.session.write_mode = WRITE_DIRECT; break;
                case OPT_MAX_RATE:
                        if (size_opt("--max-rate", optarg, 4096, 1ull << 40, &v) < 0)
                                return 2;
                        o.session.max_rate = v;
                        break;
                case OPT_COMPRESS:
                        if (compress_mode_parse(optarg, &o.session.compress) < 0)
                                return usage_error("--compress: '%s' is not auto, zstd or off", optarg);
                        break;
                case OPT_CPU:
                        if (size_opt("--cpu-limit", optarg, 1, 100, &v) < 0)
                                return 2;
                        o.session.cpu_limit = (unsigned)v;
                        break;
                case OPT_PSI_THRESHOLD:
                        if (size_opt("--psi-threshold", optarg, 1, 100, &v) < 0)
                                return 2;
                        o.session.psi_threshold = (unsigned)v;
                        break;
                case OPT_PSI_PATH: o.session.psi_dir = optarg; break;
                case OPT_NICE: {
                        char *end;
                        long n = strtol(optarg, &end, 10);
                        if (*end || n < -20 || n > 19)
                                return usage_error("--nice: '%s' is not a value from -20 to 19", optarg);
                        nice_value = (int)n;
                        break;
                }
                case OPT_IO_CLASS:
                        if (!strcmp(optarg, "be"))
                                io_class = 2;
                        else if (!strcmp(optarg, "idle"))
                                io_class = 3;
                        else if (!strcmp(optarg, "none"))
                                io_class = 0;
                        else
                                return usage_error("--io-class: '%s' is not be, idle or none", optarg);
                        break;
                case OPT_IO_LEVEL:
                        if (size_opt("--io-level", optarg, 0, 7, &v) < 0)
                                return 2;
                        io_level = (int)v;
                        break;
                case OPT_ONCE: o.once = true; break;
                case OPT_MAX_SESSIONS:
                        if (size_opt("--max-sessions", optarg, 1, 1024, &v) < 0)
                                return 2;
                        o.max_sessions = (unsigned)v;
                        break;
                case OPT_READ_ONLY:
                case OPT_WRITE_ONLY: {
                        enum session_access a = c == OPT_READ_ONLY ? ACCESS_READ_ONLY : ACCESS_WRITE_ONLY;
                        if (o.session.access && o.session.access != a)
                                return usage_error("%s", "--read-only and --write-only leave nothing to do together");
                        o.session.access = a;
                        break;
                }
                case OPT_USER: {
                        int e = privs_lookup(optarg, &o.uid, &o.gid);
                        if (e < 0)
                                return usage_error("--user: '%s': %s", optarg,
                                                   e == -ENOENT ? "no such user in /etc/passwd" : strerror(-e));
                        o.drop = true;
                        break;
                }
                case OPT_METRICS:
                        if (!*optarg)
                                return usage_error("%s", "--metrics-file: an empty path");
                        o.metrics_file = optarg;
                        break;
                case OPT_TIMEOUT:
                        if (size_opt("--timeout", optarg, 0, 86400, &v) < 0)
                                return 2;
                        o.session.timeout_ms = v ? (int)v * 1000 : -1;
                        break;
                case 'v': level++; break;
                case 'q': level = LOG_ERR; break;
                case 'h': help(); return 0;
                case 'V': printf("ferryd %s (protocol %d)\n", FERRY_VERSION, FY_PROTO_VERSION); return 0;
                default: fprintf(stderr, "Try 'ferryd --help' for more information.\n"); return 2;
                }
        }
        log_init("ferryd", level);
        if (optind < argc)
                return usage_error("unexpected argument '%s'", argv[optind]);
        if (!listen)
                return usage_error("%s", "--listen TARGET is required");
        if (!o.root)
                return usage_error("%s", "--root DIR is required");
        int r = target_parse(listen, &o.listen);
        if (r < 0)
                return usage_error("--listen: '%s' is not a target (serial:PATH, vsock::PORT, unix:PATH, tcp:HOST:PORT)", listen);
        if (o.session.recv_window < o.session.max_chunk)
                o.session.recv_window = o.session.max_chunk;

        /* Memory: the pool (depth buffers of the larger chunk size) and the
         * stream buffers are all ferryd allocates per session; fit the
         * sessions and the depth to --max-memory rather than refuse to
         * start.  Each session gets at least two buffers (serve.c). */
        uint64_t bufsize = MAX(o.session.max_chunk, o.session.chunk_size);
        uint64_t least = SERVE_SESSION_FIXED + 2 * bufsize;
        if (max_memory < least)
                return usage_error("--max-memory: %llu bytes is too small for two %llu-byte buffers",
                                   (unsigned long long)max_memory, (unsigned long long)bufsize);
        if (o.listen.kind == TARGET_SERIAL || o.once)
                o.max_sessions = 1;
        if (o.max_sessions > max_memory / least) {
                log_info("--max-memory %llu: %llu session%s at a time instead of %u", (unsigned long long)max_memory,
                         (unsigned long long)(max_memory / least), max_memory / least == 1 ? "" : "s", o.max_sessions);
                o.max_sessions = (unsigned)(max_memory / least);
        }
        o.max_memory = max_memory;
        unsigned fit = serve_depth(max_memory, o.max_sessions - 1, bufsize, SESSION_MAX_DEPTH);
        if (o.session.depth > fit) {
                log_info("--max-memory %llu: %u file buffers instead of %u", (unsigned long long)max_memory, fit,
                         o.session.depth);
                o.session.depth = fit;
        }
        if (!dirty_given) /* the default fits any --max-chunk */
                o.session.dirty_limit = MAX(o.session.dirty_limit, 4 * (uint64_t)o.session.max_chunk);
        if (o.session.dirty_limit && o.session.dirty_limit < 4 * (uint64_t)o.session.max_chunk)
                return usage_error("--dirty-limit: at least four chunks (%llu bytes; 0 turns it off)",
                                   4ull * o.session.max_chunk);
        signal(SIGPIPE, SIG_IGN);
        /* ferryd runs nothing; nothing it might be tricked into running
         * may gain privileges either. */
        if ((r = privs_no_new()) < 0)
                log_warn("no_new_privs: %s", strerror(-r));
        r = priority_apply(nice_value, io_class, io_level);
        if (r < 0)
                log_warn("priority: %s (running at the default priority)", strerror(-r));
        if (!o.session.psi_dir || strcmp(o.session.psi_dir, "off") != 0) {
                char path[4200];
                snprintf(path, sizeof path, "%s/io", o.session.psi_dir ? o.session.psi_dir : "/proc/pressure");
                if (access(path, R_OK) < 0)
                        log_info("no pressure information (%s): pacing relies on the other budgets", path);
        }
        o.session.stop_fd = stop_signal_fd();
        if (o.session.stop_fd < 0)
                log_warn("signals: %s (an interrupted transfer may leave a temporary file)", strerror(-o.session.stop_fd));
        r = serve(&o);
        safe_close(o.session.stop_fd);
        return r < 0 ? 1 : 0;
}
