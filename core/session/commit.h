/* SPDX-License-Identifier: MIT */
/*
 * Committing small files in batches.  A file is only renamed into place
 * once its data is durable, and the rename made durable before the sender
 * hears "ok".  Doing that with an fsync of the file and of its directory
 * per file costs two synchronous disk round trips each, which is what
 * bounds a tree of small files; here verified small files wait until a
 * batch is full or the input goes quiet, then one syncfs makes the whole
 * batch durable, the renames follow, and a second syncfs makes the renames
 * durable - two flushes per batch instead of two per file.  syncfs also
 * writes other dirty data of that filesystem, which the dirty budget keeps
 * small for ferry's own files.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "session/session.h"
#include "wire.h"

#define COMMIT_MAX 32 /* files per batch (each needs an output slot for its status) */

struct sctx;

/* A verified file waiting for its batch: its descriptors and names. */
struct commit_file {
        int fd, dirfd;
        char tmpname[FY_MAX_NAME + 1];
        char name[FY_MAX_NAME + 1];
        char dest[FY_MAX_PATH + 1]; /* for messages */
        uint64_t dirty_peak;
        struct file_result res;
};

struct commits {
        struct commit_file *files; /* COMMIT_MAX, allocated on first use */
        unsigned n;
        uint64_t bytes;            /* their data, dirty until the batch commits */
        uint64_t budget;           /* most bytes a batch holds */
};

/* Waiting files are dirty: a batch stays within half the dirty budget, and
 * a receiver that dies loses at most one window of them (resent). */
void commits_init(struct commits *cm, uint64_t dirty_limit, uint64_t window);
/* The dirty budget changed (a share of ferryd's, session.h): batches from
 * now on follow it. */
void commits_set_budget(struct commits *cm, uint64_t dirty_limit, uint64_t window);
void commits_fini(struct commits *cm);
/* Whether a verified file of size bytes may join the batch. */
bool commits_want(const struct commits *cm, uint64_t size);
bool commits_pending(const struct commits *cm);
/* Take f over (its descriptors are the batch's now, even on failure). */
int commits_add(struct commits *cm, const struct commit_file *f);
/* Commit the batch: each file's FILE_STATUS goes out and it is reported.
 * 1: done; 0: nothing waits, or no room for the statuses yet; -errno. */
int commits_flush(struct commits *cm, struct sctx *c);
/* Drop the batch (the session broke): temporary files go. */
void commits_abort(struct commits *cm);
