/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "fs/pathsafe.h"
#include "fs/walk.h"
#include "session/ctx.h"
#include "session/tree.h"

bool tree_busy(const struct tree_tx *t) {
        return t->tree != NULL;
}

static void close_top(struct tree_tx *t) {
        if (t->top_open)
                fsroot_close(&t->top);
        t->top_open = false;
}

static void maybe_done(struct tree_tx *t, struct sctx *c) {
        if (!t->tree || t->walk || t->pending > 0 || t->entries.head)
                return;
        struct tx_item *tree = t->tree;
        t->tree = NULL;
        close_top(t);
        tree->res.stats.end_ns = now_ns();
        tree->res.src = tree->path;
        tree->res.dest = tree->dest;
        c->report(c, &tree->res);
        item_free(tree);
}

void tree_entry_done(struct tree_tx *t, struct sctx *c, const struct file_result *res) {
        if (!t->tree || res->group != t->tree->xfer_id)
                return;
        result_account(&t->tree->res, res);
        if (t->pending > 0)
                t->pending--;
        maybe_done(t, c);
}

static void add_entry(struct tree_tx *t, struct tx_item *it) {
        items_push(&t->entries, it);
        t->pending++;
}

/* An entry that could not even be read: reported as failed, the walk goes on. */
static void entry_unreadable(struct tree_tx *t, struct sctx *c, const char *what, int err) {
        struct tx_item *it;
        if (t->tree->is_get && (it = item_new(c->next_id))) {
                /* A pulled tree: the host reports it, in its place among the
                 * entries (a FILE_ABORT when its turn comes, tx.c). */
                c->next_id++;
                it->kind = it->res.kind = ENTRY_FILE;
                it->res.group = t->tree->xfer_id;
                it->is_get = true;
                it->unreadable = err;
                snprintf(it->path, sizeof it->path, "%s", what);
                add_entry(t, it);
                return;
        }
        uint64_t now = now_ns();
        struct file_result res = {
                .xfer_id = c->next_id++, .group = t->tree->xfer_id, .sent = true, .err = err,
                .stats = { .start_ns = now, .end_ns = now },
        };
        snprintf(res.text, sizeof res.text, "%s", path_strerror(err)); /* the report names `what` */
        res.src = what;
        res.dest = "";
        t->pending++;
        c->report(c, &res);
        tree_entry_done(t, c, &res);
}

static struct tx_item *entry_item(struct tree_tx *t, struct sctx *c, const struct walk_entry *e) {
        static const enum entry_kind kinds[] = {
                [WALK_DIR] = ENTRY_DIR, [WALK_DIR_DONE] = ENTRY_DIR_ATTRS,
                [WALK_FILE] = ENTRY_FILE, [WALK_SYMLINK] = ENTRY_SYMLINK,
        };
        struct tx_item *it = item_new(c->next_id);
        if (!it)
                return NULL;
        if (e->kind == WALK_SYMLINK && !(it->target = strdup(e->target))) {
                item_free(it);
                return NULL;
        }
        c->next_id++;
        it->kind = it->res.kind = kinds[e->kind];
        it->res.group = t->tree->xfer_id;
        if (t->tree->is_get) {
                /* An entry of a pulled tree: read beneath our root, named
                 * relative to the host's destination; the top directory
                 * carries the GET's id (it opens and closes the tree). */
                it->is_get = true;
                it->flags = FY_ENTRY_REL;
                it->query = e->kind == WALK_FILE ? t->tree->query : 0;
                if (!strcmp(e->rel, ".") && (e->kind == WALK_DIR || e->kind == WALK_DIR_DONE)) {
                        it->xfer_id = it->res.xfer_id = t->tree->xfer_id;
                        c->next_id--; /* not used */
                }
        }
        it->mode = e->st.st_mode & 07777;
        it->mtime = e->st.st_mtim;
        strcpy(it->path, e->src);
        strcpy(it->dest, e->rel);
        if (e->kind == WALK_FILE && t->top_open) {
                it->base = &t->top;
                it->below = (uint32_t)e->below;
        }
        return it;
}

/* Turn walk entries into items until TREE_AHEAD wait or the walk ends. */
static int refill(struct tree_tx *t, struct sctx *c) {
        while (t->walk && t->entries.n < TREE_AHEAD) {
                struct walk_entry e;
                int r = walk_next(t->walk, &e);
                if (r == 0) {
                        t->walk = walk_free(t->walk);
                        break;
                }
                if (r < 0) {
                        entry_unreadable(t, c, e.src[0] ? e.src : t->tree->path, r);
                        continue;
                }
                struct tx_item *it = entry_item(t, c, &e);
                if (!it)
                        return sctx_fail(c, -ENOMEM, "out of memory");
                add_entry(t, it);
        }
        maybe_done(t, c);
        return 0;
}

struct tx_item *tree_next(struct tree_tx *t, struct sctx *c, int *ret_err) {
        *ret_err = 0;
        if (!t->entries.head && t->walk && (*ret_err = refill(t, c)) < 0)
                return NULL;
        return items_pop(&t->entries);
}

int tree_start(struct tree_tx *t, struct sctx *c, struct tx_item *it) {
        it->res.stats.start_ns = now_ns();
        t->tree = it;
        if (it->flags & ITEM_MAKE_PARENT) {
                /* rsync's habit: "dir" into a DEST that does not exist yet
                 * makes DEST (one level, not a whole path). */
                char *slash = strrchr(it->dest, '/');
                if (slash && slash != it->dest) {
                        struct tx_item *p = item_new(c->next_id);
                        if (!p)
                                return sctx_fail(c, -ENOMEM, "out of memory");
                        c->next_id++;
                        p->kind = p->res.kind = ENTRY_DIR;
                        p->res.group = it->xfer_id;
                        p->res.aux = true; /* not one of the tree's own */
                        p->mode = 0755;
                        snprintf(p->dest, sizeof p->dest, "%.*s", (int)(slash - it->dest), it->dest);
                        strcpy(p->path, p->dest);
                        add_entry(t, p);
                }
        }
        int r = walk_new(c->cfg->root, it->path, it->dest, &t->walk);
        /* Its files are opened beneath the top the walk opened, not by
         * their paths (item.h). */
        if (r == 0 && (r = fsroot_open_fd(walk_base_fd(t->walk), true, &t->top)) < 0)
                t->walk = walk_free(t->walk);
        t->top_open = r == 0;
        if (r < 0) { /* not even the top: the tree fails as a whole */
                it->res.err = r;
                snprintf(it->res.text, sizeof it->res.text, "%.900s: %s", it->path, path_strerror(r));
                if (it->is_get) {
                        struct fy_msg m = { .type = FY_FILE_ABORT,
                                            .abort = { .xfer_id = it->xfer_id, .code = fy_code_from_errno(r) } };
                        snprintf(m.abort.text, sizeof m.abort.text, "%s", it->res.text);
                        int w = sctx_send(c, &m);
                        if (w < 0)
                                return sctx_fail(c, w, "FILE_ABORT: %s", strerror(-w));
                }
                maybe_done(t, c);
        }
        return 0;
}

void tree_reset(struct tree_tx *t) {
        t->walk = walk_free(t->walk);
        close_top(t);
        items_free(&t->entries);
        t->pending = 0;
        item_free(t->tree);
        t->tree = NULL;
}
