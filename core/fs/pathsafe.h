/* SPDX-License-Identifier: MIT */
/*
 * Paths from the wire, resolved without ever leaving a root directory.
 *
 * ferryd serves one root: relative paths are taken beneath it, absolute
 * paths only when they lie under the root's own absolute path, and any
 * resolution that would step outside (.., a symlink pointing out) fails
 * with -EXDEV.  openat2(RESOLVE_BENEATH) does the walk where the kernel has
 * it (5.6+); elsewhere a component-by-component walk that refuses ".." and
 * symlinks.  The host side uses the same code with no root (AT_FDCWD).
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire.h"

struct fsroot {
        int fd;          /* root directory, or AT_FDCWD when !beneath */
        bool beneath;    /* confine every path to the root */
        bool no_symlinks; /* ... and follow no symlink at all on the way
                          * (fsroot_open_fd: a tree being sent) */
        bool no_openat2; /* openat2 missing or filtered: walk by hand */
        char abs[PATH_MAX];
        size_t abslen;
};

int fsroot_open(const char *dir, bool beneath, struct fsroot *ret);
void fsroot_close(struct fsroot *r);
/* A root at an open directory (duplicated: the caller keeps dirfd), with
 * no absolute path: only relative paths resolve.  no_symlinks: none is
 * followed, as a walk by descriptor with O_NOFOLLOW would not. */
int fsroot_open_fd(int dirfd, bool no_symlinks, struct fsroot *ret);

/* Open path (from the wire) under the root; flags as for openat (O_CLOEXEC
 * is added).  -EXDEV when it escapes the root. */
int fsroot_open_at(struct fsroot *r, const char *path, int flags, mode_t mode, int *ret_fd);

/* Turn FILE_BEGIN's (dest, name, flags) into a directory descriptor and the
 * final name inside it, following the rules in PROTOCOL.md. */
int dest_resolve(struct fsroot *r, const char *dest, const char *name, uint32_t flags,
                 int *ret_dirfd, char ret_name[FY_MAX_NAME + 1]);

/* Text for an errno in the context of a path, e.g. EXDEV reads as "path
 * escapes the root" rather than "Invalid cross-device link". */
const char *path_strerror(int err);
