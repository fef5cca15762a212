/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <sys/xattr.h>

#include "base/util.h"
#include "fs/record.h"

#define RECORD_XATTR "user.ferry.v1"
#define RECORD_SIZE 40 /* size u64, mtime_sec i64, mtime_nsec u32 | chunk u32 << 32, digest[16] */

int record_set(int fd, const struct fy_file_begin *b, const uint8_t digest[16]) {
        uint8_t v[RECORD_SIZE];
        le_put64(v, b->size);
        le_put64(v + 8, (uint64_t)b->mtime_sec);
        le_put64(v + 16, (uint64_t)b->mtime_nsec | (uint64_t)b->chunk_size << 32);
        memcpy(v + 24, digest, 16);
        if (fsetxattr(fd, RECORD_XATTR, v, sizeof v, 0) < 0)
                return errno == EPERM ? -ENOTSUP : -errno;
        return 0;
}

int record_check(int fd, const struct fy_file_begin *b, uint8_t ret_digest[16], uint32_t *ret_chunk) {
        uint8_t v[RECORD_SIZE];
        ssize_t n = fgetxattr(fd, RECORD_XATTR, v, sizeof v);
        if (n < 0)
                return errno == ENOTSUP ? -ENOTSUP : 0; /* ENODATA: not ferry's, or not verified */
        if (n != RECORD_SIZE || le_get64(v) != b->size || (int64_t)le_get64(v + 8) != b->mtime_sec ||
            (uint32_t)le_get64(v + 16) != b->mtime_nsec)
                return 0;
        memcpy(ret_digest, v + 24, 16);
        *ret_chunk = (uint32_t)(le_get64(v + 16) >> 32);
        return 1;
}
