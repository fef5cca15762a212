/* SPDX-License-Identifier: MIT */
/* base/chunkhash: every XXH3 path this CPU runs gives the protocol's chunk
 * digest (fy_chunk_digest), at every length class XXH3 treats differently,
 * at unaligned addresses, and the picked path is one of them. */
#include <errno.h>
#include <stdlib.h>

#include "base/chunkhash.h"
#include "check.h"
#include "codec.h"

static uint8_t *buf;
#define BUF_LEN ((4u << 20) + 64)

static void same(size_t off, size_t len) {
        uint64_t want = fy_chunk_digest(buf + off, len);
        CHECK_EQ_U64(chunk_hash(buf + off, len), want);
        for (unsigned i = 0; i < CHUNK_HASH_N; i++) {
                uint64_t got = 0;
                int r = chunk_hash_with(i, buf + off, len, &got);
                if (r == -ENOTSUP)
                        continue;
                CHECK_EQ_INT(r, 0);
                if (got != want)
                        fprintf(stderr, "path %s, offset %zu, %zu bytes\n", chunk_hash_impl_name(i), off, len);
                CHECK_EQ_U64(got, want);
        }
}

int main(void) {
        buf = malloc(BUF_LEN);
        if (!buf)
                return T_EXIT_FAIL;
        for (size_t k = 0; k < BUF_LEN; k++)
                buf[k] = (uint8_t)((k * 2654435761u) >> 13);

        /* 0-16, 17-128, 129-240 and the long-input loop (stripes of 64,
         * blocks of 1024), around each boundary. */
        for (size_t len = 0; len <= 2200; len++)
                same(len % 7, len);
        static const size_t big[] = { 4095, 4096, 65536, 65537, 1u << 20, (1u << 20) + 3, 4u << 20 };
        for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
                same(0, big[i]);
                same(33, big[i]);
        }

        /* The baseline and scalar paths run everywhere; the picked one is real. */
        uint64_t d;
        CHECK_EQ_INT(chunk_hash_with(CHUNK_HASH_SCALAR, buf, 10, &d), 0);
        CHECK_EQ_INT(chunk_hash_with(CHUNK_HASH_SSE2, buf, 10, &d), 0);
        CHECK(chunk_hash_impl() < CHUNK_HASH_N);
        CHECK_EQ_INT(chunk_hash_with(chunk_hash_impl(), buf, 10, &d), 0);
        printf("chunk_hash picks %s here\n", chunk_hash_impl_name(chunk_hash_impl()));
        free(buf);
        return check_done();
}
