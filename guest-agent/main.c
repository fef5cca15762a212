/* SPDX-License-Identifier: MIT */
/* ferryd: the guest side of ferry.  Options here, the loop in serve.c. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "serve.h"
#include "util.h"
#include "version.h"

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
               "      --no-io-uring       use pread/pwrite (also: FERRY_NO_IO_URING=1)\n"
               "      --once              serve one session, then exit\n"
               "  -v, --verbose           more log (repeat for debug)\n"
               "  -q, --quiet             errors only\n"
               "  -h, --help              this text\n"
               "  -V, --version           version\n"
               "\n"
               "Exit status: 0 clean exit, 1 a fatal error (logged), 2 usage error.\n");
}

static int usage_error(const char *fmt, const char *arg) {
        fprintf(stderr, "ferryd: ");
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\nTry 'ferryd --help' for more information.\n");
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
        enum { OPT_ALLOW_CID = 256, OPT_MAX_CHUNK, OPT_CHUNK, OPT_WINDOW, OPT_DEPTH, OPT_NO_URING, OPT_ONCE };
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
                { "verbose", no_argument, NULL, 'v' },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        struct serve_options o = {
                .allow_cid = VSOCK_CID_HOST,
                .session = {
                        .initiator = false,
                        .agent = "ferryd/" FERRY_VERSION,
                        .chunk_size = SESSION_DEFAULT_CHUNK,
                        .max_chunk = SESSION_DEFAULT_CHUNK,
                        .recv_window = SESSION_DEFAULT_WINDOW,
                        .depth = SESSION_DEFAULT_DEPTH,
                        .timeout_ms = -1,
                },
        };
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
                case OPT_ONCE: o.once = true; break;
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

        signal(SIGPIPE, SIG_IGN);
        o.session.stop_fd = stop_signal_fd();
        if (o.session.stop_fd < 0)
                log_warn("signals: %s (an interrupted transfer may leave a temporary file)", strerror(-o.session.stop_fd));
        r = serve(&o);
        safe_close(o.session.stop_fd);
        return r < 0 ? 1 : 0;
}
