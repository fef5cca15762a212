/* SPDX-License-Identifier: MIT */
/*
 * Temporary files of transfers that died with their receiver (a killed
 * daemon, a guest reset) stay behind as .ferry-NAME.RANDOM.tmp, and partial
 * files kept for resume as .ferry-NAME.HASH.{part,jnl}.  They never
 * sit at a destination name, but they take space: the first time a session
 * writes into a directory, the ones older than the configured age go.  The
 * age keeps this clear of anything a live transfer could still own.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "session-int.h"
#include "util.h"

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
        return (len > 11 && !strncmp(n, ".ferry-", 7) && !strcmp(n + len - 4, ".tmp")) || jnl_is_name(n);
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
                if (!is_tmp_name(de->d_name) || fstatat(fd, de->d_name, &f, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if ((S_ISREG(f.st_mode) || S_ISLNK(f.st_mode)) && f.st_mtime < cutoff &&
                    unlinkat(fd, de->d_name, 0) == 0)
                        removed++;
        }
        closedir(d);
        if (removed)
                log_info("removed %u stale temporary file%s (older than %llu s)", removed, removed == 1 ? "" : "s",
                         (unsigned long long)s->cfg.stale_age_s);
}
