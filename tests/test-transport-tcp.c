/* SPDX-License-Identifier: MIT */
/* core/transport over live TCP sockets: test-transport's TCP part, on its
 * own so that a machine without IPv4 sockets skips (77) just this. */
#define TRANSPORT_TCP 1
/* The cases of the other part are compiled but not run here. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test-transport.c"
