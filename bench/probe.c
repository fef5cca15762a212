/* probe — what a copy does to the rest of the machine, for bench/impact.sh.
 * Each mode is one process with one thread, so no probe delays another:
 *
 *   probe fsync DIR [SECONDS]  every 100 ms, a 4 KiB pwrite + fdatasync to a
 *                              file in DIR; one latency per line, in µs
 *   probe wake [SECONDS]       sleeps 10 ms in a loop (clock_nanosleep);
 *                              one lateness (woken - due) per line, in µs
 *   probe dirty [SECONDS]      reads /proc/meminfo every 20 ms; one
 *                              Dirty + Writeback per line, in KiB
 *
 * A probe runs for SECONDS, or until SIGTERM/SIGINT when SECONDS is 0 or
 * absent, then prints its samples and exits 0.  Samples are kept in memory
 * and printed only at the end: writing them while measuring would add the
 * probe's own writes to the disk it measures.
 * Exit status: 0 done, 1 an error (logged), 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* Enough for 10 minutes of the fastest probe (wake: ~100 samples/s); a
 * longer run stops collecting and says so. */
#define MAX_SAMPLES (1u << 17)
#define FSYNC_BLOCK 4096u
#define FSYNC_SLOTS 256u /* the file is 1 MiB; each write takes the next 4 KiB */

struct samples {
        uint32_t v[MAX_SAMPLES];
        size_t n;
        bool full;
};

static struct samples S;

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void add(uint64_t v) {
        if (S.n == MAX_SAMPLES) {
                S.full = true;
                return;
        }
        S.v[S.n++] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* SIGTERM and SIGINT arrive through a signalfd that the loops poll; no
 * handler runs in the middle of a measurement. */
static int stop_fd_open(void) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
                return -errno;
        int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        return fd < 0 ? -errno : fd;
}

static bool stop_requested(int stop_fd) {
        struct signalfd_siginfo si;
        return read(stop_fd, &si, sizeof si) == (ssize_t)sizeof si;
}

/* A periodic CLOCK_MONOTONIC timer that fires at once; returns the fd or -errno. */
static int ticker_open(uint64_t period_ns) {
        int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct itimerspec it = {
                .it_interval = { .tv_sec = (time_t)(period_ns / 1000000000u), .tv_nsec = (long)(period_ns % 1000000000u) },
        };
        it.it_value.tv_nsec = 1; /* the first sample at once, then one per period */
        if (timerfd_settime(fd, 0, &it, NULL) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* Waits for the next tick or a stop request; returns 1 on a tick, 0 to
 * stop, -errno on an error.  Ticks missed while a sample was being taken
 * are skipped, not made up in a burst. */
static int ticker_wait(int tick_fd, int stop_fd, uint64_t end_ns) {
        struct pollfd p[2] = { { .fd = tick_fd, .events = POLLIN }, { .fd = stop_fd, .events = POLLIN } };
        for (;;) {
                if (end_ns && now_ns() >= end_ns)
                        return 0;
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (p[1].revents && stop_requested(stop_fd))
                        return 0;
                if (p[0].revents) {
                        uint64_t ticks;
                        if (read(tick_fd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
                                return -errno;
                        return 1;
                }
        }
}

/* A 1 MiB file in DIR that vanishes on exit: O_TMPFILE where the file
 * system has it, else a named file unlinked at once.  Written and synced
 * once, so each probe write overwrites allocated blocks (like a database
 * log) and fdatasync has data to flush, not block allocation. */
static int fsync_file_open(const char *dir) {
        int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0) {
                char path[4096];
                if (snprintf(path, sizeof path, "%s/.probe-fsync.XXXXXX", dir) >= (int)sizeof path)
                        return -ENAMETOOLONG;
                fd = mkostemp(path, O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                unlink(path);
        }
        static char zero[FSYNC_BLOCK];
        for (unsigned i = 0; i < FSYNC_SLOTS; i++)
                if (pwrite(fd, zero, sizeof zero, (off_t)i * FSYNC_BLOCK) != (ssize_t)sizeof zero) {
                        int r = errno ? -errno : -EIO;
                        close(fd);
                        return r;
                }
        if (fsync(fd) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static int run_fsync(const char *dir, int stop_fd, uint64_t end_ns) {
        int fd = fsync_file_open(dir);
        if (fd < 0) {
                fprintf(stderr, "probe: fsync file in '%s': %s\n", dir, strerror(-fd));
                return fd;
        }
        int tick = ticker_open(100 * 1000000ull);
        if (tick < 0) {
                close(fd);
                return tick;
        }
        char buf[FSYNC_BLOCK];
        int r;
        for (unsigned i = 0; (r = ticker_wait(tick, stop_fd, end_ns)) > 0; i++) {
                memset(buf, (int)(i & 0xff), sizeof buf);
                uint64_t t0 = now_ns();
                if (pwrite(fd, buf, sizeof buf, (off_t)(i % FSYNC_SLOTS) * FSYNC_BLOCK) != (ssize_t)sizeof buf ||
                    fdatasync(fd) < 0) {
                        r = errno ? -errno : -EIO;
                        fprintf(stderr, "probe: fsync write: %s\n", strerror(-r));
                        break;
                }
                add((now_ns() - t0) / 1000);
        }
        close(tick);
        close(fd);
        return r;
}

static int run_wake(int stop_fd, uint64_t end_ns) {
        const uint64_t period = 10 * 1000000ull;
        for (;;) {
                uint64_t due = now_ns() + period;
                if (end_ns && due > end_ns)
                        return 0;
                struct timespec ts = { .tv_sec = (time_t)(due / 1000000000u), .tv_nsec = (long)(due % 1000000000u) };
                int r;
                while ((r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR)
                        ;
                if (r)
                        return -r;
                uint64_t woke = now_ns();
                add(woke > due ? (woke - due) / 1000 : 0);
                if (stop_requested(stop_fd))
                        return 0;
        }
}

/* Dirty + Writeback in KiB from one read of /proc/meminfo (fd at any
 * offset: pread from 0); -errno on an error. */
static int64_t meminfo_dirty_kib(int fd) {
        char buf[8192];
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        if (n < 0)
                return -errno;
        buf[n] = '\0';
        int64_t sum = 0;
        int found = 0;
        for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                unsigned long long kib;
                if (sscanf(line, "Dirty: %llu kB", &kib) == 1 || sscanf(line, "Writeback: %llu kB", &kib) == 1) {
                        sum += (int64_t)kib;
                        found++;
                }
        }
        return found == 2 ? sum : -EBADMSG;
}

static int run_dirty(int stop_fd, uint64_t end_ns) {
        int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int tick = ticker_open(20 * 1000000ull);
        if (tick < 0) {
                close(fd);
                return tick;
        }
        int r;
        while ((r = ticker_wait(tick, stop_fd, end_ns)) > 0) {
                int64_t kib = meminfo_dirty_kib(fd);
                if (kib < 0) {
                        r = (int)kib;
                        fprintf(stderr, "probe: /proc/meminfo: %s\n", strerror(-r));
                        break;
                }
                add((uint64_t)kib);
        }
        close(tick);
        close(fd);
        return r;
}

static void help(FILE *f) {
        fputs("Usage: probe fsync DIR [SECONDS]   4 KiB write + fdatasync every 100 ms (latency, us)\n"
              "       probe wake [SECONDS]        10 ms sleeps (lateness, us)\n"
              "       probe dirty [SECONDS]       Dirty+Writeback every 20 ms (KiB)\n"
              "Runs SECONDS, or until SIGTERM/SIGINT (0 or absent); then prints one sample a line.\n",
              f);
}

static int usage_error(const char *msg) {
        fprintf(stderr, "probe: %s\ntry 'probe --help'\n", msg);
        return 2;
}

int main(int argc, char **argv) {
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
                help(stdout);
                return 0;
        }
        if (argc < 2)
                return usage_error("which probe: fsync, wake or dirty");
        const char *mode = argv[1], *dir = NULL, *secs = NULL;
        if (!strcmp(mode, "fsync")) {
                if (argc < 3 || argc > 4)
                        return usage_error("fsync takes DIR [SECONDS]");
                dir = argv[2];
                secs = argc == 4 ? argv[3] : NULL;
        } else if (!strcmp(mode, "wake") || !strcmp(mode, "dirty")) {
                if (argc > 3)
                        return usage_error("wake and dirty take [SECONDS]");
                secs = argc == 3 ? argv[2] : NULL;
        } else {
                return usage_error("unknown probe (fsync, wake or dirty)");
        }
        double seconds = 0;
        if (secs) {
                char *end;
                seconds = strtod(secs, &end);
                if (*end || end == secs || !(seconds >= 0 && seconds < 1e6))
                        return usage_error("SECONDS is not a number of seconds");
        }
        uint64_t end_ns = seconds > 0 ? now_ns() + (uint64_t)(seconds * 1e9) : 0;

        int stop_fd = stop_fd_open();
        if (stop_fd < 0) {
                fprintf(stderr, "probe: signalfd: %s\n", strerror(-stop_fd));
                return 1;
        }
        memset(&S, 0, sizeof S); /* touch the sample pages now, not while measuring */
        int r = !strcmp(mode, "fsync") ? run_fsync(dir, stop_fd, end_ns)
                : !strcmp(mode, "wake") ? run_wake(stop_fd, end_ns)
                : run_dirty(stop_fd, end_ns);
        if (r < 0 && !strcmp(mode, "wake"))
                fprintf(stderr, "probe: clock_nanosleep: %s\n", strerror(-r));
        for (size_t i = 0; i < S.n; i++)
                printf("%u\n", S.v[i]);
        if (S.full)
                fprintf(stderr, "probe: %s: stopped collecting after %u samples\n", mode, MAX_SAMPLES);
        if (fflush(stdout) != 0)
                return 1;
        return r < 0 ? 1 : 0;
}
