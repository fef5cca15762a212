/* SPDX-License-Identifier: MIT */
/* Descriptor helpers every layer uses: blocking mode and waiting. */
#pragma once

#include <stdbool.h>

int fd_set_nonblock(int fd, bool on);
/* Wait for fd to be ready for events; -ETIMEDOUT after timeout_ms (<0:
 * forever); -ECANCELED when stop_fd (if >= 0) becomes readable first.
 * Returns the revents otherwise. */
int fd_wait(int fd, short events, int timeout_ms);
int fd_wait_stop(int fd, short events, int stop_fd, int timeout_ms);
