/* SPDX-License-Identifier: MIT */
/* Pull requests: GETs the initiator keeps a bounded number ahead of the
 * answers, so the guest streams files back to back with no round trip
 * between them. */
#pragma once

#include <stdint.h>

#include "wire.h"

#define GETQ_IN_FLIGHT 32 /* GETs sent and not yet answered */

struct sctx;

struct get_req {
        struct get_req *next;
        uint32_t xfer_id;
        char path[FY_MAX_PATH + 1];
};

struct getq {
        struct get_req *head, *tail; /* not sent yet */
        unsigned in_flight;          /* sent, no verdict yet */
};

int getq_add(struct getq *g, struct sctx *c, const char *remote, uint32_t *ret_id);
/* Send GETs while fewer than GETQ_IN_FLIGHT are unanswered.  >0 if any went. */
int getq_pump(struct getq *g, struct sctx *c);
/* A GET has its verdict. */
void getq_answered(struct getq *g);
void getq_free(struct getq *g);
