/* SPDX-License-Identifier: MIT */
/* A one-line progress meter on a terminal, redrawn at most 10 times a
 * second; silent when stderr is not a terminal so logs do not fill up. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct progress {
        bool enabled;
        const char *name;
        uint64_t start_ns, last_ns;
        uint64_t base;  /* bytes of earlier files */
        uint64_t total; /* bytes of all files, when known */
        bool drawn;
};

void progress_init(struct progress *p, bool enabled, uint64_t total);
/* file_total: the size of the current file (the whole job's total is not
 * known up front on a pull). */
void progress_update(struct progress *p, const char *name, uint64_t bytes_in_file, uint64_t file_total, bool force);
void progress_file_done(struct progress *p, uint64_t file_bytes);
void progress_clear(struct progress *p);
