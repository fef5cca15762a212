/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs/pathsafe.h"
#include "base/util.h"

int fsroot_open(const char *dir, bool beneath, struct fsroot *ret) {
        struct fsroot r = { .fd = AT_FDCWD, .beneath = beneath };
        if (!beneath) {
                *ret = r;
                return 0;
        }
        if (!realpath(dir, r.abs))
                return -errno;
        r.abslen = strlen(r.abs);
        r.fd = open(r.abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (r.fd < 0)
                return -errno;
        *ret = r;
        return 0;
}

int fsroot_open_fd(int dirfd, bool no_symlinks, struct fsroot *ret) {
        int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        *ret = (struct fsroot){ .fd = fd, .beneath = true, .no_symlinks = no_symlinks };
        return 0;
}

void fsroot_close(struct fsroot *r) {
        if (r->fd >= 0)
                r->fd = safe_close(r->fd);
}

/* Strip the root's absolute path from an absolute wire path. */
static int root_relative(const struct fsroot *r, const char *path, const char **ret_rel) {
        if (path[0] != '/') {
                *ret_rel = path;
                return 0;
        }
        if (r->abslen == 0) /* a root known by descriptor only */
                return -EXDEV;
        if (r->abslen == 1) { /* root is "/" */
                *ret_rel = path + 1;
                return 0;
        }
        if (strncmp(path, r->abs, r->abslen) != 0 || (path[r->abslen] != '/' && path[r->abslen] != 0))
                return -EXDEV;
        const char *rel = path + r->abslen;
        while (*rel == '/')
                rel++;
        *ret_rel = rel;
        return 0;
}

/* The walk for kernels without openat2: one component at a time, never
 * following a symlink and never going up. */
static int walk_beneath(int rootfd, const char *rel, int flags, mode_t mode, int *ret_fd) {
        char buf[FY_MAX_PATH + 1];
        size_t len = strlen(rel);
        if (len > FY_MAX_PATH)
                return -ENAMETOOLONG;
        strcpy(buf, rel);
        /* "f/" names a directory, as for open(2): strtok_r would drop the slash. */
        if (len > 0 && rel[len - 1] == '/')
                flags |= O_DIRECTORY;

        _cleanup_close_ int cur = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (cur < 0)
                return -errno;
        char *save = NULL;
        char *comp = strtok_r(buf, "/", &save);
        if (!comp) { /* the root itself */
                int fd = openat(rootfd, ".", flags | O_CLOEXEC, mode);
                if (fd < 0)
                        return -errno;
                *ret_fd = fd;
                return 0;
        }
        while (comp) {
                char *next = strtok_r(NULL, "/", &save);
                if (!strcmp(comp, "..")) {
                        return -EXDEV;
                } else if (!strcmp(comp, ".") && next) {
                        /* stays here */
                } else if (next) {
                        int fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd < 0) {
                                int err = errno;
                                struct stat st;
                                /* ENOTDIR: a symlink (refused here) or a plain file. */
                                if (err == ENOTDIR && fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                                    S_ISLNK(st.st_mode))
                                        return -ELOOP;
                                return -err;
                        }
                        safe_close(cur);
                        cur = fd;
                } else {
                        int fd = openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
                        if (fd < 0)
                                return -errno;
                        *ret_fd = fd;
                        return 0;
                }
                comp = next;
        }
        return -EINVAL;
}

int fsroot_open_at(struct fsroot *r, const char *path, int flags, mode_t mode, int *ret_fd) {
        if (!r->beneath) {
                int fd = openat(AT_FDCWD, path, flags | O_CLOEXEC, mode);
                if (fd < 0)
                        return -errno;
                *ret_fd = fd;
                return 0;
        }
        const char *rel;
        int ret = root_relative(r, path, &rel);
        if (ret < 0)
                return ret;
        if (!*rel)
                rel = ".";
        if (!r->no_openat2) {
                struct open_how how = {
                        .flags = (uint64_t)(flags | O_CLOEXEC),
                        .mode = (flags & O_CREAT) ? mode : 0,
                        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
                                   (r->no_symlinks ? RESOLVE_NO_SYMLINKS : 0),
                };
                int fd = (int)syscall(SYS_openat2, r->fd, rel, &how, sizeof how);
                if (fd >= 0) {
                        *ret_fd = fd;
                        return 0;
                }
                if (errno != ENOSYS && errno != EPERM)
                        return -errno;
                /* EPERM: a seccomp filter that does not know openat2 */
                r->no_openat2 = true;
        }
        return walk_beneath(r->fd, rel, flags, mode, ret_fd);
}

static int open_dir(struct fsroot *r, const char *path, int *ret_fd) {
        return fsroot_open_at(r, path, O_RDONLY | O_DIRECTORY, 0, ret_fd);
}

int dest_resolve(struct fsroot *r, const char *dest, const char *name, uint32_t flags,
                 int *ret_dirfd, char ret_name[FY_MAX_NAME + 1]) {
        int dirfd = -EBADF, ret;

        if (flags & (FY_FB_DEST_IS_DIR | FY_FB_DEST_MAYBE_DIR)) {
                /* The name must be one component; the decoder checks this for
                 * names from the wire, but a caller may substitute its own. */
                if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
                        return -EINVAL;
                ret = open_dir(r, dest, &dirfd);
                if (ret == 0) {
                        if (strlen(name) > FY_MAX_NAME) {
                                safe_close(dirfd);
                                return -ENAMETOOLONG;
                        }
                        strcpy(ret_name, name);
                        *ret_dirfd = dirfd;
                        return 0;
                }
                if ((flags & FY_FB_DEST_IS_DIR) || (ret != -ENOTDIR && ret != -ENOENT))
                        return ret;
        }

        /* dest names the file: open its parent, keep its last component. */
        char parent[FY_MAX_PATH + 1];
        size_t len = strlen(dest);
        if (len > FY_MAX_PATH)
                return -ENAMETOOLONG;
        while (len > 1 && dest[len - 1] == '/')
                len--;
        if (len > 0 && dest[len - 1] == '/')
                return -EISDIR; /* "/" itself */
        size_t cut = len;
        while (cut > 0 && dest[cut - 1] != '/')
                cut--;
        const char *base = dest + cut;
        size_t blen = len - cut;
        if (blen == 0 || blen > FY_MAX_NAME)
                return blen ? -ENAMETOOLONG : -EINVAL;
        if ((blen == 1 && base[0] == '.') || (blen == 2 && base[0] == '.' && base[1] == '.'))
                return -EISDIR;
        if (cut == 0)
                strcpy(parent, ".");
        else {
                memcpy(parent, dest, cut);
                parent[cut] = 0;
        }
        ret = open_dir(r, parent, &dirfd);
        if (ret < 0)
                return ret;
        memcpy(ret_name, base, blen);
        ret_name[blen] = 0;
        *ret_dirfd = dirfd;
        return 0;
}

const char *path_strerror(int err) {
        if (err < 0)
                err = -err;
        /* Lower case, to read well after "guest: " in a message. */
        switch (err) {
        case EXDEV: return "path escapes the root";
        case ELOOP: return "symbolic link in the path refused";
        case ENOSPC: return "no space left on device";
        case EDQUOT: return "disk quota exceeded";
        case ENOENT: return "no such file or directory";
        case EACCES: return "permission denied";
        case EPERM: return "operation not permitted";
        case EEXIST: return "file exists";
        case ENOTDIR: return "not a directory";
        case EISDIR: return "is a directory";
        case EROFS: return "read-only file system";
        case EIO: return "input/output error";
        case EFBIG: return "file too large";
        case ENAMETOOLONG: return "file name too long";
        case EBADMSG: return "data corrupted in transit";
        case EPROTO: return "protocol error";
        case EINVAL: return "invalid argument";
        case ECONNRESET: return "connection lost";
        case ETIMEDOUT: return "timed out";
        case EOPNOTSUPP: return "not a regular file";
        case ESTALE: return "changed while being sent";
        default: return strerror(err);
        }
}
