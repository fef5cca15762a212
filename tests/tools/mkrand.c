/* SPDX-License-Identifier: MIT */
/*
 * mkrand: write SIZE pseudo-random bytes to stdout, fast (xoshiro256**,
 * seeded through splitmix64), for the integration tests' big files.
 *
 *   mkrand SIZE [SEED]    (SIZE in bytes, k/M/G suffixes; SEED default: random)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/util.h"

static uint64_t splitmix64(uint64_t *x) {
        uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next(uint64_t s[4]) {
        uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
        return r;
}

int main(int argc, char **argv) {
        uint64_t size, seed;
        if (argc < 2 || argc > 3 || parse_size(argv[1], &size) < 0) {
                fprintf(stderr, "usage: mkrand SIZE [SEED] > FILE\n");
                return 2;
        }
        if (argc == 3) {
                if (parse_size(argv[2], &seed) < 0) {
                        fprintf(stderr, "mkrand: bad seed '%s'\n", argv[2]);
                        return 2;
                }
        } else if (getrandom(&seed, sizeof seed, 0) != sizeof seed) {
                fprintf(stderr, "mkrand: getrandom: %m\n");
                return 1;
        }
        uint64_t s[4];
        for (int i = 0; i < 4; i++)
                s[i] = splitmix64(&seed);

        static uint64_t buf[1 << 17]; /* 1 MiB */
        while (size > 0) {
                for (size_t i = 0; i < ARRAY_SIZE(buf); i++)
                        buf[i] = next(s);
                size_t n = size < sizeof buf ? (size_t)size : sizeof buf;
                const char *p = (const char *)buf;
                while (n > 0) {
                        ssize_t w = write(STDOUT_FILENO, p, n);
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0) {
                                fprintf(stderr, "mkrand: write: %m\n");
                                return 1;
                        }
                        p += w;
                        n -= (size_t)w;
                        size -= (uint64_t)w;
                }
        }
        return 0;
}
