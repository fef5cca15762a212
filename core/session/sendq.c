/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "fs/pathsafe.h"
#include "session/ctx.h"
#include "session/sendq.h"

int sendq_push(struct sendq *q, struct sctx *c, const char *local, const char *dest, const char *name,
               uint32_t flags, uint32_t *ret_id) {
        if (strlen(local) > FY_MAX_PATH || strlen(dest) > FY_MAX_PATH || strlen(name) > FY_MAX_NAME)
                return -ENAMETOOLONG;
        struct tx_item *it = item_new(c->next_id);
        if (!it)
                return -ENOMEM;
        strcpy(it->path, local);
        strcpy(it->dest, dest);
        strcpy(it->name, name);
        it->flags = flags;
        items_push(&q->queue, it);
        *ret_id = c->next_id++;
        return 0;
}

int sendq_push_bench(struct sendq *q, struct sctx *c, uint64_t size, uint32_t pattern, uint32_t *ret_id) {
        if (size > (uint64_t)INT64_MAX || pattern > FY_BENCH_PATTERN_MAX)
                return -EINVAL;
        struct tx_item *it = item_new(c->next_id);
        if (!it)
                return -ENOMEM;
        it->flags = FY_FB_BENCH;
        it->bench_size = size;
        it->bench_pattern = pattern;
        strcpy(it->path, "(bench)");
        strcpy(it->dest, "bench");
        items_push(&q->queue, it);
        *ret_id = c->next_id++;
        return 0;
}

int sendq_push_scratch(struct sendq *q, struct sctx *c, const char *dest, uint32_t *ret_id) {
        if (strlen(dest) > FY_MAX_PATH)
                return -ENAMETOOLONG;
        if (!*dest)
                return -EINVAL;
        struct tx_item *it = item_new(c->next_id);
        if (!it)
                return -ENOMEM;
        it->kind = it->res.kind = ENTRY_DIR;
        it->flags = FY_MK_SCRATCH;
        it->mode = 0700;
        strcpy(it->path, dest);
        strcpy(it->dest, dest);
        items_push(&q->queue, it);
        *ret_id = c->next_id++;
        return 0;
}

int sendq_push_tree(struct sendq *q, struct sctx *c, const char *src, const char *dest, bool make_parent,
                    uint32_t *ret_id) {
        if (strlen(src) > FY_MAX_PATH || strlen(dest) > FY_MAX_PATH)
                return -ENAMETOOLONG;
        struct tx_item *it = item_new(c->next_id);
        if (!it)
                return -ENOMEM;
        it->kind = it->res.kind = ENTRY_TREE;
        it->flags = make_parent ? ITEM_MAKE_PARENT : 0;
        strcpy(it->path, src);
        strcpy(it->dest, dest);
        items_push(&q->queue, it);
        *ret_id = c->next_id++;
        return 0;
}

int sendq_on_get(struct sendq *q, struct sctx *c, const struct fy_get *g) {
        if (q->queue.n >= SENDQ_GET_MAX) {
                struct fy_msg m = { .type = FY_FILE_ABORT, .abort = { .xfer_id = g->xfer_id, .code = FY_EBUSY } };
                snprintf(m.abort.text, sizeof m.abort.text, "busy: %u requests queued already", SENDQ_GET_MAX);
                return sctx_send(c, &m);
        }
        if ((g->flags & FY_GET_BENCH) && !sctx_peer_has(c, FY_FEAT_BENCH))
                return sctx_fail(c, -EPROTO, "protocol error: GET %u asks for bench data, but bench mode (feature bit 7) "
                                 "was not agreed", g->xfer_id);
        struct tx_item *it = item_new(g->xfer_id);
        if (!it)
                return sctx_fail(c, -ENOMEM, "out of memory");
        it->is_get = true;
        it->chunk = g->chunk_size;
        if (g->flags & FY_GET_BENCH) { /* no file: made in memory, path is a label */
                it->flags = FY_FB_BENCH;
                it->bench_size = g->bench_size;
                it->bench_pattern = g->bench_pattern;
                strcpy(it->path, g->path);
                strcpy(it->dest, g->path);
                items_push(&q->queue, it);
                return 0;
        }
        if (g->flags & FY_GET_RESUME)
                it->query = ITEM_QUERY_ASK | (g->flags & FY_GET_CHECKSUM ? ITEM_QUERY_CHECKSUM : 0);
        strcpy(it->path, g->path);
        if ((g->flags & FY_GET_TREE) && sctx_peer_has(c, FY_FEAT_TREE)) { /* (a request: else as without it) */
                /* A directory is sent as a tree: its entries named below "."
                 * (FY_ENTRY_REL), the host places them (PROTOCOL.md 9.7). */
                _cleanup_close_ int fd = -EBADF;
                struct stat st;
                if (fsroot_open_at(c->cfg->root, g->path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, &fd) == 0 &&
                    fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
                        it->kind = it->res.kind = ENTRY_TREE;
                        strcpy(it->dest, ".");
                        items_push(&q->queue, it);
                        return 0;
                }
        }
        const char *slash = strrchr(g->path, '/');
        snprintf(it->name, sizeof it->name, "%.255s", slash ? slash + 1 : g->path);
        strcpy(it->dest, g->path);
        items_push(&q->queue, it);
        return 0;
}

void sendq_done(struct sendq *q, struct sctx *c, struct tx_item *it) {
        if (q->out > 0)
                q->out--;
        it->res.src = it->path;
        it->res.dest = it->dest;
        c->report(c, &it->res);
        if (it->res.group)
                tree_entry_done(&q->tree, c, &it->res);
        item_free(it);
}

/* The next item in order: the tree's entries, else the queue's next (a
 * tree starts walking; files queued behind a tree wait for it). */
static struct tx_item *take_next(struct sendq *q, struct sctx *c, int *ret_err) {
        for (;;) {
                struct tx_item *it = tree_next(&q->tree, c, ret_err);
                if (it || *ret_err < 0 || tree_busy(&q->tree))
                        return it;
                if (!(it = items_pop(&q->queue)))
                        return NULL;
                if (it->kind != ENTRY_TREE)
                        return it;
                if ((*ret_err = tree_start(&q->tree, c, it)) < 0)
                        return NULL;
        }
}

/* Ask the receiver what it has of a file before sending it.  A file that
 * cannot be looked at is not asked about: tx.c reports it in its turn. */
static int send_query(struct sctx *c, struct tx_item *it) {
        int fd;
        if (item_open_source(c->cfg->root, it, &fd, &it->st) < 0) {
                it->query = 0;
                return 0;
        }
        safe_close(fd);
        struct fy_msg m = { .type = FY_RESUME_QUERY,
                            .query = { .how = it->query & ITEM_QUERY_CHECKSUM ? FY_RQ_CHECKSUM : 0 } };
        item_describe(c, it, &it->st, &m.query.file);
        int r = sctx_send(c, &m);
        return r < 0 ? sctx_fail(c, r, "RESUME_QUERY: %s", strerror(-r)) : 0;
}

int sendq_fill(struct sendq *q, struct sctx *c) {
        unsigned limit = c->cfg->resume || !c->cfg->initiator ? SENDQ_AHEAD : 1;
        int did = 0;
        while (q->ahead.n < limit && !q->barrier && outq_room(&c->out, 2 + OUTQ_CTRL_RESERVE)) {
                int r;
                struct tx_item *it = take_next(q, c, &r);
                if (r < 0)
                        return r;
                if (!it)
                        break;
                if (it->kind == ENTRY_FILE && !it->is_get && !item_is_bench(it) && c->cfg->resume)
                        it->query = ITEM_QUERY_ASK | (c->cfg->checksum ? ITEM_QUERY_CHECKSUM : 0);
                if (!sctx_peer_has(c, FY_FEAT_RESUME) || it->kind != ENTRY_FILE || it->unreadable)
                        it->query = 0;
                if (it->query && (r = send_query(c, it)) < 0) {
                        item_free(it);
                        return r;
                }
                items_push(&q->ahead, it);
                did = 1;
                /* A pulled tree's top directory opens the tree on the host:
                 * no query about its entries may overtake it. */
                if (it->is_get && it->kind == ENTRY_DIR && it->res.group && it->xfer_id == it->res.group)
                        q->barrier = it;
        }
        return did;
}

int sendq_on_state(struct sendq *q, struct sctx *c, const struct fy_resume_state *st) {
        struct tx_item *it = items_find(&q->ahead, st->xfer_id);
        if (!it || !it->query || it->answered)
                return sctx_fail(c, -EPROTO, "protocol error: RESUME_STATE for transfer %u, which was not asked about",
                                 st->xfer_id);
        if (st->offset > (uint64_t)it->st.st_size)
                return sctx_fail(c, -EPROTO, "protocol error: RESUME_STATE at %llu, past the end of '%s' (%llu bytes)",
                                 (unsigned long long)st->offset, it->path, (unsigned long long)it->st.st_size);
        if (st->verdict == FY_RS_SKIP && sctx_peer_has(c, FY_FEAT_CHECKED) && st->chunk_size == 0)
                return sctx_fail(c, -EPROTO, "protocol error: RESUME_STATE SKIP for '%s' without the digest it vouches "
                                 "with (feature bit 8 was agreed)", it->path);
        it->state = *st;
        it->answered = true;
        return 0;
}

struct tx_item *sendq_next(struct sendq *q) {
        struct tx_item *it = q->ahead.head;
        if (!it || (it->query && !it->answered) || q->out >= SENDQ_OUT_MAX)
                return NULL;
        items_pop(&q->ahead);
        q->out++;
        if (q->barrier == it)
                q->barrier = NULL;
        return it;
}

bool sendq_idle(const struct sendq *q) {
        return !q->queue.head && !q->ahead.head && !tree_busy(&q->tree);
}

void sendq_reset(struct sendq *q) {
        tree_reset(&q->tree);
        items_free(&q->queue);
        items_free(&q->ahead);
        q->barrier = NULL;
        q->out = 0;
}
