/* SPDX-License-Identifier: MIT */
/* vsock:CID:PORT, AF_VSOCK: the host connects to a guest CID, ferryd
 * listens on any CID (vsock::PORT) and takes only the peers it allows. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/vm_sockets.h>

#include "transport/tr-int.h"
#include "base/util.h"

static int vsock_connect(const struct target *t, int timeout_ms, int *ret_fd) {
        if (t->cid == VSOCK_CID_ANY)
                return -EINVAL; /* "vsock::PORT" names a listener, not a guest */
        struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = t->cid, .svm_port = t->port };
        _cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno; /* EAFNOSUPPORT: no vsock in this kernel */
        if (timeout_ms > 0) {
                struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
                (void)setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD, &tv, sizeof tv);
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                return -errno;
        int r = sock_tune(fd);
        if (r < 0)
                return r;
        *ret_fd = take_fd(&fd);
        return 0;
}

static int vsock_listen(struct listener *l) {
        struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = l->target.port };
        _cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                return -errno;
        if (listen(fd, 8) < 0)
                return -errno;
        l->fd = take_fd(&fd);
        return 0;
}

static int vsock_peer_cid(int fd, uint32_t *ret_cid) {
        struct sockaddr_vm sa;
        socklen_t len = sizeof sa;
        if (getpeername(fd, (struct sockaddr *)&sa, &len) < 0)
                return -errno;
        if (sa.svm_family != AF_VSOCK)
                return -EAFNOSUPPORT;
        *ret_cid = sa.svm_cid;
        return 0;
}

/* As sock_next, refusing a peer other than l->allow_cid before the
 * session sees a byte of it. */
static int vsock_next(struct listener *l, int timeout_ms, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        int r;
        for (;;) {
                r = sock_accept(l, timeout_ms, &fd);
                if (r < 0)
                        return r;
                if (l->allow_cid == VSOCK_CID_ANY)
                        break;
                uint32_t cid = 0;
                r = vsock_peer_cid(fd, &cid);
                if (r == 0 && cid != l->allow_cid)
                        return -EPERM; /* the caller logs and goes on */
                if (r == 0)
                        break;
                /* No peer to ask about: it went away between accept and
                 * now.  Like an aborted accept, that is no refusal to
                 * report and no reason to stop listening. */
                fd = safe_close(fd);
        }
        r = sock_tune(fd);
        if (r < 0)
                return r;
        *ret_fd = take_fd(&fd);
        return 0;
}

const struct transport_ops tr_vsock_ops = {
        .connect = vsock_connect,
        .listen = vsock_listen,
        .next = vsock_next,
};
