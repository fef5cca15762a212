/* SPDX-License-Identifier: MIT */
/*
 * Packing chunks on several cores: the digest of each chunk, then zstd in
 * place when that pays (compress.h), for a batch of chunks at once.  zstd
 * -1 compresses ~0.4-0.5 GB/s per core here, slower than a fast socket, so
 * one core caps what auto can win; zstd's own -T does the same with jobs.
 *
 * Fork-join, not a queue: the caller hands over a batch of chunks whose
 * buffers it owns, works on it too, and gets every buffer back packed
 * before packer_run returns.  Nothing is in flight between calls, so the
 * engine's lifetimes (a file abandoned, a session reset) stay as they are.
 * Each thread has its own compression context; the mode decision stays
 * with the caller's struct compress, read only during a batch.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct compress;
struct packer;

#define PACKER_MAX_THREADS 8

/* One chunk: p holds len raw bytes (and room for them only). */
struct pack_job {
        uint8_t *p;
        uint32_t len;
        bool compress;   /* try zstd (the peer takes it) */
        /* results */
        uint64_t digest; /* of the raw bytes */
        uint8_t codec;   /* FY_CODEC_* */
        uint32_t plen;   /* payload bytes at p */
        bool tried;      /* zstd ran (else the probe took the chunk for incompressible) */
        uint64_t z_ns;   /* how long zstd took, wall clock on its thread (auto's model) */
};

/* A pool of nthreads workers (1..PACKER_MAX_THREADS) beside the caller,
 * packing with z's level and mode.  -ENOMEM, -EAGAIN (threads). */
int packer_new(struct compress *z, unsigned nthreads, struct packer **ret);
void packer_free(struct packer *pk);

/* Pack the n jobs, on the workers and the calling thread; returns when
 * all are done.  n may be any size; a batch of one runs on the caller. */
void packer_run(struct packer *pk, struct pack_job *jobs, unsigned n);

/* Pack one job on the calling thread, with the caller's context in z. */
void pack_one(struct compress *z, struct pack_job *j);

/* The helpers worth starting here: the cores this process may run on,
 * less the one the session uses, at most PACKER_MAX_THREADS. */
unsigned packer_default_threads(void);
