/* SPDX-License-Identifier: MIT */
/*
 * Temporary files of transfers that died with their receiver (a killed
 * daemon, a guest reset) stay behind as .ferry-NAME.RANDOM.tmp, and partial
 * files kept for resume as .ferry-NAME.HASH.{part,jnl}.  They never
 * sit at a destination name, but they take space: the first time a session
 * writes into a directory, the ones older than the configured age go, and
 * temporary files no live writer holds (see orphaned()) at once.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs/journal.h"
#include "base/log.h"
#include "session-int.h"
#include "base/util.h"

static bool seen_before(struct session *s, const struct stat *st) {
        for (unsigned i = 0; i < s->nswept; i++)
                if (s->swept[i].dev == st->st_dev && s->swept[i].ino == st->st_ino)
                        return true;
        if (s->nswept < ARRAY_SIZE(s->swept))
                s->swept[s->nswept++] = (typeof(s->swept[0])){ st->st_dev, st->st_ino };
        return false; /* past the table's bound a directory may be swept twice: harmless */
}

static bool is_tmp_name(const char *n) {
        size_t len = strlen(n);
        return len > 11 && !strncmp(n, ".ferry-", 7) && !strcmp(n + len - 4, ".tmp");
}

/* A temporary file whose writer is gone: the writer holds a lock on it from
 * a moment after creating it (rx.c) until it is renamed, so an unlocked one
 * at least ORPHAN_AGE_S old belongs to nobody.  (Partial files are kept for
 * resume until the configured age, whoever holds them.) */
#define ORPHAN_AGE_S 2
static bool orphaned(int dirfd, const char *name, const struct stat *f) {
        if (!S_ISREG(f->st_mode) || f->st_ctime > time(NULL) - ORPHAN_AGE_S)
                return false;
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;
}

void stale_sweep(struct session *s, int dirfd) {
        struct stat st;
        if (!s->cfg.stale_age_s || fstat(dirfd, &st) < 0 || seen_before(s, &st))
                return;
        int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return;
        DIR *d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return;
        }
        time_t cutoff = time(NULL) - (time_t)s->cfg.stale_age_s;
        unsigned removed = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                struct stat f;
                bool tmp = is_tmp_name(de->d_name);
                if ((!tmp && !jnl_is_name(de->d_name)) || fstatat(fd, de->d_name, &f, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                bool old = (S_ISREG(f.st_mode) || S_ISLNK(f.st_mode)) && f.st_mtime < cutoff;
                if ((old || (tmp && orphaned(fd, de->d_name, &f))) && unlinkat(fd, de->d_name, 0) == 0)
                        removed++;
        }
        closedir(d);
        if (removed)
                log_info("removed %u stale temporary file%s (older than %llu s, or left by a writer that died)",
                         removed, removed == 1 ? "" : "s", (unsigned long long)s->cfg.stale_age_s);
}

uint32_t tmp_suffix(struct session *s) {
        /* A Weyl sequence through a 64-bit mix: distinct for 2^64 calls. */
        uint64_t z = (s->tmp_seq += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return (uint32_t)(z ^ (z >> 31));
}
