/* SPDX-License-Identifier: MIT */
/*
 * Receiving the non-file entries of a tree: directories and symbolic
 * links.  Each gets its own FILE_STATUS, like a file.  A directory is made
 * owner-writable first and gets its real mode and mtime when the sender
 * says it is complete (MKDIR with FY_MK_ATTRS), after its contents - else
 * writing into it, or its mtime, would be spoiled.  A symbolic link is
 * created under a temporary name and renamed into place; its target is
 * stored as given and never followed here (paths resolve beneath the root).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "session-int.h"
#include "base/util.h"

static int entry_status(struct session *s, uint32_t id, int err, const char *dest) {
        struct fy_msg m = { .type = FY_FILE_STATUS, .status = { .xfer_id = id, .code = fy_code_from_errno(err) } };
        if (err)
                snprintf(m.status.text, sizeof m.status.text, "'%.900s': %s", dest, path_strerror(err));
        return out_ctrl(s, &m);
}

static int entry_check(struct session *s, const char *what, bool rel) {
        if (s->rx.active && !s->rx.dead)
                return session_fail(s, -EPROTO, "protocol error: %s while a file is open", what);
        if (rel != s->cfg.initiator) /* only a host receives trees, and only pulled ones */
                return session_fail(s, -EPROTO, "protocol error: %s %s a pulled tree", what, rel ? "of" : "outside");
        return 0;
}

/* A host receiving a pulled tree: where the entry `rel` goes (into out,
 * under *ret_root).  The tree's top directory carries the GET's id: without
 * FY_MK_ATTRS it opens the tree, with it (last) it closes it. */
static int entry_place(struct session *s, uint32_t id, const char *rel, bool top_opens, char out[FY_MAX_PATH + 1],
                       struct fsroot **ret_root) {
        if (!(id & FY_RESPONDER_ID) && top_opens) {
                if (s->pull_tree_id)
                        return -EPROTO;
                s->pull_tree_id = id;
                s->pull_tree = (struct file_result){ .xfer_id = id, .kind = ENTRY_TREE, .stats = { .start_ns = now_ns() } };
        }
        struct fy_file_begin q = { .xfer_id = id, .flags = FY_ENTRY_REL };
        snprintf(q.dest, sizeof q.dest, "%s", rel);
        const char *dest, *name;
        uint32_t flags, group;
        int r = rx_target(s, &q, &dest, &name, &flags, &group, ret_root);
        if (r < 0)
                return r;
        if (strlen(dest) > FY_MAX_PATH)
                return -ENAMETOOLONG;
        strcpy(out, dest);
        return 0;
}

void pull_tree_close(struct session *s) {
        if (s->pull_root_open)
                fsroot_close(&s->pull_root);
        s->pull_root_open = false;
        s->pull_tree_id = 0;
}

/* Host: an entry's verdict, reported like a file's; the tree's last entry
 * reports the tree. */
static void entry_report(struct session *s, uint32_t id, enum entry_kind kind, int err, const char *rel) {
        if (!s->cfg.initiator)
                return;
        uint64_t now = now_ns();
        struct file_result res = { .xfer_id = id, .group = s->pull_tree_id, .kind = kind, .err = err,
                                   .stats = { .start_ns = now, .end_ns = now }, .src = rel, .dest = rel };
        if (err)
                snprintf(res.text, sizeof res.text, "'%.900s': %s", rel, path_strerror(err));
        report(s, &res);
        if (kind == ENTRY_DIR_ATTRS && id == s->pull_tree_id) {
                struct file_result tree = s->pull_tree;
                tree.stats.end_ns = now;
                tree.src = tree.dest = rel;
                s->pull_tree_id = 0;
                pull_tree_close(s);
                report(s, &tree);
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
        {
                if (mkdirat(dirfd, name, (m->mode & 07777) | 0700) == 0) /* writable while filled */
                        return 0;
                struct stat st;
                if (errno == EEXIST && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
                        return 0; /* already there: fill it */
                return -errno;
        }
}

int rx_on_mkdir(struct session *s, const struct fy_mkdir *m) {
        int r = entry_check(s, "MKDIR", m->flags & FY_ENTRY_REL);
        if (r < 0)
                return r;
        /* Files still waiting for their batch are renamed into this
         * directory yet: that must happen before its mtime and mode are set. */
        if ((m->flags & FY_MK_ATTRS) && commit_pending(s) && (r = commit_flush(s)) < 0)
                return r;
        if (!(m->flags & FY_ENTRY_REL))
                return entry_status(s, m->xfer_id, do_mkdir(s->cfg.root, m), m->dest);
        struct fy_mkdir here = *m;
        struct fsroot *root;
        bool opens = !(m->xfer_id & FY_RESPONDER_ID) && !(m->flags & FY_MK_ATTRS);
        if (entry_place(s, m->xfer_id, m->dest, opens, here.dest, &root) < 0)
                return session_fail(s, -EPROTO, "protocol error: MKDIR '%s' (transfer %u) outside a tree we pulled",
                                    m->dest, m->xfer_id);
        int err = do_mkdir(root, &here);
        if (opens) {
                /* Everything else of the tree resolves beneath this. */
                if (!err)
                        err = fsroot_open(here.dest, true, &s->pull_root);
                if (err)
                        return session_fail(s, err, "'%s': %s", here.dest, path_strerror(err));
                s->pull_root_open = true;
        }
        r = entry_status(s, m->xfer_id, err, m->dest);
        entry_report(s, m->xfer_id, (m->flags & FY_MK_ATTRS) ? ENTRY_DIR_ATTRS : ENTRY_DIR, err, here.dest);
        return r;
}

static int do_symlink(struct session *s, struct fsroot *root, const struct fy_symlink *l) {
        _cleanup_close_ int dirfd = -EBADF;
        char name[FY_MAX_NAME + 1], tmp[FY_MAX_NAME + 1];
        int r = dest_resolve(root, l->dest, "", 0, &dirfd, name);
        if (r < 0)
                return r;
        snprintf(tmp, sizeof tmp, ".ferry-%.200s.%08x.tmp", name, tmp_suffix(s));
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

int rx_on_symlink(struct session *s, const struct fy_symlink *l) {
        int r = entry_check(s, "SYMLINK", l->flags & FY_ENTRY_REL);
        if (r < 0)
                return r;
        if (!(l->flags & FY_ENTRY_REL))
                return entry_status(s, l->xfer_id, do_symlink(s, s->cfg.root, l), l->dest);
        static struct fy_symlink here; /* 8 KiB: not on the stack */
        here = *l;
        struct fsroot *root;
        if (!(l->xfer_id & FY_RESPONDER_ID) || entry_place(s, l->xfer_id, l->dest, false, here.dest, &root) < 0)
                return session_fail(s, -EPROTO, "protocol error: SYMLINK '%s' outside a tree we pulled", l->dest);
        int err = do_symlink(s, root, &here);
        r = entry_status(s, l->xfer_id, err, l->dest);
        entry_report(s, l->xfer_id, ENTRY_SYMLINK, err, here.dest);
        return r;
}
