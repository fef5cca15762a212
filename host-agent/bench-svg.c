/* SPDX-License-Identifier: MIT */
/*
 * ferry bench --svg: two plots in one hand-written SVG 1.1 document (a text
 * format: no library).  Left, MB/s against chunk size for the end-to-end
 * cells of the chunk sweep, each direction a line, the raw ceilings dashed
 * across.  Right, the chunk round-trip CDF of each push cell of that sweep
 * (and of the raw push), from its histogram (telemetry.h); pulls have only
 * ferryd's p50/p99/max, not a distribution.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "base/util.h"

#define W 1000
#define H 460
#define PW 390 /* plot width and height */
#define PH 300
#define AX 70  /* left plot's origin (top left corner of its area) */
#define AY 70
#define BX 570 /* right plot's */
#define BY 70

static const char *const palette[] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                                       "#e377c2", "#17becf" };

static void xml_text(FILE *f, const char *s) {
        for (; *s; s++) {
                switch (*s) {
                case '<': fputs("&lt;", f); break;
                case '>': fputs("&gt;", f); break;
                case '&': fputs("&amp;", f); break;
                case '"': fputs("&quot;", f); break;
                default:
                        if ((unsigned char)*s >= 0x20)
                                fputc(*s, f);
                }
        }
}

/* Logarithms for axes, without libm (ferry.static links none): v = m 2^e
 * with m in [1, 2), ln m = 2 atanh((m-1)/(m+1)) by its series - plenty for
 * a pixel. */
static double log2_(double v) {
        if (v <= 0)
                return 0;
        double e = 0;
        while (v >= 2) {
                v /= 2;
                e++;
        }
        while (v < 1) {
                v *= 2;
                e--;
        }
        double t = (v - 1) / (v + 1), t2 = t * t, sum = 0, term = t;
        for (int k = 1; k < 24; k += 2, term *= t2)
                sum += term / k;
        return e + 2 * sum / 0.6931471805599453;
}
static double log10_(double v) { return log2_(v) * 0.30102999566398120; }
static double pow10_(int e) {
        double p = 1;
        for (; e > 0; e--)
                p *= 10;
        for (; e < 0; e++)
                p /= 10;
        return p;
}
static int floor_(double v) { return (int)v - ((double)(int)v > v); }
static int ceil_(double v) { return (int)v + ((double)(int)v < v); }

/* A round upper bound for an axis: 1, 2 or 5 times a power of ten. */
static double nice_ceil(double v) {
        if (v <= 0)
                return 1;
        double p = pow10_(floor_(log10_(v)));
        for (;; p *= 10)
                for (int m = 1; m <= 5; m += m == 1 ? 1 : 3)
                        if (m * p >= v * (1 - 1e-9))
                                return m * p;
}

static uint32_t cell_chunk(const struct bench_cell *c) {
        return c->chunk_used ? c->chunk_used : c->chunk;
}

static void frame(FILE *f, int x, int y, const char *title) {
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafafa\" stroke=\"#888\"/>\n", x, y, PW, PH);
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"15\" font-weight=\"bold\" text-anchor=\"middle\">", x + PW / 2,
                y - 12);
        xml_text(f, title);
        fprintf(f, "</text>\n");
}

/* Left: MB/s against chunk size. */
static void plot_throughput(FILE *f, const struct bench_report *r) {
        frame(f, AX, AY, "End to end: MB/s against chunk size");
        uint32_t lo = UINT32_MAX, hi = 0;
        double ymax = MAX(r->raw[0], r->raw[1]);
        for (size_t i = 0; i < r->ncells; i++) {
                const struct bench_cell *c = &r->cells[i];
                if (c->kind != BENCH_E2E || strcmp(c->sweep, "chunk") || c->err || !c->ran ||
                    (c->chunk_used && c->chunk_used < c->chunk))
                        continue;
                lo = MIN(lo, cell_chunk(c));
                hi = MAX(hi, cell_chunk(c));
                ymax = MAX(ymax, bench_mb_per_s(c));
        }
        if (!hi) {
                fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\">no end-to-end cells</text>\n",
                        AX + PW / 2, AY + PH / 2);
                return;
        }
        if (lo == hi) {
                lo = MAX(lo / 2, 1u);
                hi *= 2;
        }
        ymax = nice_ceil(ymax * 1.08);
        double lx0 = log2_(lo) - 0.25, lx1 = log2_(hi) + 0.25;
#define XOF(v) (AX + (log2_((double)(v)) - lx0) / (lx1 - lx0) * PW)
#define YOF(v) (AY + PH - (v) / ymax * PH)
        /* y grid and labels */
        for (int k = 0; k <= 5; k++) {
                double v = ymax * k / 5;
                fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", AX, YOF(v), AX + PW, YOF(v));
                fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.0f</text>\n", AX - 5, YOF(v) + 4, v);
        }
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 %d %d)\">MB/s</text>\n",
                AX - 48, AY + PH / 2, AX - 48, AY + PH / 2);
        /* x ticks at every chunk measured */
        for (size_t i = 0; i < r->ncells; i++) {
                const struct bench_cell *c = &r->cells[i];
                if (c->kind != BENCH_E2E || strcmp(c->sweep, "chunk") || c->err || !c->ran ||
                    (c->chunk_used && c->chunk_used < c->chunk))
                        continue;
                char lab[32];
                double x = XOF(cell_chunk(c));
                fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", x, AY, x, AY + PH);
                fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n", x, AY + PH + 16,
                        bench_size_name(cell_chunk(c), lab));
        }
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">chunk size (bytes, log scale)</text>\n",
                AX + PW / 2, AY + PH + 36);
        /* the raw ceilings */
        for (int d = 0; d < 2; d++) {
                if (r->raw[d] <= 0)
                        continue;
                fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\" "
                           "stroke-dasharray=\"8 5\"/>\n", AX, YOF(r->raw[d]), AX + PW, YOF(r->raw[d]), palette[d]);
                fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" fill=\"%s\" text-anchor=\"end\">raw %s %.0f MB/s</text>\n",
                        AX + PW - 4, YOF(r->raw[d]) - 4, palette[d], d == BENCH_PUSH ? "push" : "pull", r->raw[d]);
        }
        /* each direction: a line through its cells, by chunk size */
        for (int d = 0; d < 2; d++) {
                const struct bench_cell *pts[16];
                size_t n = 0;
                for (size_t i = 0; i < r->ncells && n < 16; i++) {
                        const struct bench_cell *c = &r->cells[i];
                        if (c->kind == BENCH_E2E && (int)c->dir == d && !strcmp(c->sweep, "chunk") && !c->err && c->ran &&
                            !(c->chunk_used && c->chunk_used < c->chunk)) /* ferryd capped it: a point of another */
                                pts[n++] = c;
                }
                for (size_t i = 1; i < n; i++) /* by chunk, insertion sort */
                        for (size_t j = i; j > 0 && cell_chunk(pts[j]) < cell_chunk(pts[j - 1]); j--) {
                                const struct bench_cell *t = pts[j];
                                pts[j] = pts[j - 1];
                                pts[j - 1] = t;
                        }
                if (!n)
                        continue;
                fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" points=\"", palette[d]);
                for (size_t i = 0; i < n; i++)
                        fprintf(f, "%s%.1f,%.1f", i ? " " : "", XOF(cell_chunk(pts[i])), YOF(bench_mb_per_s(pts[i])));
                fprintf(f, "\"/>\n");
                for (size_t i = 0; i < n; i++)
                        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"%s\"><title>%s %.1f MB/s</title></circle>\n",
                                XOF(cell_chunk(pts[i])), YOF(bench_mb_per_s(pts[i])), palette[d],
                                d == BENCH_PUSH ? "push" : "pull", bench_mb_per_s(pts[i]));
        }
        /* legend */
        for (int d = 0; d < 2; d++) {
                int ly = AY + 14 + 18 * d;
                fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2.5\"/>\n", AX + 10, ly,
                        AX + 34, ly, palette[d]);
                fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\">%s end to end</text>\n", AX + 40, ly + 4,
                        d == BENCH_PUSH ? "push" : "pull");
        }
#undef XOF
#undef YOF
}

/* Right: the chunk round-trip CDF of the push cells. */
static void plot_cdf(FILE *f, const struct bench_report *r) {
        frame(f, BX, BY, "Chunk round trip (push): CDF");
        const struct bench_cell *cs[12];
        size_t n = 0;
        uint64_t lo = UINT64_MAX, hi = 0;
        for (size_t i = 0; i < r->ncells && n < 12; i++) {
                const struct bench_cell *c = &r->cells[i];
                if (c->dir != BENCH_PUSH || !c->rtt.count || c->err ||
                    (c->kind == BENCH_E2E && strcmp(c->sweep, "chunk")) || (c->chunk_used && c->chunk_used < c->chunk))
                        continue;
                cs[n++] = c;
                lo = MIN(lo, MAX(lat_quantile(&c->rtt, 0.0), (uint64_t)1));
                hi = MAX(hi, c->rtt.max_us);
        }
        if (!n) {
                fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"13\" text-anchor=\"middle\">no push cells (the sender "
                           "measures round trips)</text>\n", BX + PW / 2, BY + PH / 2);
                return;
        }
        int l0 = floor_(log10_((double)lo)), l1 = ceil_(log10_((double)MAX(hi, lo * 10)));
#define XOF(v) (BX + (log10_((double)MAX((v), (uint64_t)1)) - l0) / (l1 - l0) * PW)
#define YOF(q) (BY + PH - (q) * PH)
        for (int e = l0; e <= l1; e++) {
                double x = BX + (double)(e - l0) / (l1 - l0) * PW, us = pow10_(e);
                fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", x, BY, x, BY + PH);
                if (us >= 1000)
                        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%g ms</text>\n", x,
                                BY + PH + 16, us / 1000);
                else
                        fprintf(f, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%g µs</text>\n", x,
                                BY + PH + 16, us);
        }
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">a chunk sent → its credit back (log "
                   "scale)</text>\n", BX + PW / 2, BY + PH + 36);
        static const double qs[] = { 0, 0.25, 0.5, 0.75, 0.9, 0.99, 1 };
        for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
                bool mark = qs[k] == 0.5 || qs[k] == 0.9 || qs[k] == 0.99;
                fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\"%s/>\n", BX, YOF(qs[k]), BX + PW,
                        YOF(qs[k]), mark ? "#bbb" : "#ddd", mark ? " stroke-dasharray=\"3 3\"" : "");
                if (mark) /* p50, p90, p99 inside, on the right: the left axis has the fractions */
                        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" fill=\"#777\" text-anchor=\"end\">p%g</text>\n",
                                BX + PW - 3, YOF(qs[k]) - 2, qs[k] * 100);
                else
                        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%g</text>\n", BX - 5,
                                YOF(qs[k]) + 4, qs[k]);
        }
        for (size_t i = 0; i < n; i++) {
                const struct bench_cell *c = cs[i];
                const char *col = palette[(i + 2) % (sizeof palette / sizeof palette[0])];
                fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", col,
                        c->kind == BENCH_RAW ? " stroke-dasharray=\"6 4\"" : "");
                uint64_t prev = 0;
                for (int k = 0; k <= 200; k++) {
                        double q = k / 200.0;
                        uint64_t v = k == 200 ? c->rtt.max_us : lat_quantile(&c->rtt, q);
                        if (k && v == prev && k != 200)
                                continue; /* a step: one point for it */
                        if (k)
                                fprintf(f, " %.1f,%.1f", XOF(v), YOF(q)); /* rise at v ... */
                        else
                                fprintf(f, "%.1f,%.1f", XOF(v), YOF(0.0));
                        prev = v;
                }
                fprintf(f, "\"/>\n");
                char lab[32];
                int ly = BY + PH - 12 - 16 * (int)(n - 1 - i);
                fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"%s/>\n",
                        BX + PW - 150, ly, BX + PW - 126, ly, col, c->kind == BENCH_RAW ? " stroke-dasharray=\"6 4\"" : "");
                fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"12\">%s chunk %s</text>\n", BX + PW - 120, ly + 4,
                        c->kind == BENCH_RAW ? "raw," : "e2e,", bench_size_name(cell_chunk(c), lab));
        }
#undef XOF
#undef YOF
}

int bench_svg(const struct bench_report *r, FILE *f) {
        char lab[32];
        fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
                   "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
                   "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
                W, H, W, H);
        fprintf(f, "<text x=\"%d\" y=\"26\" font-size=\"17\" text-anchor=\"middle\">ferry bench ", W / 2);
        xml_text(f, r->target);
        fprintf(f, " (");
        xml_text(f, r->agent[0] ? r->agent : "?");
        fprintf(f, "), %s per file</text>\n", bench_size_name(r->size, lab));
        plot_throughput(f, r);
        plot_cdf(f, r);
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#555\" text-anchor=\"middle\">raw: bench mode, "
                   "nothing on disk; e2e: real files into ferryd's root (digests, fsync) and back</text>\n",
                W / 2, H - 12);
        fprintf(f, "</svg>\n");
        return ferror(f) ? -EIO : 0;
}
