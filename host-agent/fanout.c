/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "fanout.h"

struct pool {
        pthread_mutex_t lock;
        size_t next, n; /* the next job to start, of n */
        void (*fn)(void *ud, size_t i);
        void *ud;
};

static void *worker(void *arg) {
        struct pool *p = arg;
        for (;;) {
                pthread_mutex_lock(&p->lock);
                size_t i = p->next < p->n ? p->next++ : p->n;
                pthread_mutex_unlock(&p->lock);
                if (i >= p->n)
                        return NULL;
                p->fn(p->ud, i);
        }
}

int fanout_run(size_t n, unsigned parallel, void (*fn)(void *ud, size_t i), void *ud) {
        struct pool p = { .lock = PTHREAD_MUTEX_INITIALIZER, .n = n, .fn = fn, .ud = ud };
        size_t nt = parallel < n ? parallel : n, started = 0;
        pthread_t *th = calloc(nt ? nt : 1, sizeof *th);
        if (!th)
                return -ENOMEM;
        int r = 0;
        for (; started < nt; started++) {
                r = pthread_create(&th[started], NULL, worker, &p);
                if (r)
                        break;
        }
        if (started == 0 && n > 0) {
                free(th);
                return -r;
        }
        /* Fewer threads than asked for still run every job. */
        for (size_t i = 0; i < started; i++)
                pthread_join(th[i], NULL);
        free(th);
        return 0;
}
