/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int place_scratch_make(struct place *p, struct fsroot *root, const char *dest) {
        if (p->scratch)
                return -EBUSY;
        _cleanup_close_ int dirfd = -EBADF;
        char name[FY_MAX_NAME + 1];
        int r = dest_resolve(root, dest, "", 0, &dirfd, name);
        if (r == -EISDIR) /* "." or the root itself */
                return -EEXIST;
        if (r < 0)
                return r;
        if (mkdirat(dirfd, name, 0700) < 0)
                return -errno;
        p->scratch = true;
        p->scratch_dirfd = take_fd(&dirfd);
        strcpy(p->scratch_name, name);
        return 0;
}

/* Remove name in dirfd and everything beneath it, following no symlink
 * (a link is removed, never what it points at).  Best effort: what cannot
 * go stays. */
static void remove_tree(int parent, const char *name, unsigned depth) {
        if (unlinkat(parent, name, 0) == 0 || (errno != EISDIR && errno != EPERM) || depth > 64)
                return;
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
                safe_close(fd);
                return;
        }
        struct dirent *e;
        while ((e = readdir(d)))
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                        remove_tree(dirfd(d), e->d_name, depth + 1);
        closedir(d);
        (void)unlinkat(parent, name, AT_REMOVEDIR);
}

void place_scratch_remove(struct place *p) {
        if (!p->scratch)
                return;
        remove_tree(p->scratch_dirfd, p->scratch_name, 0);
        p->scratch_dirfd = safe_close(p->scratch_dirfd);
        p->scratch = false;
}

void place_close(struct place *p) {
        place_scratch_remove(p);
        if (p->root_open)
                fsroot_close(&p->root);
        p->root_open = false;
        p->tree_id = 0;
}
