/* SPDX-License-Identifier: MIT */
/*
 * Run n independent jobs on at most `parallel` threads at once: ferry push
 * and pull to several guests, one session per guest.
 *
 * Threads rather than processes: the guests share one host-wide rate
 * (budget/share.h: a mutex and a few numbers, where processes would need
 * shared memory and a process-shared lock), libvirt and libxml2 set up
 * once (neither is safe to use across fork), and one stdout on which each
 * JSON object must land whole (stdio's lock).  The session engine keeps all its
 * state in struct session and has no mutable globals, so sessions in
 * threads do not meet; a failing guest ends its own job only.
 */
#pragma once

#include <stddef.h>

/* Calls fn(ud, i) once for each i < n, at most parallel at a time, and
 * returns when all have returned.  0, or -errno when no thread could be
 * started (then nothing ran). */
int fanout_run(size_t n, unsigned parallel, void (*fn)(void *ud, size_t i), void *ud);
