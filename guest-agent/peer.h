/* SPDX-License-Identifier: MIT */
/* Who is on the other end of a session's descriptor, for ferryd's log. */
#pragma once

#include <stddef.h>

#include "transport/transport.h"

/* e.g. "unix peer pid 4242 uid 0", "tcp 127.0.0.1:51234", "vsock cid 3
 * port 1029", "serial port"; "unknown peer" when the kernel cannot say. */
void peer_describe(int fd, enum target_kind kind, char *buf, size_t len);
