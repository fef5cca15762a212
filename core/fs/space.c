/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/util.h"
#include "fs/space.h"

static int reserve(int fd, uint64_t off, uint64_t end) {
        if (end <= off || fallocate(fd, 0, (off_t)off, (off_t)(end - off)) == 0)
                return 0;
        return errno == EOPNOTSUPP || errno == ENOSYS ? 0 : -errno;
}

int space_begin(int fd, uint64_t size) {
        struct statvfs v;
        struct stat st;
        if (fstatvfs(fd, &v) == 0 && fstat(fd, &st) == 0 && v.f_blocks > 0) {
                uint64_t avail = (uint64_t)(geteuid() == 0 ? v.f_bfree : v.f_bavail) * v.f_frsize;
                uint64_t have = (uint64_t)st.st_blocks * 512; /* (a partial's own blocks count as room) */
                if (size > avail + have)
                        return -ENOSPC;
        }
        return reserve(fd, 0, MIN(size, SPACE_AHEAD));
}

int space_ahead(int fd, uint64_t off, uint64_t size) {
        return reserve(fd, off, MIN(size, off + SPACE_AHEAD));
}
