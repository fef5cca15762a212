/* SPDX-License-Identifier: MIT */
/* tcp:HOST:PORT: numeric addresses only (and "localhost"), because ferryd
 * is linked statically and glibc's resolver cannot be used from a static
 * binary.  An empty HOST listens on loopback. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "transport/tr-int.h"
#include "base/util.h"

static int tcp_addr(const char *host, uint32_t port, struct sockaddr_storage *ss, socklen_t *len) {
        memset(ss, 0, sizeof *ss);
        if (!*host || !strcmp(host, "localhost"))
                host = "127.0.0.1";
        struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons((uint16_t)port);
                *len = sizeof *in4;
                return 0;
        }
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t)port);
                *len = sizeof *in6;
                return 0;
        }
        return -EADDRNOTAVAIL;
}

static int tcp_connect(const struct target *t, int timeout_ms, int *ret_fd) {
        (void)timeout_ms; /* the kernel's own connect timeout applies */
        struct sockaddr_storage ss;
        socklen_t len;
        int r = tcp_addr(t->host, t->port, &ss, &len);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, (struct sockaddr *)&ss, len) < 0)
                return -errno;
        r = sock_tune(fd);
        if (r < 0)
                return r;
        *ret_fd = take_fd(&fd);
        return 0;
}

static int tcp_listen(struct listener *l) {
        struct sockaddr_storage ss;
        socklen_t len;
        int r = tcp_addr(l->target.host, l->target.port, &ss, &len);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&ss, len) < 0)
                return -errno;
        if (listen(fd, 8) < 0)
                return -errno;
        l->fd = take_fd(&fd);
        return 0;
}

const struct transport_ops tr_tcp_ops = {
        .connect = tcp_connect,
        .listen = tcp_listen,
        .next = sock_next,
};
