/* rawcopy — the channel's ceiling for bench/run.sh: a file copied through
 * a Unix stream socket with no protocol, no digest and one process per side.
 *
 *   rawcopy send UNIX_PATH FILE   connect, read FILE in 1 MiB blocks, write
 *   rawcopy recv UNIX_PATH FILE   listen, accept one peer, read 1 MiB at a
 *                                 time into FILE, fsync it at the end
 *
 * Both sides use the 4 MiB socket buffers ferry asks for (best effort), so
 * the only difference from ferry is what ferry does on top of the socket.
 * recv publishes UNIX_PATH by rename() only once it listens, so a sender
 * (or a script) that sees the path can connect without retrying.
 *
 * Prints one line: "BYTES SECONDS" (seconds from the connection to the
 * last write, plus the fsync on the receiving side).
 * Exit status: 0 copied, 1 an error (logged), 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/fd.h"

#define BLOCK (1u << 20)

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sock_bufs(int fd) {
        int sz = 4 << 20;
        /* Same as ferry's sock_tune(): FORCE needs CAP_NET_ADMIN, the plain
         * option is capped at wmem_max/rmem_max. */
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
}

static int sun_fill(struct sockaddr_un *sa, const char *path) {
        memset(sa, 0, sizeof *sa);
        sa->sun_family = AF_UNIX;
        if (strlen(path) >= sizeof sa->sun_path)
                return -ENAMETOOLONG;
        strcpy(sa->sun_path, path);
        return 0;
}

/* Moves everything from in to out; adds the count to *bytes. */
static int pump(int in, int out, char *buf, uint64_t *bytes) {
        for (;;) {
                ssize_t n = read(in, buf, BLOCK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                int r = fd_write_all(out, buf, (size_t)n);
                if (r < 0)
                        return r;
                *bytes += (uint64_t)n;
        }
}

static int do_send(const char *path, const char *file, char *buf) {
        struct sockaddr_un sa;
        int r = sun_fill(&sa, path);
        if (r < 0) {
                fprintf(stderr, "rawcopy: '%s': %s\n", path, strerror(-r));
                return 1;
        }
        int in = open(file, O_RDONLY | O_CLOEXEC);
        if (in < 0) {
                fprintf(stderr, "rawcopy: open '%s': %m\n", file);
                return 1;
        }
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) {
                fprintf(stderr, "rawcopy: socket: %m\n");
                close(in);
                return 1;
        }
        sock_bufs(s);
        if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
                fprintf(stderr, "rawcopy: connect '%s': %m\n", path);
                close(s);
                close(in);
                return 1;
        }
        double t0 = now_s();
        uint64_t bytes = 0;
        r = pump(in, s, buf, &bytes);
        double t1 = now_s();
        close(in);
        if (close(s) < 0 && r == 0)
                r = -errno;
        if (r < 0) {
                fprintf(stderr, "rawcopy: send '%s': %s\n", file, strerror(-r));
                return 1;
        }
        printf("%llu %.6f\n", (unsigned long long)bytes, t1 - t0);
        return 0;
}

static int do_recv(const char *path, const char *file, char *buf) {
        struct sockaddr_un sa, tmp;
        char tmp_path[sizeof sa.sun_path + 8];
        int r = sun_fill(&sa, path);
        if (r == 0 && snprintf(tmp_path, sizeof tmp_path, "%s.tmp", path) >= (int)sizeof sa.sun_path)
                r = -ENAMETOOLONG;
        if (r == 0)
                r = sun_fill(&tmp, tmp_path);
        if (r < 0) {
                fprintf(stderr, "rawcopy: '%s': %s\n", path, strerror(-r));
                return 1;
        }
        int out = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0) {
                fprintf(stderr, "rawcopy: open '%s': %m\n", file);
                return 1;
        }
        int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0) {
                fprintf(stderr, "rawcopy: socket: %m\n");
                close(out);
                return 1;
        }
        sock_bufs(l); /* inherited by the accepted socket */
        (void)unlink(tmp_path);
        if (bind(l, (struct sockaddr *)&tmp, sizeof tmp) < 0 || listen(l, 1) < 0 ||
            rename(tmp_path, path) < 0) {
                fprintf(stderr, "rawcopy: listen '%s': %m\n", path);
                (void)unlink(tmp_path);
                close(l);
                close(out);
                return 1;
        }
        int s;
        do
                s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        while (s < 0 && errno == EINTR);
        int saved = errno;
        (void)unlink(path);
        close(l);
        if (s < 0) {
                fprintf(stderr, "rawcopy: accept '%s': %s\n", path, strerror(saved));
                close(out);
                return 1;
        }
        sock_bufs(s);
        double t0 = now_s();
        uint64_t bytes = 0;
        r = pump(s, out, buf, &bytes);
        if (r == 0 && fsync(out) < 0)
                r = -errno;
        double t1 = now_s();
        close(s);
        if (close(out) < 0 && r == 0)
                r = -errno;
        if (r < 0) {
                fprintf(stderr, "rawcopy: recv '%s': %s\n", file, strerror(-r));
                return 1;
        }
        printf("%llu %.6f\n", (unsigned long long)bytes, t1 - t0);
        return 0;
}

int main(int argc, char **argv) {
        if (argc != 4 || (strcmp(argv[1], "send") != 0 && strcmp(argv[1], "recv") != 0)) {
                fprintf(stderr, "usage: rawcopy send|recv UNIX_PATH FILE\n");
                return 2;
        }
        char *buf = malloc(BLOCK);
        if (!buf) {
                fprintf(stderr, "rawcopy: out of memory\n");
                return 1;
        }
        int rc = strcmp(argv[1], "send") == 0 ? do_send(argv[2], argv[3], buf)
                                              : do_recv(argv[2], argv[3], buf);
        free(buf);
        return rc;
}
