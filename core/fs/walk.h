/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

#include "fs/pathsafe.h"
#include "wire.h"

#define WALK_MAX_DEPTH 128

struct walk_entry {
        enum { WALK_DIR, WALK_DIR_DONE, WALK_FILE, WALK_SYMLINK } kind;
        char src[FY_MAX_PATH + 1];    /* path to open, as given + below */
        size_t below;                 /* src + below: the path below the base ("" for it) */
        char rel[FY_MAX_PATH + 1];    /* path below the walk's base, prefixed */
        char target[FY_MAX_PATH + 1]; /* WALK_SYMLINK: where it points */
        struct stat st;               /* lstat of the entry */
};

struct walk;

/* Walk the directory src (opened through root), naming entries rel/...
 * The first entry is src itself (WALK_DIR), the last its WALK_DIR_DONE. */
int walk_new(struct fsroot *root, const char *src, const char *rel, struct walk **ret);
/* 1: *e is the next entry; 0: done; -errno: an entry could not be read
 * (e->src names it when known) and was skipped - the walk goes on. */
int walk_next(struct walk *w, struct walk_entry *e);
struct walk *walk_free(struct walk *w);
/* The base directory, as the walk opened it; valid until the walk ends
 * (duplicate it to keep it). */
int walk_base_fd(const struct walk *w);
