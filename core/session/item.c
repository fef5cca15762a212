/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "base/fd.h"
#include "base/util.h"
#include "fs/pathsafe.h"
#include "session/ctx.h"
#include "session/item.h"

struct tx_item *item_new(uint32_t id) {
        struct tx_item *it = calloc(1, sizeof *it);
        if (!it)
                return NULL;
        it->xfer_id = id;
        it->fd = -EBADF;
        it->res.xfer_id = id;
        it->res.sent = true;
        return it;
}

void item_free(struct tx_item *it) {
        if (it) {
                safe_close(it->fd);
                free(it->target);
                free(it);
        }
}

void items_push(struct item_list *l, struct tx_item *it) {
        it->next = NULL;
        if (l->tail)
                l->tail->next = it;
        else
                l->head = it;
        l->tail = it;
        l->n++;
}

struct tx_item *items_pop(struct item_list *l) {
        struct tx_item *it = l->head;
        if (!it)
                return NULL;
        l->head = it->next;
        if (!l->head)
                l->tail = NULL;
        l->n--;
        it->next = NULL;
        return it;
}

struct tx_item *items_take(struct item_list *l, uint32_t id) {
        for (struct tx_item **pp = &l->head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
                struct tx_item *it = *pp;
                if (it->xfer_id != id)
                        continue;
                *pp = it->next;
                if (l->tail == it)
                        l->tail = prev;
                l->n--;
                it->next = NULL;
                return it;
        }
        return NULL;
}

struct tx_item *items_find(const struct item_list *l, uint32_t id) {
        for (struct tx_item *it = l->head; it; it = it->next)
                if (it->xfer_id == id)
                        return it;
        return NULL;
}

void items_free(struct item_list *l) {
        struct tx_item *it;
        while ((it = items_pop(l)))
                item_free(it);
}

int item_open_source(struct fsroot *root, const struct tx_item *it, int *ret_fd, struct stat *ret_st) {
        /* O_NONBLOCK: opening a FIFO or a device must not hang the loop; only
         * regular files are sent. */
        _cleanup_close_ int fd = -EBADF;
        int r;
        if (item_is_bench(it)) { /* nothing to open: a regular file of its size, made as it goes */
                *ret_st = (struct stat){ .st_mode = S_IFREG | 0600, .st_size = (off_t)it->bench_size,
                                         .st_blocks = (blkcnt_t)((it->bench_size + 511) / 512) };
                *ret_fd = -EBADF;
                return 0;
        }
        if (it->base)
                r = fsroot_open_at(it->base, it->path + it->below, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW, 0, &fd);
        else if (it->is_get)
                r = fsroot_open_at(root, it->path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0, &fd);
        else {
                fd = open(it->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                r = fd < 0 ? -errno : 0;
        }
        if (r < 0)
                return r;
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return S_ISDIR(st.st_mode) ? -EISDIR : -EOPNOTSUPP;
        if ((r = fd_set_nonblock(fd, false)) < 0)
                return r;
        *ret_st = st;
        *ret_fd = take_fd(&fd);
        return 0;
}

bool item_source_changed(struct fsroot *root, const struct tx_item *it, int fd) {
        const struct stat *a = &it->opened;
        struct stat now, named;
        if (fstat(fd, &now) < 0)
                return true;
        if (now.st_size != a->st_size || now.st_mtim.tv_sec != a->st_mtim.tv_sec ||
            now.st_mtim.tv_nsec != a->st_mtim.tv_nsec || now.st_ctim.tv_sec != a->st_ctim.tv_sec ||
            now.st_ctim.tv_nsec != a->st_ctim.tv_nsec)
                return true;
        /* The name, looked up as item_open_source did: still this file? */
        _cleanup_close_ int pfd = -EBADF;
        int r;
        if (it->base)
                r = fsroot_open_at(it->base, it->path + it->below, O_PATH | O_NOFOLLOW, 0, &pfd);
        else if (it->is_get)
                r = fsroot_open_at(root, it->path, O_PATH, 0, &pfd);
        else {
                pfd = open(it->path, O_PATH | O_CLOEXEC);
                r = pfd < 0 ? -errno : 0;
        }
        return r < 0 || fstat(pfd, &named) < 0 || named.st_ino != a->st_ino || named.st_dev != a->st_dev;
}

void item_describe(const struct sctx *c, const struct tx_item *it, const struct stat *st, struct fy_file_begin *b) {
        /* Holes travel as HOLE frames when the file has any (fewer blocks
         * than its size) and the peer takes them: VM images are sparse. */
        bool sparse = sctx_peer_has(c, FY_FEAT_SPARSE) && st->st_size > 0 &&
                      (uint64_t)st->st_blocks * 512 < (uint64_t)st->st_size;
        uint32_t chunk = MIN(c->cfg->chunk_size, c->peer.max_chunk);
        if (it->chunk && it->chunk < chunk) /* a GET may ask for smaller chunks */
                chunk = it->chunk;
        *b = (struct fy_file_begin){
                .xfer_id = it->xfer_id,
                .flags = it->flags | (sparse ? FY_FB_SPARSE : 0),
                .size = (uint64_t)st->st_size,
                .mode = st->st_mode & 07777,
                .chunk_size = chunk,
                .mtime_sec = st->st_mtim.tv_sec,
                .mtime_nsec = (uint32_t)st->st_mtim.tv_nsec,
        };
        strcpy(b->dest, it->dest);
        strcpy(b->name, it->name);
}

bool item_same_version(const struct stat *a, const struct stat *b) {
        return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
               a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* wyrand (Wang Yi): one 64x64->128 multiply per 8 bytes, output
 * indistinguishable from random to any compressor. */
static inline uint64_t bench_next(uint64_t *s) {
        *s += 0xa0761d6478bd642full;
        __uint128_t t = (__uint128_t)*s * (*s ^ 0xe7037ed1a0b428dbull);
        return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

/* FY_BENCH_TEXT: 8-byte words drawn at random from 32, 5 bits of choice
 * per word: zstd -1 takes a 1 MiB chunk down about 6x, like source code
 * or logs (a tar of /usr/include: 5.1x, FACTS.md). */
static const char bench_words[32][8] = {
        "ferry   ", "moves   ", "large   ", "files   ", "between ", "a host  ", "and its ", "guests, ",
        "chunk   ", "by chunk", "verified", "with    ", "XXH3    ", "digests:", "fast,   ", "safe    ",
        "and     ", "never   ", "freezing", "the     ", "guest.\n ", "window  ", "credit  ", "of      ",
        "pacing  ", "session ", "engine  ", "in      ", "order;  ", "a       ", "file    ", "is      ",
};

void item_bench_fill(uint8_t *p, uint32_t len, uint64_t off, uint32_t pattern) {
        uint64_t s = off * 0x9e3779b97f4a7c15ull + pattern;
        uint32_t i = 0;
        if (pattern == FY_BENCH_TEXT) {
                while (i + 96 <= len) {
                        uint64_t v = bench_next(&s);
                        for (int k = 0; k < 12; k++, v >>= 5, i += 8)
                                memcpy(p + i, bench_words[v & 31], 8);
                }
                for (; i + 8 <= len; i += 8)
                        memcpy(p + i, bench_words[bench_next(&s) & 31], 8);
        } else {
                for (; i + 8 <= len; i += 8) {
                        uint64_t v = bench_next(&s);
                        memcpy(p + i, &v, 8);
                }
        }
        if (i < len) {
                uint64_t v = bench_next(&s);
                memcpy(p + i, &v, len - i);
        }
}
