/* SPDX-License-Identifier: MIT */
/*
 * Committing small files in batches.  A file is only renamed into place
 * once its data is durable, and the rename made durable before the sender
 * hears "ok".  Doing that with an fsync of the file and of its directory
 * per file costs two synchronous disk round trips each, which is what
 * bounds a tree of small files; here verified small files wait (writeback
 * already started) until a batch is full or the input goes quiet, then one
 * syncfs makes the whole batch durable, the renames follow, and a second
 * syncfs makes the renames durable - two flushes per batch instead of two
 * per file.  syncfs also writes other dirty data of that filesystem, which
 * the dirty budget keeps small for ferry's own files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "session-int.h"
#include "base/util.h"

struct commit {
        int fd, dirfd;
        char tmpname[FY_MAX_NAME + 1];
        char name[FY_MAX_NAME + 1];
        char dest[FY_MAX_PATH + 1];
        uint64_t dirty_peak;
        struct file_result res;
};

bool commit_wants(const struct session *s, uint64_t size) {
        /* Waiting files are dirty: a batch stays within half the budget.  And
         * a receiver that dies loses its batch, which the rerun sends again:
         * at most one window of it. */
        uint64_t budget = s->cfg.dirty_limit ? s->cfg.dirty_limit / 2 : UINT64_MAX;
        budget = MIN(budget, s->cfg.recv_window);
        return size <= COMMIT_SMALL && s->rx.ncommit < COMMIT_MAX && s->rx.commit_bytes + size <= budget;
}

bool commit_pending(const struct session *s) {
        return s->rx.ncommit > 0;
}

/* Take the verified file over from rx (its descriptors and temporary name). */
int commit_add(struct session *s) {
        struct rx_state *x = &s->rx;
        if (!x->commits && !(x->commits = calloc(COMMIT_MAX, sizeof *x->commits)))
                return -ENOMEM;
        struct commit *c = &x->commits[x->ncommit++];
        c->fd = x->fd;
        c->dirfd = x->dirfd;
        strcpy(c->tmpname, x->tmpname);
        strcpy(c->name, x->name);
        strcpy(c->dest, x->begin.dest);
        c->dirty_peak = x->dirty_peak;
        c->res = x->res;
        c->res.stats.bytes = x->next_off;
        c->res.stats.chunks = x->chunks;
        x->commit_bytes += x->next_off;
        x->fd = x->dirfd = -EBADF;
        x->tmpname[0] = 0;
        x->active = false;
        /* No writeback per file here: one request per small file is what the
         * batch's syncfs saves. */
        return 0;
}

/* One syncfs per filesystem the batch touches; -errno of the first failure.
 * devs: the batch's filesystems, found on the first call and reused. */
static int sync_filesystems(struct commit *cs, unsigned n, int *devfd, unsigned *ndev) {
        int ret = 0;
        if (*ndev == 0) {
                dev_t seen[8];
                for (unsigned i = 0; i < n; i++) {
                        struct stat st;
                        if (cs[i].fd < 0 || fstat(cs[i].fd, &st) < 0)
                                continue;
                        bool done = false;
                        for (unsigned k = 0; k < *ndev; k++)
                                done |= seen[k] == st.st_dev;
                        if (!done && *ndev < ARRAY_SIZE(seen)) {
                                seen[*ndev] = st.st_dev;
                                devfd[(*ndev)++] = cs[i].fd;
                        }
                }
        }
        for (unsigned k = 0; k < *ndev; k++)
                if (syncfs(devfd[k]) < 0 && ret == 0)
                        ret = -errno;
        return ret;
}

static void commit_close(struct commit *c, bool unlink_tmp) {
        if (unlink_tmp && c->tmpname[0] && c->dirfd >= 0)
                (void)unlinkat(c->dirfd, c->tmpname, 0);
        c->fd = safe_close(c->fd);
        c->dirfd = safe_close(c->dirfd);
}

int commit_flush(struct session *s) {
        struct rx_state *x = &s->rx;
        unsigned n = x->ncommit;
        if (n == 0)
                return 0;
        if (!out_room(s, n + 1))
                return 0; /* the statuses must fit: again once the queue drains */
        struct commit *cs = x->commits;
        int devfd[8];
        unsigned ndev = 0;
        int r = sync_filesystems(cs, n, devfd, &ndev);
        uint64_t rss = rx_rss_peak();
        for (unsigned i = 0; i < n; i++) {
                struct commit *c = &cs[i];
                int err = r;
                if (err == 0 && renameat(c->dirfd, c->tmpname, c->dirfd, c->name) < 0)
                        err = -errno;
                if (err == 0)
                        c->tmpname[0] = 0;
                c->res.err = err;
        }
        int r2 = sync_filesystems(cs, n, devfd, &ndev); /* the renames */
        int ret = 0;
        for (unsigned i = 0; i < n; i++) {
                struct commit *c = &cs[i];
                if (c->res.err == 0 && r2 < 0)
                        c->res.err = r2; /* renamed, but not known durable: say so */
                struct fy_msg m = {
                        .type = FY_FILE_STATUS,
                        .status = { .xfer_id = c->res.xfer_id, .code = fy_code_from_errno(c->res.err),
                                    .bytes = c->res.stats.bytes, .dirty_peak = c->dirty_peak, .rss_peak = rss },
                };
                if (c->res.err)
                        snprintf(m.status.text, sizeof m.status.text, "'%.900s': %s", c->dest,
                                 path_strerror(c->res.err));
                else
                        memcpy(m.status.digest, c->res.digest, 16);
                int w = out_ctrl(s, &m);
                if (w < 0 && ret == 0)
                        ret = w;
                c->res.stats.end_ns = now_ns();
                c->res.stats.dirty_peak = c->dirty_peak;
                c->res.stats.rss_peak = rss;
                snprintf(c->res.text, sizeof c->res.text, "%s", m.status.text);
                commit_close(c, c->res.err != 0);
                c->res.src = c->res.dest = c->dest;
                report(s, &c->res);
        }
        x->ncommit = 0;
        x->commit_bytes = 0;
        return ret < 0 ? ret : 1;
}

void commit_abort(struct session *s) {
        struct rx_state *x = &s->rx;
        for (unsigned i = 0; i < x->ncommit; i++)
                commit_close(&x->commits[i], true);
        x->ncommit = 0;
        x->commit_bytes = 0;
}

void commit_free(struct session *s) {
        commit_abort(s);
        free(s->rx.commits);
        s->rx.commits = NULL;
}
