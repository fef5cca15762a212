/* SPDX-License-Identifier: MIT */
/*
 * Transports behind one small interface.  Both agents take the same target
 * strings:
 *
 *   vsock:CID:PORT   AF_VSOCK; ferryd listens with vsock::PORT (any CID)
 *   serial:PATH      host: Unix socket of a QEMU chardev backing a
 *                    virtserialport; guest: /dev/virtio-ports/NAME
 *   fc:PATH:PORT     Firecracker / Cloud Hypervisor hybrid vsock (host only)
 *   unix:PATH        Unix stream socket
 *   tcp:HOST:PORT    TCP; HOST numeric or "localhost"; listens on loopback
 *                    when HOST is empty
 *
 * Each kind lives in its own tr-KIND.c.  Every descriptor handed out is
 * CLOEXEC and non-blocking.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/fd.h"

enum target_kind { TARGET_UNIX, TARGET_TCP, TARGET_VSOCK, TARGET_SERIAL, TARGET_FC };

#define TARGET_PATH_MAX 108 /* sizeof(sun_path) */
#define VSOCK_CID_HOST 2u
#define VSOCK_CID_ANY 0xffffffffu

struct target {
        enum target_kind kind;
        char path[TARGET_PATH_MAX]; /* unix, serial, fc */
        char host[64];              /* tcp; empty: loopback */
        uint32_t cid;               /* vsock; VSOCK_CID_ANY when empty */
        uint32_t port;              /* tcp, vsock, fc */
};

/* -EINVAL for a string that is not a target; -ENAMETOOLONG for a path that
 * does not fit a Unix socket address. */
int target_parse(const char *s, struct target *ret);
const char *target_kind_name(enum target_kind kind);
/* Canonical text of t, for messages. */
void target_format(const struct target *t, char *buf, size_t len);

/* Host side: connect.  For fc, also does the CONNECT handshake. */
int target_connect(const struct target *t, int timeout_ms, int *ret_fd);

/* Guest side: a source of sessions.  For sockets, accept(); for a
 * virtio-serial port, wait (without spinning) until a host is attached. */
struct listener {
        struct target target;
        int fd;              /* listening socket, or the serial port */
        int sigfd;           /* serial: signalfd for SIGIO on host attach */
        uint32_t allow_cid;  /* vsock: accept only this peer CID (ANY: all) */
        int stop_fd;         /* readable: stop waiting (-ECANCELED); -1: none */
};

int listener_open(const struct target *t, uint32_t allow_cid, struct listener *ret);
/* The next session's descriptor (the caller closes it).  timeout_ms < 0
 * waits forever; -ETIMEDOUT when it runs out. */
int listener_next(struct listener *l, int timeout_ms, int *ret_fd);
void listener_close(struct listener *l);

/* Per-kind entry points, used by transport.c. */
int unix_connect(const char *path, int *ret_fd);
int unix_listen(const char *path, int *ret_fd);
int tcp_connect(const char *host, uint32_t port, int *ret_fd);
int tcp_listen(const char *host, uint32_t port, int *ret_fd);
int vsock_connect(uint32_t cid, uint32_t port, int timeout_ms, int *ret_fd);
int vsock_listen(uint32_t port, int *ret_fd);
int vsock_peer_cid(int fd, uint32_t *ret_cid);
int fc_connect(const char *path, uint32_t port, int timeout_ms, int *ret_fd);
int serial_open(const char *path, int *ret_fd, int *ret_sigfd);
int serial_wait_host(int fd, int sigfd, int stop_fd, int timeout_ms);

/* Common socket tuning: large buffers (a 1 MiB hand-off should not stall on
 * a 200 KiB default buffer), non-blocking. */
int sock_tune(int fd);
