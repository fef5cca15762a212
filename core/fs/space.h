/* SPDX-License-Identifier: MIT */
/*
 * Disk space for a file being received, reserved as its data arrives
 * rather than all at FILE_BEGIN: a sender that announces 1 GiB and goes
 * away must not leave 1 GiB held by a partial file kept for resume (for a
 * day, --stale-age).  A full disk is still said before the data crosses -
 * the filesystem's free space is checked against the whole size first -
 * and each stretch is reserved ahead of the writes, so the data in between
 * never finds the disk full halfway through a chunk.
 */
#pragma once

#include <stdint.h>

#define SPACE_AHEAD (64ull << 20) /* reserved past what has arrived (a resume checkpoint's worth) */

/* At FILE_BEGIN: -ENOSPC when the filesystem of fd clearly cannot hold
 * size bytes more (statvfs; the blocks kept for root count when we are
 * root), then [0, min(size, SPACE_AHEAD)) reserved.  0 on filesystems
 * that cannot reserve. */
int space_begin(int fd, uint64_t size);
/* Data has reached off: [off, min(size, off + SPACE_AHEAD)) reserved. */
int space_ahead(int fd, uint64_t off, uint64_t size);
