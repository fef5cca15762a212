/* SPDX-License-Identifier: MIT */
/* XXH3-64's scalar path (no vector instructions: fastest under emulation).
 * Built -O3 -fno-tree-vectorize (Makefile): at -O2 GCC vectorised it. */
#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_SCALAR
#include <xxhash.h>

#include "base/chunkhash-impl.h"

uint64_t chunk_hash_scalar(const void *data, size_t len) {
        return XXH3_64bits(data, len);
}
