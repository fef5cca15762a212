/* SPDX-License-Identifier: MIT */
#pragma once

/* Run the whole daemon at a low CPU and IO priority, so the guest's own
 * work comes first.  io_class: 1 realtime, 2 best-effort, 3 idle, 0 leave;
 * io_level 0 (high) .. 7 (low).  Returns 0 or -errno (the caller warns;
 * a failure is not fatal). */
int priority_apply(int nice_value, int io_class, int io_level);
