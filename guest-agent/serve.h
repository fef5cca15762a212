/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "metrics.h"
#include "session/session.h"
#include "transport/transport.h"

/* What ferryd assumes one session costs besides its file buffers: stream
 * and output buffers, queues, its process (stack, the binary's pages). */
#define SERVE_SESSION_FIXED (4u << 20)

struct serve_options {
        struct target listen;
        const char *root;
        uint32_t allow_cid;
        struct session_config session; /* root/ops filled in by serve() */
        bool once;                     /* one session, then exit */
        /* Sessions at once on a transport with connections (each in its
         * own process); virtio-serial is one stream, one session. */
        unsigned max_sessions;
        uint64_t max_memory;           /* --max-memory, shared by them all */
        const char *metrics_file;      /* --metrics-file: Prometheus text, or NULL */
        struct metrics *metrics;       /* the daemon's counters (serve() makes them) */
        bool drop;                     /* --user: become uid/gid once listening */
        uid_t uid;
        gid_t gid;
};

/* Serve sessions until an error that cannot be survived, or after one
 * session with once.  Returns 0 or -errno (already logged). */
int serve(struct serve_options *o);

/* The file buffers a session may have when `free` bytes of the memory
 * budget are left and `others` more sessions may still start after it (each
 * must still find two buffers): at most want, 0 when not even two fit. */
unsigned serve_depth(uint64_t free, unsigned others, uint64_t bufsize, unsigned want);
