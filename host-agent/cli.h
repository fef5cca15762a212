/* SPDX-License-Identifier: MIT */
#pragma once

/* Exit codes, documented in --help and README. */
enum {
        EXIT_OK = 0,
        EXIT_FAILED = 1,   /* one or more files failed */
        EXIT_USAGE = 2,    /* bad command line */
        EXIT_CONNECT = 3,  /* could not reach ferryd, or no handshake */
        EXIT_SESSION = 4,  /* the session broke: connection lost, protocol error, timeout */
        EXIT_CORRUPT = 5,  /* data arrived corrupted (digest mismatch) */
};

int cmd_push(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_setup(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_stats(int argc, char **argv);

int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
