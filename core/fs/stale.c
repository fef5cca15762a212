/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

/* Unnamed, locked, then named: nobody ever sees it unlocked while its
 * writer lives.  linkat by descriptor wants CAP_DAC_READ_SEARCH; without
 * it, by its /proc/self/fd path. */
static int create_born_locked(int dirfd, const char *name, int flags) {
        _cleanup_close_ int fd = openat(dirfd, ".", (flags & ~(O_CREAT | O_EXCL)) | O_TMPFILE | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return -errno;
        if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) < 0) {
                if (errno != ENOENT && errno != EPERM)
                        return -errno;
                char p[64];
                snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
                if (linkat(AT_FDCWD, p, dirfd, name, AT_SYMLINK_FOLLOW) < 0)
                        return errno == EEXIST ? -EEXIST : -EOPNOTSUPP;
        }
        return take_fd(&fd);
}

int stale_create_tmp(int dirfd, const char *name, int flags) {
        int fd = create_born_locked(dirfd, name, flags);
        if (fd >= 0 || (fd != -EOPNOTSUPP && fd != -EISDIR && fd != -EINVAL && fd != -ENOENT))
                return fd;
        /* No O_TMPFILE here (or no way to name one): locked a moment after. */
        fd = openat(dirfd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        (void)flock(fd, LOCK_EX | LOCK_NB);
        return fd;
}

/* A temporary file whose writer is gone: the writer holds a lock on it
 * until it is renamed (see stale.h), so an unlocked one belongs to nobody -
 * at once where it was born locked (the directory takes O_TMPFILE), else
 * once ORPHAN_AGE_S old.  (Partial files are kept for resume until the
 * configured age, whoever holds them.) */
#define ORPHAN_AGE_S 2
static bool orphaned(int dirfd, const char *name, const struct stat *f, bool born_locked) {
        if (!S_ISREG(f->st_mode) || (!born_locked && f->st_ctime > time(NULL) - ORPHAN_AGE_S))
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
        int probe = openat(fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
        bool born_locked = probe >= 0;
        safe_close(probe);
        struct dirent *de;
        while ((de = readdir(d))) {
                struct stat f;
                bool tmp = tmpname_is_tmp(de->d_name);
                if ((!tmp && !tmpname_is_partial(de->d_name)) || fstatat(fd, de->d_name, &f, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                bool old = (S_ISREG(f.st_mode) || S_ISLNK(f.st_mode)) && f.st_mtime < cutoff;
                if ((old || (tmp && orphaned(fd, de->d_name, &f, born_locked))) && unlinkat(fd, de->d_name, 0) == 0)
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
