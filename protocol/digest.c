/* SPDX-License-Identifier: MIT */
/* Chunk and file digests (PROTOCOL.md section 6). */
#include <string.h>

#include "codec.h"

static void put64(uint8_t *p, uint64_t v) {
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t fy_chunk_digest(const void *data, size_t len) {
        return XXH3_64bits(data, len);
}

void fy_file_digest_init(struct fy_file_digest *fd) {
        XXH3_128bits_reset(&fd->state);
        fd->npending = 0;
}

/* Chunk digests are fed in batches: cheaper than one update per chunk. */
static void digest_flush(struct fy_file_digest *fd) {
        if (fd->npending > 0)
                XXH3_128bits_update(&fd->state, fd->pending, fd->npending);
        fd->npending = 0;
}

void fy_file_digest_add(struct fy_file_digest *fd, uint64_t chunk_digest) {
        if (fd->npending + 8 > sizeof fd->pending)
                digest_flush(fd);
        put64(fd->pending + fd->npending, chunk_digest);
        fd->npending += 8;
}

void fy_file_digest_add_hole(struct fy_file_digest *fd, uint64_t offset, uint64_t length) {
        uint8_t le[16];
        put64(le, offset);
        put64(le + 8, length);
        fy_file_digest_add(fd, XXH3_64bits_withSeed(le, sizeof le, FY_HOLE_SEED));
}

void fy_file_digest_final(struct fy_file_digest *fd, uint8_t ret_digest[16]) {
        XXH128_canonical_t c;
        digest_flush(fd);
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&fd->state));
        memcpy(ret_digest, c.digest, 16);
}

