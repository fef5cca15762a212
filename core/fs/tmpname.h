/* SPDX-License-Identifier: MIT */
/*
 * The names ferry gives files that are not (yet) at their destination name.
 * One module owns them, so the writer, the sweeper and the tree walk agree:
 *
 *   .ferry-NAME.XXXXXXXX.tmp    a file (or symlink) being received; the 8 hex
 *                               digits are random per session, so two
 *                               writers never share one
 *   .ferry-NAME.HHHHHHHH.part   a resumable partial file, and beside it
 *   .ferry-NAME.HHHHHHHH.jnl    its journal; HHHHHHHH is a hash of the whole
 *                               NAME, so a rerun finds them again
 *
 * NAME is cut to 200 bytes, so every name fits FY_MAX_NAME.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

/* The next random suffix of a session's temporary names: a Weyl sequence
 * through a 64-bit mix, distinct for 2^64 calls from one *seq (seeded
 * randomly, so sessions are as unlikely to collide as 32-bit values). */
uint32_t tmpname_suffix(uint64_t *seq);
void tmpname_tmp(const char *name, uint32_t suffix, char ret[FY_MAX_NAME + 1]);
void tmpname_partial(const char *name, char ret_part[FY_MAX_NAME + 1], char ret_jnl[FY_MAX_NAME + 1]);

bool tmpname_is_tmp(const char *name);     /* .ferry-*.tmp */
bool tmpname_is_partial(const char *name); /* .ferry-*.part or .ferry-*.jnl */
