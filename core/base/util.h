/* SPDX-License-Identifier: MIT */
/* Small helpers shared by both agents: cleanup attributes, time, bounds. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* close() that keeps errno and never retries on EINTR: on Linux the
 * descriptor is gone even when close() reports EINTR, and a retry could
 * close a descriptor another thread just got. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void)close(fd);
                errno = saved;
        }
        return -EBADF;
}

static inline void closep(int *fd) { safe_close(*fd); }
static inline void freep(void *p) { free(*(void **)p); }

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_free_ _cleanup_(freep)

/* Hand a descriptor out of a cleanup scope. */
static inline int take_fd(int *fd) {
        int r = *fd;
        *fd = -EBADF;
        return r;
}

/* Little-endian fields of on-disk records (journal, xattr record). */
static inline void le_put32(uint8_t *p, uint32_t v) {
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}
static inline void le_put64(uint8_t *p, uint64_t v) {
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t le_get32(const uint8_t *p) {
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t le_get64(const uint8_t *p) {
        return (uint64_t)le_get32(p) | (uint64_t)le_get32(p + 4) << 32;
}

static inline uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Block SIGINT, SIGTERM and SIGHUP and return a signalfd that becomes
 * readable when one arrives: the event loops poll it, so an interrupted
 * transfer still removes its temporary file.  -errno on failure. */
int stop_signal_fd(void);

/* Parse a size with an optional k/M/G/T suffix (powers of 1024). */
int parse_size(const char *s, uint64_t *ret);
