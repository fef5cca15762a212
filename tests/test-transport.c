/* SPDX-License-Identifier: MIT */
/*
 * core/transport through its public interface (transport.h): target
 * strings, and live Unix and TCP sockets on this machine (vsock, serial and
 * fc need a VM and are covered by tests/vm and test-fc.sh).  Also fd_wait
 * and parse_size from core/base.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "transport/transport.h"
#include "base/fd.h"
#include "base/util.h"

static char tmpdir[PATH_MAX / 2];

static void cleanup(void) {
        char p[PATH_MAX];
        if (!tmpdir[0])
                return;
        const char *names[] = { "sock", "sock2", "plain" };
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
                snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
                (void)unlink(p);
        }
        if (rmdir(tmpdir) < 0)
                perror("rmdir");
}

/* A host connecting to kind:ARG, as ferry does. */
static int connect_to(const char *kind, const char *arg, int *ret_fd) {
        char s[PATH_MAX + 16];
        snprintf(s, sizeof s, "%s:%s", kind, arg);
        struct target t;
        int r = target_parse(s, &t);
        if (r < 0)
                return r;
        return target_connect(&t, 1000, ret_fd);
}

static int unix_connect_to(const char *path, int *ret_fd) { return connect_to("unix", path, ret_fd); }

/* listener_open on kind:ARG; on failure *ret must be untouched. */
static int listen_on(const char *kind, const char *arg, struct listener *ret) {
        char s[PATH_MAX + 16];
        snprintf(s, sizeof s, "%s:%s", kind, arg);
        struct target t;
        int r = target_parse(s, &t);
        if (r < 0)
                return r;
        struct listener before;
        memset(&before, 0x5a, sizeof before);
        *ret = before;
        r = listener_open(&t, VSOCK_CID_ANY, ret);
        if (r < 0)
                CHECK_EQ_MEM(ret, &before, sizeof before);
        return r;
}

static void check_target_eq(const struct target *a, const struct target *b, const char *s) {
        bool same = a->kind == b->kind && !strcmp(a->path, b->path) && !strcmp(a->host, b->host) &&
                    a->cid == b->cid && a->port == b->port;
        if (!same)
                fprintf(stderr, "    round trip of '%s' differs\n", s);
        CHECK_EQ_INT(a->kind, b->kind);
        CHECK_EQ_STR(a->path, b->path);
        CHECK_EQ_STR(a->host, b->host);
        CHECK_EQ_U64(a->cid, b->cid);
        CHECK_EQ_U64(a->port, b->port);
}

/* Parse s; expect success; check format round-trips. */
static void parse_ok(const char *s, struct target *ret) {
        struct target t;
        memset(&t, 0xa5, sizeof t);
        int r = target_parse(s, &t);
        if (r < 0)
                fprintf(stderr, "    target_parse('%s') = %d\n", s, r);
        CHECK_EQ_INT(r, 0);
        if (r < 0) {
                memset(ret, 0, sizeof *ret);
                return;
        }
        char buf[256];
        target_format(&t, buf, sizeof buf);
        struct target u;
        r = target_parse(buf, &u);
        if (r < 0)
                fprintf(stderr, "    target_parse(format('%s') = '%s') = %d\n", s, buf, r);
        CHECK_EQ_INT(r, 0);
        if (r == 0)
                check_target_eq(&t, &u, s);
        *ret = t;
}

static void parse_bad(const char *s, int want) {
        struct target t;
        memset(&t, 0x5a, sizeof t);
        struct target before = t;
        int r = target_parse(s, &t);
        if (r != want)
                fprintf(stderr, "    target_parse('%.80s') = %d, want %d\n", s, r, want);
        CHECK_EQ_INT(r, want);
        CHECK_EQ_MEM(&t, &before, sizeof t); /* untouched on failure */
}

static void test_parse(void) {
        struct target t;

        parse_ok("unix:/p", &t);
        CHECK_EQ_INT(t.kind, TARGET_UNIX);
        CHECK_EQ_STR(t.path, "/p");
        parse_ok("unix:relative/sock", &t);
        CHECK_EQ_STR(t.path, "relative/sock");
        parse_ok("unix:/a:b", &t); /* a colon in a path is just a byte */
        CHECK_EQ_STR(t.path, "/a:b");

        parse_ok("serial:/dev/virtio-ports/org.ferry.0", &t);
        CHECK_EQ_INT(t.kind, TARGET_SERIAL);
        CHECK_EQ_STR(t.path, "/dev/virtio-ports/org.ferry.0");

        parse_ok("fc:/run/fc.sock:52", &t);
        CHECK_EQ_INT(t.kind, TARGET_FC);
        CHECK_EQ_STR(t.path, "/run/fc.sock");
        CHECK_EQ_U64(t.port, 52);
        parse_ok("fc:/run/a:b.sock:1024", &t); /* the port follows the last colon */
        CHECK_EQ_STR(t.path, "/run/a:b.sock");
        CHECK_EQ_U64(t.port, 1024);

        parse_ok("vsock:3:1024", &t);
        CHECK_EQ_INT(t.kind, TARGET_VSOCK);
        CHECK_EQ_U64(t.cid, 3);
        CHECK_EQ_U64(t.port, 1024);
        parse_ok("vsock::1024", &t);
        CHECK_EQ_U64(t.cid, VSOCK_CID_ANY);
        CHECK_EQ_U64(t.port, 1024);
        parse_ok("vsock:2:4294967295", &t);
        CHECK_EQ_U64(t.cid, VSOCK_CID_HOST);
        CHECK_EQ_U64(t.port, UINT32_MAX);

        parse_ok("tcp:127.0.0.1:80", &t);
        CHECK_EQ_INT(t.kind, TARGET_TCP);
        CHECK_EQ_STR(t.host, "127.0.0.1");
        CHECK_EQ_U64(t.port, 80);
        parse_ok("tcp::80", &t);
        CHECK_EQ_STR(t.host, "");
        CHECK_EQ_U64(t.port, 80);
        parse_ok("tcp:[::1]:80", &t);
        CHECK_EQ_STR(t.host, "::1");
        CHECK_EQ_U64(t.port, 80);
        parse_ok("tcp:localhost:9", &t);
        CHECK_EQ_STR(t.host, "localhost");
        CHECK_EQ_U64(t.port, 9);
        parse_ok("tcp:10.0.0.1:65535", &t);
        CHECK_EQ_U64(t.port, 65535);
        parse_ok("tcp:1:1", &t);
        CHECK_EQ_U64(t.port, 1);

        /* path lengths: 107 bytes fit sun_path with its NUL, 108 do not */
        char s[300], path[200];
        memset(path, 'p', sizeof path);
        path[0] = '/';
        path[107] = 0;
        snprintf(s, sizeof s, "unix:%s", path);
        parse_ok(s, &t);
        CHECK_EQ_U64(strlen(t.path), 107);
        snprintf(s, sizeof s, "fc:%s:5", path);
        parse_ok(s, &t);
        CHECK_EQ_U64(strlen(t.path), 107);
        path[107] = 'p';
        path[108] = 0;
        snprintf(s, sizeof s, "unix:%s", path);
        parse_bad(s, -ENAMETOOLONG);
        snprintf(s, sizeof s, "serial:%s", path);
        parse_bad(s, -ENAMETOOLONG);
        snprintf(s, sizeof s, "fc:%s:5", path);
        parse_bad(s, -ENAMETOOLONG);
        path[150] = 0;
        snprintf(s, sizeof s, "unix:%s", path);
        parse_bad(s, -ENAMETOOLONG);
        snprintf(s, sizeof s, "fc:%s:5", path);
        parse_bad(s, -ENAMETOOLONG);

        /* not targets */
        parse_bad("", -EINVAL);
        parse_bad("unix", -EINVAL);
        parse_bad("/tmp/sock", -EINVAL);
        parse_bad("pipe:/x", -EINVAL);
        parse_bad("UNIX:/x", -EINVAL);
        parse_bad("unixx:/x", -EINVAL);
        parse_bad(":/x", -EINVAL);
        parse_bad("unix:", -EINVAL);
        parse_bad("serial:", -EINVAL);
        parse_bad("tcp:127.0.0.1:0", -EINVAL);
        parse_bad("tcp:127.0.0.1:65536", -EINVAL);
        parse_bad("tcp:127.0.0.1:http", -EINVAL);
        parse_bad("tcp:127.0.0.1:-1", -EINVAL);
        parse_bad("tcp:127.0.0.1:+80", -EINVAL);
        parse_bad("tcp:127.0.0.1:80x", -EINVAL);
        parse_bad("tcp:127.0.0.1:", -EINVAL);
        parse_bad("tcp:127.0.0.1", -EINVAL);
        parse_bad("tcp:127.0.0.1:4294967376", -EINVAL); /* 2^32 + 80 */
        parse_bad("tcp:127.0.0.1: 80", -EINVAL);        /* strtoul would skip the space */
        parse_bad("vsock:3:1024:5", -EINVAL);
        parse_bad("vsock:3", -EINVAL);
        parse_bad("vsock:x:1024", -EINVAL);
        parse_bad("vsock:3:", -EINVAL);
        parse_bad("vsock:-1:1024", -EINVAL);
        parse_bad("vsock:4294967296:1", -EINVAL);
        parse_bad("fc:/run/fc.sock", -EINVAL);
        parse_bad("fc:/run/fc.sock:", -EINVAL);
        parse_bad("fc::52", -EINVAL);
        parse_bad("fc:/run/fc.sock:x", -EINVAL);
        char host[100];
        memset(host, 'h', sizeof host);
        host[99] = 0;
        snprintf(s, sizeof s, "tcp:%s:80", host);
        parse_bad(s, -EINVAL);
}

static void test_format(void) {
        struct target t = { .kind = TARGET_VSOCK, .cid = VSOCK_CID_ANY, .port = 7 };
        char buf[256];
        target_format(&t, buf, sizeof buf);
        CHECK_EQ_STR(buf, "vsock::7");
        t.cid = 3;
        target_format(&t, buf, sizeof buf);
        CHECK_EQ_STR(buf, "vsock:3:7");
        t = (struct target){ .kind = TARGET_TCP, .host = "::1", .port = 80 };
        target_format(&t, buf, sizeof buf);
        CHECK_EQ_STR(buf, "tcp:[::1]:80");
        t = (struct target){ .kind = TARGET_TCP, .host = "", .port = 80 };
        target_format(&t, buf, sizeof buf);
        CHECK_EQ_STR(buf, "tcp::80");
        t = (struct target){ .kind = TARGET_FC, .path = "/run/fc.sock", .port = 52 };
        target_format(&t, buf, sizeof buf);
        CHECK_EQ_STR(buf, "fc:/run/fc.sock:52");
        t = (struct target){ .kind = TARGET_SERIAL, .path = "/dev/vport0p1" };
        target_format(&t, buf, sizeof buf);
        CHECK_EQ_STR(buf, "serial:/dev/vport0p1");
        /* a short buffer truncates, NUL-terminated */
        t = (struct target){ .kind = TARGET_UNIX, .path = "/a/long/socket/path" };
        memset(buf, 'X', sizeof buf);
        target_format(&t, buf, 8);
        CHECK_EQ_STR(buf, "unix:/a");
        CHECK_EQ_STR(target_kind_name(TARGET_UNIX), "unix");
        CHECK_EQ_STR(target_kind_name(TARGET_TCP), "tcp");
        CHECK_EQ_STR(target_kind_name(TARGET_VSOCK), "vsock");
        CHECK_EQ_STR(target_kind_name(TARGET_SERIAL), "serial");
        CHECK_EQ_STR(target_kind_name(TARGET_FC), "fc");
}

static bool is_nonblock_cloexec(int fd) {
        int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
        return fl >= 0 && fdfl >= 0 && (fl & O_NONBLOCK) && (fdfl & FD_CLOEXEC);
}

/* Send a few bytes each way over a connected pair. */
static void exchange(int a, int b) {
        const char msg[] = "ferry\0hello";
        char buf[64];
        CHECK_EQ_INT(write(a, msg, sizeof msg), (long long)sizeof msg);
        CHECK(fd_wait(b, POLLIN, 5000) > 0);
        ssize_t n = read(b, buf, sizeof buf);
        CHECK_EQ_INT(n, (long long)sizeof msg);
        if (n == (ssize_t)sizeof msg)
                CHECK_EQ_MEM(buf, msg, sizeof msg);
        CHECK_EQ_INT(write(b, "ok", 2), 2);
        CHECK(fd_wait(a, POLLIN, 5000) > 0);
        CHECK_EQ_INT(read(a, buf, sizeof buf), 2);
        CHECK_EQ_MEM(buf, "ok", 2);
        /* non-blocking: nothing more to read is EAGAIN, not a hang */
        errno = 0;
        CHECK_EQ_INT(read(a, buf, sizeof buf), -1);
        CHECK_EQ_INT(errno, EAGAIN);
        /* the peer's end of stream reads as end of file */
        CHECK_EQ_INT(shutdown(b, SHUT_WR), 0);
        CHECK(fd_wait(a, POLLIN, 5000) > 0);
        CHECK_EQ_INT(read(a, buf, sizeof buf), 0);
}

static void test_unix_live(void) {
        char path[PATH_MAX], path2[PATH_MAX], plain[PATH_MAX];
        snprintf(path, sizeof path, "%s/sock", tmpdir);
        snprintf(path2, sizeof path2, "%s/sock2", tmpdir);
        snprintf(plain, sizeof plain, "%s/plain", tmpdir);

        /* no listener yet */
        int cfd = -77;
        CHECK_EQ_INT(unix_connect_to(path, &cfd), -ENOENT);
        CHECK_EQ_INT(cfd, -77);

        /* listener_open + listener_next */
        char s[PATH_MAX + 8];
        snprintf(s, sizeof s, "unix:%s", path);
        struct target t;
        int r = target_parse(s, &t);
        CHECK_EQ_INT(r, 0);
        if (r < 0)
                return;
        struct listener l;
        r = listener_open(&t, VSOCK_CID_ANY, &l);
        CHECK_EQ_INT(r, 0);
        if (r < 0)
                return;
        CHECK(is_nonblock_cloexec(l.fd));

        int sfd = -77;
        /* nobody connects: the timeout, not a hang */
        CHECK_EQ_INT(listener_next(&l, 100, &sfd), -ETIMEDOUT);
        CHECK_EQ_INT(listener_next(&l, 0, &sfd), -ETIMEDOUT);
        CHECK_EQ_INT(sfd, -77);
        CHECK_EQ_INT(l.stop_fd, -1);

        /* a readable stop_fd ends the wait with -ECANCELED */
        int stop[2];
        CHECK_EQ_INT(pipe2(stop, O_CLOEXEC), 0);
        CHECK_EQ_INT(write(stop[1], "s", 1), 1);
        l.stop_fd = stop[0];
        CHECK_EQ_INT(listener_next(&l, 5000, &sfd), -ECANCELED);
        CHECK_EQ_INT(listener_next(&l, -1, &sfd), -ECANCELED);
        CHECK_EQ_INT(sfd, -77);
        l.stop_fd = -1;
        close(stop[0]);
        close(stop[1]);

        /* timeout 0 is a poll: a client already waiting is accepted */
        cfd = -1;
        CHECK_EQ_INT(unix_connect_to(path, &cfd), 0);
        r = listener_next(&l, 0, &sfd);
        if (r != 0)
                fprintf(stderr, "    listener_next(timeout 0) with a client waiting: %d (%s)\n", r, strerror(-r));
        CHECK_EQ_INT(r, 0);
        if (r == 0) {
                CHECK(sfd >= 0 && sfd != -77);
                close(sfd);
        } else {    /* take it off the queue so the next accept sees a new one */
                CHECK_EQ_INT(listener_next(&l, 5000, &sfd), 0);
                if (sfd >= 0 && sfd != -77)
                        close(sfd);
        }
        if (cfd >= 0)
                close(cfd);
        sfd = -77;

        CHECK_EQ_INT(target_connect(&t, 1000, &cfd), 0);
        CHECK(cfd >= 0);
        r = listener_next(&l, 5000, &sfd);
        CHECK_EQ_INT(r, 0);
        if (r == 0 && cfd >= 0) {
                CHECK(is_nonblock_cloexec(cfd));
                CHECK(is_nonblock_cloexec(sfd));
                exchange(cfd, sfd);
        }
        if (cfd >= 0)
                close(cfd);
        if (sfd >= 0)
                close(sfd);

        /* a second session on the same listener */
        cfd = -1;
        CHECK_EQ_INT(unix_connect_to(path, &cfd), 0);
        sfd = -1;
        CHECK_EQ_INT(listener_next(&l, 5000, &sfd), 0);
        if (cfd >= 0 && sfd >= 0)
                exchange(sfd, cfd);
        if (sfd >= 0)
                close(sfd);
        if (cfd >= 0)
                close(cfd);
        listener_close(&l);
        CHECK(l.fd < 0);
        listener_close(&l); /* twice is harmless */

        /* a stale socket file from an earlier run is replaced (path still
         * holds the closed listener's socket), a regular file is never
         * removed */
        CHECK_EQ_INT(listen_on("unix", path, &l), 0);
        CHECK(is_nonblock_cloexec(l.fd));
        cfd = -1;
        CHECK_EQ_INT(unix_connect_to(path, &cfd), 0);
        sfd = -1;
        CHECK_EQ_INT(listener_next(&l, 5000, &sfd), 0);
        if (sfd >= 0 && cfd >= 0)
                exchange(cfd, sfd);
        if (sfd >= 0)
                close(sfd);
        if (cfd >= 0)
                close(cfd);
        listener_close(&l);

        int fd = open(plain, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        CHECK(fd >= 0);
        if (fd >= 0)
                close(fd);
        CHECK_EQ_INT(listen_on("unix", plain, &l), -EADDRINUSE);
        CHECK_EQ_INT(access(plain, F_OK), 0);
        /* a regular file is not a socket to connect to either */
        cfd = -77;
        CHECK_EQ_INT(unix_connect_to(plain, &cfd), -ECONNREFUSED);
        CHECK_EQ_INT(cfd, -77);

        /* an over-long path never gets as far as a socket: target_parse
         * refuses it (test_parse) */
        char longp[200];
        memset(longp, 'x', sizeof longp);
        longp[0] = '/';
        longp[150] = 0;
        CHECK_EQ_INT(listen_on("unix", longp, &l), -ENAMETOOLONG);
        cfd = -77;
        CHECK_EQ_INT(unix_connect_to(longp, &cfd), -ENAMETOOLONG);
        CHECK_EQ_INT(cfd, -77);

        /* a listener that went away: connect is refused */
        CHECK_EQ_INT(listen_on("unix", path2, &l), 0);
        listener_close(&l);
        cfd = -77;
        CHECK_EQ_INT(unix_connect_to(path2, &cfd), -ECONNREFUSED);
        CHECK_EQ_INT(cfd, -77);

        /* serial's host end is its chardev's Unix socket */
        CHECK_EQ_INT(listen_on("unix", path, &l), 0);
        cfd = -1;
        CHECK_EQ_INT(connect_to("serial", path, &cfd), 0);
        sfd = -1;
        CHECK_EQ_INT(listener_next(&l, 5000, &sfd), 0);
        if (sfd >= 0 && cfd >= 0) {
                CHECK(is_nonblock_cloexec(cfd));
                exchange(cfd, sfd);
        }
        if (sfd >= 0)
                close(sfd);
        if (cfd >= 0)
                close(cfd);
        listener_close(&l);

        /* fc is a host-side muxer: no listener */
        CHECK_EQ_INT(listen_on("fc", "/run/fc.sock:52", &l), -EOPNOTSUPP);
        /* vsock with no CID cannot be connected to */
        struct target vs;
        CHECK_EQ_INT(target_parse("vsock::1024", &vs), 0);
        cfd = -77;
        CHECK_EQ_INT(target_connect(&vs, 100, &cfd), -EINVAL);
        CHECK_EQ_INT(cfd, -77);
}

/* A VMM in a child process: accept one connection on l, check that it
 * asks "CONNECT 52\n", answer `reply` (len bytes), hold the connection
 * for hold_ms, exit 0 if the request was right. */
static pid_t fake_vmm(struct listener *l, const char *reply, size_t len, int hold_ms) {
        pid_t pid = fork();
        if (pid != 0)
                return pid;
        int fd = -1;
        if (listener_next(l, 5000, &fd) < 0)
                _exit(2);
        char want[] = "CONNECT 52\n", got[sizeof want] = { 0 };
        size_t n = 0;
        while (n < sizeof want - 1) {
                if (fd_wait(fd, POLLIN, 5000) < 0)
                        _exit(3);
                ssize_t k = read(fd, got + n, sizeof want - 1 - n);
                if (k <= 0)
                        _exit(4);
                n += (size_t)k;
        }
        if (len && write(fd, reply, len) != (ssize_t)len)
                _exit(5);
        if (hold_ms)
                (void)fd_wait(fd, POLLIN, hold_ms); /* until the host gives up */
        _exit(strcmp(got, want) ? 1 : 0);
}

static void check_vmm_exit(pid_t pid) {
        int st = 0;
        CHECK_EQ_INT(waitpid(pid, &st, 0), pid);
        CHECK(WIFEXITED(st));
        CHECK_EQ_INT(WEXITSTATUS(st), 0);
}

/* fc: the CONNECT handshake against a stand-in VMM socket. */
static void test_fc_handshake(void) {
        char path[PATH_MAX], spec[PATH_MAX + 8];
        snprintf(path, sizeof path, "%s/sock", tmpdir);
        snprintf(spec, sizeof spec, "%s:52", path);
        struct listener l;
        CHECK_EQ_INT(listen_on("unix", path, &l), 0);
        if (l.fd < 0)
                return;

        /* OK: the bytes after the answer's newline are the session's */
        const char ok[] = "OK 1073741824\nferry";
        pid_t pid = fake_vmm(&l, ok, sizeof ok - 1, 0);
        int fd = -77;
        CHECK_EQ_INT(connect_to("fc", spec, &fd), 0);
        if (fd >= 0 && fd != -77) {
                CHECK(is_nonblock_cloexec(fd));
                char buf[16] = { 0 };
                CHECK(fd_wait(fd, POLLIN, 5000) > 0);
                CHECK_EQ_INT(read(fd, buf, sizeof buf), 5);
                CHECK_EQ_STR(buf, "ferry");
                close(fd);
        }
        check_vmm_exit(pid);

        /* no listener on that port: the VMM closes, or answers otherwise */
        struct {
                const char *reply;
                int want;
        } bad[] = {
                { "", -ECONNREFUSED },
                { "ERR no listener\n", -ECONNREFUSED },
                { "OK 1", -ECONNREFUSED }, /* closed before the newline */
                { "OK 1111111111111111111111111111111111111111111111111111111111111111\n", -EPROTO },
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                pid = fake_vmm(&l, bad[i].reply, strlen(bad[i].reply), 0);
                fd = -77;
                int r = connect_to("fc", spec, &fd);
                if (r != bad[i].want)
                        fprintf(stderr, "    fc reply '%s': %d, want %d\n", bad[i].reply, r, bad[i].want);
                CHECK_EQ_INT(r, bad[i].want);
                CHECK_EQ_INT(fd, -77);
                check_vmm_exit(pid);
        }

        /* a VMM that never answers: the timeout (connect_to: 1 s) */
        pid = fake_vmm(&l, "", 0, 3000);
        fd = -77;
        uint64_t t0 = now_ns();
        CHECK_EQ_INT(connect_to("fc", spec, &fd), -ETIMEDOUT);
        CHECK(now_ns() - t0 < 2500000000ull);
        CHECK_EQ_INT(fd, -77);
        check_vmm_exit(pid);
        listener_close(&l);
}

#ifdef TRANSPORT_TCP
static int tcp_connect_to(const char *host, uint32_t port, int *ret_fd) {
        struct target t = { .kind = TARGET_TCP, .port = port };
        snprintf(t.host, sizeof t.host, "%s", host);
        return target_connect(&t, 1000, ret_fd);
}

static void test_tcp_live(void) {
        /* a listener on a random high port */
        struct target t = { .kind = TARGET_TCP, .host = "127.0.0.1" };
        struct listener l;
        int r = -EADDRINUSE;
        srand((unsigned)getpid() ^ (unsigned)now_ns());
        for (int i = 0; i < 20 && r == -EADDRINUSE; i++) {
                t.port = 20000 + (uint32_t)(rand() % 40000);
                r = listener_open(&t, VSOCK_CID_ANY, &l);
        }
        if (r == -EAFNOSUPPORT || r == -EPERM || r == -EACCES) {
                printf("tcp: no IPv4 sockets here (%s)\n", strerror(-r));
                exit(T_EXIT_SKIP);
        }
        CHECK_EQ_INT(r, 0);
        if (r < 0)
                return;
        uint32_t port = t.port;
        CHECK(is_nonblock_cloexec(l.fd));
        CHECK_EQ_INT(l.stop_fd, -1);
        int sfd = -77, cfd = -1;
        CHECK_EQ_INT(listener_next(&l, 100, &sfd), -ETIMEDOUT);
        CHECK_EQ_INT(sfd, -77);

        CHECK_EQ_INT(tcp_connect_to("127.0.0.1", port, &cfd), 0);
        r = listener_next(&l, 5000, &sfd);
        CHECK_EQ_INT(r, 0);
        if (r == 0 && cfd >= 0) {
                CHECK(is_nonblock_cloexec(cfd));
                CHECK(is_nonblock_cloexec(sfd));
                exchange(cfd, sfd);
        }
        if (cfd >= 0)
                close(cfd);
        if (sfd >= 0)
                close(sfd);

        /* "localhost" and the empty host both mean 127.0.0.1 */
        const char *hosts[] = { "localhost", "" };
        for (size_t i = 0; i < ARRAY_SIZE(hosts); i++) {
                cfd = -1;
                CHECK_EQ_INT(tcp_connect_to(hosts[i], port, &cfd), 0);
                sfd = -1;
                CHECK_EQ_INT(listener_next(&l, 5000, &sfd), 0);
                if (cfd >= 0 && sfd >= 0)
                        exchange(sfd, cfd);
                if (cfd >= 0)
                        close(cfd);
                if (sfd >= 0)
                        close(sfd);
        }
        listener_close(&l);

        /* a name the static resolver-free code cannot use */
        cfd = -77;
        CHECK_EQ_INT(tcp_connect_to("example.invalid", port, &cfd), -EADDRNOTAVAIL);
        struct target bad = { .kind = TARGET_TCP, .host = "example.invalid", .port = port };
        struct listener before;
        memset(&before, 0x5a, sizeof before);
        l = before;
        CHECK_EQ_INT(listener_open(&bad, VSOCK_CID_ANY, &l), -EADDRNOTAVAIL);
        CHECK_EQ_MEM(&l, &before, sizeof l);
        CHECK_EQ_INT(cfd, -77);
        /* the listener is gone: refused */
        CHECK_EQ_INT(tcp_connect_to("127.0.0.1", port, &cfd), -ECONNREFUSED);
        CHECK_EQ_INT(cfd, -77);
}
#endif

static void test_fd_wait(void) {
        int p[2];
        CHECK_EQ_INT(pipe2(p, O_CLOEXEC), 0);
        CHECK_EQ_INT(fd_wait(p[0], POLLIN, 50), -ETIMEDOUT);
        CHECK_EQ_INT(fd_wait(p[0], POLLIN, 0), -ETIMEDOUT);
        CHECK(fd_wait(p[1], POLLOUT, 0) & POLLOUT);
        CHECK_EQ_INT(write(p[1], "x", 1), 1);
        CHECK(fd_wait(p[0], POLLIN, -1) & POLLIN);
        CHECK_EQ_INT(fd_set_nonblock(p[0], true), 0);
        CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK);
        CHECK_EQ_INT(fd_set_nonblock(p[0], false), 0);
        CHECK(!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
        close(p[0]);
        close(p[1]);
        CHECK_EQ_INT(fd_set_nonblock(p[0], true), -EBADF);
}

static void size_ok(const char *s, uint64_t want) {
        uint64_t v = 0xdeadbeef;
        int r = parse_size(s, &v);
        if (r < 0)
                fprintf(stderr, "    parse_size('%s') = %d\n", s, r);
        CHECK_EQ_INT(r, 0);
        CHECK_EQ_U64(v, want);
}

static void size_bad(const char *s, int want) {
        uint64_t v = 0xdeadbeef;
        int r = parse_size(s, &v);
        if (r != want)
                fprintf(stderr, "    parse_size('%s') = %d, want %d\n", s, r, want);
        CHECK_EQ_INT(r, want);
        CHECK_EQ_U64(v, 0xdeadbeef);
}

static void test_parse_size(void) {
        size_ok("0", 0);
        size_ok("4096", 4096);
        size_ok("4k", 4096);
        size_ok("4K", 4096);
        size_ok("1M", 1u << 20);
        size_ok("1m", 1u << 20);
        size_ok("2G", 2ull << 30);
        size_ok("3T", 3ull << 40);
        size_ok("1MiB", 1u << 20);
        size_ok("1MB", 1u << 20);
        size_ok("64KiB", 64u << 10);
        size_ok("16777215T", 16777215ull << 40); /* the largest that fits */
        size_ok("18446744073709551615", UINT64_MAX);
        size_bad("1.5M", -EINVAL);
        size_bad("", -EINVAL);
        size_bad("k", -EINVAL);
        size_bad("M1", -EINVAL);
        size_bad("-1", -EINVAL);
        size_bad("+1", -EINVAL);
        size_bad(" 1", -EINVAL);
        size_bad("1 k", -EINVAL);
        size_bad("1kk", -EINVAL);
        size_bad("1X", -EINVAL);
        size_bad("0x10", -EINVAL);
        size_bad("1MiBs", -EINVAL);
        size_bad("99999999999T", -ERANGE);
        size_bad("16777216T", -ERANGE);
        size_bad("18446744073709551616", -ERANGE);
        size_bad("99999999999999999999999", -ERANGE);
        /* a binary suffix without its unit is not a size */
        size_bad("1i", -EINVAL);
        size_bad("1iB", -EINVAL);
        CHECK_EQ_INT(parse_size(NULL, &(uint64_t){ 0 }), -EINVAL);
}

int main(void) {
        const char *tmp = getenv("TMPDIR");
        /* sun_path holds 107 bytes: a long TMPDIR would not fit */
        snprintf(tmpdir, sizeof tmpdir, "%s/ferry-tr.XXXXXX", tmp && *tmp && strlen(tmp) < 60 ? tmp : "/tmp");
        if (!mkdtemp(tmpdir)) {
                perror("mkdtemp");
                return T_EXIT_FAIL;
        }
        atexit(cleanup);
#ifdef TRANSPORT_TCP
        /* Its own test (test-transport-tcp.c): a machine without IPv4
         * sockets skips it, and only it. */
        test_tcp_live();
#else
        test_parse();
        test_format();
        test_unix_live();
        test_fc_handshake();
        test_fd_wait();
        test_parse_size();
#endif
        return check_done();
}
