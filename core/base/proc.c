/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/proc.h"
#include "base/util.h"

uint64_t proc_rss_peak(void) {
        char buf[4096];
        int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        safe_close(fd);
        if (n <= 0)
                return 0;
        buf[n] = 0;
        const char *p = strstr(buf, "VmHWM:");
        return p ? strtoull(p + 6, NULL, 10) * 1024 : 0;
}
