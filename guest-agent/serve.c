/* SPDX-License-Identifier: MIT */
/*
 * ferryd's main loop: take the next session from the listener and run it.
 * A host that vanishes ends its session, never the daemon: on
 * virtio-serial the next host attaches to the same port.
 *
 * Where the transport has connections (unix, tcp, vsock; fc arrives as
 * vsock), up to --max-sessions sessions run at once, each in a thread of
 * this one process, so one stalled host never keeps the next waiting.
 * Threads rather than a process per session: the budgets stay the
 * process's, one number each - --max-memory is this process's memory,
 * --cpu-limit its CPU clock, which every session's pacer drains together -
 * and what watches ferryd (VmHWM, /proc/PID/io, systemd's MemoryMax, a
 * SIGSTOP) sees all of it.  The engine keeps no global state; it already
 * runs in threads in tests/test-session.c and in ferry's fan-out.
 *
 * The budgets are divided: --max-rate and --dirty-limit evenly among the
 * sessions moving files (session_config.movers: each counts itself in at
 * its first file, out at its end, so ferry stats --watch takes no share);
 * --max-memory when a session starts: it gets the file buffers it asks for
 * as long as what is left still gives every further session up to
 * --max-sessions two, else fewer; a host that finds every session taken
 * waits in the listen backlog until one ends (each ends at the latest
 * --timeout after its host stops talking).  virtio-serial is one stream:
 * one session at a time, in this thread.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

#include "base/chunkhash.h"
#include "base/log.h"
#include "base/util.h"
#include "fs/fio.h"
#include "peer.h"
#include "privs.h"
#include "serve.h"

/* What the whole daemon says once, whichever session finds it out. */
struct said {
        atomic_bool fallback, dontcache, direct;
};

static void log_session_end(const struct session *s, const char *peer, int r, uint64_t t0) {
        const struct session_totals *t = session_totals(s);
        double secs = (double)(now_ns() - t0) / 1e9;
        if (r == -ETIMEDOUT)
                log_warn("session ended: %s dropped: %s", peer, session_error(s) ? session_error(s) : strerror(-r));
        else if (r < 0)
                log_warn("session ended: %s: %s", peer, session_error(s) ? session_error(s) : strerror(-r));
        log_info("session: %llu files received (%llu bytes), %llu sent (%llu bytes), %llu failed, %.2f s (%s)",
                 (unsigned long long)t->files_received, (unsigned long long)t->bytes_received,
                 (unsigned long long)t->files_sent, (unsigned long long)t->bytes_sent,
                 (unsigned long long)t->files_failed, secs, peer);
}

/* One session on fd, to its end, counted in m.  The caller closes fd. */
static int run_session(const struct session_config *cfg, struct metrics *m, int fd, const char *peer,
                       struct said *said) {
        struct metrics_session ms;
        struct session_config mine = *cfg;
        mine.ops = &metrics_session_ops;
        mine.userdata = &ms;
        struct session *s;
        int r = session_new(&mine, fd, &s);
        if (r < 0) {
                log_err("session with %s: %s", peer, strerror(-r));
                return r;
        }
        uint64_t t0 = now_ns();
        metrics_session_begin(m, &ms);
        r = session_run(s);
        metrics_session_end(&ms, session_totals(s));
        int why;
        if (session_peer(s)->proto_max && !session_uses_uring(s, &why) && !atomic_exchange(&said->fallback, true)) {
                if (why)
                        log_warn("io_uring unavailable (%s): file I/O uses pread/pwrite", strerror(-why));
                else
                        log_info("io_uring turned off: file I/O uses pread/pwrite");
        }
        if (session_dontcache_refused(s) && !atomic_exchange(&said->dontcache, true))
                log_info("uncached writes (RWF_DONTCACHE, Linux 6.14+) unavailable: buffered writes under the dirty budget");
        if (session_direct_refused(s) && !atomic_exchange(&said->direct, true))
                log_warn("O_DIRECT refused by the filesystem: buffered writes instead");
        log_session_end(s, peer, r, t0);
        session_free(s);
        return r;
}

unsigned serve_depth(uint64_t free, unsigned others, uint64_t bufsize, unsigned want) {
        uint64_t least = SERVE_SESSION_FIXED + 2 * bufsize;
        if (free < least)
                return 0;
        uint64_t keep = (uint64_t)others * least;
        uint64_t mine = free >= keep + least ? free - keep : least;
        uint64_t n = (mine - SERVE_SESSION_FIXED) / bufsize;
        return (unsigned)MAX((uint64_t)2, MIN(n, (uint64_t)want));
}

/* ---- one session at a time (virtio-serial, --once) ---------------------- */

static int serve_inline(struct serve_options *o, struct listener *l, const char *name, struct said *said) {
        uint64_t bufsize = MAX(o->session.max_chunk, o->session.chunk_size);
        o->session.depth = serve_depth(o->max_memory, 0, bufsize, o->session.depth);
        o->session.connectionless = o->listen.kind == TARGET_SERIAL;
        /* One session at a time: each leaves its file buffers to the next. */
        struct fio *spare = NULL;
        o->session.pool = &spare;
        int r;
        for (;;) {
                _cleanup_close_ int fd = -EBADF;
                r = listener_next(l, -1, &fd);
                if (r == -EPERM) {
                        log_warn("refused a vsock connection from a CID other than %u (see --allow-cid)", o->allow_cid);
                        continue;
                }
                if (r == -ECANCELED) {
                        log_info("stopping on a signal");
                        r = 0;
                        break;
                }
                if (r < 0) {
                        log_err("waiting for a host on %s: %s", name, strerror(-r));
                        break;
                }
                char peer[128];
                peer_describe(fd, o->listen.kind, peer, sizeof peer);
                r = run_session(&o->session, o->metrics, fd, peer, said);
                if (o->once || r == -ECANCELED)
                        break;
                if (r < 0 && o->listen.kind != TARGET_SERIAL)
                        r = 0; /* a failed session is the host's problem, not ours */
        }
        fio_free(spare);
        o->session.pool = NULL;
        return r < 0 && !o->once ? r : 0;
}

/* ---- several at once: a thread per session ------------------------------ */

struct slot {
        bool used;
        pthread_t thread;
        int fd;
        uint64_t charge;             /* of --max-memory */
        struct session_config cfg;   /* its own depth */
        struct metrics *metrics;
        char peer[128];
        struct said *said;
        int done_fd;                 /* eventfd: a session ended */
        atomic_bool done;
};

static void *session_thread(void *arg) {
        struct slot *sl = arg;
        (void)run_session(&sl->cfg, sl->metrics, sl->fd, sl->peer, sl->said);
        sl->fd = safe_close(sl->fd);
        atomic_store(&sl->done, true);
        uint64_t one = 1;
        (void)!write(sl->done_fd, &one, sizeof one);
        return NULL;
}

static unsigned reap(struct slot *slots, unsigned max, uint64_t *used) {
        unsigned running = 0;
        for (unsigned i = 0; i < max; i++) {
                struct slot *sl = &slots[i];
                if (sl->used && atomic_load(&sl->done)) {
                        pthread_join(sl->thread, NULL);
                        *used -= sl->charge;
                        sl->used = false;
                }
                running += sl->used;
        }
        return running;
}

static int serve_threads(struct serve_options *o, struct listener *l, const char *name, struct said *said) {
        unsigned max = o->max_sessions;
        uint64_t bufsize = MAX(o->session.max_chunk, o->session.chunk_size), used = 0;
        _cleanup_free_ struct slot *slots = calloc(max, sizeof *slots);
        _cleanup_close_ int done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (!slots || done_fd < 0) {
                int r = slots ? -errno : -ENOMEM;
                log_err("sessions: %s", strerror(-r));
                return r;
        }
        /* The count every session's budgets are divided by, which the
         * sessions keep (they all end before this frame does). */
        _Atomic unsigned movers = 0;
        int r = 0;
        bool said_waiting = false; /* since the last session ended */
        unsigned running = 0;
        for (;;) {
                unsigned n = reap(slots, max, &used);
                if (n < running)
                        said_waiting = false;
                running = n;
                unsigned depth = n < max ? serve_depth(o->max_memory - used, max - n - 1, bufsize, o->session.depth) : 0;
                /* Full: a host that connects waits in the backlog; the
                 * listener is watched (not accepted from) only to say so. */
                struct pollfd p[3] = {
                        { .fd = done_fd, .events = POLLIN },
                        { .fd = o->session.stop_fd, .events = POLLIN },
                        { .fd = depth || !said_waiting ? l->fd : -1, .events = POLLIN },
                };
                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        log_err("poll: %s", strerror(-r));
                        break;
                }
                if (p[0].revents) {
                        uint64_t v;
                        (void)!read(done_fd, &v, sizeof v);
                }
                if (p[1].revents) {
                        log_info("stopping on a signal");
                        break;
                }
                if (!p[2].revents)
                        continue;
                if (!depth) {
                        log_info("a host waits: %u session%s running (--max-sessions %u, --max-memory)", n,
                                 n == 1 ? "" : "s", max);
                        said_waiting = true;
                        continue;
                }
                _cleanup_close_ int fd = -EBADF;
                r = listener_next(l, 0, &fd);
                if (r == -ETIMEDOUT || r == -ECANCELED) { /* (gone before we took it; a signal: seen above next) */
                        r = 0;
                        continue;
                }
                if (r == -EPERM) {
                        log_warn("refused a vsock connection from a CID other than %u (see --allow-cid)", o->allow_cid);
                        r = 0;
                        continue;
                }
                if (r < 0) {
                        log_err("waiting for a host on %s: %s", name, strerror(-r));
                        break;
                }
                struct slot *sl = NULL;
                for (unsigned i = 0; i < max && !sl; i++)
                        if (!slots[i].used)
                                sl = &slots[i];
                *sl = (struct slot){ .used = true, .cfg = o->session, .metrics = o->metrics, .said = said, .done_fd = done_fd,
                                     .charge = SERVE_SESSION_FIXED + depth * bufsize };
                sl->cfg.depth = depth;
                sl->cfg.movers = &movers;
                peer_describe(fd, o->listen.kind, sl->peer, sizeof sl->peer);
                log_debug("session with %s: %u file buffers", sl->peer, depth);
                if (depth < o->session.depth)
                        log_info("session with %s: %u file buffers instead of %u (--max-memory is shared with %u other session%s)",
                                 sl->peer, depth, o->session.depth, n, n == 1 ? "" : "s");
                sl->fd = take_fd(&fd);
                used += sl->charge;
                running = n + 1;
                if ((r = -pthread_create(&sl->thread, NULL, session_thread, sl)) < 0) {
                        log_err("session with %s: %s", sl->peer, strerror(-r));
                        sl->fd = safe_close(sl->fd);
                        sl->used = false;
                        used -= sl->charge;
                        r = 0;
                }
        }
        /* Each session sees the stop signal too (the same stop_fd): wait
         * for them to put their files in order. */
        for (unsigned i = 0; i < max; i++)
                if (slots[i].used)
                        pthread_join(slots[i].thread, NULL);
        return r;
}

static int serve_on(struct serve_options *o);

int serve(struct serve_options *o) {
        int r = metrics_new(o->metrics_file, &o->metrics);
        if (r < 0) {
                log_err("metrics: %s", strerror(-r));
                return r;
        }
        r = serve_on(o);
        o->metrics = metrics_free(o->metrics);
        return r;
}

static int serve_on(struct serve_options *o) {
        struct fsroot root;
        int r = fsroot_open(o->root, true, &root);
        if (r < 0) {
                log_err("root '%s': %s", o->root, strerror(-r));
                return r;
        }
        o->session.root = &root;

        struct listener l;
        char name[256];
        target_format(&o->listen, name, sizeof name);
        r = listener_open(&o->listen, o->allow_cid, &l);
        if (r < 0) {
                log_err("listen on %s: %s", name, strerror(-r));
                fsroot_close(&root);
                return r;
        }
        l.stop_fd = o->session.stop_fd;
        if (o->drop) { /* the listener and the root are ours: root is not needed any more */
                r = privs_drop(o->uid, o->gid);
                if (r < 0) {
                        log_err("--user: becoming uid %u gid %u: %s", (unsigned)o->uid, (unsigned)o->gid, strerror(-r));
                        listener_close(&l);
                        fsroot_close(&root);
                        return r;
                }
                log_info("running as uid %u gid %u", (unsigned)o->uid, (unsigned)o->gid);
        }
        /* The first file, all zeros, once we are who we will be: a path
         * we cannot write is said now, not at the first session's end. */
        if ((r = metrics_write(o->metrics)) < 0) {
                log_err("--metrics-file '%s': %s", o->metrics_file, strerror(-r));
                listener_close(&l);
                fsroot_close(&root);
                return r;
        }
        bool threads = !o->once && o->listen.kind != TARGET_SERIAL;
        /* Picked now rather than in the first transfer, and said: an emulated
         * CPU picks another path than the hardware it runs on. */
        log_info("chunk digests: XXH3's %s path", chunk_hash_impl_name(chunk_hash_impl()));
        log_info("listening on %s, root %s%s", name, root.abs,
                 threads ? "" : o->listen.kind == TARGET_SERIAL ? " (one session at a time: a serial port is one stream)" : "");
        struct said said = { 0 };
        r = threads ? serve_threads(o, &l, name, &said) : serve_inline(o, &l, name, &said);
        listener_close(&l);
        fsroot_close(&root);
        return r;
}
