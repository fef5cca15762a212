/* SPDX-License-Identifier: MIT */
/*
 * Resume, sending side (PROTOCOL.md 9.8): files are taken from the queue
 * or a tree a few dozen ahead of sending and the receiver is asked about
 * each (RESUME_QUERY), so its answers arrive while earlier files are sent
 * and no file waits a round trip.  An answer is checked against the source
 * before it is used: a prefix to resume after is hashed here first, a
 * --checksum digest is compared with this side's own.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "session-int.h"
#include "base/util.h"

bool tx_same_version(const struct stat *a, const struct stat *b) {
        return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
               a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Ask the receiver what it has of a file before sending it.  A file that
 * cannot be looked at is not asked about: start_next reports it. */
static int send_query(struct session *s, struct tx_item *it) {
        int fd;
        if (tx_open_source(s, it, &fd, &it->st) < 0) {
                it->query = 0;
                return 0;
        }
        safe_close(fd);
        struct fy_msg m = { .type = FY_RESUME_QUERY, .query = { .how = it->query & QUERY_CHECKSUM ? FY_RQ_CHECKSUM : 0 } };
        tx_describe(s, it, &it->st, &m.query.file);
        return out_ctrl(s, &m);
}

int tx_on_state(struct session *s, const struct fy_resume_state *st) {
        struct tx_item *it = s->tx.ahead;
        while (it && it->xfer_id != st->xfer_id)
                it = it->next;
        if (!it || !it->query || it->answered)
                return session_fail(s, -EPROTO, "protocol error: RESUME_STATE for transfer %u, which was not asked about",
                                    st->xfer_id);
        if (st->offset > (uint64_t)it->st.st_size)
                return session_fail(s, -EPROTO, "protocol error: RESUME_STATE at %llu, past the end of '%s' (%llu bytes)",
                                    (unsigned long long)st->offset, it->path, (unsigned long long)it->st.st_size);
        it->state = *st;
        it->answered = true;
        return 0;
}

/* A file the receiver already has: nothing is sent but a FILE_ABORT with
 * code 0, which closes the transfer for a receiver that asked for it. */
int tx_skip_item(struct session *s, struct tx_item *it, const uint8_t digest[16]) {
        struct fy_msg m = { .type = FY_FILE_ABORT, .abort = { .xfer_id = it->xfer_id, .code = FY_OK } };
        snprintf(m.abort.text, sizeof m.abort.text, "skipped: the receiver has it");
        int r = out_ctrl(s, &m);
        it->res.skipped = true;
        it->res.size = (uint64_t)it->st.st_size;
        it->res.stats.bytes_skipped = it->res.size;
        memcpy(it->res.digest, digest, 16);
        it->res.stats.end_ns = now_ns();
        tx_item_done(s, it);
        return r < 0 ? r : 1;
}

/* The checked part is hashed: resume after it, skip the file, or (the
 * source is not what the receiver has) send it all from the start.
 * Returns 1 when it decided, 0 while the check is still running. */
int tx_verify_done(struct session *s) {
        struct tx_state *t = &s->tx;
        struct tx_item *it = t->active;
        if (t->sent_off < t->verify_end || !out_room(s, 1 + OUT_CTRL_RESERVE))
                return 0;
        struct fy_file_digest d = t->digest; /* a copy: the file digest goes on */
        uint8_t mine[16];
        fy_file_digest_final(&d, mine);
        bool same = memcmp(mine, t->verify_digest, 16) == 0;
        uint32_t verdict = t->verify_verdict;
        t->verify_verdict = 0;
        t->verify_end = 0;
        if (same && verdict == FY_RS_DIGEST) {
                int r = tx_drop_reads(s);
                if (r < 0)
                        return r;
                t->fd = safe_close(t->fd);
                t->active = NULL;
                return tx_skip_item(s, it, mine);
        }
        if (same) {
                t->begin.begin.flags |= FY_FB_RESUME;
                t->begin.begin.resume_off = t->sent_off;
                t->begin.begin.resume_chunks = t->chunks;
                it->res.stats.bytes_skipped = t->sent_off;
                it->res.stats.bytes_resent = it->state.received - t->sent_off;
                return out_ctrl(s, &t->begin) < 0 ? -EIO : 1;
        }
        /* Another file than the receiver's: from the start, as a new one. */
        if (verdict == FY_RS_RESUME)
                log_info("'%s' changed since the interrupted run: sending it whole", it->path);
        int r = tx_drop_reads(s);
        if (r < 0)
                return r;
        t->read_off = t->sent_off = t->chunks = 0;
        t->chunk = t->begin.begin.chunk_size;
        t->sparse = t->begin.begin.flags & FY_FB_SPARSE;
        t->data_end = t->sparse ? 0 : t->size;
        fy_file_digest_init(&t->digest);
        return out_ctrl(s, &t->begin) < 0 ? -EIO : 1;
}

/* Take items ahead of sending: files to ask about keep the receiver's
 * answers coming while earlier files are sent (no round trip per file). */
int tx_fill_ahead(struct session *s) {
        struct tx_state *t = &s->tx;
        unsigned limit = s->cfg.resume || !s->cfg.initiator ? RESUME_AHEAD : 1;
        int did = 0;
        while (t->nahead < limit && !t->barrier && out_room(s, 2 + OUT_CTRL_RESERVE)) {
                int r;
                struct tx_item *it = tree_take_next(s, &r);
                if (r < 0)
                        return r;
                if (!it)
                        break;
                if (it->kind == ENTRY_FILE && !it->is_get && s->cfg.resume)
                        it->query = QUERY_ASK | (s->cfg.checksum ? QUERY_CHECKSUM : 0);
                if (!(s->peer.features & FY_FEAT_RESUME) || it->kind != ENTRY_FILE || it->unreadable)
                        it->query = 0;
                if (it->query && (r = send_query(s, it)) < 0)
                        return r;
                tx_item_append(&t->ahead, &t->ahead_tail, it);
                t->nahead++;
                did = 1;
                /* A pulled tree's top directory opens the tree on the host:
                 * no query about its entries may overtake it. */
                if (it->is_get && it->kind == ENTRY_DIR && it->res.group && it->xfer_id == it->res.group)
                        t->barrier = it;
        }
        return did;
}
