/* SPDX-License-Identifier: MIT */
/* How a file's outcome is told: an error line on stderr, a summary line
 * with -v, one JSON object per file with --json. */
#pragma once

#include <stdbool.h>

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
        double seconds;
};
void report_summary(const char *op, const struct run_summary *sum, bool json, bool verbose);

void report_item(const char *op, const struct job_item *it, bool json, bool verbose, enum target_kind kind,
                 bool uring);
/* One outcome: a job item, or an entry of a tree (src/dst its own paths). */
void report_result(const char *op, const char *src, const char *dst, const struct file_result *r, bool json,
                   bool verbose, enum target_kind kind, bool uring);
