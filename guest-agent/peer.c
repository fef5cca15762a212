/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>

#include "peer.h"

void peer_describe(int fd, enum target_kind kind, char *buf, size_t len) {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
                struct sockaddr_vm vm;
        } a;
        socklen_t alen = sizeof a;
        char ip[INET6_ADDRSTRLEN];
        struct ucred cred;
        socklen_t clen = sizeof cred;

        snprintf(buf, len, "unknown peer");
        switch (kind) {
        case TARGET_SERIAL:
                snprintf(buf, len, "serial port");
                return;
        case TARGET_UNIX:
        case TARGET_FC:
                /* SO_PEERCRED: who connected (as of connect()). */
                if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
                        snprintf(buf, len, "unix peer pid %d uid %u", (int)cred.pid, (unsigned)cred.uid);
                return;
        case TARGET_TCP:
        case TARGET_VSOCK:
                break;
        }
        if (getpeername(fd, &a.sa, &alen) < 0)
                return;
        if (a.sa.sa_family == AF_INET && inet_ntop(AF_INET, &a.in.sin_addr, ip, sizeof ip))
                snprintf(buf, len, "tcp %s:%u", ip, ntohs(a.in.sin_port));
        else if (a.sa.sa_family == AF_INET6 && inet_ntop(AF_INET6, &a.in6.sin6_addr, ip, sizeof ip))
                snprintf(buf, len, "tcp [%s]:%u", ip, ntohs(a.in6.sin6_port));
        else if (a.sa.sa_family == AF_VSOCK)
                snprintf(buf, len, "vsock cid %u port %u", a.vm.svm_cid, a.vm.svm_port);
}
