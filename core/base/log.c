/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "base/log.h"

static const char *prog_name = "ferry";
static int max_level = LOG_WARN;

void log_init(const char *prog, int level) {
        prog_name = prog;
        max_level = level;
}

int log_get_level(void) { return max_level; }

void log_msg(enum log_level level, const char *fmt, ...) {
        if ((int)level > max_level)
                return;
        char line[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        /* One write per line so lines from two processes do not interleave. */
        fprintf(stderr, "%s: %s\n", prog_name, line);
}
