/* SPDX-License-Identifier: MIT */
/*
 * Walking a directory tree for sending: depth first, a directory before
 * its contents and again after them (so its mtime can be set last), never
 * following a symbolic link.  Memory is one open directory per level.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "fs/tmpname.h"
#include "fs/walk.h"

struct walk_frame {
        DIR *dir;
        size_t srclen, rellen; /* lengths of src and rel for this directory */
        struct stat st;
};

struct walk {
        struct walk_frame stack[WALK_MAX_DEPTH];
        unsigned depth;
        bool started;
        struct stat base_st;
        char src[FY_MAX_PATH + 1];
        char rel[FY_MAX_PATH + 1];
};

static int push_dir(struct walk *w, int fd, const struct stat *st) {
        if (w->depth == WALK_MAX_DEPTH) {
                safe_close(fd);
                return -ELOOP;
        }
        DIR *d = fdopendir(fd);
        if (!d) {
                int r = -errno;
                safe_close(fd);
                return r;
        }
        w->stack[w->depth++] = (struct walk_frame){
                .dir = d, .srclen = strlen(w->src), .rellen = strlen(w->rel), .st = *st,
        };
        return 0;
}

int walk_new(struct fsroot *root, const char *src, const char *rel, struct walk **ret) {
        if (strlen(src) > FY_MAX_PATH || strlen(rel) > FY_MAX_PATH)
                return -ENAMETOOLONG;
        struct walk *w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        strcpy(w->src, src);
        strcpy(w->rel, rel);
        int fd;
        int r = fsroot_open_at(root, src, O_RDONLY | O_DIRECTORY, 0, &fd);
        if (r < 0) {
                free(w);
                return r;
        }
        if (fstat(fd, &w->base_st) < 0) {
                r = -errno;
                safe_close(fd);
                free(w);
                return r;
        }
        r = push_dir(w, fd, &w->base_st);
        if (r < 0) {
                free(w);
                return r;
        }
        /* Child paths are src + "/" + name: drop trailing slashes once. */
        size_t n = strlen(w->src);
        while (n > 1 && w->src[n - 1] == '/')
                w->src[--n] = 0;
        w->stack[0].srclen = n;
        *ret = w;
        return 0;
}

static int join(char *buf, size_t keep, const char *name) {
        size_t nlen = strlen(name);
        bool slash = keep > 0 && buf[keep - 1] != '/';
        if (keep + slash + nlen > FY_MAX_PATH)
                return -ENAMETOOLONG;
        if (slash)
                buf[keep++] = '/';
        memcpy(buf + keep, name, nlen + 1);
        return 0;
}

int walk_next(struct walk *w, struct walk_entry *e) {
        if (!w->started) { /* the base directory itself */
                w->started = true;
                *e = (struct walk_entry){ .kind = WALK_DIR, .st = w->base_st };
                strcpy(e->src, w->src);
                strcpy(e->rel, w->rel);
                e->below = strlen(e->src);
                return 1;
        }
        while (w->depth > 0) {
                struct walk_frame *f = &w->stack[w->depth - 1];
                w->src[f->srclen] = 0;
                w->rel[f->rellen] = 0;
                errno = 0;
                struct dirent *de = readdir(f->dir);
                if (!de) {
                        int r = -errno;
                        *e = (struct walk_entry){ .kind = WALK_DIR_DONE, .st = f->st };
                        strcpy(e->src, w->src);
                        strcpy(e->rel, w->rel);
                        e->below = w->depth > 1 ? w->stack[0].srclen + (w->src[w->stack[0].srclen - 1] != '/')
                                                : strlen(w->src);
                        closedir(f->dir);
                        w->depth--;
                        return r < 0 ? r : 1;
                }
                const char *name = de->d_name;
                if (!strcmp(name, ".") || !strcmp(name, ".."))
                        continue;
                /* A receiver's temporary files are nobody's data. */
                if (tmpname_is_tmp(name))
                        continue;
                *e = (struct walk_entry){ 0 };
                int r = join(w->src, f->srclen, name);
                if (r == 0)
                        r = join(w->rel, f->rellen, name);
                if (r < 0) {
                        snprintf(e->src, sizeof e->src, "%.*s", (int)f->srclen, w->src);
                        return r;
                }
                strcpy(e->src, w->src);
                strcpy(e->rel, w->rel);
                e->below = w->stack[0].srclen + (w->src[w->stack[0].srclen - 1] != '/');
                int dfd = dirfd(f->dir);
                if (fstatat(dfd, name, &e->st, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno; /* vanished since readdir: reported, the walk goes on */
                if (S_ISREG(e->st.st_mode)) {
                        e->kind = WALK_FILE;
                        return 1;
                }
                if (S_ISLNK(e->st.st_mode)) {
                        e->kind = WALK_SYMLINK;
                        ssize_t n = readlinkat(dfd, name, e->target, sizeof e->target - 1);
                        if (n < 0)
                                return -errno;
                        if ((size_t)n >= sizeof e->target - 1)
                                return -ENAMETOOLONG;
                        e->target[n] = 0;
                        return 1;
                }
                if (S_ISDIR(e->st.st_mode)) {
                        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd < 0)
                                return -errno;
                        e->kind = WALK_DIR;
                        r = push_dir(w, fd, &e->st);
                        return r < 0 ? r : 1;
                }
                return -EOPNOTSUPP; /* a FIFO, socket or device: not copied */
        }
        return 0;
}

int walk_base_fd(const struct walk *w) {
        return w->depth > 0 ? dirfd(w->stack[0].dir) : -EBADF;
}

struct walk *walk_free(struct walk *w) {
        if (!w)
                return NULL;
        while (w->depth > 0)
                closedir(w->stack[--w->depth].dir);
        free(w);
        return NULL;
}
