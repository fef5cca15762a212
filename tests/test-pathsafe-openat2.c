/* SPDX-License-Identifier: MIT */
/* core/pathsafe with openat2(RESOLVE_BENEATH): test-pathsafe's cases, run
 * through the kernel's own confinement; skipped (77) where it is missing. */
#define PATHSAFE_OPENAT2 1
/* The cases of the other part are compiled but not run here. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "test-pathsafe.c"
