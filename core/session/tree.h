/* SPDX-License-Identifier: MIT */
/*
 * Sending a directory tree: the tree item becomes a walk (fs/walk.h) whose
 * entries are turned into items a few at a time, so memory stays bounded
 * however many files the tree holds.  Entries flow like any other item -
 * no round trip per file - and each verdict is counted against the tree;
 * the tree is reported once the walk is over and every entry is settled.
 * One tree walks at a time.
 */
#pragma once

#include <stdbool.h>

#include "session/item.h"

#define TREE_AHEAD 16 /* entries turned into items ahead of sending */

struct sctx;
struct walk;

struct tree_tx {
        struct tx_item *tree;       /* the tree being walked, NULL: none */
        struct walk *walk;          /* NULL once the walk is over */
        struct fsroot top;          /* its top directory: entries open beneath it */
        bool top_open;
        struct item_list entries;   /* made, not yet taken */
        unsigned pending;           /* entries made and not yet settled */
};

/* Start walking tree item it (the tree owns it from here).  A tree whose top
 * cannot be read fails (and is reported) at once; -errno only when the
 * session fails. */
int tree_start(struct tree_tx *t, struct sctx *c, struct tx_item *it);
/* The next entry to send (the caller owns it), or NULL: none now (*ret_err
 * 0), or the session failed (*ret_err). */
struct tx_item *tree_next(struct tree_tx *t, struct sctx *c, int *ret_err);
bool tree_busy(const struct tree_tx *t);
/* An entry of the tree has its verdict (after it was reported). */
void tree_entry_done(struct tree_tx *t, struct sctx *c, const struct file_result *res);
void tree_reset(struct tree_tx *t);
