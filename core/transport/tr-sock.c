/* SPDX-License-Identifier: MIT */
/* What the stream-socket kinds (unix, tcp, vsock) share: tuning a
 * connected socket and accepting the next one. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "transport/tr-int.h"
#include "base/fd.h"
#include "base/util.h"

int sock_tune(int fd) {
        int sz = 4 << 20;
        /* Best effort: the kernel caps SO_SNDBUF at wmem_max; FORCE needs
         * CAP_NET_ADMIN.  A smaller buffer only costs speed. */
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
        return fd_set_nonblock(fd, true);
}

int sock_accept(struct listener *l, int timeout_ms, int *ret_fd) {
        for (;;) {
                int r = fd_wait_stop(l->fd, POLLIN, l->stop_fd, timeout_ms);
                if (r < 0)
                        return r;
                int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        /* Another process took it, or the peer gave up
                         * before we got to it: wait for the next. */
                        if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                                continue;
                        return -errno;
                }
                *ret_fd = fd;
                return 0;
        }
}

int sock_next(struct listener *l, int timeout_ms, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        int r = sock_accept(l, timeout_ms, &fd);
        if (r < 0)
                return r;
        r = sock_tune(fd);
        if (r < 0)
                return r;
        *ret_fd = take_fd(&fd);
        return 0;
}
