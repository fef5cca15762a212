/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "fs/tmpname.h"
#include "xxh.h"

#define PREFIX ".ferry-"
#define PREFIX_LEN 7

uint32_t tmpname_suffix(uint64_t *seq) {
        uint64_t z = (*seq += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return (uint32_t)(z ^ (z >> 31));
}

void tmpname_tmp(const char *name, uint32_t suffix, char ret[FY_MAX_NAME + 1]) {
        snprintf(ret, FY_MAX_NAME + 1, PREFIX "%.200s.%08x.tmp", name, suffix);
}

void tmpname_partial(const char *name, char ret_part[FY_MAX_NAME + 1], char ret_jnl[FY_MAX_NAME + 1]) {
        /* The hash of the whole name tells apart long names cut to 200. */
        uint32_t h = (uint32_t)XXH3_64bits(name, strlen(name));
        snprintf(ret_part, FY_MAX_NAME + 1, PREFIX "%.200s.%08x.part", name, h);
        snprintf(ret_jnl, FY_MAX_NAME + 1, PREFIX "%.200s.%08x.jnl", name, h);
}

static bool has_suffix(const char *n, size_t len, const char *suffix) {
        size_t sl = strlen(suffix);
        return len >= sl && !strcmp(n + len - sl, suffix);
}

bool tmpname_is_tmp(const char *n) {
        size_t len = strlen(n);
        return len > PREFIX_LEN + 4 && !strncmp(n, PREFIX, PREFIX_LEN) && has_suffix(n, len, ".tmp");
}

bool tmpname_is_partial(const char *n) {
        size_t len = strlen(n);
        if (len < PREFIX_LEN + 1 + 8 + 4 || strncmp(n, PREFIX, PREFIX_LEN))
                return false;
        return has_suffix(n, len, ".part") || has_suffix(n, len, ".jnl");
}
