/* SPDX-License-Identifier: MIT */
/*
 * The guest end of a virtio-serial port (/dev/virtio-ports/NAME).
 *
 * The port has no connections.  While no host is attached, poll() reports
 * POLLHUP at once and read() returns 0, so neither can be used to wait for
 * the next host without spinning.  virtio_console does send SIGIO to an
 * O_ASYNC owner when the host side opens or closes, so we wait for that
 * through a signalfd, with a slow timer as a safety net should a
 * notification be missed.
 *
 * The host's end of the port is the Unix socket of QEMU's chardev, so the
 * host connects as for unix:PATH.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "transport/tr-int.h"
#include "base/util.h"

#define SERIAL_RECHECK_MS 1000

static int serial_listen(struct listener *l) {
        _cleanup_close_ int fd = open(l->target.path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGIO);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;
        _cleanup_close_ int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (sfd < 0)
                return -errno;
        if (fcntl(fd, F_SETOWN, getpid()) < 0)
                return -errno;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_ASYNC) < 0)
                return -errno;

        l->fd = take_fd(&fd);
        l->sigfd = take_fd(&sfd);
        return 0;
}

static void drain_signals(int sigfd) {
        struct signalfd_siginfo si;
        while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
                ;
}

/* 0 once a host is attached to the port. */
static int wait_host(int fd, int sigfd, int stop_fd, int timeout_ms) {
        uint64_t deadline = timeout_ms < 0 ? 0 : now_ns() + (uint64_t)timeout_ms * 1000000ull;
        for (;;) {
                drain_signals(sigfd);
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int r = poll(&p, 1, 0);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r >= 0 && !(p.revents & (POLLHUP | POLLERR | POLLNVAL)))
                        return 0; /* a host is attached */
                if (p.revents & POLLNVAL)
                        return -EBADF;

                int wait = SERIAL_RECHECK_MS;
                if (timeout_ms >= 0) {
                        uint64_t now = now_ns();
                        if (now >= deadline) /* the port was looked at above */
                                return -ETIMEDOUT;
                        wait = (int)MIN((uint64_t)wait, (deadline - now) / 1000000ull + 1);
                }
                struct pollfd s[2] = { { .fd = sigfd, .events = POLLIN }, { .fd = stop_fd, .events = POLLIN } };
                if (poll(s, stop_fd >= 0 ? 2 : 1, wait) < 0 && errno != EINTR)
                        return -errno;
                if (stop_fd >= 0 && s[1].revents)
                        return -ECANCELED;
        }
}

/* A session on the port is the port itself, for as long as the host stays;
 * the session gets its own descriptor so closing it leaves the port open. */
static int serial_next(struct listener *l, int timeout_ms, int *ret_fd) {
        int r = wait_host(l->fd, l->sigfd, l->stop_fd, timeout_ms);
        if (r < 0)
                return r;
        int fd = fcntl(l->fd, F_DUPFD_CLOEXEC, 3); /* shares O_NONBLOCK with the port */
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

const struct transport_ops tr_serial_ops = {
        .connect = unix_connect,
        .listen = serial_listen,
        .next = serial_next,
};
