/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "priority.h"

#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_SHIFT 13

int priority_apply(int nice_value, int io_class, int io_level) {
        int ret = 0;
        if (setpriority(PRIO_PROCESS, 0, nice_value) < 0)
                ret = -errno;
        if (io_class > 0) {
                /* glibc has no wrapper; the kernel's ABI is stable. */
                int prio = (io_class << IOPRIO_CLASS_SHIFT) | (io_class == 3 ? 0 : io_level);
                if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) < 0 && ret == 0)
                        ret = -errno;
        }
        return ret;
}
