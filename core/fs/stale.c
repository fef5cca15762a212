/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "fs/stale.h"
#include "fs/tmpname.h"

void stale_init(struct stale *st, uint64_t age_s) {
        *st = (struct stale){ .age_s = age_s };
}

static bool seen_before(struct stale *st, const struct stat *s) {
        for (unsigned i = 0; i < st->ndirs; i++)
                if (st->dirs[i].dev == s->st_dev && st->dirs[i].ino == s->st_ino)
                        return true;
        if (st->ndirs < ARRAY_SIZE(st->dirs))
                st->dirs[st->ndirs++] = (typeof(st->dirs[0])){ s->st_dev, s->st_ino };
        return false;
}

/* A temporary file whose writer is gone: the writer holds a lock on it from
 * a moment after creating it until it is renamed, so an unlocked one at
 * least ORPHAN_AGE_S old belongs to nobody.  (Partial files are kept for
 * resume until the configured age, whoever holds them.) */
#define ORPHAN_AGE_S 2
static bool orphaned(int dirfd, const char *name, const struct stat *f) {
        if (!S_ISREG(f->st_mode) || f->st_ctime > time(NULL) - ORPHAN_AGE_S)
                return false;
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;
}

unsigned stale_sweep(struct stale *st, int dirfd) {
        struct stat s;
        if (!st->age_s || fstat(dirfd, &s) < 0 || seen_before(st, &s))
                return 0;
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        DIR *d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return 0;
        }
        time_t cutoff = time(NULL) - (time_t)st->age_s;
        unsigned removed = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                struct stat f;
                bool tmp = tmpname_is_tmp(de->d_name);
                if ((!tmp && !tmpname_is_partial(de->d_name)) || fstatat(fd, de->d_name, &f, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                bool old = (S_ISREG(f.st_mode) || S_ISLNK(f.st_mode)) && f.st_mtime < cutoff;
                if ((old || (tmp && orphaned(fd, de->d_name, &f))) && unlinkat(fd, de->d_name, 0) == 0)
                        removed++;
        }
        closedir(d);
        if (removed)
                log_info("removed %u stale temporary file%s (older than %llu s, or left by a writer that died)",
                         removed, removed == 1 ? "" : "s", (unsigned long long)st->age_s);
        return removed;
}

void stale_sweep_for(struct stale *st, uint32_t id, int dirfd) {
        (void)stale_sweep(st, dirfd);
        st->ids[st->nids++ % ARRAY_SIZE(st->ids)] = id;
}

bool stale_swept_for(const struct stale *st, uint32_t id) {
        for (unsigned i = 0; i < ARRAY_SIZE(st->ids); i++)
                if (id && st->ids[i] == id)
                        return true;
        return false;
}
