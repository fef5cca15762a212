/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/chunkhash.h"
#include "base/util.h"
#include "codec.h"
#include "session/compress.h"
#include "session/pack.h"

struct packer;

struct worker {
        struct packer *pk;
        struct compress_ws ws; /* this thread's zstd context and scratch, owned */
        pthread_t th;
        bool started;
};

struct packer {
        struct compress *z;
        pthread_mutex_t mu;
        pthread_cond_t work;      /* a batch is there, or quit */
        pthread_cond_t done;      /* the last job of a batch finished */
        struct pack_job *jobs;    /* the batch (the caller's), during packer_run */
        unsigned njobs;
        atomic_uint next;         /* the next job to take */
        unsigned finished;        /* jobs done, under mu */
        unsigned busy;            /* workers inside a batch, under mu: the
                                   * next batch waits for them to leave */
        uint64_t gen;             /* batches started: a worker's cue */
        bool quit;
        unsigned nthreads;
        struct worker w[PACKER_MAX_THREADS];
};

static void pack_with(const struct compress *z, struct compress_ws *ws, struct pack_job *j) {
        j->digest = chunk_hash(j->p, j->len);
        j->codec = FY_CODEC_RAW;
        j->plen = j->len;
        j->tried = false;
        j->z_ns = 0;
        if (j->compress) {
                uint64_t t0 = now_ns();
                j->tried = compress_pack_ws(z, ws, j->p, j->len, &j->codec, &j->plen);
                j->z_ns = now_ns() - t0;
        }
}

void pack_one(struct compress *z, struct pack_job *j) {
        pack_with(z, compress_own_ws(z), j);
}

/* Take jobs of the current batch until none is left; count them done. */
static void drain(struct packer *pk, struct compress_ws *ws) {
        unsigned did = 0, i;
        while ((i = atomic_fetch_add(&pk->next, 1)) < pk->njobs) {
                pack_with(pk->z, ws, &pk->jobs[i]);
                did++;
        }
        if (!did)
                return;
        pthread_mutex_lock(&pk->mu);
        pk->finished += did;
        pthread_cond_signal(&pk->done);
        pthread_mutex_unlock(&pk->mu);
}

static void *worker_main(void *arg) {
        struct worker *w = arg;
        struct packer *pk = w->pk;
        uint64_t seen = 0;
        pthread_mutex_lock(&pk->mu);
        for (;;) {
                while (!pk->quit && pk->gen == seen)
                        pthread_cond_wait(&pk->work, &pk->mu);
                if (pk->quit)
                        break;
                seen = pk->gen;
                pk->busy++;
                pthread_mutex_unlock(&pk->mu);
                drain(pk, &w->ws);
                pthread_mutex_lock(&pk->mu);
                if (--pk->busy == 0)
                        pthread_cond_signal(&pk->done);
        }
        pthread_mutex_unlock(&pk->mu);
        return NULL;
}

int packer_new(struct compress *z, unsigned nthreads, struct packer **ret) {
        if (nthreads < 1 || nthreads > PACKER_MAX_THREADS)
                return -EINVAL;
        struct packer *pk = calloc(1, sizeof *pk);
        if (!pk)
                return -ENOMEM;
        pk->z = z;
        pthread_mutex_init(&pk->mu, NULL);
        pthread_cond_init(&pk->work, NULL);
        pthread_cond_init(&pk->done, NULL);
        for (unsigned i = 0; i < nthreads; i++) {
                pk->w[i].pk = pk;
                int r = pthread_create(&pk->w[i].th, NULL, worker_main, &pk->w[i]);
                if (r) {
                        packer_free(pk);
                        return -r;
                }
                pk->w[i].started = true;
                pk->nthreads++;
        }
        *ret = pk;
        return 0;
}

void packer_free(struct packer *pk) {
        if (!pk)
                return;
        pthread_mutex_lock(&pk->mu);
        pk->quit = true;
        pthread_cond_broadcast(&pk->work);
        pthread_mutex_unlock(&pk->mu);
        for (unsigned i = 0; i < PACKER_MAX_THREADS; i++) {
                if (pk->w[i].started)
                        pthread_join(pk->w[i].th, NULL);
                compress_ws_fini(&pk->w[i].ws);
        }
        pthread_cond_destroy(&pk->done);
        pthread_cond_destroy(&pk->work);
        pthread_mutex_destroy(&pk->mu);
        free(pk);
}

void packer_run(struct packer *pk, struct pack_job *jobs, unsigned n) {
        if (n <= 1) {
                for (unsigned i = 0; i < n; i++)
                        pack_one(pk->z, &jobs[i]);
                return;
        }
        pthread_mutex_lock(&pk->mu);
        pk->jobs = jobs;
        pk->njobs = n;
        pk->finished = 0;
        atomic_store(&pk->next, 0);
        pk->gen++;
        pthread_cond_broadcast(&pk->work);
        pthread_mutex_unlock(&pk->mu);
        drain(pk, compress_own_ws(pk->z)); /* the caller works too */
        pthread_mutex_lock(&pk->mu);
        /* Every job done, and no worker still in this batch: a late one
         * must not take an index of the next batch for this one's. */
        while (pk->finished < n || pk->busy)
                pthread_cond_wait(&pk->done, &pk->mu);
        pk->jobs = NULL;
        pk->njobs = 0;
        pthread_mutex_unlock(&pk->mu);
}

unsigned packer_default_threads(void) {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) < 0)
                return 0;
        int n = CPU_COUNT(&set) - 1;
        return n <= 0 ? 0 : (unsigned)MIN(n, PACKER_MAX_THREADS);
}
