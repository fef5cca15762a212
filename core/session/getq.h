/* SPDX-License-Identifier: MIT */
/* Pull requests: GETs the initiator keeps a bounded number ahead of the
 * answers, so the guest streams files back to back with no round trip
 * between them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

#define GETQ_IN_FLIGHT 32 /* GETs sent and not yet answered */

struct sctx;

struct get_req {
        struct get_req *next;
        uint32_t xfer_id;
        char path[FY_MAX_PATH + 1];
        bool bench;             /* FY_GET_BENCH: bench_size bytes of bench_pattern */
        uint64_t bench_size;
        uint32_t bench_pattern;
};

struct getq {
        struct get_req *head, *tail; /* not sent yet */
        unsigned in_flight;          /* sent, no verdict yet */
        /* Sent, and no answer begun (PROTOCOL.md A.4 "Asked"): the ids a
         * FILE_ABORT may answer.  0: a free slot.  A subset of in_flight,
         * so it always has room. */
        uint32_t asked[GETQ_IN_FLIGHT];
};

int getq_add(struct getq *g, struct sctx *c, const char *remote, uint32_t *ret_id);
/* Bench mode (PROTOCOL.md 9.11): a GET for size bytes of pattern made in
 * memory by the guest (FY_GET_BENCH). */
int getq_add_bench(struct getq *g, struct sctx *c, uint64_t size, uint32_t pattern, uint32_t *ret_id);
/* Send GETs while fewer than GETQ_IN_FLIGHT are unanswered.  >0 if any went. */
int getq_pump(struct getq *g, struct sctx *c);
/* A frame about id arrived from the responder: its answer begins, if id is
 * a GET of ours still Asked.  Whether it was. */
bool getq_begun(struct getq *g, uint32_t id);
/* A GET has its verdict. */
void getq_answered(struct getq *g);
void getq_free(struct getq *g);
