/* SPDX-License-Identifier: MIT */
/*
 * Temporary files of transfers that died with their receiver (a killed
 * daemon, a guest reset) stay behind as .ferry-*.tmp, and partial files
 * kept for resume as .ferry-*.{part,jnl} (fs/tmpname.h).  They never sit at
 * a destination name, but they take space: the first time a session writes
 * into a directory, the ones older than the configured age go, and
 * temporary files no live writer holds at once.
 *
 * "Holds" is a lock (flock) the writer keeps on its temporary file until it
 * is renamed.  stale_create_tmp makes the file already locked - unnamed
 * (O_TMPFILE), locked, then linked under its name - so an unlocked one is
 * an orphan from its first moment, and a rerun right after a killed
 * receiver removes its orphans.  Where the filesystem has no O_TMPFILE the
 * file is created and then locked, and an unlocked one must be
 * ORPHAN_AGE_S old before it counts as an orphan.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define STALE_DIRS 256 /* directories remembered as swept (past it: swept again, harmless) */
#define STALE_IDS 64   /* transfers remembered as swept for */

struct stale {
        uint64_t age_s; /* remove what is older than this; 0: never sweep */
        struct { dev_t dev; ino_t ino; } dirs[STALE_DIRS];
        unsigned ndirs;
        uint32_t ids[STALE_IDS]; /* ring: transfers whose directory was swept */
        unsigned nids;
};

void stale_init(struct stale *st, uint64_t age_s);
/* Create the temporary file name in dirfd, exclusively (-EEXIST), never
 * through a symlink, locked as above; flags: O_WRONLY and the like
 * (O_DIRECT: -EINVAL where the filesystem refuses it).  Returns the fd. */
int stale_create_tmp(int dirfd, const char *name, int flags);

/* Sweep dirfd once per session.  Returns how many files went. */
unsigned stale_sweep(struct stale *st, int dirfd);
/* Sweep for transfer id (its RESUME_QUERY), so that its FILE_BEGIN need
 * not look at the directory again (stale_swept_for). */
void stale_sweep_for(struct stale *st, uint32_t id, int dirfd);
bool stale_swept_for(const struct stale *st, uint32_t id);
