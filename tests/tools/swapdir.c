/* SPDX-License-Identifier: MIT */
/*
 * swapdir: a racing process for the integration tests.  Swaps two names -
 * typically a directory of a tree being sent and a symbolic link to
 * somewhere else - back and forth as fast as it can, atomically
 * (renameat2 RENAME_EXCHANGE), until SECONDS have passed or it is killed.
 *
 *   swapdir A B SECONDS [PAUSE_US]
 *
 * PAUSE_US: sleep this long after each swap (default 0), so that the
 * process it races is not starved on a small machine.
 * Prints "swapdir: N swaps" at the end; the names end as they began.
 * Exit status: 0, 1 on an error (e.g. no RENAME_EXCHANGE here: then the
 * first line says "swapdir: unsupported"), 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static int swap(const char *a, const char *b) {
        return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
}

int main(int argc, char **argv) {
        if (argc != 4 && argc != 5) {
                fprintf(stderr, "usage: swapdir A B SECONDS [PAUSE_US]\n");
                return 2;
        }
        signal(SIGTERM, on_term);
        signal(SIGINT, on_term);
        double secs = atof(argv[3]);
        useconds_t pause = argc == 5 ? (useconds_t)atoi(argv[4]) : 0;
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        unsigned long n = 0;
        for (;;) {
                if (swap(argv[1], argv[2]) < 0) {
                        if (errno == EINVAL || errno == ENOSYS) {
                                printf("swapdir: unsupported (%s)\n", strerror(errno));
                                return 1;
                        }
                        fprintf(stderr, "swapdir: %s <-> %s: %s\n", argv[1], argv[2], strerror(errno));
                        return 1;
                }
                n++;
                if (pause)
                        usleep(pause);
                clock_gettime(CLOCK_MONOTONIC, &t);
                double el = (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
                if (n % 2 == 0 && (stop || el >= secs))
                        break;
        }
        printf("swapdir: %lu swaps\n", n);
        return 0;
}
