/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/vm_sockets.h>

#include "transport/transport.h"
#include "base/util.h"

int vsock_connect(uint32_t cid, uint32_t port, int timeout_ms, int *ret_fd) {
        struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
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

int vsock_listen(uint32_t port, int *ret_fd) {
        struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
        _cleanup_close_ int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                return -errno;
        if (listen(fd, 8) < 0)
                return -errno;
        *ret_fd = take_fd(&fd);
        return 0;
}

int vsock_peer_cid(int fd, uint32_t *ret_cid) {
        struct sockaddr_vm sa;
        socklen_t len = sizeof sa;
        if (getpeername(fd, (struct sockaddr *)&sa, &len) < 0)
                return -errno;
        if (sa.svm_family != AF_VSOCK)
                return -EAFNOSUPPORT;
        *ret_cid = sa.svm_cid;
        return 0;
}
