/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XXH_INLINE_ALL
#if defined(__x86_64__)
#define XXH_VECTOR XXH_SSE2 /* the x86-64 baseline */
#endif
#include <xxhash.h>

#include "base/chunkhash.h"
#include "base/chunkhash-impl.h"

uint64_t chunk_hash_sse2(const void *data, size_t len) {
        return XXH3_64bits(data, len); /* (the build's baseline elsewhere) */
}

typedef uint64_t (*hash_fn)(const void *, size_t);

static const struct {
        const char *name;
        hash_fn fn;
} impls[CHUNK_HASH_N] = {
        [CHUNK_HASH_SCALAR] = { "scalar", chunk_hash_scalar },
        [CHUNK_HASH_SSE2] = { "sse2", chunk_hash_sse2 },
        [CHUNK_HASH_AVX2] = { "avx2", chunk_hash_avx2 },
};

static bool runs(enum chunk_hash_impl i) {
#if defined(__x86_64__)
        if (i == CHUNK_HASH_AVX2) {
                __builtin_cpu_init();
                return __builtin_cpu_supports("avx2"); /* (checks the OS saves the registers) */
        }
        return i < CHUNK_HASH_N;
#else
        return i == CHUNK_HASH_SCALAR || i == CHUNK_HASH_SSE2; /* both the portable build */
#endif
}

const char *chunk_hash_impl_name(enum chunk_hash_impl i) {
        return i < CHUNK_HASH_N ? impls[i].name : "?";
}

int chunk_hash_with(enum chunk_hash_impl i, const void *data, size_t len, uint64_t *ret_digest) {
        if (!runs(i))
                return -ENOTSUP;
        *ret_digest = impls[i].fn(data, len);
        return 0;
}

static uint64_t thread_ns(void) {
        struct timespec t;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
        return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* 64 KiB is past XXH3's short-input paths (chunks are 64 KiB to 4 MiB) yet
 * costs well under a millisecond even emulated.  The best of three runs of
 * each path, on this thread's CPU clock, so a preemption does not decide. */
#define PICK_BYTES (64u << 10)
static enum chunk_hash_impl picked = CHUNK_HASH_SSE2;
static hash_fn fn = chunk_hash_sse2;
static pthread_once_t pick_once = PTHREAD_ONCE_INIT;

static void pick(void) {
        const char *force = getenv("FERRY_CHUNK_HASH"); /* for benchmarks: scalar, sse2, avx2 */
        if (force && *force) {
                for (unsigned i = 0; i < CHUNK_HASH_N; i++)
                        if (strcmp(force, impls[i].name) == 0 && runs(i)) {
                                picked = i;
                                fn = impls[i].fn;
                                return;
                        }
        }
        uint8_t *buf = malloc(PICK_BYTES);
        if (!buf)
                return; /* keep the baseline */
        for (size_t k = 0; k < PICK_BYTES; k++)
                buf[k] = (uint8_t)(k * 2654435761u >> 11);
        uint64_t best = UINT64_MAX, sink = 0;
        for (unsigned i = 0; i < CHUNK_HASH_N; i++) {
                if (!runs(i))
                        continue;
                for (int rep = 0; rep < 3; rep++) {
                        uint64_t t = thread_ns();
                        sink ^= impls[i].fn(buf, PICK_BYTES);
                        t = thread_ns() - t;
                        if (t < best) {
                                best = t;
                                picked = i;
                        }
                }
        }
        free(buf);
        __asm__ volatile("" : : "r"(sink)); /* the hashing is the point */
        fn = impls[picked].fn;
}

enum chunk_hash_impl chunk_hash_impl(void) {
        pthread_once(&pick_once, pick);
        return picked;
}

uint64_t chunk_hash(const void *data, size_t len) {
        pthread_once(&pick_once, pick);
        return fn(data, len);
}
