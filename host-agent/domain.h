/* SPDX-License-Identifier: MIT */
/*
 * Guests named as libvirt names them (`virsh list`), not by socket or CID.
 *
 * ferry asks libvirt for a domain's live XML at every connect and picks a
 * transport from it: the vsock CID (/domain/devices/vsock/cid/@address)
 * when the domain has one and this host can reach AF_VSOCK, else the Unix
 * socket of the virtio channel named org.ferry.0 (QEMU's side of
 * /dev/virtio-ports/org.ferry.0 in the guest).  A CID that changed after a
 * migration, or a socket path libvirt made anew at a restart, is picked up
 * by the next connect.
 *
 * Everything returns 0 or -errno, leaves ret_ outputs untouched on failure,
 * and on failure writes one line for the user into err (naming the domain,
 * without "ferry: "):
 *   -ECONNREFUSED  the URI cannot be opened
 *   -ENOENT        no such domain
 *   -EHOSTDOWN     the domain is not running
 *   -ENODEV        the domain has no device ferry can use
 *   -EOPNOTSUPP    this ferry was built without libvirt (ferry.static)
 *   -EIO           libvirt or the XML failed otherwise
 * A connection may be used from several threads at once.  domain_target
 * asks over a connection of its own each time (see domain.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "transport/transport.h"

#define DOMAIN_CHANNEL "org.ferry.0"
#define DOMAIN_VSOCK_PORT 5000

enum domain_via { DOMAIN_VIA_AUTO, DOMAIN_VIA_VSOCK, DOMAIN_VIA_SERIAL };

struct domain_opts {
        const char *channel; /* target name of the virtio channel; NULL: DOMAIN_CHANNEL */
        enum domain_via via; /* AUTO: vsock when reachable, else the channel */
        uint32_t port;       /* ferryd's vsock port; 0: DOMAIN_VSOCK_PORT */
};

struct domain_conn;

/* Open uri (NULL: $LIBVIRT_DEFAULT_URI, else qemu:///system, then
 * qemu:///session), read-only unless read_write (ferry setup --apply). */
int domain_open(const char *uri, bool read_write, struct domain_conn **ret, char *err, size_t errlen);
/* NULL is fine.  Returns NULL. */
struct domain_conn *domain_close(struct domain_conn *c);
/* The URI this connection was opened with (for messages). */
const char *domain_uri(const struct domain_conn *c);

/* Whether s is a pattern (has *, ? or [) rather than a name. */
bool domain_is_glob(const char *s);
/* The domains named by patterns, in the order given (names within one
 * pattern sorted, duplicates dropped): a name stands for itself even when
 * libvirt does not know it (domain_target will say so); a glob matches
 * the names of all domains, running or not, and matching none is -ENOENT.
 * *ret_names is one calloc'ed array of strings: free it whole. */
int domain_match(struct domain_conn *c, char *const *patterns, size_t n, char ***ret_names, size_t *ret_n, char *err,
                 size_t errlen);

/* Where ferryd in domain name can be reached now. */
int domain_target(struct domain_conn *c, const char *name, const struct domain_opts *o, struct target *ret,
                  char *err, size_t errlen);

/* ferry setup: the device XML ferry needs in domain name (via: AUTO picks
 * vsock where this host reaches AF_VSOCK, else a channel), printed to out
 * with what it is for; with apply, attach what is missing (a virtio-serial
 * controller first when there is none) to the running domain and to its
 * persistent definition, and say on out what changed.  c must be
 * read-write to apply. */
int domain_setup(struct domain_conn *c, const char *name, const struct domain_opts *o, bool apply, FILE *out,
                 char *err, size_t errlen);
