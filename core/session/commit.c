/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/proc.h"
#include "base/util.h"
#include "fs/pathsafe.h"
#include "session/commit.h"
#include "session/ctx.h"

void commits_init(struct commits *cm, uint64_t dirty_limit, uint64_t window) {
        *cm = (struct commits){ .budget = MIN(dirty_limit ? dirty_limit / 2 : UINT64_MAX, window) };
}

void commits_set_budget(struct commits *cm, uint64_t dirty_limit, uint64_t window) {
        cm->budget = MIN(dirty_limit ? dirty_limit / 2 : UINT64_MAX, window);
}

void commits_fini(struct commits *cm) {
        commits_abort(cm);
        free(cm->files);
        cm->files = NULL;
}

bool commits_want(const struct commits *cm, uint64_t size) {
        return size <= SMALL_FILE && cm->n < COMMIT_MAX && cm->bytes + size <= cm->budget;
}

bool commits_pending(const struct commits *cm) {
        return cm->n > 0;
}

static void commit_close(struct commit_file *f, bool unlink_tmp) {
        if (unlink_tmp && f->tmpname[0] && f->dirfd >= 0)
                (void)unlinkat(f->dirfd, f->tmpname, 0);
        f->fd = safe_close(f->fd);
        f->dirfd = safe_close(f->dirfd);
}

int commits_add(struct commits *cm, const struct commit_file *f) {
        if (!cm->files && !(cm->files = calloc(COMMIT_MAX, sizeof *cm->files))) {
                struct commit_file lost = *f;
                commit_close(&lost, true);
                return -ENOMEM;
        }
        cm->files[cm->n++] = *f;
        cm->bytes += f->res.stats.bytes;
        /* No writeback per file here: one request per small file is what the
         * batch's syncfs saves. */
        return 0;
}

/* One syncfs per filesystem the batch touches; -errno of the first failure.
 * devfd: the batch's filesystems, found on the first call and reused. */
static int sync_filesystems(struct commit_file *fs, unsigned n, int *devfd, unsigned *ndev) {
        int ret = 0;
        if (*ndev == 0) {
                dev_t seen[8];
                for (unsigned i = 0; i < n; i++) {
                        struct stat st;
                        if (fs[i].fd < 0 || fstat(fs[i].fd, &st) < 0)
                                continue;
                        bool done = false;
                        for (unsigned k = 0; k < *ndev; k++)
                                done |= seen[k] == st.st_dev;
                        if (!done && *ndev < ARRAY_SIZE(seen)) {
                                seen[*ndev] = st.st_dev;
                                devfd[(*ndev)++] = fs[i].fd;
                        }
                }
        }
        for (unsigned k = 0; k < *ndev; k++)
                if (syncfs(devfd[k]) < 0 && ret == 0)
                        ret = -errno;
        return ret;
}

int commits_flush(struct commits *cm, struct sctx *c) {
        unsigned n = cm->n;
        if (n == 0 || !outq_room(&c->out, n + 1))
                return 0; /* the statuses must fit: again once the queue drains */
        int devfd[8];
        unsigned ndev = 0;
        int r = sync_filesystems(cm->files, n, devfd, &ndev);
        uint64_t rss = proc_rss_peak();
        for (unsigned i = 0; i < n; i++) {
                struct commit_file *f = &cm->files[i];
                int err = r;
                if (err == 0 && renameat(f->dirfd, f->tmpname, f->dirfd, f->name) < 0)
                        err = -errno;
                if (err == 0)
                        f->tmpname[0] = 0;
                f->res.err = err;
        }
        int r2 = sync_filesystems(cm->files, n, devfd, &ndev); /* the renames */
        int ret = 0;
        for (unsigned i = 0; i < n; i++) {
                struct commit_file *f = &cm->files[i];
                if (f->res.err == 0 && r2 < 0)
                        f->res.err = r2; /* renamed, but not known durable: say so */
                struct fy_msg m = {
                        .type = FY_FILE_STATUS,
                        .status = { .xfer_id = f->res.xfer_id, .code = fy_code_from_errno(f->res.err),
                                    .bytes = f->res.stats.bytes, .dirty_peak = f->dirty_peak, .rss_peak = rss },
                };
                if (f->res.err)
                        snprintf(m.status.text, sizeof m.status.text, "'%.900s': %s", f->dest,
                                 path_strerror(f->res.err));
                else
                        memcpy(m.status.digest, f->res.digest, 16);
                int w = sctx_send(c, &m);
                if (w < 0 && ret == 0)
                        ret = sctx_fail(c, w, "FILE_STATUS: %s", strerror(-w));
                f->res.stats.end_ns = now_ns();
                f->res.stats.dirty_peak = f->dirty_peak;
                f->res.stats.rss_peak = rss;
                snprintf(f->res.text, sizeof f->res.text, "%s", m.status.text);
                commit_close(f, f->res.err != 0);
                f->res.src = f->res.dest = f->dest;
                c->report(c, &f->res);
        }
        cm->n = 0;
        cm->bytes = 0;
        return ret < 0 ? ret : 1;
}

void commits_abort(struct commits *cm) {
        for (unsigned i = 0; i < cm->n; i++)
                commit_close(&cm->files[i], true);
        cm->n = 0;
        cm->bytes = 0;
}
