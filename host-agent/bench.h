/* SPDX-License-Identifier: MIT */
/*
 * ferry bench: what one run measured, shared by the runner (bench.c), its
 * table and JSON (bench-out.c) and the picture (bench-svg.c).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "session/session.h"

enum bench_dir { BENCH_PUSH = 0, BENCH_PULL = 1 };
enum bench_kind {
        BENCH_RAW, /* bench mode: made in memory, checked and dropped (PROTOCOL.md 9.11) */
        BENCH_E2E, /* real files: disk, digests, fsync, into ferryd's root and back */
};

/* One measurement: files of one kind, one direction, one configuration,
 * moved back to back for the run's duration. */
struct bench_cell {
        /* what was asked */
        enum bench_kind kind;
        enum bench_dir dir;
        const char *sweep;      /* why it is in the run: "raw", "chunk", "window", "data" */
        uint32_t chunk;         /* --chunk-size of the session */
        uint64_t window;        /* push: the most we keep in flight; pull: what we grant */
        enum compress_mode compress;
        uint32_t pattern;       /* FY_BENCH_RANDOM or FY_BENCH_TEXT */
        /* what happened */
        bool ran;
        int err;                /* 0, or -errno: the cell failed (text says why) */
        char text[FY_MAX_TEXT + 1];
        uint64_t t0, t1;        /* first file queued, last verdict (ns) */
        uint64_t files, bytes, wire_bytes, chunks, chunks_compressed, retransmits;
        uint32_t chunk_used;    /* the chunk the sender used (bytes / chunks) */
        uint64_t window_used;   /* push: min(ours, ferryd's); pull: ours */
        struct lat_hist rtt;    /* push: chunk round trips, measured here */
        struct rtt_summary peer_rtt; /* pull: as ferryd measured them (no p90) */
        bool waits_known;       /* push: the sender is us */
        uint64_t wait_ns[6];    /* by enum wait_kind */
};

struct bench_report {
        char target[256];
        char agent[FY_MAX_AGENT + 1];  /* ferryd's */
        uint32_t peer_max_chunk;
        uint64_t peer_window;
        uint64_t size;
        double duration_s;
        struct bench_cell *cells;      /* raw cells first */
        size_t ncells;
        bool dir[2];                   /* the directions measured */
        double raw[2];                 /* MB/s by direction; 0: not measured */
};

double bench_mb_per_s(const struct bench_cell *c);
/* Of the raw ceiling in its direction; 0 when there is none. */
double bench_ratio(const struct bench_report *r, const struct bench_cell *c);

const char *bench_dir_name(enum bench_dir d);
const char *bench_pattern_name(uint32_t pattern);
const char *bench_compress_name(enum compress_mode m);
/* 65536 -> "64K", 33554432 -> "32M" (only exact multiples get a suffix). */
const char *bench_size_name(uint64_t v, char buf[32]);

/* A table for a person; one JSON document (raw_mb_per_s by direction, a
 * "cells" array of objects with mb_per_s and ratio) for a script. */
void bench_print_table(const struct bench_report *r, FILE *f);
void bench_print_json(const struct bench_report *r, FILE *f);

/* The picture: throughput against chunk size (end to end, each direction,
 * with the raw ceilings) and the chunk round-trip CDF of each push cell of
 * the chunk sweep.  A self-contained SVG 1.1 document. */
int bench_svg(const struct bench_report *r, FILE *f);
