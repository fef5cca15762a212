/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "base/util.h"
#include "session/ctx.h"
#include "session/place.h"

int place_target(struct place *p, const struct sctx *c, const struct fy_file_begin *b, struct place_dest *ret) {
        struct place_dest d = { .dest = b->dest, .name = b->name, .flags = b->flags, .root = c->cfg->root };
        const struct session_ops *ops = c->cfg->ops;
        int r;
        if (!ops || !ops->recv_target) {
                if (b->flags & FY_ENTRY_REL)
                        return -EPROTO; /* only a host receives trees, and only pulled ones */
        } else if (!(b->flags & FY_ENTRY_REL)) {
                if (b->xfer_id & FY_RESPONDER_ID)
                        return -EPROTO;
                if ((r = ops->recv_target(c->cfg->userdata, b, &d.dest, &d.name, &d.flags)) < 0)
                        return r;
        } else {
                /* An entry of the tree being pulled, named "." or "./PATH". */
                const char *rel = b->dest;
                if (!p->tree_id || (!(b->xfer_id & FY_RESPONDER_ID) && b->xfer_id != p->tree_id) ||
                    (strcmp(rel, ".") && strncmp(rel, "./", 2)))
                        return -EPROTO;
                d.group = p->tree_id;
                if (!p->root_open) {
                        /* The top directory, opening the tree: the host says
                         * where it goes (entry.c makes it there). */
                        if (b->xfer_id != p->tree_id || strcmp(rel, "."))
                                return -EPROTO;
                        if ((r = ops->recv_target(c->cfg->userdata, b, &d.dest, &d.name, &d.flags)) < 0)
                                return r;
                } else {
                        d.root = &p->root;
                        d.dest = rel[1] ? rel + 2 : ".";
                        d.name = "";
                        d.flags = 0;
                }
        }
        *ret = d;
        return 0;
}

int place_tree_begin(struct place *p, uint32_t id) {
        if (p->tree_id)
                return -EPROTO;
        p->tree_id = id;
        p->tree = (struct file_result){ .xfer_id = id, .kind = ENTRY_TREE, .stats = { .start_ns = now_ns() } };
        return 0;
}

int place_tree_root(struct place *p, const char *dir) {
        int r = fsroot_open(dir, true, &p->root);
        if (r == 0)
                p->root_open = true;
        return r;
}

void place_tree_account(struct place *p, const struct file_result *res) {
        if (!res->sent && res->group && res->group == p->tree_id)
                result_account(&p->tree, res);
}

void place_close(struct place *p) {
        if (p->root_open)
                fsroot_close(&p->root);
        p->root_open = false;
        p->tree_id = 0;
}
