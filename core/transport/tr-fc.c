/* SPDX-License-Identifier: MIT */
/*
 * Firecracker / Cloud Hypervisor hybrid vsock: the host connects to the
 * VMM's Unix socket and asks for a guest port with "CONNECT <port>\n"; the
 * VMM answers "OK <host-side port>\n" and from then on the socket is a byte
 * stream to the guest's AF_VSOCK listener.  Host side only: the guest
 * listens with vsock::PORT.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "transport/tr-int.h"
#include "base/fd.h"
#include "base/util.h"

#define FC_LINE_MAX 64

static int fc_connect(const struct target *t, int timeout_ms, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        int r = unix_connect(t, timeout_ms, &fd); /* t->path: the VMM's socket */
        if (r < 0)
                return r;

        char line[FC_LINE_MAX];
        int n = snprintf(line, sizeof line, "CONNECT %u\n", t->port);
        for (int off = 0; off < n;) {
                r = fd_wait(fd, POLLOUT, timeout_ms);
                if (r < 0)
                        return r;
                ssize_t w = write(fd, line + off, (size_t)(n - off));
                if (w < 0 && errno != EAGAIN && errno != EINTR)
                        return -errno;
                if (w > 0)
                        off += (int)w;
        }

        /* Read the answer one byte at a time: whatever follows the newline
         * already belongs to the session and must stay in the socket. */
        size_t len = 0;
        for (;;) {
                if (len == sizeof line - 1)
                        return -EPROTO; /* no newline within the bound */
                r = fd_wait(fd, POLLIN, timeout_ms);
                if (r < 0)
                        return r;
                ssize_t got = read(fd, line + len, 1);
                if (got < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                continue;
                        return -errno;
                }
                if (got == 0)
                        return -ECONNREFUSED; /* the VMM closed: no listener on that port */
                if (line[len] == '\n')
                        break;
                len++;
        }
        line[len] = 0;
        if (strncmp(line, "OK ", 3) != 0)
                return -ECONNREFUSED;
        *ret_fd = take_fd(&fd);
        return 0;
}

const struct transport_ops tr_fc_ops = {
        .connect = fc_connect,
        /* no .listen: fc is a host-side muxer in front of the guest's vsock */
};
