/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "fs/pathsafe.h"
#include "fs/tmpname.h"
#include "session/commit.h"
#include "session/ctx.h"
#include "session/entry.h"
#include "session/place.h"

static int entry_status(struct sctx *c, uint32_t id, int err, const char *dest) {
        struct fy_msg m = { .type = FY_FILE_STATUS, .status = { .xfer_id = id, .code = fy_code_from_errno(err) } };
        if (err)
                snprintf(m.status.text, sizeof m.status.text, "'%.900s': %s", dest, path_strerror(err));
        int r = sctx_send(c, &m);
        return r < 0 ? sctx_fail(c, r, "FILE_STATUS: %s", strerror(-r)) : 0;
}

/* Only a host receives trees, and only pulled ones (FY_ENTRY_REL). */
static int entry_check(struct sctx *c, const char *what, bool rel) {
        if (rel != c->cfg->initiator)
                return sctx_fail(c, -EPROTO, "protocol error: %s %s a pulled tree", what, rel ? "of" : "outside");
        return 0;
}

/* A host receiving a pulled tree: where the entry `rel` goes (into out,
 * under *ret_root).  The tree's top directory carries the GET's id: without
 * FY_MK_ATTRS it opens the tree, with it (last) it closes it. */
static int entry_place(struct place *pl, const struct sctx *c, uint32_t id, const char *rel, bool top_opens,
                       char out[FY_MAX_PATH + 1], struct fsroot **ret_root) {
        if (!(id & FY_RESPONDER_ID) && top_opens) {
                int r = place_tree_begin(pl, id);
                if (r < 0)
                        return r;
        }
        struct fy_file_begin q = { .xfer_id = id, .flags = FY_ENTRY_REL };
        snprintf(q.dest, sizeof q.dest, "%s", rel);
        struct place_dest d;
        int r = place_target(pl, c, &q, &d);
        if (r < 0)
                return r;
        if (strlen(d.dest) > FY_MAX_PATH)
                return -ENAMETOOLONG;
        strcpy(out, d.dest);
        *ret_root = d.root;
        return 0;
}

/* Host: an entry's verdict, reported like a file's; the tree's last entry
 * reports the tree. */
static void entry_report(struct sctx *c, struct place *pl, uint32_t id, enum entry_kind kind, int err,
                         const char *rel) {
        if (!c->cfg->initiator)
                return;
        uint64_t now = now_ns();
        struct file_result res = { .xfer_id = id, .group = pl->tree_id, .kind = kind, .err = err,
                                   .stats = { .start_ns = now, .end_ns = now }, .src = rel, .dest = rel };
        if (err)
                snprintf(res.text, sizeof res.text, "'%.900s': %s", rel, path_strerror(err));
        c->report(c, &res);
        if (kind == ENTRY_DIR_ATTRS && id == pl->tree_id) {
                struct file_result tree = pl->tree;
                tree.stats.end_ns = now;
                tree.src = tree.dest = rel;
                place_close(pl);
                c->report(c, &tree);
        }
}

static int do_mkdir(struct fsroot *root, const struct fy_mkdir *m) {
        _cleanup_close_ int dirfd = -EBADF;
        char name[FY_MAX_NAME + 1];
        if (m->flags & FY_MK_ATTRS) {
                _cleanup_close_ int fd = -EBADF;
                int r = fsroot_open_at(root, m->dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, &fd);
                if (r < 0)
                        return r;
                struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = m->mtime_sec, .tv_nsec = m->mtime_nsec } };
                if (fchmod(fd, m->mode) < 0 || futimens(fd, ts) < 0)
                        return -errno;
                /* Complete: make its entries durable. */
                return fsync(fd) < 0 ? -errno : 0;
        }
        int r = dest_resolve(root, m->dest, "", 0, &dirfd, name);
        if (r == -EISDIR) { /* "." or the root itself: it must simply exist */
                _cleanup_close_ int fd = -EBADF;
                return fsroot_open_at(root, m->dest, O_RDONLY | O_DIRECTORY, 0, &fd);
        }
        if (r < 0)
                return r;
        if (mkdirat(dirfd, name, (m->mode & 07777) | 0700) == 0) /* writable while filled */
                return 0;
        struct stat st;
        if (errno == EEXIST && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
                return 0; /* already there: fill it */
        return -errno;
}

int entry_on_mkdir(struct sctx *c, struct place *pl, struct commits *cm, const struct fy_mkdir *m) {
        int r = entry_check(c, "MKDIR", m->flags & FY_ENTRY_REL);
        if (r < 0)
                return r;
        /* Files still waiting for their batch are renamed into this
         * directory yet: that must happen before its mtime and mode are set. */
        if ((m->flags & FY_MK_ATTRS) && commits_pending(cm) && (r = commits_flush(cm, c)) < 0)
                return r;
        if (m->flags & FY_MK_SCRATCH) { /* bench mode: a directory the session end removes */
                if (!sctx_peer_has(c, FY_FEAT_BENCH))
                        return sctx_fail(c, -EPROTO, "protocol error: MKDIR '%s' asks for a scratch directory, but bench "
                                         "mode (feature bit 7) was not agreed", m->dest);
                return entry_status(c, m->xfer_id, place_scratch_make(pl, c->cfg->root, m->dest), m->dest);
        }
        if (!(m->flags & FY_ENTRY_REL))
                return entry_status(c, m->xfer_id, do_mkdir(c->cfg->root, m), m->dest);
        struct fy_mkdir here = *m;
        struct fsroot *root;
        bool opens = !(m->xfer_id & FY_RESPONDER_ID) && !(m->flags & FY_MK_ATTRS);
        if (entry_place(pl, c, m->xfer_id, m->dest, opens, here.dest, &root) < 0)
                return sctx_fail(c, -EPROTO, "protocol error: MKDIR '%s' (transfer %u) outside a tree we pulled",
                                 m->dest, m->xfer_id);
        int err = do_mkdir(root, &here);
        if (opens) {
                /* Everything else of the tree resolves beneath this. */
                if (!err)
                        err = place_tree_root(pl, here.dest);
                if (err)
                        return sctx_fail(c, err, "'%s': %s", here.dest, path_strerror(err));
        }
        r = entry_status(c, m->xfer_id, err, m->dest);
        entry_report(c, pl, m->xfer_id, (m->flags & FY_MK_ATTRS) ? ENTRY_DIR_ATTRS : ENTRY_DIR, err, here.dest);
        return r;
}

static int do_symlink(struct sctx *c, struct fsroot *root, const char *dest, const struct fy_symlink *l) {
        _cleanup_close_ int dirfd = -EBADF;
        char name[FY_MAX_NAME + 1], tmp[FY_MAX_NAME + 1];
        int r = dest_resolve(root, dest, "", 0, &dirfd, name);
        if (r < 0)
                return r;
        tmpname_tmp(name, sctx_tmp_suffix(c), tmp);
        if (symlinkat(l->target, dirfd, tmp) < 0)
                return -errno;
        struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = l->mtime_sec, .tv_nsec = l->mtime_nsec } };
        if (utimensat(dirfd, tmp, ts, AT_SYMLINK_NOFOLLOW) < 0 || renameat(dirfd, tmp, dirfd, name) < 0) {
                r = -errno;
                (void)unlinkat(dirfd, tmp, 0);
                return r;
        }
        return 0;
}

int entry_on_symlink(struct sctx *c, struct place *pl, const struct fy_symlink *l) {
        int r = entry_check(c, "SYMLINK", l->flags & FY_ENTRY_REL);
        if (r < 0)
                return r;
        if (!(l->flags & FY_ENTRY_REL))
                return entry_status(c, l->xfer_id, do_symlink(c, c->cfg->root, l->dest, l), l->dest);
        char here[FY_MAX_PATH + 1];
        struct fsroot *root;
        if (!(l->xfer_id & FY_RESPONDER_ID) || entry_place(pl, c, l->xfer_id, l->dest, false, here, &root) < 0)
                return sctx_fail(c, -EPROTO, "protocol error: SYMLINK '%s' outside a tree we pulled", l->dest);
        int err = do_symlink(c, root, here, l);
        r = entry_status(c, l->xfer_id, err, l->dest);
        entry_report(c, pl, l->xfer_id, ENTRY_SYMLINK, err, here);
        return r;
}
