/* SPDX-License-Identifier: MIT */
/* XXH3-64's AVX2 path; the Makefile builds this file alone with -mavx2, and
 * chunkhash.c calls it only when the CPU has AVX2. */
#define XXH_INLINE_ALL
#if defined(__x86_64__)
#define XXH_VECTOR XXH_AVX2
#endif
#include <xxhash.h>

#include "base/chunkhash-impl.h"

uint64_t chunk_hash_avx2(const void *data, size_t len) {
        return XXH3_64bits(data, len); /* (elsewhere: the portable path, never picked) */
}
