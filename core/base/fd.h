/* SPDX-License-Identifier: MIT */
/* Descriptor helpers every layer uses: blocking mode, waiting, writing
 * all of a buffer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

int fd_set_nonblock(int fd, bool on);
/* Write all len bytes of p to a blocking fd, again after EINTR and short
 * writes; 0 or -errno. */
int fd_write_all(int fd, const void *p, size_t len);
/* Wait for fd to be ready for events; -ETIMEDOUT after timeout_ms (<0:
 * forever); -ECANCELED when stop_fd (if >= 0) becomes readable first.
 * Returns the revents otherwise. */
int fd_wait(int fd, short events, int timeout_ms);
int fd_wait_stop(int fd, short events, int stop_fd, int timeout_ms);
