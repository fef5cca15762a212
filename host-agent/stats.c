/* SPDX-License-Identifier: MIT */
/*
 * ferry stats: a running ferryd's daemon-wide counters and where its
 * budgets stand, through STATS_REQ/STATS (PROTOCOL.md 9.12) - what its
 * --metrics-file holds, asked over the channel itself.  --watch keeps the
 * session and asks again every second, redrawing like watch(1) or virsh
 * domstats --list-active in a loop, until interrupted.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "base/version.h"
#include "cli.h"
#include "session/session.h"
#include "transport/transport.h"

#define WATCH_NS 1000000000ull

static const char *const pace_name[SESSION_PACE_REASONS] = { "rate", "cpu", "pressure", "writeback" };

struct stats_run {
        struct session *s;
        char target[256];
        const char *agent;
        bool json, watch, tty;
        unsigned answers;
        int err;                /* session_stats failed in the callback */
};

static void help(void) {
        printf("Usage: ferry stats --to TARGET [--json] [--watch]\n"
               "\n"
               "Shows a running ferryd's counters, daemon-wide since it started (every\n"
               "session, this one included): sessions, file bytes received and sent,\n"
               "files ok, failed and skipped, how long its budgets held hosts back and\n"
               "why, and its budgets now (pacing, pressure, dirty bytes, window, memory).\n"
               "The same figures as ferryd --metrics-file.\n"
               "\n"
               "Options:\n"
               "  -t, --to TARGET    the guest (vsock:CID:PORT, serial:PATH, fc:PATH:PORT,\n"
               "                     unix:PATH, tcp:HOST:PORT; or $FERRY_TARGET)\n"
               "      --json         one JSON object (with --watch: one per line)\n"
               "      --watch        ask again every second until interrupted\n"
               "      --timeout SEC  give up on a silent guest after SEC (default 30)\n"
               "  -v, --verbose      more log\n"
               "  -h, --help         this help\n"
               "\n"
               "Exit status: 0 shown; 1 the guest does not offer stats (feature bit 6,\n"
               "an older ferryd); 2 usage error; 3 could not connect; 4 the session broke.\n");
}

/* 1536 -> "1.5 KiB" */
static const char *iec(uint64_t v, char *buf, size_t size) {
        static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
        double d = (double)v;
        unsigned u = 0;
        while (d >= 1024 && u + 1 < sizeof unit / sizeof unit[0]) {
                d /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, size, "%llu B", (unsigned long long)v);
        else
                snprintf(buf, size, "%.1f %s", d, unit[u]);
        return buf;
}

static void print_json(const struct stats_run *run, const struct fy_stats *st) {
        printf("{\"target\":\"%s\",\"agent\":\"%s\",\"sessions\":%u,\"sessions_total\":%llu,"
               "\"bytes_received\":%llu,\"bytes_sent\":%llu,"
               "\"files\":{\"ok\":%llu,\"failed\":%llu,\"skipped\":%llu},\"pacing\":[",
               run->target, run->agent, st->sessions, (unsigned long long)st->sessions_total,
               (unsigned long long)st->bytes_received, (unsigned long long)st->bytes_sent,
               (unsigned long long)st->files_ok, (unsigned long long)st->files_failed,
               (unsigned long long)st->files_skipped);
        bool first = true;
        for (unsigned i = 0; i < SESSION_PACE_REASONS; i++)
                if (st->pacing & (1u << i)) {
                        printf("%s\"%s\"", first ? "" : ",", pace_name[i]);
                        first = false;
                }
        printf("],\"paced_s\":{");
        for (unsigned i = 0; i < SESSION_PACE_REASONS; i++)
                printf("%s\"%s\":%.6f", i ? "," : "", pace_name[i], (double)st->paced_ns[i] / 1e9);
        printf("},\"pressure_pct\":%u,\"dirty_bytes\":%llu,\"window_bytes\":%llu,\"rss_bytes\":%llu}\n",
               st->pressure_pct, (unsigned long long)st->dirty, (unsigned long long)st->window,
               (unsigned long long)st->rss);
}

static void print_text(const struct stats_run *run, const struct fy_stats *st) {
        char a[32], b[32];
        if (run->watch && run->tty)
                printf("\033[H\033[2J"); /* redraw in place, as watch(1) */
        printf("%s at %s\n", run->agent, run->target);
        printf("  sessions   %u running, %llu since start\n", st->sessions, (unsigned long long)st->sessions_total);
        printf("  received   %s (%llu bytes)\n", iec(st->bytes_received, a, sizeof a),
               (unsigned long long)st->bytes_received);
        printf("  sent       %s (%llu bytes)\n", iec(st->bytes_sent, a, sizeof a), (unsigned long long)st->bytes_sent);
        printf("  files      %llu ok, %llu failed, %llu skipped\n", (unsigned long long)st->files_ok,
               (unsigned long long)st->files_failed, (unsigned long long)st->files_skipped);
        printf("  pacing     ");
        if (!st->pacing)
                printf("none now");
        else
                for (unsigned i = 0, n = 0; i < SESSION_PACE_REASONS; i++)
                        if (st->pacing & (1u << i))
                                printf("%s%s", n++ ? ", " : "held now by ", pace_name[i]);
        printf("; held so far:");
        for (unsigned i = 0; i < SESSION_PACE_REASONS; i++)
                printf(" %s %.2f s", pace_name[i], (double)st->paced_ns[i] / 1e9);
        printf("\n  budgets    dirty %s, window %s, pressure %u%%, memory %s\n", iec(st->dirty, a, sizeof a),
               iec(st->window, b, sizeof b), st->pressure_pct, iec(st->rss, (char[32]){ 0 }, 32));
}

static void on_stats(void *ud, const struct fy_stats *st) {
        struct stats_run *run = ud;
        run->answers++;
        if (run->json)
                print_json(run, st);
        else
                print_text(run, st);
        fflush(stdout);
        if (run->watch && run->err == 0) {
                int r = session_stats(run->s, now_ns() + WATCH_NS);
                if (r < 0)
                        run->err = r;
        }
}

static const struct session_ops stats_ops = { .stats_done = on_stats };

int cmd_stats(int argc, char **argv) {
        enum { OPT_JSON = 256, OPT_WATCH, OPT_TIMEOUT };
        static const struct option opts[] = {
                { "to", required_argument, NULL, 't' },
                { "json", no_argument, NULL, OPT_JSON },
                { "watch", no_argument, NULL, OPT_WATCH },
                { "timeout", required_argument, NULL, OPT_TIMEOUT },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        struct stats_run run = { 0 };
        const char *target = NULL;
        int c, level = LOG_WARN;
        unsigned timeout_s = 30;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":t:vh", opts, NULL)) >= 0) {
                switch (c) {
                case 't': target = optarg; break;
                case OPT_JSON: run.json = true; break;
                case OPT_WATCH: run.watch = true; break;
                case OPT_TIMEOUT: {
                        char *end;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (*end || end == optarg || v < 1 || v > 86400)
                                return usage_error("stats", "--timeout: invalid value '%s' (1 to 86400 seconds)", optarg);
                        timeout_s = (unsigned)v;
                        break;
                }
                case 'v': level++; break;
                case 'h': help(); return EXIT_OK;
                case ':': return usage_error("stats", "option '%s' needs a value", argv[optind - 1]);
                default: return usage_error("stats", "unknown option '%s'", argv[optind - 1]);
                }
        }
        log_init("ferry", level);
        if (optind < argc)
                return usage_error("stats", "unexpected argument '%s'", argv[optind]);
        if (!target)
                target = getenv("FERRY_TARGET");
        if (!target || !*target)
                return usage_error("stats", "no target: use --to TARGET or set FERRY_TARGET");
        struct target t;
        if (target_parse(target, &t) < 0)
                return usage_error("stats", "'%s' is not a target (vsock:CID:PORT, serial:PATH, fc:PATH:PORT, "
                                   "unix:PATH, tcp:HOST:PORT)", target);
        if (t.kind == TARGET_VSOCK && t.cid == VSOCK_CID_ANY)
                return usage_error("stats", "'%s': the guest CID is missing (vsock:CID:PORT)", target);
        target_format(&t, run.target, sizeof run.target);
        run.tty = isatty(STDOUT_FILENO);
        signal(SIGPIPE, SIG_IGN);

        int fd = -EBADF;
        int r = target_connect(&t, (int)timeout_s * 1000, &fd);
        if (r < 0) {
                fprintf(stderr, "ferry: stats: cannot connect to %s: %s\n", run.target, strerror(-r));
                return EXIT_CONNECT;
        }
        _cleanup_close_ int stop_fd = stop_signal_fd();
        struct fsroot root;
        (void)fsroot_open(NULL, false, &root); /* (nothing is read or written) */
        struct session_config cfg = {
                .initiator = true,
                .agent = "ferry/" FERRY_VERSION,
                .chunk_size = FY_MIN_CHUNK,
                .max_chunk = FY_MIN_CHUNK,
                .recv_window = FY_MIN_CHUNK,
                .depth = 2,
                .timeout_ms = (int)timeout_s * 1000,
                .stop_fd = stop_fd,
                .resync_padding = t.kind == TARGET_SERIAL,
                .compress = COMPRESS_OFF,
                .root = &root,
                .ops = &stats_ops,
                .userdata = &run,
        };
        if ((r = session_new(&cfg, fd, &run.s)) < 0) {
                safe_close(fd);
                fprintf(stderr, "ferry: stats: %s\n", strerror(-r));
                return EXIT_FAILED;
        }
        int ret = EXIT_OK;
        if ((r = session_handshake(run.s)) < 0) {
                fprintf(stderr, "ferry: stats: %s: %s\n", run.target, session_error(run.s) ? session_error(run.s) : strerror(-r));
                ret = EXIT_CONNECT;
                goto out;
        }
        const struct fy_hello *peer = session_peer(run.s);
        run.agent = peer->agent[0] ? peer->agent : "ferryd";
        if (!(peer->features & FY_FEAT_STATS)) {
                fprintf(stderr, "ferry: stats: %s (%s) does not offer stats (feature bit 6): it is older than this ferry\n",
                        run.target, peer->agent[0] ? peer->agent : "no agent string");
                ret = EXIT_FAILED;
                goto out;
        }
        if ((r = session_stats(run.s, 0)) < 0 || (r = session_run(run.s)) < 0 || (r = run.err) < 0) {
                if (r == -ECANCELED && run.watch && run.answers) /* ^C ends --watch */
                        goto out;
                fprintf(stderr, "ferry: stats: %s: %s\n", run.target, session_error(run.s) ? session_error(run.s) : strerror(-r));
                ret = EXIT_SESSION;
        }
out:
        session_free(run.s);
        fsroot_close(&root);
        return ret;
}
