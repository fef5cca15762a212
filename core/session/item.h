/* SPDX-License-Identifier: MIT */
/*
 * Items: what the sending side has to send - a file, a directory or a
 * symbolic link of a tree, a whole tree, a GET's answer - and lists of
 * them.  And the source of a file item: opened safely, described in a
 * FILE_BEGIN - or, in bench mode (FY_FB_BENCH), no file at all but bytes
 * made in memory.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "session/session.h"
#include "wire.h"

struct sctx;
struct fsroot;

struct tx_item {
        struct tx_item *next;
        uint32_t xfer_id;
        enum entry_kind kind;
        bool is_get;        /* answers a GET: path is under our root */
        uint32_t mode;      /* MKDIR, attributes */
        struct timespec mtime;
        char *target;       /* SYMLINK, owned */
        /* An entry of a tree: opened as path + below, beneath the tree's
         * top directory (owned by the tree, which outlives its entries),
         * following no symlink - never by its whole path, which a swapped
         * directory could send elsewhere.  NULL: path as it is. */
        struct fsroot *base;
        uint32_t below;
        char path[FY_MAX_PATH + 1]; /* where to read it */
        char dest[FY_MAX_PATH + 1]; /* FILE_BEGIN's dest */
        char name[FY_MAX_NAME + 1]; /* FILE_BEGIN's name */
        uint32_t flags;     /* FILE_BEGIN's flags; a tree: ITEM_MAKE_PARENT */
        uint32_t chunk;     /* GET: the largest chunk the host wants, 0: any */
        uint32_t query;     /* ENTRY_FILE: 0, or ask first: ITEM_QUERY_* */
        int unreadable;     /* -errno: an entry the walk could not read (pulled tree) */
        bool answered;      /* the RESUME_STATE arrived */
        bool delta;         /* sent as a delta (FY_FB_DELTA): chunks the receiver
                             * lacked come back as CHUNK_NACK ENOENT */
        struct fy_resume_state state;
        struct stat st;     /* what the query said of the file */
        struct stat opened; /* the source as it was when opened for sending */
        int fd;             /* its source, kept open after FILE_END for re-sends
                             * (FY_FEAT_RESEND) until the verdict; owned */
        /* Bench mode (FY_FB_BENCH in flags): no file, bench_size bytes of
         * bench_pattern (FY_BENCH_*), made by item_bench_fill */
        uint64_t bench_size;
        uint32_t bench_pattern;
        struct file_result res;
};
#define ITEM_MAKE_PARENT 1u      /* tx_item.flags of a tree: MKDIR dest's parent first */
#define ITEM_QUERY_ASK 1u        /* send RESUME_QUERY before the file */
#define ITEM_QUERY_CHECKSUM 2u   /* ... with FY_RQ_CHECKSUM */

struct tx_item *item_new(uint32_t id);
void item_free(struct tx_item *it);

/* A FIFO of items. */
struct item_list {
        struct tx_item *head, *tail;
        unsigned n;
};
void items_push(struct item_list *l, struct tx_item *it);
struct tx_item *items_pop(struct item_list *l);
/* Unlink and return the item with this id (NULL: none). */
struct tx_item *items_take(struct item_list *l, uint32_t id);
struct tx_item *items_find(const struct item_list *l, uint32_t id);
void items_free(struct item_list *l);

/* Open a file item's source: a regular file, read-only, blocking.  A tree's
 * entry resolves beneath the tree (it->base), a GET's path beneath root; an
 * entry that is (or lies below) a symlink now is refused (-ELOOP).
 * -EISDIR, -EOPNOTSUPP (not a regular file). */
int item_open_source(struct fsroot *root, const struct tx_item *it, int *ret_fd, struct stat *ret_st);
/* Whether the source, open as fd since it->opened was taken, changed while
 * it was read (size, mtime, ctime; or its name now leads to another file,
 * or none): tar's "file changed as we read it".  What was sent then
 * matches no version of the file, and the file fails (a rerun sends it). */
bool item_source_changed(struct fsroot *root, const struct tx_item *it, int fd);
/* The FILE_BEGIN (or, for a query, its copy) that describes it. */
void item_describe(const struct sctx *c, const struct tx_item *it, const struct stat *st, struct fy_file_begin *ret);
/* Same size and mtime: the same version of a file, as far as we can tell. */
bool item_same_version(const struct stat *a, const struct stat *b);

/* Bench mode (PROTOCOL.md 9.11): a file item whose bytes are made, not read.
 * item_open_source gives it no descriptor (-EBADF) and a stat of its size. */
static inline bool item_is_bench(const struct tx_item *it) {
        return it->kind == ENTRY_FILE && (it->flags & FY_FB_BENCH);
}
/* The len bytes at file offset off of a bench item's pattern, into p.  A
 * function of (pattern, off) alone: a chunk sent again is the same chunk.
 * Random runs at about memory speed (~5 GB/s here), text faster. */
void item_bench_fill(uint8_t *p, uint32_t len, uint64_t off, uint32_t pattern);
