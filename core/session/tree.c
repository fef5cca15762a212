/* SPDX-License-Identifier: MIT */
/*
 * Sending directory trees: a queued tree becomes a walk (walk.c) whose
 * entries are turned into items a few at a time, so memory stays bounded
 * however many files the tree holds.  Entries flow like any other item -
 * no round trip per file - and each verdict is counted against its tree;
 * the tree is reported once the walk is over and every entry is settled.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session-int.h"
#include "base/util.h"

#define TREE_AHEAD 16 /* entries turned into items ahead of sending */

int session_push_tree(struct session *s, const char *src, const char *dest, bool make_parent, uint32_t *ret_id) {
        if (strlen(src) > FY_MAX_PATH || strlen(dest) > FY_MAX_PATH)
                return -ENAMETOOLONG;
        struct tx_item *it = tx_item_new(s->next_id);
        if (!it)
                return -ENOMEM;
        it->kind = it->res.kind = ENTRY_TREE;
        it->flags = make_parent ? TREE_MAKE_PARENT : 0;
        strcpy(it->path, src);
        strcpy(it->dest, dest);
        tx_item_append(&s->tx.queue, &s->tx.queue_tail, it);
        s->tx.queued++;
        s->pending++;
        *ret_id = s->next_id++;
        return 0;
}

static void tree_maybe_done(struct session *s) {
        struct tx_state *t = &s->tx;
        if (!t->tree || t->walk || t->tree_pending > 0 || t->entries)
                return;
        struct tx_item *tree = t->tree;
        t->tree = NULL;
        tree->res.stats.end_ns = now_ns();
        tree->res.src = tree->path;
        tree->res.dest = tree->dest;
        report(s, &tree->res);
        tx_item_free(tree);
}

/* Count an entry's verdict toward its tree: the tree fails with its first
 * failure, sizes and waits add up. */
void tree_account(struct file_result *r, const struct file_result *res) {
        if (res->err) {
                /* A directory that failed fails again at its attributes:
                 * count it once. */
                r->failed += res->kind != ENTRY_DIR_ATTRS;
                if (!r->err) { /* the tree fails with its first failure */
                        r->err = res->err;
                        r->remote = res->remote;
                        snprintf(r->text, sizeof r->text, "%s", res->text);
                }
        } else {
                r->files += res->kind == ENTRY_FILE;
                r->skipped_files += res->skipped;
                r->dirs += res->kind == ENTRY_DIR && !res->aux;
                r->symlinks += res->kind == ENTRY_SYMLINK;
        }
        r->size += res->size;
        r->stats.bytes += res->stats.bytes;
        r->stats.bytes_skipped += res->stats.bytes_skipped;
        r->stats.bytes_resent += res->stats.bytes_resent;
        r->stats.chunks += res->stats.chunks;
        r->stats.credit_wait_ns += res->stats.credit_wait_ns;
        for (unsigned i = 0; i < ARRAY_SIZE(r->stats.wait_ns); i++)
                r->stats.wait_ns[i] += res->stats.wait_ns[i];
        lat_merge(&r->stats.rtt, &res->stats.rtt);
        r->stats.dirty_peak = MAX(r->stats.dirty_peak, res->stats.dirty_peak);
        r->stats.rss_peak = MAX(r->stats.rss_peak, res->stats.rss_peak);
}

void tree_entry_done(struct session *s, const struct file_result *res) {
        struct tx_state *t = &s->tx;
        struct tx_item *tree = t->tree;
        if (!tree || res->group != tree->xfer_id)
                return;
        tree_account(&tree->res, res);
        if (t->tree_pending > 0)
                t->tree_pending--;
        tree_maybe_done(s);
}

/* An entry that could not even be read: reported as failed, the walk goes on. */
static void entry_unreadable(struct session *s, const char *what, int err) {
        struct tx_item *it;
        if (s->tx.tree->is_get && (it = tx_item_new(s->next_id))) {
                /* A pulled tree: the host reports it, in its place among the
                 * entries (a FILE_ABORT when its turn comes, tx.c). */
                s->next_id++;
                it->kind = it->res.kind = ENTRY_FILE;
                it->res.group = s->tx.tree->xfer_id;
                it->is_get = true;
                it->unreadable = err;
                snprintf(it->path, sizeof it->path, "%s", what);
                tx_item_append(&s->tx.entries, &s->tx.entries_tail, it);
                s->tx.nentries++;
                s->tx.tree_pending++;
                return;
        }
        struct file_result res = {
                .xfer_id = s->next_id++, .group = s->tx.tree->xfer_id, .sent = true, .err = err,
                .stats = { .start_ns = now_ns(), .end_ns = now_ns() },
        };
        snprintf(res.text, sizeof res.text, "%s", path_strerror(err)); /* the report names `what` */
        res.src = what;
        res.dest = "";
        s->tx.tree_pending++;
        report(s, &res);
        tree_entry_done(s, &res);
}

static struct tx_item *entry_item(struct session *s, const struct walk_entry *e) {
        struct tx_item *it = tx_item_new(s->next_id);
        if (!it)
                return NULL;
        static const enum entry_kind kinds[] = {
                [WALK_DIR] = ENTRY_DIR, [WALK_DIR_DONE] = ENTRY_DIR_ATTRS,
                [WALK_FILE] = ENTRY_FILE, [WALK_SYMLINK] = ENTRY_SYMLINK,
        };
        it->kind = it->res.kind = kinds[e->kind];
        it->res.group = s->tx.tree->xfer_id;
        if (s->tx.tree->is_get) {
                /* An entry of a pulled tree: read beneath our root, named
                 * relative to the host's destination; the top directory
                 * carries the GET's id (it opens and closes the tree). */
                it->is_get = true;
                it->flags = FY_ENTRY_REL;
                it->query = e->kind == WALK_FILE ? s->tx.tree->query : 0;
                if (!strcmp(e->rel, ".") && (e->kind == WALK_DIR || e->kind == WALK_DIR_DONE)) {
                        it->xfer_id = it->res.xfer_id = s->tx.tree->xfer_id;
                        s->next_id--; /* not used */
                }
        }
        it->mode = e->st.st_mode & 07777;
        it->mtime = e->st.st_mtim;
        strcpy(it->path, e->src);
        strcpy(it->dest, e->rel);
        if (e->kind == WALK_SYMLINK && !(it->target = strdup(e->target))) {
                free(it);
                return NULL;
        }
        s->next_id++;
        return it;
}

/* Turn walk entries into items until TREE_AHEAD wait or the walk ends. */
static int refill(struct session *s) {
        struct tx_state *t = &s->tx;
        while (t->walk && t->nentries < TREE_AHEAD) {
                struct walk_entry e;
                int r = walk_next(t->walk, &e);
                if (r == 0) {
                        t->walk = walk_free(t->walk);
                        break;
                }
                if (r < 0) {
                        entry_unreadable(s, e.src[0] ? e.src : t->tree->path, r);
                        continue;
                }
                struct tx_item *it = entry_item(s, &e);
                if (!it)
                        return session_fail(s, -ENOMEM, "out of memory");
                tx_item_append(&t->entries, &t->entries_tail, it);
                t->nentries++;
                t->tree_pending++;
        }
        tree_maybe_done(s);
        return 0;
}

struct tx_item *tree_take_next(struct session *s, int *ret_err) {
        struct tx_state *t = &s->tx;
        *ret_err = 0;
        for (;;) {
                if (!t->entries && t->walk && (*ret_err = refill(s)) < 0)
                        return NULL;
                if (t->entries) {
                        struct tx_item *it = t->entries;
                        t->entries = it->next;
                        if (!t->entries)
                                t->entries_tail = NULL;
                        t->nentries--;
                        return it;
                }
                struct tx_item *it = t->queue;
                /* One tree walks at a time; files queued behind it wait. */
                if (!it || t->tree)
                        return NULL;
                t->queue = it->next;
                if (!t->queue)
                        t->queue_tail = NULL;
                t->queued--;
                if (it->kind != ENTRY_TREE)
                        return it;

                it->res.stats.start_ns = now_ns();
                t->tree = it;
                if (it->flags & TREE_MAKE_PARENT) {
                        /* rsync's habit: "dir" into a DEST that does not exist
                         * yet makes DEST (one level, not a whole path). */
                        struct tx_item *p = tx_item_new(s->next_id);
                        if (!p)
                                return *ret_err = session_fail(s, -ENOMEM, "out of memory"), NULL;
                        s->next_id++;
                        p->kind = p->res.kind = ENTRY_DIR;
                        p->res.group = it->xfer_id;
                        p->res.aux = true; /* not one of the tree's own */
                        p->mode = 0755;
                        snprintf(p->dest, sizeof p->dest, "%s", it->dest);
                        char *slash = strrchr(p->dest, '/');
                        if (slash && slash != p->dest) {
                                *slash = 0;
                                strcpy(p->path, p->dest);
                                tx_item_append(&t->entries, &t->entries_tail, p);
                                t->nentries++;
                                t->tree_pending++;
                        } else {
                                tx_item_free(p);
                        }
                }
                int r = walk_new(s->cfg.root, it->path, it->dest, &t->walk);
                if (r < 0) { /* not even the top: the tree fails as a whole */
                        it->res.err = r;
                        snprintf(it->res.text, sizeof it->res.text, "%.900s: %s", it->path, path_strerror(r));
                        if (it->is_get) {
                                struct fy_msg m = { .type = FY_FILE_ABORT,
                                                    .abort = { .xfer_id = it->xfer_id, .code = fy_code_from_errno(r) } };
                                snprintf(m.abort.text, sizeof m.abort.text, "%s", it->res.text);
                                if ((*ret_err = out_ctrl(s, &m)) < 0)
                                        return NULL;
                        }
                        tree_maybe_done(s);
                }
        }
}

void tree_reset(struct session *s) {
        struct tx_state *t = &s->tx;
        t->walk = walk_free(t->walk);
        while (t->entries) {
                struct tx_item *it = t->entries;
                t->entries = it->next;
                tx_item_free(it);
        }
        t->entries_tail = NULL;
        t->nentries = t->tree_pending = 0;
        if (t->tree) {
                tx_item_free(t->tree);
                t->tree = NULL;
        }
}
