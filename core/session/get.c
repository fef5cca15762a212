/* SPDX-License-Identifier: MIT */
/* Pull requests: GETs the initiator keeps a bounded number ahead of. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "session-int.h"
#include "base/util.h"

int session_pull(struct session *s, const char *remote, uint32_t *ret_id) {
        if (strlen(remote) > FY_MAX_PATH)
                return -ENAMETOOLONG;
        if (!*remote)
                return -EINVAL;
        struct get_req *g = calloc(1, sizeof *g);
        if (!g)
                return -ENOMEM;
        g->xfer_id = s->next_id++;
        strcpy(g->path, remote);
        if (s->gets_tail)
                s->gets_tail->next = g;
        else
                s->gets = g;
        s->gets_tail = g;
        s->pending++;
        *ret_id = g->xfer_id;
        return 0;
}

/* Keep a bounded number of GETs ahead of the answers: the guest streams
 * files back to back without a round trip between them. */
int gets_pump(struct session *s) {
        int did = 0;
        while (s->gets && s->gets_in_flight < GETS_IN_FLIGHT && out_room(s, 1 + OUT_CTRL_RESERVE)) {
                struct get_req *g = s->gets;
                struct fy_msg m = { .type = FY_GET, .get = { .xfer_id = g->xfer_id, .chunk_size = s->cfg.max_chunk } };
                if (s->cfg.resume && (s->peer.features & FY_FEAT_RESUME))
                        m.get.flags = FY_GET_RESUME | (s->cfg.checksum ? FY_GET_CHECKSUM : 0);
                if (s->peer.features & FY_FEAT_TREE)
                        m.get.flags |= FY_GET_TREE; /* a directory comes as a tree */
                strcpy(m.get.path, g->path);
                int r = out_ctrl(s, &m);
                if (r < 0)
                        return session_fail(s, r, "GET '%s': %s", g->path, strerror(-r));
                s->gets = g->next;
                if (!s->gets)
                        s->gets_tail = NULL;
                free(g);
                s->gets_in_flight++;
                did = 1;
        }
        return did;
}

void gets_free(struct session *s) {
        while (s->gets) {
                struct get_req *g = s->gets;
                s->gets = g->next;
                free(g);
        }
        s->gets_tail = NULL;
        s->gets_in_flight = 0;
}

