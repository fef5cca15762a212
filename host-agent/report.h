/* SPDX-License-Identifier: MIT */
/* How a file's outcome is told: an error line on stderr, a summary line
 * with -v, one JSON object per file with --json. */
#pragma once

#include <stdbool.h>

#include "session.h"
#include "transport.h"

struct job_item {
        const char *local, *remote;
        char name[FY_MAX_NAME + 1]; /* name the file takes in a directory */
        uint32_t xfer_id;
        bool done;
        struct file_result res;
};

void report_item(const char *op, const struct job_item *it, bool json, bool verbose, enum target_kind kind,
                 bool uring);
/* One outcome: a job item, or an entry of a tree (src/dst its own paths). */
void report_result(const char *op, const char *src, const char *dst, const struct file_result *r, bool json,
                   bool verbose, enum target_kind kind, bool uring);
