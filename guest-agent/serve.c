/* SPDX-License-Identifier: MIT */
/*
 * ferryd's main loop: take the next session from the listener, run it,
 * and go back for the next.  A host that vanishes ends its session, never
 * the daemon: on virtio-serial the next host attaches to the same port.
 */
#include <errno.h>
#include <string.h>

#include "base/log.h"
#include "serve.h"
#include "base/util.h"

static void log_session_end(const struct session *s, int r, uint64_t t0) {
        const struct session_totals *t = session_totals(s);
        double secs = (double)(now_ns() - t0) / 1e9;
        if (r < 0)
                log_warn("session ended: %s", session_error(s) ? session_error(s) : strerror(-r));
        log_info("session: %llu files received (%llu bytes), %llu sent (%llu bytes), %llu failed, %.2f s",
                 (unsigned long long)t->files_received, (unsigned long long)t->bytes_received,
                 (unsigned long long)t->files_sent, (unsigned long long)t->bytes_sent,
                 (unsigned long long)t->files_failed, secs);
}

int serve(struct serve_options *o) {
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
        log_info("listening on %s, root %s", name, root.abs);

        bool said_fallback = false, said_dontcache = false, said_direct = false;
        for (;;) {
                _cleanup_close_ int fd = -EBADF;
                r = listener_next(&l, -1, &fd);
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
                struct session *s;
                r = session_new(&o->session, fd, &s);
                if (r < 0) {
                        log_err("session: %s", strerror(-r));
                        break;
                }
                uint64_t t0 = now_ns();
                r = session_run(s);
                int why;
                if (!said_fallback && session_peer(s)->proto_max && !session_uses_uring(s, &why)) {
                        if (why)
                                log_warn("io_uring unavailable (%s): file I/O uses pread/pwrite", strerror(-why));
                        else
                                log_info("io_uring turned off: file I/O uses pread/pwrite");
                        said_fallback = true;
                }
                if (!said_dontcache && session_dontcache_refused(s)) {
                        log_info("uncached writes (RWF_DONTCACHE, Linux 6.14+) unavailable: buffered writes under the dirty budget");
                        said_dontcache = true;
                }
                if (!said_direct && session_direct_refused(s)) {
                        log_warn("O_DIRECT refused by the filesystem: buffered writes instead");
                        said_direct = true;
                }
                log_session_end(s, r, t0);
                session_free(s);
                if (o->once || r == -ECANCELED)
                        break;
                if (r < 0 && o->listen.kind != TARGET_SERIAL)
                        r = 0; /* a failed session is the host's problem, not ours */
        }
        listener_close(&l);
        fsroot_close(&root);
        return r < 0 && !o->once ? r : 0;
}
