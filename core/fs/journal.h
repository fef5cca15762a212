/* SPDX-License-Identifier: MIT */
/*
 * The receiver's journal of a partial file, for resume.
 *
 * A file larger than a batch-committed one grows as .ferry-NAME.HASH.part
 * next to .ferry-NAME.HASH.jnl (fs/tmpname.h).  The journal is a header naming the source
 * version (size, mtime, chunking) followed by fixed-size records, one per
 * verified chunk or hole once its write completed, and a DURABLE record
 * after each fdatasync of the partial file.  Both names are fixed for a
 * destination, so a rerun finds them; the journal is flock()ed while a
 * session writes, so two sessions cannot write one file.
 *
 * Records before the last DURABLE mark are trusted; chunks after it are
 * read back and hashed before they count (a killed process leaves them in
 * the page cache, a crashed machine may not), so a rerun re-sends at most
 * what never reached the file.
 *
 * Errors: every function returns 0 or -errno, and that code is the error.
 * errno after a call is not part of the contract (a failure may come from
 * a later step than the system call that set errno last), so a caller
 * reports the returned code, never errno.  ret_ outputs are written only
 * on success.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "wire.h"

#define JNL_HEADER_SIZE 64
#define JNL_RECORD_SIZE 32
#define JNL_MAX_RECORDS (1u << 22) /* 128 MiB of journal: a 4 TiB file in 1 MiB chunks */

/* The version of the source a partial file belongs to. */
struct jnl_ident {
        uint64_t size;
        int64_t mtime_sec;
        uint32_t mtime_nsec;
        uint32_t chunk_size;
        uint32_t flags; /* FY_FB_SPARSE or 0 */
};

enum jnl_kind {
        JNL_DATA = 1,    /* off, len, chunk digest */
        JNL_HOLE = 2,    /* off, len */
        JNL_DURABLE = 3, /* off: everything before it was fdatasync'ed */
};

/* What a journal vouches for: a contiguous prefix of the file. */
struct jnl_prefix {
        uint64_t offset;   /* end of the verified prefix */
        uint64_t chunks;   /* data chunks in it */
        uint64_t received; /* end of the furthest chunk recorded at all */
        uint64_t records;  /* data and hole records in it */
        struct fy_file_digest digest; /* over the prefix, as the sender computes it */
};

/* Open an existing journal and take its lock: -ENOENT, -EBUSY (another
 * session holds it), -EBADMSG (not a journal).  ret_id: its header. */
int jnl_open(int dirfd, const char *jname, int *ret_fd, struct jnl_ident *ret_id);
/* Start a journal: removes any old .part/.jnl pair (unless another session
 * holds it: -EBUSY), creates both with O_EXCL and locks the journal. */
int jnl_create(int dirfd, const char *part, const char *jname, const struct jnl_ident *id, int *ret_jfd,
               int *ret_partfd, int part_flags);
/* Append one record at the journal's end.  Returns 0, or the -errno of the
 * write that failed (-ENOSPC, -EDQUOT, -EIO, ...), a short write being
 * continued until it fails or completes.  Use the return value: errno is
 * not meant to be read after it. */
int jnl_append(int jfd, enum jnl_kind kind, uint64_t off, uint64_t len, uint64_t digest);

/* Read the journal's verified prefix.  partfd: the partial file, to check
 * chunks past the last DURABLE mark (-1: trust every record).  Stops at
 * `limit` bytes (UINT64_MAX: no limit). */
int jnl_scan(int jfd, int partfd, uint64_t limit, struct jnl_prefix *ret);
/* Keep only the prefix's records, marked durable (the caller fdatasync'ed
 * the partial file): the journal of a file resumed at prefix->offset. */
int jnl_rewrite(int jfd, const struct jnl_ident *id, int partfd, uint64_t limit);

bool jnl_ident_eq(const struct jnl_ident *a, const struct jnl_ident *b);
