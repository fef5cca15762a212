/* SPDX-License-Identifier: MIT */
/* A one-line progress meter on a terminal, redrawn at most 10 times a
 * second; silent when stderr is not a terminal so logs do not fill up.
 * With several guests at once, a board: one line per guest and a total,
 * redrawn in place, which every guest's meter draws into. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct board;

struct progress {
        bool enabled;
        const char *name;
        uint64_t start_ns, last_ns;
        uint64_t base;  /* bytes of earlier files */
        uint64_t total; /* bytes of all files, when known */
        bool drawn;
        struct board *board; /* set: this meter is row `row` of a board */
        size_t row;
        /* files finished (a tree's entries one by one), and of how many
         * (0: not known up front, a tree's) - rsync's --info=progress2 */
        uint64_t files_done, files_total;
        /* --progress ndjson: a JSON object a line on stderr instead of the
         * meter, at least once a second and at the end (progress_end) */
        struct progress_ndjson {
                const char *op, *domain;
                char file[256];        /* the current file's name */
                uint64_t file_bytes, file_total;
                uint64_t wait_ns[6];   /* the sender's waits by cause, of finished files */
                uint64_t line_ns;      /* the last line */
        } *nd;
};

/* Keeps board, row and nd (a meter is made anew at each reconnect);
 * files_total: 0 when not known. */
void progress_init(struct progress *p, bool enabled, uint64_t total, uint64_t files_total);
/* A line now if a second has passed since the last (the session's sample
 * callback calls it, so a stalled transfer still says so). */
void progress_tick(struct progress *p);
/* The sender's waits of a finished file, by cause (wait_kind). */
void progress_waits(struct progress *p, const uint64_t wait_ns[6]);
/* --progress ndjson: the last line of a connection's run. */
void progress_end(struct progress *p);
/* file_total: the size of the current file (the whole job's total is not
 * known up front on a pull). */
void progress_update(struct progress *p, const char *name, uint64_t bytes_in_file, uint64_t file_total, bool force);
void progress_file_done(struct progress *p, uint64_t file_bytes);
void progress_clear(struct progress *p);
/* Around a line written to stderr while meters may be drawn: hold takes
 * the meter (and the board: no other guest draws meanwhile) off the
 * screen, release lets it be drawn again. */
void progress_hold(struct progress *p);
void progress_release(struct progress *p);

/* A board of n rows named names[i] (the strings must outlive it). */
int board_new(size_t n, char *const *names, struct board **ret);
/* Takes the board off the screen, draws it one last time and frees it. */
struct board *board_free(struct board *b);
/* Row i's guest is done (ok or not): its line says so. */
void board_done(struct board *b, size_t i, bool ok);
