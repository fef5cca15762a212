/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "session/session.h"
#include "transport/transport.h"

struct serve_options {
        struct target listen;
        const char *root;
        uint32_t allow_cid;
        struct session_config session; /* root/ops filled in by serve() */
        bool once;                     /* one session, then exit */
};

/* Serve sessions until an error that cannot be survived, or after one
 * session with once.  Returns 0 or -errno (already logged). */
int serve(struct serve_options *o);
