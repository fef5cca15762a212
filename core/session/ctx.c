/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "base/text.h"
#include "base/util.h"
#include "fs/tmpname.h"
#include "session/ctx.h"

int sctx_fail(struct sctx *c, int err, const char *fmt, ...) {
        if (!c->err[0]) {
                /* Often with the peer's words in it (its ERROR text, its
                 * paths): escaped for whoever prints it (base/text.h). */
                char raw[sizeof c->err];
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(raw, sizeof raw, fmt, ap);
                va_end(ap);
                text_escape(c->err, sizeof c->err, raw);
        }
        return err < 0 ? err : -EPROTO;
}

void sctx_wake_at(struct sctx *c, uint64_t t) {
        if (t && (!c->wake_ns || t < c->wake_ns))
                c->wake_ns = t;
}

int sctx_send(struct sctx *c, const struct fy_msg *m) {
        return outq_ctrl(&c->out, m);
}

void sctx_keepalive(struct sctx *c, uint64_t *last_ns) {
        uint64_t now = now_ns();
        if (now - *last_ns < KEEPALIVE_NS || !outq_room(&c->out, 1 + OUTQ_CTRL_RESERVE))
                return;
        struct fy_msg pad = { .type = FY_PAD };
        if (outq_ctrl(&c->out, &pad) == 0 && outq_flush(&c->out, c->fd) >= 0)
                *last_ns = now;
}

uint32_t sctx_tmp_suffix(struct sctx *c) {
        return tmpname_suffix(&c->tmp_seq);
}

uint64_t sctx_first_grant(const struct session_config *cfg) {
        if (cfg->share) /* the rest is granted as the shared rate allows */
                return cfg->max_chunk;
        if (!cfg->max_rate)
                return cfg->recv_window;
        return MAX((uint64_t)cfg->max_chunk, MIN(cfg->recv_window, cfg->max_rate / 4));
}

void result_account(struct file_result *r, const struct file_result *res) {
        if (res->err) {
                /* A directory that failed fails again at its attributes:
                 * count it once. */
                r->failed += res->kind != ENTRY_DIR_ATTRS;
                if (!r->err) {
                        r->err = res->err;
                        r->remote = res->remote;
                        snprintf(r->text, sizeof r->text, "%s", res->text);
                }
        } else {
                r->files += res->kind == ENTRY_FILE;
                r->skipped_files += res->skipped;
                r->dirs += res->kind == ENTRY_DIR && !res->aux;
                r->symlinks += res->kind == ENTRY_SYMLINK;
        }
        r->size += res->size;
        r->stats.bytes += res->stats.bytes;
        r->stats.bytes_skipped += res->stats.bytes_skipped;
        r->stats.bytes_resent += res->stats.bytes_resent;
        r->stats.chunks += res->stats.chunks;
        r->stats.wire_bytes += res->stats.wire_bytes;
        r->stats.retransmits += res->stats.retransmits;
        r->stats.chunks_compressed += res->stats.chunks_compressed;
        r->stats.credit_wait_ns += res->stats.credit_wait_ns;
        for (unsigned i = 0; i < ARRAY_SIZE(r->stats.wait_ns); i++)
                r->stats.wait_ns[i] += res->stats.wait_ns[i];
        lat_merge(&r->stats.rtt, &res->stats.rtt);
        r->stats.dirty_peak = MAX(r->stats.dirty_peak, res->stats.dirty_peak);
        r->stats.rss_peak = MAX(r->stats.rss_peak, res->stats.rss_peak);
}
