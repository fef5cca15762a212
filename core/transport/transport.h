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
 * This header is all the agents see: target strings, connecting (host) and
 * a listener (guest).  Each kind lives in its own tr-KIND.c behind the ops
 * in tr-int.h, private to core/transport.  Every descriptor handed out is
 * CLOEXEC and non-blocking.  Functions return 0 or -errno and leave ret_
 * outputs untouched on failure.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

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

/* Host side: connect.  For fc, also does the CONNECT handshake; timeout_ms
 * bounds vsock's connect and fc's handshake.  -EINVAL for vsock::PORT (no
 * CID to connect to). */
int target_connect(const struct target *t, int timeout_ms, int *ret_fd);

/* Guest side: a source of sessions.  For sockets, accept(); for a
 * virtio-serial port, wait (without spinning) until a host is attached. */
struct listener {
        /* the transport's, set by listener_open */
        struct target target;
        int fd;              /* listening socket, or the serial port */
        int sigfd;           /* serial: signalfd for SIGIO on host attach */
        uint32_t allow_cid;  /* vsock: accept only this peer CID (ANY: all) */
        /* the caller's: -1 from listener_open, set it to be able to stop */
        int stop_fd;         /* readable: stop waiting (-ECANCELED); -1: none */
};

/* -EOPNOTSUPP for fc (a host-side muxer: the guest listens on vsock). */
int listener_open(const struct target *t, uint32_t allow_cid, struct listener *ret);
/* The next session's descriptor (the caller closes it).  timeout_ms < 0
 * waits forever; -ETIMEDOUT when it runs out, -ECANCELED when stop_fd
 * became readable, -EPERM for a vsock peer other than allow_cid (refused
 * and closed: call again). */
int listener_next(struct listener *l, int timeout_ms, int *ret_fd);
/* Closes what listener_open opened; twice is harmless. */
void listener_close(struct listener *l);

