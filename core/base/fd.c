/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "base/fd.h"
#include "base/util.h"

int fd_set_nonblock(int fd, bool on) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0)
                return -errno;
        int nfl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
        if (nfl != fl && fcntl(fd, F_SETFL, nfl) < 0)
                return -errno;
        return 0;
}

int fd_write_all(int fd, const void *p, size_t len) {
        const char *c = p;
        while (len > 0) {
                ssize_t n = write(fd, c, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                c += n;
                len -= (size_t)n;
        }
        return 0;
}

int fd_wait(int fd, short events, int timeout_ms) {
        return fd_wait_stop(fd, events, -1, timeout_ms);
}

int fd_wait_stop(int fd, short events, int stop_fd, int timeout_ms) {
        struct pollfd p[2] = { { .fd = fd, .events = events }, { .fd = stop_fd, .events = POLLIN } };
        uint64_t deadline = timeout_ms < 0 ? 0 : now_ns() + (uint64_t)timeout_ms * 1000000ull;
        for (;;) {
                int left = -1;
                if (timeout_ms >= 0) {
                        uint64_t now = now_ns();
                        /* Past the deadline, still look once (timeout 0). */
                        left = now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
                }
                int r = poll(p, stop_fd >= 0 ? 2 : 1, left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                if (stop_fd >= 0 && p[1].revents)
                        return -ECANCELED;
                return p[0].revents;
        }
}
