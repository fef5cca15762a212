/* SPDX-License-Identifier: MIT */
/*
 * Inside core/transport: what each kind of target provides, and the
 * helpers the socket kinds share.  Only the .c files of core/transport
 * include this; everyone else sees transport.h alone.
 *
 * transport.c picks a kind's ops by target_kind.  Every descriptor an op
 * hands out is CLOEXEC and non-blocking; ret_ outputs and the listener's
 * fields are written only on success.
 */
#pragma once

#include <stdint.h>

#include "transport/transport.h"

struct transport_ops {
        /* Host side: a connected stream to t.  timeout_ms bounds what waits
         * on the peer (vsock's connect, fc's handshake); unix does not wait
         * and tcp leaves it to the kernel's own connect timeout. */
        int (*connect)(const struct target *t, int timeout_ms, int *ret_fd);
        /* Guest side: open l->target, setting l->fd (and l->sigfd).  NULL:
         * the kind has no guest side. */
        int (*listen)(struct listener *l);
        /* The next session on an open listener.  -ETIMEDOUT, -ECANCELED
         * (l->stop_fd), -EPERM (a peer refused; the listener goes on). */
        int (*next)(struct listener *l, int timeout_ms, int *ret_fd);
};

extern const struct transport_ops tr_unix_ops;   /* tr-unix.c */
extern const struct transport_ops tr_tcp_ops;    /* tr-tcp.c */
extern const struct transport_ops tr_vsock_ops;  /* tr-vsock.c */
extern const struct transport_ops tr_serial_ops; /* tr-serial.c */
extern const struct transport_ops tr_fc_ops;     /* tr-fc.c */

/* tr-unix.c: connect to the Unix socket at t->path.  Also the first leg of
 * fc (the VMM's socket) and the host end of serial (QEMU's chardev). */
int unix_connect(const struct target *t, int timeout_ms, int *ret_fd);

/* tr-sock.c, for the stream-socket kinds (unix, tcp, vsock). */
/* Large buffers (a 1 MiB hand-off should not stall on a 200 KiB default
 * buffer), non-blocking. */
int sock_tune(int fd);
/* accept4() the next connection on l->fd, waiting up to timeout_ms (or
 * until l->stop_fd is readable); the descriptor is CLOEXEC, not yet tuned. */
int sock_accept(struct listener *l, int timeout_ms, int *ret_fd);
/* sock_accept, then sock_tune: the next op of unix and tcp. */
int sock_next(struct listener *l, int timeout_ms, int *ret_fd);
