/* SPDX-License-Identifier: MIT */
/* How a file's outcome is told: an error line on stderr, a summary line
 * with -v, one JSON object per file with --json. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "session/session.h"
#include "transport/transport.h"

struct job_item {
        const char *local, *remote;
        char name[FY_MAX_NAME + 1]; /* name the file takes in a directory */
        uint32_t xfer_id;
        bool done;
        uint64_t size_hint; /* pull: the size the guest announced (RESUME_QUERY) */
        struct file_result res;
};

/* What one run came to (a summary line): files by outcome, bytes by fate. */
struct run_summary {
        uint64_t files, done, skipped, failed;
        uint64_t bytes_sent, bytes_skipped, bytes_resent;
        uint64_t wire_bytes;               /* what bytes_sent took on the channel */
        uint64_t chunks, chunks_compressed; /* DATA frames, and of them zstd */
        uint64_t chunks_kept;               /* the receiver's own (a delta, --checksum) */
        double seconds;
};
/* domain: the libvirt domain the run went to (--domain), or NULL.  It
 * starts each line on stderr ("ferry: web1: push 'a.bin': ...") and tags
 * each JSON object ("domain":"web1").  Several threads may report at once:
 * a JSON object is written whole. */
void report_summary(const char *op, const char *domain, const struct run_summary *sum, bool json, bool verbose);

void report_item(const char *op, const char *domain, const struct job_item *it, bool json, bool verbose,
                 enum target_kind kind, bool uring);
/* One outcome: a job item, or an entry of a tree (src/dst its own paths). */
void report_result(const char *op, const char *domain, const char *src, const char *dst, const struct file_result *r,
                   bool json, bool verbose, enum target_kind kind, bool uring);
/* A JSON string (escaped) on f. */
void report_json_str(FILE *f, const char *s);
