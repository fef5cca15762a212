/* SPDX-License-Identifier: MIT */
/*
 * Resume, receiving side (PROTOCOL.md 9.8): answering RESUME_QUERY, and the
 * record a completed file carries so that a rerun can skip it (fs/record.h).
 *
 * The answer is advice, never a commitment: whatever cannot be looked at
 * (a missing directory, an unreadable journal, another session's lock)
 * answers "send it all", and FILE_BEGIN then reports any real error.  A
 * rerun skips a file whose size and mtime match the sender's and whose
 * record still matches the file; where the filesystem keeps no user xattrs
 * (tmpfs before Linux 6.6), size and mtime alone decide, as rsync's quick
 * check does.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

#define RESUME_QUERIED 64 /* sizes of queried files remembered */

struct sctx;
struct place;
struct stale;

struct resume {
        /* host: the sizes the guest announced in its last queries (a file it
         * then skips has no FILE_BEGIN to say it) */
        struct { uint32_t id; uint64_t size; } queried[RESUME_QUERIED];
        unsigned nqueried;
        bool xattr_refused; /* the destination keeps no user xattrs */
};

int resume_on_query(struct resume *rs, struct sctx *c, struct place *pl, struct stale *st,
                    const struct fy_resume_query *q);
/* A file of b was verified with digest: record it on fd for a rerun. */
void resume_record(struct resume *rs, int fd, const struct fy_file_begin *b, const uint8_t digest[16]);
/* The size a query of transfer id announced; false if none is remembered. */
bool resume_queried_size(const struct resume *rs, uint32_t id, uint64_t *ret_size);
