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
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "session-int.h"
#include "util.h"

static int entry_status(struct session *s, uint32_t id, int err, const char *dest) {
        struct fy_msg m = { .type = FY_FILE_STATUS, .status = { .xfer_id = id, .code = fy_code_from_errno(err) } };
        if (err)
                snprintf(m.status.text, sizeof m.status.text, "'%.900s': %s", dest, path_strerror(err));
        return out_ctrl(s, &m);
}

static int entry_check(struct session *s, const char *what, bool rel) {
        if (s->rx.active && !s->rx.dead)
                return session_fail(s, -EPROTO, "protocol error: %s while a file is open", what);
        if (rel || (s->cfg.ops && s->cfg.ops->recv_target))
                return session_fail(s, -EPROTO, "protocol error: %s of a pulled tree is not supported", what);
        return 0;
}

static int do_mkdir(struct session *s, const struct fy_mkdir *m) {
        _cleanup_close_ int dirfd = -EBADF;
        char name[FY_MAX_NAME + 1];
        if (m->flags & FY_MK_ATTRS) {
                _cleanup_close_ int fd = -EBADF;
                int r = fsroot_open_at(s->cfg.root, m->dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, &fd);
                if (r < 0)
                        return r;
                struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = m->mtime_sec, .tv_nsec = m->mtime_nsec } };
                if (fchmod(fd, m->mode) < 0 || futimens(fd, ts) < 0)
                        return -errno;
                /* Complete: make its entries durable. */
                return fsync(fd) < 0 ? -errno : 0;
        }
        int r = dest_resolve(s->cfg.root, m->dest, "", 0, &dirfd, name);
        if (r == -EISDIR) { /* "." or the root itself: it must simply exist */
                _cleanup_close_ int fd = -EBADF;
                return fsroot_open_at(s->cfg.root, m->dest, O_RDONLY | O_DIRECTORY, 0, &fd);
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
        return entry_status(s, m->xfer_id, do_mkdir(s, m), m->dest);
}

static int do_symlink(struct session *s, const struct fy_symlink *l) {
        _cleanup_close_ int dirfd = -EBADF;
        char name[FY_MAX_NAME + 1], tmp[FY_MAX_NAME + 1];
        int r = dest_resolve(s->cfg.root, l->dest, "", 0, &dirfd, name);
        if (r < 0)
                return r;
        uint32_t rnd;
        if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
                rnd = (uint32_t)now_ns();
        snprintf(tmp, sizeof tmp, ".ferry-%.200s.%08x.tmp", name, rnd);
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
        return entry_status(s, l->xfer_id, do_symlink(s, l), l->dest);
}
