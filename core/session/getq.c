/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "session/ctx.h"
#include "session/getq.h"

static int add(struct getq *g, struct sctx *c, const char *remote, const struct get_req *bench, uint32_t *ret_id) {
        if (strlen(remote) > FY_MAX_PATH)
                return -ENAMETOOLONG;
        if (!*remote)
                return -EINVAL;
        struct get_req *q = calloc(1, sizeof *q);
        if (!q)
                return -ENOMEM;
        if (bench)
                *q = *bench;
        q->xfer_id = c->next_id++;
        strcpy(q->path, remote);
        if (g->tail)
                g->tail->next = q;
        else
                g->head = q;
        g->tail = q;
        *ret_id = q->xfer_id;
        return 0;
}

int getq_add(struct getq *g, struct sctx *c, const char *remote, uint32_t *ret_id) {
        return add(g, c, remote, NULL, ret_id);
}

int getq_add_bench(struct getq *g, struct sctx *c, uint64_t size, uint32_t pattern, uint32_t *ret_id) {
        if (size > (uint64_t)INT64_MAX || pattern > FY_BENCH_PATTERN_MAX)
                return -EINVAL;
        struct get_req b = { .bench = true, .bench_size = size, .bench_pattern = pattern };
        return add(g, c, "bench", &b, ret_id);
}

int getq_pump(struct getq *g, struct sctx *c) {
        int did = 0;
        while (g->head && g->in_flight < GETQ_IN_FLIGHT && outq_room(&c->out, 1 + OUTQ_CTRL_RESERVE)) {
                struct get_req *q = g->head;
                struct fy_msg m = { .type = FY_GET, .get = { .xfer_id = q->xfer_id, .chunk_size = c->cfg->max_chunk } };
                if (c->cfg->resume && sctx_peer_has(c, FY_FEAT_RESUME))
                        m.get.flags = FY_GET_RESUME | (c->cfg->checksum ? FY_GET_CHECKSUM : 0);
                if (sctx_peer_has(c, FY_FEAT_TREE))
                        m.get.flags |= FY_GET_TREE; /* a directory comes as a tree */
                if (q->bench) { /* a measurement: the one flag */
                        if (!sctx_peer_has(c, FY_FEAT_BENCH))
                                return sctx_fail(c, -EOPNOTSUPP, "the guest does not offer bench mode (feature bit 7)");
                        m.get.flags = FY_GET_BENCH;
                        m.get.bench_size = q->bench_size;
                        m.get.bench_pattern = q->bench_pattern;
                }
                strcpy(m.get.path, q->path);
                int r = sctx_send(c, &m);
                if (r < 0)
                        return sctx_fail(c, r, "GET '%s': %s", q->path, strerror(-r));
                g->head = q->next;
                if (!g->head)
                        g->tail = NULL;
                free(q);
                for (unsigned i = 0; i < GETQ_IN_FLIGHT; i++)
                        if (!g->asked[i]) {
                                g->asked[i] = m.get.xfer_id;
                                break;
                        }
                g->in_flight++;
                did = 1;
        }
        return did;
}

bool getq_begun(struct getq *g, uint32_t id) {
        for (unsigned i = 0; id && i < GETQ_IN_FLIGHT; i++)
                if (g->asked[i] == id) {
                        g->asked[i] = 0;
                        return true;
                }
        return false;
}

void getq_answered(struct getq *g) {
        if (g->in_flight > 0)
                g->in_flight--;
}

void getq_free(struct getq *g) {
        while (g->head) {
                struct get_req *q = g->head;
                g->head = q->next;
                free(q);
        }
        g->tail = NULL;
        g->in_flight = 0;
        memset(g->asked, 0, sizeof g->asked);
}
