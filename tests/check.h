/* SPDX-License-Identifier: MIT */
/*
 * Tiny test helpers, in the spirit of liburing's test/helpers.h.
 *
 * Each CHECK* macro evaluates its arguments once, prints file, line, the
 * expression and both values on failure, counts the failure and carries on,
 * so one run reports every broken case.  A test's main() ends with
 * `return check_done();`, which fails when nothing was checked.  Exit 77
 * (T_EXIT_SKIP) tells tests/run.sh the machine lacks something the test
 * needs; print the reason as the last line.  Never pass instead of skipping.
 */
#pragma once

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define T_EXIT_PASS 0
#define T_EXIT_FAIL 1
#define T_EXIT_SKIP 77

static unsigned check_failures;
static unsigned check_count;

static inline void check_fail_(const char *file, int line, const char *expr) {
        check_failures++;
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
}

#define CHECK(cond)                                                           \
        do {                                                                  \
                check_count++;                                                \
                if (!(cond))                                                  \
                        check_fail_(__FILE__, __LINE__, #cond);               \
        } while (0)

#define CHECK_EQ_INT(a, b)                                                    \
        do {                                                                  \
                long long a_ = (a), b_ = (b);                                 \
                check_count++;                                                \
                if (a_ != b_) {                                               \
                        check_fail_(__FILE__, __LINE__, #a " == " #b);        \
                        fprintf(stderr, "    %lld != %lld\n", a_, b_);        \
                }                                                             \
        } while (0)

#define CHECK_EQ_U64(a, b)                                                    \
        do {                                                                  \
                uint64_t a_ = (a), b_ = (b);                                  \
                check_count++;                                                \
                if (a_ != b_) {                                               \
                        check_fail_(__FILE__, __LINE__, #a " == " #b);        \
                        fprintf(stderr, "    0x%" PRIx64 " != 0x%" PRIx64     \
                                " (%" PRIu64 " != %" PRIu64 ")\n",            \
                                a_, b_, a_, b_);                              \
                }                                                             \
        } while (0)

#define CHECK_EQ_STR(a, b)                                                    \
        do {                                                                  \
                const char *a_ = (a), *b_ = (b);                              \
                check_count++;                                                \
                if (strcmp(a_, b_) != 0) {                                    \
                        check_fail_(__FILE__, __LINE__, #a " == " #b);        \
                        fprintf(stderr, "    \"%.80s\" != \"%.80s\"\n", a_, b_); \
                }                                                             \
        } while (0)

static inline void check_hexdump_(const char *tag, const void *p, size_t n) {
        const uint8_t *b = p;
        fprintf(stderr, "    %s:", tag);
        for (size_t i = 0; i < n && i < 32; i++)
                fprintf(stderr, " %02x", b[i]);
        fprintf(stderr, "%s\n", n > 32 ? " ..." : "");
}

#define CHECK_EQ_MEM(a, b, n)                                                 \
        do {                                                                  \
                const void *a_ = (a), *b_ = (b);                              \
                size_t n_ = (n);                                              \
                check_count++;                                                \
                if (memcmp(a_, b_, n_) != 0) {                                \
                        check_fail_(__FILE__, __LINE__, #a " == " #b);        \
                        check_hexdump_(#a, a_, n_);                           \
                        check_hexdump_(#b, b_, n_);                           \
                }                                                             \
        } while (0)

/* Exit status for main(): 0 when every check held, 1 otherwise.  No check
 * at all is a failure too: a test that found nothing to check must skip
 * (exit T_EXIT_SKIP with its reason), not pass. */
static inline int check_done(void) {
        if (check_failures) {
                fprintf(stderr, "%u of %u checks failed\n", check_failures, check_count);
                return T_EXIT_FAIL;
        }
        if (check_count == 0) {
                fprintf(stderr, "no checks ran\n");
                return T_EXIT_FAIL;
        }
        printf("%u checks passed\n", check_count);
        return T_EXIT_PASS;
}
