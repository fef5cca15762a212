/* SPDX-License-Identifier: MIT */
/* What this process costs, from /proc/self. */
#pragma once

#include <stdint.h>

/* Peak resident memory (VmHWM) in bytes; 0 if it cannot be read. */
uint64_t proc_rss_peak(void);
/* Resident memory now (VmRSS) in bytes; 0 if it cannot be read. */
uint64_t proc_rss(void);
