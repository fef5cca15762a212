/* SPDX-License-Identifier: MIT */
/*
 * The record a completed file carries so that a rerun can skip it: the
 * extended attribute user.ferry.v1 holds the size, mtime, chunk size and
 * whole-file digest the file was verified with.  A file changed in place
 * since has another mtime or size, so a record that still matches them
 * vouches for the content.
 */
#pragma once

#include <stdint.h>

#include "wire.h"

/* Record b's size, mtime and chunking and digest on fd.  -ENOTSUP (or
 * -EPERM) when the filesystem keeps no user xattrs (tmpfs before 6.6). */
int record_set(int fd, const struct fy_file_begin *b, const uint8_t digest[16]);
/* 1, *ret_digest and the chunking it was computed over when fd's record
 * describes b's size and mtime; 0 when it has none or another; -ENOTSUP
 * when the filesystem keeps none. */
int record_check(int fd, const struct fy_file_begin *b, uint8_t ret_digest[16], uint32_t *ret_chunk);
