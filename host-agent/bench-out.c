/* SPDX-License-Identifier: MIT */
/*
 * ferry bench: its figures, as a table for a person or one JSON document
 * for a script (bench.h).
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "report.h"
#include "base/util.h"

/* ---- figures ---------------------------------------------------------- */

double bench_mb_per_s(const struct bench_cell *c) {
        if (c->err || !c->ran || c->t1 <= c->t0)
                return 0;
        return (double)c->bytes / ((double)(c->t1 - c->t0) / 1e9) / 1e6;
}

double bench_ratio(const struct bench_report *r, const struct bench_cell *c) {
        double raw = r->raw[c->dir];
        return raw > 0 ? bench_mb_per_s(c) / raw : 0;
}

const char *bench_dir_name(enum bench_dir d) { return d == BENCH_PUSH ? "push" : "pull"; }
const char *bench_pattern_name(uint32_t p) { return p == FY_BENCH_TEXT ? "text" : "random"; }
const char *bench_compress_name(enum compress_mode m) {
        return m == COMPRESS_OFF ? "off" : m == COMPRESS_ZSTD ? "zstd" : "auto";
}

const char *bench_size_name(uint64_t v, char buf[32]) {
        const char *suf = "KMGT";
        int i = -1;
        while (v >= 1024 && v % 1024 == 0 && i < 3) {
                v /= 1024;
                i++;
        }
        snprintf(buf, 32, "%llu%.*s", (unsigned long long)v, i >= 0 ? 1 : 0, i >= 0 ? suf + i : "");
        return buf;
}

/* ---- output ----------------------------------------------------------- */

static void rtt_of(const struct bench_cell *c, struct rtt_summary *ret, uint64_t *ret_p90, bool *ret_has_p90) {
        if (c->rtt.count) {
                *ret = (struct rtt_summary){ .count = c->rtt.count, .p50_us = lat_quantile(&c->rtt, 0.5),
                                             .p99_us = lat_quantile(&c->rtt, 0.99), .max_us = c->rtt.max_us };
                *ret_p90 = lat_quantile(&c->rtt, 0.9);
                *ret_has_p90 = true;
        } else {
                *ret = c->peer_rtt;
                *ret_p90 = 0;
                *ret_has_p90 = false;
        }
}

static void json_cell(FILE *f, const struct bench_report *rep, const struct bench_cell *c) {
        struct rtt_summary rt;
        uint64_t p90;
        bool has90;
        rtt_of(c, &rt, &p90, &has90);
        double secs = c->t1 > c->t0 ? (double)(c->t1 - c->t0) / 1e9 : 0;
        fprintf(f, "{\"kind\":\"%s\",\"direction\":\"%s\",\"sweep\":\"%s\",\"chunk\":%u,\"chunk_used\":%u,"
                   "\"window\":%llu,\"window_used\":%llu,\"compress\":\"%s\",\"data\":\"%s\",\"status\":\"%s\"",
                c->kind == BENCH_RAW ? "raw" : "e2e", bench_dir_name(c->dir), c->sweep, c->chunk, c->chunk_used,
                (unsigned long long)c->window, (unsigned long long)c->window_used, bench_compress_name(c->compress),
                bench_pattern_name(c->pattern), c->err ? "error" : c->ran ? "ok" : "not run");
        if (c->err) {
                fprintf(f, ",\"error\":");
                report_json_str(f, c->text);
        }
        fprintf(f, ",\"mb_per_s\":%.3f,\"ratio\":%.4f,\"files\":%llu,\"bytes\":%llu,\"seconds\":%.6f,"
                   "\"wire_bytes\":%llu,\"chunks\":%llu,\"chunks_compressed\":%llu,\"retransmits\":%llu",
                bench_mb_per_s(c), bench_ratio(rep, c), (unsigned long long)c->files, (unsigned long long)c->bytes,
                secs, (unsigned long long)c->wire_bytes, (unsigned long long)c->chunks,
                (unsigned long long)c->chunks_compressed, (unsigned long long)c->retransmits);
        fprintf(f, ",\"rtt_us\":{\"count\":%llu,\"p50\":%llu,\"p90\":", (unsigned long long)rt.count,
                (unsigned long long)rt.p50_us);
        if (has90)
                fprintf(f, "%llu", (unsigned long long)p90);
        else
                fprintf(f, "null");
        fprintf(f, ",\"p99\":%llu,\"max\":%llu,\"measured_by\":\"%s\"}", (unsigned long long)rt.p99_us,
                (unsigned long long)rt.max_us, c->dir == BENCH_PUSH ? "ferry" : "ferryd");
        if (c->waits_known) {
                fprintf(f, ",\"waits_s\":{");
                for (int k = 0; k < 6; k++)
                        fprintf(f, "%s\"%s\":%.6f", k ? "," : "", wait_kind_name[k], (double)c->wait_ns[k] / 1e9);
                fprintf(f, "}");
        } else {
                fprintf(f, ",\"waits_s\":null");
        }
        fprintf(f, "}");
}

void bench_print_json(const struct bench_report *rep, FILE *f) {
        size_t failed = 0;
        for (size_t i = 0; i < rep->ncells; i++)
                failed += rep->cells[i].err != 0;
        fprintf(f, "{\"op\":\"bench\",\"target\":");
        report_json_str(f, rep->target);
        fprintf(f, ",\"agent\":");
        report_json_str(f, rep->agent);
        fprintf(f, ",\"size\":%llu,\"duration_s\":%.3f,\"peer\":{\"max_chunk\":%u,\"window\":%llu},\"raw_mb_per_s\":{",
                (unsigned long long)rep->size, rep->duration_s, rep->peer_max_chunk,
                (unsigned long long)rep->peer_window);
        bool any = false;
        for (int d = 0; d < 2; d++)
                if (rep->dir[d]) {
                        fprintf(f, "%s\"%s\":%.3f", any ? "," : "", bench_dir_name((enum bench_dir)d), rep->raw[d]);
                        any = true;
                }
        fprintf(f, "},\"raw\":[");
        any = false;
        for (size_t i = 0; i < rep->ncells; i++)
                if (rep->cells[i].kind == BENCH_RAW) {
                        fprintf(f, "%s", any ? "," : "");
                        json_cell(f, rep, &rep->cells[i]);
                        any = true;
                }
        fprintf(f, "],\"cells\":[");
        any = false;
        for (size_t i = 0; i < rep->ncells; i++)
                if (rep->cells[i].kind == BENCH_E2E) {
                        fprintf(f, "%s\n", any ? "," : "");
                        json_cell(f, rep, &rep->cells[i]);
                        any = true;
                }
        fprintf(f, "],\"failed\":%zu,\"status\":\"%s\"}\n", failed, failed ? "error" : "ok");
}

/* "0.41 s busy" - the sender's total wait and its biggest cause. */
static void fmt_waits(const struct bench_cell *c, char *buf, size_t len) {
        static const char *const short_name[6] = { "busy", "our rate", "its rate", "its cpu", "pressure", "writeback" };
        if (!c->waits_known) {
                snprintf(buf, len, "(ferryd's)");
                return;
        }
        uint64_t total = 0;
        int top = 0;
        for (int k = 0; k < 6; k++) {
                total += c->wait_ns[k];
                if (c->wait_ns[k] > c->wait_ns[top])
                        top = k;
        }
        if (total < 1000000)
                snprintf(buf, len, "-");
        else
                snprintf(buf, len, "%.2f s %s", (double)total / 1e9, short_name[top]);
}

static void fmt_rtt(const struct bench_cell *c, char *buf, size_t len) {
        struct rtt_summary rt;
        uint64_t p90;
        bool has90;
        rtt_of(c, &rt, &p90, &has90);
        if (!rt.count) {
                snprintf(buf, len, "-");
                return;
        }
        char p90s[32] = "-";
        if (has90)
                snprintf(p90s, sizeof p90s, "%.1f", (double)p90 / 1000);
        snprintf(buf, len, "%.1f/%s/%.1f/%.1f", (double)rt.p50_us / 1000, p90s, (double)rt.p99_us / 1000,
                 (double)rt.max_us / 1000);
}

void bench_print_table(const struct bench_report *rep, FILE *f) {
        char s1[32], s2[32], s3[32];
        fprintf(f, "ferry bench %s (%s): %s per file, %.1f s per cell\n", rep->target,
                rep->agent[0] ? rep->agent : "?", bench_size_name(rep->size, s1), rep->duration_s);
        fprintf(f, "ferryd takes chunks up to %s and grants a window of %s\n", bench_size_name(rep->peer_max_chunk, s2),
                bench_size_name(rep->peer_window, s3));
        fprintf(f, "\n%-4s %-4s %6s %6s %-8s %-6s %9s %6s  %-23s %s\n", "dir", "what", "chunk", "window", "compress",
                "data", "MB/s", "x raw", "rtt ms p50/p90/p99/max", "sender waited");
        bool capped = false, e2e_seen = false;
        for (size_t i = 0; i < rep->ncells; i++) {
                const struct bench_cell *c = &rep->cells[i];
                if (c->kind == BENCH_E2E && !e2e_seen) {
                        fprintf(f, "\n");
                        e2e_seen = true;
                }
                char chunk[40], window[40], rtt[64], waits[48];
                bench_size_name(c->chunk, s1);
                if (c->chunk_used && c->chunk_used < c->chunk) {
                        snprintf(chunk, sizeof chunk, "%s*", s1);
                        capped = true;
                } else {
                        snprintf(chunk, sizeof chunk, "%s", s1);
                }
                bench_size_name(c->window, s2);
                if (c->window_used && c->window_used < c->window) {
                        snprintf(window, sizeof window, "%s*", s2);
                        capped = true;
                } else {
                        snprintf(window, sizeof window, "%s", s2);
                }
                fprintf(f, "%-4s %-4s %6s %6s %-8s %-6s ", bench_dir_name(c->dir), c->kind == BENCH_RAW ? "raw" : "e2e",
                        chunk, window, bench_compress_name(c->compress), bench_pattern_name(c->pattern));
                if (c->err) {
                        fprintf(f, "failed: %s\n", c->text);
                        continue;
                }
                if (!c->ran) {
                        fprintf(f, "not run\n");
                        continue;
                }
                fmt_rtt(c, rtt, sizeof rtt);
                fmt_waits(c, waits, sizeof waits);
                fprintf(f, "%9.1f %6.3f  %-23s %s\n", bench_mb_per_s(c), bench_ratio(rep, c), rtt, waits);
        }
        fprintf(f, "\nraw: bench mode, bytes made in memory and checked, nothing on disk.  e2e: a real file\n"
                   "into ferryd's root (digests, fsync) and back.  x raw: of the raw ceiling that way.\n"
                   "rtt: a chunk sent -> its credit back; pull as ferryd measured it (no p90).\n");
        if (capped)
                fprintf(f, "*: ferryd used less (its --max-chunk, --chunk-size or --window): see --json\n");
}
