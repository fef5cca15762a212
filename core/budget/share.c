/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "budget/share.h"
#include "base/util.h"

struct share_member {
        struct share *s;
        uint64_t want;   /* bytes asked for while in line; 0: not in line */
        uint64_t seq;    /* place in line (lower: earlier) */
        uint64_t due_ns; /* when it was told to come back */
        uint64_t taken;  /* bytes taken so far */
};

struct share {
        pthread_mutex_t lock;
        uint64_t rate, burst;
        double tokens;
        uint64_t last_ns;
        uint64_t next_seq;
        unsigned n;
        struct share_member m[];
};

int share_new(uint64_t rate, uint64_t burst, unsigned members, uint64_t now_ns, struct share **ret) {
        if (rate == 0 || members == 0 || burst == 0)
                return -EINVAL;
        struct share *s = calloc(1, sizeof *s + members * sizeof s->m[0]);
        if (!s)
                return -ENOMEM;
        int r = pthread_mutex_init(&s->lock, NULL);
        if (r) {
                free(s);
                return -r;
        }
        s->rate = rate;
        s->burst = burst;
        s->last_ns = now_ns;
        s->next_seq = 1;
        s->n = members;
        for (unsigned i = 0; i < members; i++)
                s->m[i].s = s;
        *ret = s;
        return 0;
}

struct share *share_free(struct share *s) {
        if (s) {
                pthread_mutex_destroy(&s->lock);
                free(s);
        }
        return NULL;
}

struct share_member *share_member(struct share *s, unsigned i) {
        return i < s->n ? &s->m[i] : NULL;
}

static void refill(struct share *s, uint64_t now_ns) {
        if (now_ns > s->last_ns) {
                s->tokens += (double)s->rate * (double)(now_ns - s->last_ns) / 1e9;
                if (s->tokens > (double)s->burst)
                        s->tokens = (double)s->burst;
                s->last_ns = now_ns;
        }
}

uint64_t share_take(struct share_member *m, uint64_t n, uint64_t now_ns) {
        struct share *s = m->s;
        uint64_t need = MIN(n, s->burst); /* what must be there before n is taken */
        uint64_t wait;

        pthread_mutex_lock(&s->lock);
        refill(s, now_ns);
        if (!m->want)
                m->seq = s->next_seq++;
        /* What the members before m in line still wait for; one that did
         * not come back when told has gone and loses its place. */
        uint64_t ahead = 0;
        for (unsigned i = 0; i < s->n; i++) {
                struct share_member *o = &s->m[i];
                if (o == m || !o->want)
                        continue;
                if (now_ns > o->due_ns + SHARE_STALE_NS) {
                        o->want = 0;
                        continue;
                }
                if (o->seq < m->seq)
                        ahead += MIN(o->want, s->burst);
        }
        /* The head of the line always gets through (need <= burst), so a
         * line longer than the bucket holds still moves. */
        if (s->tokens >= (double)(ahead + need)) {
                s->tokens -= (double)n;
                m->want = 0;
                m->taken += n;
                wait = 0;
        } else {
                double missing = (double)(ahead + need) - s->tokens;
                wait = (uint64_t)(missing * 1e9 / (double)s->rate) + 1;
                m->want = n;
                m->due_ns = now_ns + wait;
        }
        pthread_mutex_unlock(&s->lock);
        return wait;
}

void share_leave(struct share_member *m) {
        pthread_mutex_lock(&m->s->lock);
        m->want = 0;
        pthread_mutex_unlock(&m->s->lock);
}

uint64_t share_taken(struct share_member *m) {
        pthread_mutex_lock(&m->s->lock);
        uint64_t v = m->taken;
        pthread_mutex_unlock(&m->s->lock);
        return v;
}
