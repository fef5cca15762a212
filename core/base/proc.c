/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/proc.h"
#include "base/util.h"

static uint64_t status_field(const char *name) {
        char buf[4096];
        int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        safe_close(fd);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        const char *p = strstr(buf, name);
        return p ? strtoull(p + strlen(name), NULL, 10) * 1024 : 0;
}

uint64_t proc_rss_peak(void) { return status_field("VmHWM:"); }
uint64_t proc_rss(void) { return status_field("VmRSS:"); }
