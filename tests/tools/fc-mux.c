/* SPDX-License-Identifier: MIT */
/*
 * fc-mux: a stand-in for the host side of Firecracker's hybrid vsock, for
 * the integration tests.
 *
 *   fc-mux UDS_PATH PORT BACKEND_UNIX_PATH
 *
 * Listens on UDS_PATH.  Each client first sends "CONNECT <port>\n".  For
 * PORT, fc-mux connects to BACKEND_UNIX_PATH (where ferryd listens), answers
 * "OK <host port>\n" and forwards bytes both ways until either side closes.
 * For any other port, or a malformed line, it closes the client without an
 * answer, as Firecracker does when no guest listener has that port.  One
 * client at a time; SIGTERM or SIGINT ends it (and removes UDS_PATH).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LINE_MAX_LEN 64
#define BUF_SIZE (256u << 10)
#define LINE_TIMEOUT_MS 10000

static int unix_addr(const char *path, struct sockaddr_un *sa) {
        memset(sa, 0, sizeof *sa);
        sa->sun_family = AF_UNIX;
        if (strlen(path) >= sizeof sa->sun_path)
                return -ENAMETOOLONG;
        strcpy(sa->sun_path, path);
        return 0;
}

/* Wait for fd or the signal fd.  1: fd ready, 0: timeout, -1: signalled. */
static int wait_fd(int fd, short events, int sfd, int timeout_ms) {
        for (;;) {
                struct pollfd pf[2] = { { .fd = fd, .events = events }, { .fd = sfd, .events = POLLIN } };
                int n = poll(pf, 2, timeout_ms);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -1;
                if (pf[1].revents)
                        return -1;
                return n > 0 ? 1 : 0;
        }
}

static int write_all(int fd, const char *b, size_t n, int sfd) {
        while (n > 0) {
                ssize_t w = write(fd, b, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                if (wait_fd(fd, POLLOUT, sfd, -1) < 0)
                                        return -1;
                                continue;
                        }
                        return -1;
                }
                b += w;
                n -= (size_t)w;
        }
        return 0;
}

/* Read "CONNECT <port>\n" one byte at a time, so that nothing after the
 * newline is taken out of the socket.  Returns the port, or -1. */
static long read_connect(int cfd, int sfd) {
        char line[LINE_MAX_LEN + 1];
        size_t len = 0;
        for (;;) {
                if (len == LINE_MAX_LEN)
                        return -1;
                int w = wait_fd(cfd, POLLIN, sfd, LINE_TIMEOUT_MS);
                if (w <= 0)
                        return -1;
                ssize_t n = read(cfd, line + len, 1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                if (line[len] == '\n')
                        break;
                len++;
        }
        line[len] = 0;
        if (strncmp(line, "CONNECT ", 8) != 0)
                return -1;
        char *end;
        errno = 0;
        unsigned long port = strtoul(line + 8, &end, 10);
        if (errno || end == line + 8 || *end || port > UINT32_MAX)
                return -1;
        return (long)port;
}

/* Forward until either side closes.  Returns -1 when signalled. */
static int proxy(int cfd, int bfd, int sfd) {
        static char buf[BUF_SIZE];
        for (;;) {
                struct pollfd pf[3] = {
                        { .fd = cfd, .events = POLLIN },
                        { .fd = bfd, .events = POLLIN },
                        { .fd = sfd, .events = POLLIN },
                };
                int n = poll(pf, 3, -1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 || pf[2].revents)
                        return -1;
                for (int k = 0; k < 2; k++) {
                        if (!pf[k].revents)
                                continue;
                        int from = k == 0 ? cfd : bfd, to = k == 0 ? bfd : cfd;
                        ssize_t got = read(from, buf, sizeof buf);
                        if (got < 0 && (errno == EINTR || errno == EAGAIN))
                                continue;
                        if (got <= 0)
                                return 0;
                        if (write_all(to, buf, (size_t)got, sfd) < 0)
                                return 0;
                }
        }
}

int main(int argc, char **argv) {
        if (argc != 4) {
                fprintf(stderr, "usage: fc-mux UDS_PATH PORT BACKEND_UNIX_PATH\n");
                return 2;
        }
        const char *uds = argv[1], *backend = argv[3];
        char *end;
        errno = 0;
        unsigned long want = strtoul(argv[2], &end, 10);
        if (errno || !*argv[2] || *end || want > UINT32_MAX) {
                fprintf(stderr, "fc-mux: '%s' is not a port\n", argv[2]);
                return 2;
        }

        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
        if (sfd < 0) {
                fprintf(stderr, "fc-mux: signalfd: %m\n");
                return 1;
        }

        struct sockaddr_un sa;
        if (unix_addr(uds, &sa) < 0) {
                fprintf(stderr, "fc-mux: '%s': path too long\n", uds);
                return 1;
        }
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 8) < 0) {
                fprintf(stderr, "fc-mux: listen on '%s': %m\n", uds);
                return 1;
        }
        fprintf(stderr, "fc-mux: listening on %s, port %lu -> %s\n", uds, want, backend);

        int rc = 0;
        for (;;) {
                int w = wait_fd(lfd, POLLIN, sfd, -1);
                if (w < 0)
                        break;
                int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (cfd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        fprintf(stderr, "fc-mux: accept: %m\n");
                        rc = 1;
                        break;
                }
                long port = read_connect(cfd, sfd);
                if (port < 0 || (unsigned long)port != want) {
                        fprintf(stderr, "fc-mux: refused a client (port %ld)\n", port);
                        close(cfd);
                        continue;
                }
                int bfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (unix_addr(backend, &sa) < 0 || bfd < 0 || connect(bfd, (struct sockaddr *)&sa, sizeof sa) < 0) {
                        fprintf(stderr, "fc-mux: connect to '%s': %m\n", backend);
                        if (bfd >= 0)
                                close(bfd);
                        close(cfd);
                        continue;
                }
                /* Firecracker answers with the host-side port it assigned. */
                static const char ok[] = "OK 1073741824\n";
                int r = write_all(cfd, ok, sizeof ok - 1, sfd);
                if (r == 0)
                        r = proxy(cfd, bfd, sfd);
                close(bfd);
                close(cfd);
                fprintf(stderr, "fc-mux: client done\n");
                if (r < 0 && wait_fd(sfd, POLLIN, -1, 0) != 0)
                        break; /* signalled */
        }
        close(lfd);
        (void)unlink(uds);
        fprintf(stderr, "fc-mux: exiting\n");
        return rc;
}
