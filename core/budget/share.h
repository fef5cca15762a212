/* SPDX-License-Identifier: MIT */
/*
 * A rate shared by several senders: one token bucket of RATE bytes/s for a
 * whole host (ferry --max-rate with several guests), taken from by many
 * sessions running in threads of one process.
 *
 * Fair and work-conserving.  A member that finds too few tokens gets a
 * place in line; tokens go to the members in line in the order they came,
 * and a member may take ahead of the line only what leaves enough for
 * everyone before it.  Senders ask for one chunk at a time, so backlogged
 * members take turns chunk by chunk and get equal byte rates; a member
 * that is not asking (its guest gives it no credit, its file is being
 * read) is not in line, and what it does not take goes to the others.
 *
 * A member in line that does not come back within SHARE_STALE_NS of the
 * time it was told to loses its place, so a session that stopped asking
 * (it ended, or its peer went quiet) never holds up the rest.
 *
 * Thread-safe: one mutex, held for a few arithmetic steps per chunk.
 * Every function takes the time (CLOCK_MONOTONIC ns) so tests can drive it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define SHARE_STALE_NS (100ull * 1000000)

struct share;        /* the bucket and its line */
struct share_member; /* one sender's place in it */

/* A bucket of rate bytes/s (> 0) that saves up at most burst bytes, for
 * members senders.  It starts empty, so the rate holds from the start.  A
 * request larger than burst waits for a full bucket and then takes it all
 * (the bucket goes below zero).  -EINVAL for a zero rate or no members,
 * -ENOMEM. */
int share_new(uint64_t rate, uint64_t burst, unsigned members, uint64_t now_ns, struct share **ret);
/* NULL is fine.  Returns NULL. */
struct share *share_free(struct share *s);

/* Member i (0 <= i < members), for the session that sends as it. */
struct share_member *share_member(struct share *s, unsigned i);

/* Take n bytes for m: 0 when taken; otherwise nothing is taken, m keeps
 * (or gets) its place in line, and the ns after which to ask again. */
uint64_t share_take(struct share_member *m, uint64_t n, uint64_t now_ns);
/* m stops asking (its session ended): its place in line goes now. */
void share_leave(struct share_member *m);
/* Bytes m has taken so far. */
uint64_t share_taken(struct share_member *m);
