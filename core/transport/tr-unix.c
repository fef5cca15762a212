/* SPDX-License-Identifier: MIT */
/* unix:PATH, a Unix stream socket on both sides. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "transport/tr-int.h"
#include "base/util.h"

static int unix_addr(const char *path, struct sockaddr_un *sa) {
        memset(sa, 0, sizeof *sa);
        sa->sun_family = AF_UNIX;
        if (strlen(path) >= sizeof sa->sun_path)
                return -ENAMETOOLONG;
        strcpy(sa->sun_path, path);
        return 0;
}

int unix_connect(const struct target *t, int timeout_ms, int *ret_fd) {
        (void)timeout_ms; /* a Unix connect does not wait for the peer to answer */
        struct sockaddr_un sa;
        int r = unix_addr(t->path, &sa);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                return -errno;
        r = sock_tune(fd);
        if (r < 0)
                return r;
        *ret_fd = take_fd(&fd);
        return 0;
}

static int unix_listen(struct listener *l) {
        const char *path = l->target.path;
        struct sockaddr_un sa;
        int r = unix_addr(path, &sa);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* A socket file left by an earlier run would make bind() fail; only
         * a socket is removed, never another kind of file. */
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
                (void)unlink(path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                return -errno;
        if (listen(fd, 8) < 0)
                return -errno;
        l->fd = take_fd(&fd);
        return 0;
}

const struct transport_ops tr_unix_ops = {
        .connect = unix_connect,
        .listen = unix_listen,
        .next = sock_next,
};
