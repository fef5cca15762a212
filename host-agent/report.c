/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "report.h"
#include "base/text.h"
#include "base/util.h"

void report_json_str(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c < 0x20)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
        fputc('"', f);
}

void report_item(const char *op, const char *domain, const struct job_item *it, bool json, bool verbose,
                 enum target_kind kind, bool uring) {
        bool push = !strcmp(op, "push");
        report_result(op, domain, push ? it->local : it->remote, push ? it->remote : it->local, &it->res, json,
                      verbose, kind, uring);
}

/* "web1: " before a line about domain web1's run */
#define DOM_FMT "%s%s"
#define DOM_ARG(d) (d) ? (d) : "", (d) ? ": " : ""

static void json_start(FILE *f, const char *op, const char *domain) {
        flockfile(f);
        fprintf(f, "{\"op\":\"%s\"", op);
        if (domain) {
                fprintf(f, ",\"domain\":");
                report_json_str(f, domain);
        }
}

static void json_end(FILE *f) {
        fputs("}\n", f);
        fflush(f);
        funlockfile(f);
}

void report_result(const char *op, const char *domain, const char *src, const char *dst, const struct file_result *r,
                   bool json, bool verbose, enum target_kind kind, bool uring) {
        const struct xfer_stats *st = &r->stats;
        bool tree = r->kind == ENTRY_TREE;
        uint64_t entries = r->files + r->dirs + r->symlinks + r->failed;
        double secs = st->end_ns > st->start_ns ? (double)(st->end_ns - st->start_ns) / 1e9 : 0;
        double mbps = secs > 0 ? (double)st->bytes / secs / 1e6 : 0;
        char digest[33] = "";
        struct rtt_summary rtt;
        xfer_rtt(st, &rtt);
        for (int i = 0; i < 16 && !r->err; i++)
                snprintf(digest + 2 * i, 3, "%02x", r->digest[i]);
        /* For the terminal: what the guest said, and the entry names of a
         * pulled tree (the guest's), shown with their control characters
         * escaped (base/text.h); --json has its own escaping. */
        char src_t[2 * FY_MAX_PATH + 1], dst_t[2 * FY_MAX_PATH + 1], text_t[2 * FY_MAX_TEXT + 1];
        const char *json_src = src, *json_dst = dst;
        src = text_escape(src_t, sizeof src_t, src);
        dst = text_escape(dst_t, sizeof dst_t, dst);
        text_escape(text_t, sizeof text_t, r->text);

        if (r->err && tree && r->failed) { /* each failed entry was named already */
                fprintf(stderr, "ferry: " DOM_FMT "%s '%s': %llu of %llu entries failed\n", DOM_ARG(domain), op, src,
                        (unsigned long long)r->failed, (unsigned long long)entries);
        } else if (r->err) {
                fprintf(stderr, "ferry: " DOM_FMT "%s '%s': %s%s\n", DOM_ARG(domain), op, src, r->remote ? "guest: " : "",
                        r->text[0] ? text_t : strerror(-r->err));
        } else if (verbose && r->skipped) {
                fprintf(stderr, "ferry: " DOM_FMT "%s '%s' -> '%s': skipped, the destination has it (%llu bytes)\n", DOM_ARG(domain), op, src, dst,
                        (unsigned long long)r->size);
        } else if (verbose && tree) {
                fprintf(stderr, "ferry: " DOM_FMT "%s '%s' -> '%s': %llu files (%llu skipped), %llu directories, "
                                "%llu symlinks, %llu bytes in %.3f s, %.1f MB/s, %.0f files/s\n",
                        DOM_ARG(domain), op, src, dst, (unsigned long long)r->files, (unsigned long long)r->skipped_files,
                        (unsigned long long)r->dirs,
                        (unsigned long long)r->symlinks, (unsigned long long)st->bytes, secs, mbps,
                        secs > 0 ? (double)r->files / secs : 0);
        } else if (verbose) {
                fprintf(stderr, "ferry: " DOM_FMT "%s '%s' -> '%s': %llu bytes in %.3f s, %.1f MB/s%s, %llu chunks, "
                                "chunk rtt p50 %llu us p99 %llu us max %llu us\n",
                        DOM_ARG(domain), op, src, dst, (unsigned long long)st->bytes, secs, mbps,
                        st->bytes_skipped ? " (resumed)" : "", (unsigned long long)st->chunks,
                        (unsigned long long)rtt.p50_us, (unsigned long long)rtt.p99_us, (unsigned long long)rtt.max_us);
        }
        if (!json)
                return;
        FILE *f = stdout;
        json_start(f, op, domain);
        fprintf(f, ",\"source\":");
        report_json_str(f, json_src);
        fprintf(f, ",\"dest\":");
        report_json_str(f, json_dst);
        static const char *const kinds[] = { "file", "tree", "dir", "dir", "symlink" };
        fprintf(f, ",\"kind\":\"%s\",\"transport\":\"%s\",\"status\":\"%s\"", kinds[r->kind],
                target_kind_name(kind), r->err ? "error" : "ok");
        if (tree)
                fprintf(f, ",\"files\":%llu,\"dirs\":%llu,\"symlinks\":%llu,\"failed\":%llu,\"files_per_s\":%.1f",
                        (unsigned long long)r->files, (unsigned long long)r->dirs, (unsigned long long)r->symlinks,
                        (unsigned long long)r->failed, secs > 0 ? (double)r->files / secs : 0);
        if (r->err) {
                fprintf(f, ",\"error\":");
                char msg[FY_MAX_TEXT + 16];
                snprintf(msg, sizeof msg, "%s%s", r->remote ? "guest: " : "", r->text[0] ? r->text : strerror(-r->err));
                report_json_str(f, msg);
        }
        fprintf(f, ",\"wire_bytes\":%llu,\"chunks_compressed\":%llu,\"chunks_kept\":%llu", (unsigned long long)st->wire_bytes,
                (unsigned long long)st->chunks_compressed, (unsigned long long)st->chunks_kept);
        fprintf(f, ",\"bytes\":%llu,\"seconds\":%.6f,\"mb_per_s\":%.1f,\"chunks\":%llu,\"retransmits\":%llu,"
                   "\"credit_wait_seconds\":%.6f,\"rtt_us\":{\"count\":%llu,\"p50\":%llu,\"p99\":%llu,\"max\":%llu}",
                (unsigned long long)st->bytes, secs, mbps, (unsigned long long)st->chunks,
                (unsigned long long)st->retransmits, (double)st->credit_wait_ns / 1e9,
                (unsigned long long)rtt.count, (unsigned long long)rtt.p50_us, (unsigned long long)rtt.p99_us,
                (unsigned long long)rtt.max_us);
        fprintf(f, ",\"waits_s\":{");
        for (int i = 0; i < 6; i++)
                fprintf(f, "%s\"%s\":%.6f", i ? "," : "", wait_kind_name[i], (double)st->wait_ns[i] / 1e9);
        fprintf(f, "},\"skipped\":%s,\"bytes_skipped\":%llu,\"bytes_resent\":%llu", r->skipped ? "true" : "false",
                (unsigned long long)st->bytes_skipped, (unsigned long long)st->bytes_resent);
        if (tree)
                fprintf(f, ",\"files_skipped\":%llu", (unsigned long long)r->skipped_files);
        fprintf(f, ",\"receiver\":{\"dirty_peak_bytes\":%llu,\"rss_peak_bytes\":%llu}",
                (unsigned long long)st->dirty_peak, (unsigned long long)st->rss_peak);
        if (!r->err && !tree)
                fprintf(f, ",\"digest\":\"xxh3-128:%s\"", digest);
        fprintf(f, ",\"io\":\"%s\"", uring ? "io_uring" : "psync");
        json_end(f);
}

void report_summary(const char *op, const char *domain, const struct run_summary *m, bool json, bool verbose) {
        if (verbose)
                fprintf(stderr, "ferry: " DOM_FMT "%s: %llu files: %llu sent, %llu skipped, %llu failed; %llu bytes sent, "
                                "%llu skipped, %llu sent again after an interruption; %.3f s\n",
                        DOM_ARG(domain), op, (unsigned long long)m->files, (unsigned long long)m->done, (unsigned long long)m->skipped,
                        (unsigned long long)m->failed, (unsigned long long)m->bytes_sent,
                        (unsigned long long)m->bytes_skipped, (unsigned long long)m->bytes_resent, m->seconds);
        if (!json)
                return;
        json_start(stdout, op, domain);
        printf(",\"kind\":\"summary\",\"status\":\"%s\",\"files\":%llu,\"files_done\":%llu,"
               "\"files_skipped\":%llu,\"files_failed\":%llu,\"bytes_sent\":%llu,\"bytes_skipped\":%llu,"
               "\"bytes_resent\":%llu,\"wire_bytes\":%llu,\"chunks\":%llu,\"chunks_compressed\":%llu,"
               "\"compressed_share\":%.3f,\"chunks_kept\":%llu,\"seconds\":%.6f",
               m->failed ? "error" : "ok", (unsigned long long)m->files, (unsigned long long)m->done,
               (unsigned long long)m->skipped, (unsigned long long)m->failed, (unsigned long long)m->bytes_sent,
               (unsigned long long)m->bytes_skipped, (unsigned long long)m->bytes_resent,
               (unsigned long long)m->wire_bytes, (unsigned long long)m->chunks, (unsigned long long)m->chunks_compressed,
               m->chunks ? (double)m->chunks_compressed / (double)m->chunks : 0.0, (unsigned long long)m->chunks_kept,
               m->seconds);
        json_end(stdout);
}
