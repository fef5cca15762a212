/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "codec.h"

#define MIN_SZ(a, b) ((a) < (b) ? (a) : (b))

/* ---- little-endian helpers --------------------------------------------- */

static void put16(uint8_t *p, uint16_t v) { p[0] = v; p[1] = v >> 8; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v); put16(p + 2, v >> 16); }
static void put64(uint8_t *p, uint64_t v) { put32(p, v); put32(p + 4, v >> 32); }
static uint16_t get16(const uint8_t *p) { return p[0] | (uint16_t)p[1] << 8; }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

/* A bounded cursor over a payload.  Any read past the end sets ->err, so a
 * decoder can read all fields and check once. */
struct rd {
        const uint8_t *p;
        size_t left;
        int err;
};

static const uint8_t *rd_take(struct rd *r, size_t n) {
        /* The first fault wins: a later read must not turn -EPROTO or
         * -EINVAL from an earlier field into -EBADMSG. */
        if (r->err)
                return NULL;
        if (n > r->left) {
                r->err = -EBADMSG;
                return NULL;
        }
        const uint8_t *p = r->p;
        r->p += n;
        r->left -= n;
        return p;
}
static uint8_t rd8(struct rd *r) { const uint8_t *p = rd_take(r, 1); return p ? p[0] : 0; }
static uint16_t rd16(struct rd *r) { const uint8_t *p = rd_take(r, 2); return p ? get16(p) : 0; }
static uint32_t rd32(struct rd *r) { const uint8_t *p = rd_take(r, 4); return p ? get32(p) : 0; }
static uint64_t rd64(struct rd *r) { const uint8_t *p = rd_take(r, 8); return p ? get64(p) : 0; }

/* A reserved field: must be zero on the wire. */
static void rd_zero(struct rd *r, size_t n) {
        const uint8_t *p = rd_take(r, n);
        for (size_t i = 0; p && i < n; i++)
                if (p[i] != 0) {
                        r->err = -EPROTO;
                        return;
                }
}

/* A string: u16 length then bytes, capped, no NUL inside; copied NUL
 * terminated into dst (which holds cap+1 bytes). */
static void rd_str(struct rd *r, char *dst, size_t cap) {
        uint16_t n = rd16(r);
        if (r->err)
                return;
        if (n > cap) {
                r->err = -EMSGSIZE;
                return;
        }
        const uint8_t *p = rd_take(r, n);
        if (!p)
                return;
        if (memchr(p, 0, n)) {
                r->err = -EINVAL;
                return;
        }
        memcpy(dst, p, n);
        dst[n] = 0;
}

static int rd_end(struct rd *r) {
        if (r->err)
                return r->err;
        if (r->left != 0)
                return -EBADMSG; /* trailing bytes: a length field lied */
        return 0;
}

struct wr {
        uint8_t *p;
        size_t left;
        int err;
};

static uint8_t *wr_take(struct wr *w, size_t n) {
        if (w->err || n > w->left) {
                w->err = -EMSGSIZE;
                return NULL;
        }
        uint8_t *p = w->p;
        w->p += n;
        w->left -= n;
        return p;
}
static void wr8(struct wr *w, uint8_t v) { uint8_t *p = wr_take(w, 1); if (p) p[0] = v; }
static void wr16(struct wr *w, uint16_t v) { uint8_t *p = wr_take(w, 2); if (p) put16(p, v); }
static void wr32(struct wr *w, uint32_t v) { uint8_t *p = wr_take(w, 4); if (p) put32(p, v); }
static void wr64(struct wr *w, uint64_t v) { uint8_t *p = wr_take(w, 8); if (p) put64(p, v); }
static void wr_zero(struct wr *w, size_t n) { uint8_t *p = wr_take(w, n); if (p) memset(p, 0, n); }
static void wr_bytes(struct wr *w, const void *s, size_t n) { uint8_t *p = wr_take(w, n); if (p) memcpy(p, s, n); }

static void wr_str(struct wr *w, const char *s, size_t cap) {
        size_t n = strnlen(s, cap + 1);
        if (n > cap) {
                w->err = -EMSGSIZE;
                return;
        }
        wr16(w, n);
        wr_bytes(w, s, n);
}

/* ---- header ------------------------------------------------------------- */

static uint32_t header_check(const uint8_t *buf) {
        return (uint32_t)XXH3_64bits(buf, 12);
}

static uint32_t type_max_payload(uint8_t type) {
        switch (type) {
        case FY_DATA:
                return FY_MAX_PAYLOAD;
        case FY_SYNC:
        case FY_SYNC_ACK:
        case FY_ERROR:
        case FY_BYE:
        case FY_CREDIT:
        case FY_PAD:
        case FY_FILE_BEGIN:
        case FY_FILE_END:
        case FY_FILE_STATUS:
        case FY_FILE_ABORT:
        case FY_GET:
        case FY_MKDIR:
        case FY_SYMLINK:
        case FY_HOLE:
        case FY_CHUNK_NACK:
        case FY_RESUME_QUERY:
        case FY_RESUME_STATE:
        case FY_STATS_REQ:
        case FY_STATS:
                return FY_MAX_CTRL;
        default:
                return 0; /* unknown or reserved */
        }
}

static void header_put(uint8_t buf[FY_HDR_SIZE], uint8_t type, uint16_t flags, uint32_t length) {
        buf[0] = FY_MAGIC0;
        buf[1] = FY_MAGIC1;
        buf[2] = FY_MAGIC2;
        buf[3] = FY_MAGIC3;
        buf[4] = FY_PROTO_VERSION;
        buf[5] = type;
        put16(buf + 6, flags);
        put32(buf + 8, length);
        put32(buf + 12, header_check(buf));
}

void fy_header_encode(uint8_t buf[FY_HDR_SIZE], uint8_t type, uint32_t length) {
        header_put(buf, type, 0, length);
}

/* FY_HF_CHECKED: the payload's check, bound to its header (type, flags,
 * length) through the seed, so that a valid payload cannot pass under
 * another frame's header. */
static uint64_t payload_check(const struct fy_header *hdr, const uint8_t *payload, size_t n) {
        uint8_t h[FY_HDR_SIZE];
        header_put(h, hdr->type, hdr->flags, hdr->length);
        h[4] = hdr->version;
        return XXH3_64bits_withSeed(payload, n, XXH3_64bits(h, 12));
}

int fy_header_decode(const uint8_t buf[FY_HDR_SIZE], struct fy_header *ret_hdr) {
        if (buf[0] != FY_MAGIC0 || buf[1] != FY_MAGIC1 || buf[2] != FY_MAGIC2 || buf[3] != FY_MAGIC3)
                return -EILSEQ;
        if (get32(buf + 12) != header_check(buf))
                return -EBADMSG;
        if (buf[4] < FY_PROTO_MIN || buf[4] > FY_PROTO_VERSION)
                return -EPROTONOSUPPORT;
        uint32_t max = type_max_payload(buf[5]);
        if (max == 0)
                return -ENOMSG;
        uint16_t flags = get16(buf + 6);
        if ((flags & ~FY_HF_KNOWN) || ((flags & FY_HF_CHECKED) && buf[5] == FY_DATA))
                return -EPROTO;
        uint32_t len = get32(buf + 8);
        if (len > max)
                return -EMSGSIZE;
        *ret_hdr = (struct fy_header){
                .version = buf[4],
                .type = buf[5],
                .flags = flags,
                .length = len,
        };
        return 0;
}

size_t fy_scan(const uint8_t *buf, size_t len) {
        struct fy_header h;
        size_t i = 0;
        for (; i + FY_HDR_SIZE <= len; i++) {
                if (buf[i] != FY_MAGIC0)
                        continue;
                if (fy_header_decode(buf + i, &h) == 0)
                        return i;
        }
        /* Keep a tail that may be the start of a header cut short. */
        for (; i < len; i++)
                if (buf[i] == FY_MAGIC0)
                        return i;
        return len;
}

/* ---- messages ----------------------------------------------------------- */

static int decode_hello(struct rd *r, struct fy_hello *h) {
        h->nonce = rd64(r);
        h->proto_min = rd16(r);
        h->proto_max = rd16(r);
        rd_zero(r, 4);
        h->features = rd64(r);
        h->max_frame = rd32(r);
        h->max_chunk = rd32(r);
        h->recv_window = rd64(r);
        rd_str(r, h->agent, FY_MAX_AGENT);
        int ret = rd_end(r);
        if (ret < 0)
                return ret;
        if (h->proto_min == 0 || h->proto_min > h->proto_max)
                return -EPROTO;
        if (h->max_chunk < FY_MIN_CHUNK || h->max_frame < FY_MAX_CTRL || h->recv_window < h->max_chunk)
                return -EPROTO;
        return 0;
}

/* FILE_BEGIN and RESUME_QUERY share a layout; the query's `how` sits in
 * what is padding in FILE_BEGIN, and only FILE_BEGIN may resume. */
static int decode_begin(struct rd *r, struct fy_file_begin *b, uint32_t *how) {
        b->xfer_id = rd32(r);
        b->flags = rd32(r);
        b->size = rd64(r);
        b->mode = rd32(r);
        b->chunk_size = rd32(r);
        b->mtime_sec = (int64_t)rd64(r);
        b->mtime_nsec = rd32(r);
        if (how)
                *how = rd32(r);
        else
                rd_zero(r, 4);
        rd_str(r, b->dest, FY_MAX_PATH);
        rd_str(r, b->name, FY_MAX_NAME);
        if (!how && (b->flags & FY_FB_RESUME)) {
                b->resume_off = rd64(r);
                b->resume_chunks = rd64(r);
        }
        int ret = rd_end(r);
        if (ret < 0)
                return ret;
        if ((b->flags & ~FY_FB_KNOWN) || (b->mode & ~07777u) || b->mtime_nsec >= 1000000000u)
                return -EPROTO;
        if (how && ((*how & ~FY_RQ_KNOWN) || (b->flags & FY_FB_RESUME)))
                return -EPROTO;
        /* A measurement is nothing but a measurement: no destination rules,
         * nothing to resume, nothing to ask about first. */
        if ((b->flags & FY_FB_BENCH) && (how || b->flags != FY_FB_BENCH))
                return -EPROTO;
        if (b->chunk_size < FY_MIN_CHUNK || b->chunk_size > FY_MAX_CHUNK)
                return -EPROTO;
        if (b->size > (uint64_t)INT64_MAX)
                return -EPROTO;
        /* A chunk holds at least one byte: no more chunks than bytes. */
        if (b->resume_off > b->size || b->resume_chunks > b->resume_off)
                return -EPROTO;
        if (b->dest[0] == 0)
                return -EINVAL;
        if ((b->flags & (FY_FB_DEST_IS_DIR | FY_FB_DEST_MAYBE_DIR)) &&
            (b->name[0] == 0 || strchr(b->name, '/') || !strcmp(b->name, ".") || !strcmp(b->name, "..")))
                return -EINVAL;
        return 0;
}

static int decode_state(struct rd *r, struct fy_resume_state *st) {
        st->xfer_id = rd32(r);
        st->verdict = rd32(r);
        st->offset = rd64(r);
        st->chunks = rd64(r);
        st->received = rd64(r);
        st->chunk_size = rd32(r);
        rd_zero(r, 4);
        const uint8_t *d = rd_take(r, 16);
        if (d)
                memcpy(st->digest, d, 16);
        int ret = rd_end(r);
        if (ret < 0)
                return ret;
        if (st->verdict > FY_RS_MAX || st->offset > (uint64_t)INT64_MAX || st->chunks > st->offset)
                return -EPROTO;
        if (st->verdict == FY_RS_RESUME && (st->received < st->offset || st->received > (uint64_t)INT64_MAX))
                return -EPROTO;
        /* A SKIP names the chunking of the digest it vouches for (a
         * FY_FEAT_CHECKED receiver always, 9.14), or none. */
        bool chunked = st->verdict == FY_RS_RESUME || st->verdict == FY_RS_DIGEST ||
                       (st->verdict == FY_RS_SKIP && st->chunk_size != 0);
        if (chunked ? st->chunk_size < FY_MIN_CHUNK || st->chunk_size > FY_MAX_CHUNK : st->chunk_size != 0)
                return -EPROTO;
        return 0;
}

static int decode_stats(struct rd *r, struct fy_stats *st) {
        st->sessions_total = rd64(r);
        st->sessions = rd32(r);
        st->pacing = rd32(r);
        st->bytes_received = rd64(r);
        st->bytes_sent = rd64(r);
        st->files_ok = rd64(r);
        st->files_failed = rd64(r);
        st->files_skipped = rd64(r);
        for (unsigned i = 0; i < 4; i++)
                st->paced_ns[i] = rd64(r);
        st->dirty = rd64(r);
        st->window = rd64(r);
        st->rss = rd64(r);
        st->pressure_pct = rd32(r);
        rd_zero(r, 4);
        int ret = rd_end(r);
        if (ret == 0 && ((st->pacing & ~FY_PACE_KNOWN) || st->pressure_pct > 100 || st->sessions > st->sessions_total))
                ret = -EPROTO;
        return ret;
}

int fy_msg_decode(const struct fy_header *hdr, const uint8_t *payload, size_t len,
                  struct fy_msg *ret_msg) {
        struct fy_msg m = { .type = hdr->type };
        int ret;

        /* DATA may be decoded from its head alone: the chunk that follows can
         * be read straight into a file buffer by the caller. */
        if (hdr->type == FY_DATA ? (len < FY_DATA_HEAD_SIZE || len > hdr->length) : len != hdr->length)
                return -EBADMSG;
        /* A checked payload is looked at only once its check holds: a field
         * read from damaged bytes would report the damage as something else. */
        if (hdr->type != FY_DATA && (hdr->flags & FY_HF_CHECKED)) {
                if (len < FY_CHECK_SIZE)
                        return -EBADMSG;
                len -= FY_CHECK_SIZE;
                if (get64(payload + len) != payload_check(hdr, payload, len))
                        return -EBADE;
        }
        struct rd r = { .p = payload, .left = len };

        switch (hdr->type) {
        case FY_SYNC:
        case FY_SYNC_ACK:
                ret = decode_hello(&r, &m.hello);
                break;
        case FY_ERROR:
                m.error.code = rd32(&r);
                rd_str(&r, m.error.text, FY_MAX_TEXT);
                ret = rd_end(&r);
                break;
        case FY_BYE:
                ret = rd_end(&r);
                break;
        case FY_PAD:
                ret = 0; /* any content; nothing to decode */
                break;
        case FY_CREDIT:
                m.credit.consumed = rd64(&r);
                m.credit.limit = rd64(&r);
                m.credit.reasons = rd32(&r);
                rd_zero(&r, 4);
                ret = rd_end(&r);
                if (ret == 0 && (m.credit.consumed > m.credit.limit || (m.credit.reasons & ~FY_PACE_KNOWN)))
                        ret = -EPROTO;
                break;
        case FY_FILE_BEGIN:
                ret = decode_begin(&r, &m.begin, NULL);
                break;
        case FY_RESUME_QUERY:
                ret = decode_begin(&r, &m.query.file, &m.query.how);
                break;
        case FY_RESUME_STATE:
                ret = decode_state(&r, &m.state);
                break;
        case FY_DATA:
                m.data.xfer_id = rd32(&r);
                m.data.codec = rd8(&r);
                rd_zero(&r, 3);
                m.data.offset = rd64(&r);
                m.data.raw_len = rd32(&r);
                rd_zero(&r, 4);
                m.data.digest = rd64(&r);
                ret = r.err;
                if (ret < 0)
                        break;
                m.data.payload_len = hdr->length - FY_DATA_HEAD_SIZE;
                if (m.data.codec != FY_CODEC_RAW && m.data.codec != FY_CODEC_ZSTD && m.data.codec != FY_CODEC_KEEP)
                        ret = -EPROTO;
                else if (m.data.raw_len > FY_MAX_CHUNK)
                        ret = -EMSGSIZE;
                else if (m.data.raw_len == 0)
                        ret = -EBADMSG;
                else if (m.data.codec == FY_CODEC_RAW && m.data.raw_len != m.data.payload_len)
                        ret = -EBADMSG;
                else if (m.data.codec == FY_CODEC_ZSTD && (m.data.payload_len == 0 || m.data.payload_len >= m.data.raw_len))
                        ret = -EBADMSG; /* a compressed chunk is smaller, or it goes raw */
                else if (m.data.codec == FY_CODEC_KEEP && m.data.payload_len != 0)
                        ret = -EBADMSG; /* the receiver's own bytes: nothing follows */
                else if (m.data.offset > (uint64_t)INT64_MAX - m.data.raw_len)
                        ret = -EPROTO;
                break;
        case FY_FILE_END:
                m.end.xfer_id = rd32(&r);
                rd_zero(&r, 4);
                m.end.size = rd64(&r);
                m.end.chunks = rd64(&r);
                {
                        const uint8_t *d = rd_take(&r, 16);
                        if (d)
                                memcpy(m.end.digest, d, 16);
                }
                m.end.rtt_count = rd32(&r);
                m.end.rtt_p50_us = rd32(&r);
                m.end.rtt_p99_us = rd32(&r);
                m.end.rtt_max_us = rd32(&r);
                ret = rd_end(&r);
                break;
        case FY_FILE_STATUS:
                m.status.xfer_id = rd32(&r);
                m.status.code = rd32(&r);
                m.status.bytes = rd64(&r);
                {
                        const uint8_t *d = rd_take(&r, 16);
                        if (d)
                                memcpy(m.status.digest, d, 16);
                }
                m.status.dirty_peak = rd64(&r);
                m.status.rss_peak = rd64(&r);
                rd_str(&r, m.status.text, FY_MAX_TEXT);
                ret = rd_end(&r);
                break;
        case FY_FILE_ABORT:
                m.abort.xfer_id = rd32(&r);
                m.abort.code = rd32(&r);
                rd_str(&r, m.abort.text, FY_MAX_TEXT);
                ret = rd_end(&r);
                break;
        case FY_GET:
                m.get.xfer_id = rd32(&r);
                m.get.flags = rd32(&r);
                m.get.chunk_size = rd32(&r);
                rd_zero(&r, 4);
                rd_str(&r, m.get.path, FY_MAX_PATH);
                if (m.get.flags & FY_GET_BENCH) {
                        m.get.bench_size = rd64(&r);
                        m.get.bench_pattern = rd32(&r);
                        rd_zero(&r, 4);
                }
                ret = rd_end(&r);
                if (ret == 0 && (m.get.flags & ~(uint32_t)FY_GET_KNOWN))
                        ret = -EPROTO;
                else if (ret == 0 && (m.get.flags & FY_GET_BENCH) &&
                         (m.get.flags != FY_GET_BENCH || m.get.bench_size > (uint64_t)INT64_MAX ||
                          m.get.bench_pattern > FY_BENCH_PATTERN_MAX))
                        ret = -EPROTO;
                else if (ret == 0 && m.get.chunk_size != 0 &&
                         (m.get.chunk_size < FY_MIN_CHUNK || m.get.chunk_size > FY_MAX_CHUNK))
                        ret = -EPROTO;
                else if (ret == 0 && m.get.path[0] == 0)
                        ret = -EINVAL;
                break;
        case FY_MKDIR:
                m.mkdir.xfer_id = rd32(&r);
                m.mkdir.flags = rd32(&r);
                m.mkdir.mode = rd32(&r);
                m.mkdir.mtime_nsec = rd32(&r);
                m.mkdir.mtime_sec = (int64_t)rd64(&r);
                rd_str(&r, m.mkdir.dest, FY_MAX_PATH);
                ret = rd_end(&r);
                if (ret == 0 && ((m.mkdir.flags & ~FY_MK_KNOWN) || (m.mkdir.mode & ~07777u) ||
                                 m.mkdir.mtime_nsec >= 1000000000u ||
                                 ((m.mkdir.flags & FY_MK_SCRATCH) && m.mkdir.flags != FY_MK_SCRATCH)))
                        ret = -EPROTO;
                else if (ret == 0 && !m.mkdir.dest[0])
                        ret = -EINVAL;
                break;
        case FY_SYMLINK:
                m.symlink.xfer_id = rd32(&r);
                m.symlink.flags = rd32(&r);
                m.symlink.mtime_sec = (int64_t)rd64(&r);
                m.symlink.mtime_nsec = rd32(&r);
                rd_zero(&r, 4);
                rd_str(&r, m.symlink.dest, FY_MAX_PATH);
                rd_str(&r, m.symlink.target, FY_MAX_PATH);
                ret = rd_end(&r);
                if (ret == 0 && ((m.symlink.flags & ~(uint32_t)FY_ENTRY_REL) || m.symlink.mtime_nsec >= 1000000000u))
                        ret = -EPROTO;
                else if (ret == 0 && (!m.symlink.dest[0] || !m.symlink.target[0]))
                        ret = -EINVAL;
                break;
        case FY_HOLE:
                m.hole.xfer_id = rd32(&r);
                rd_zero(&r, 4);
                m.hole.offset = rd64(&r);
                m.hole.length = rd64(&r);
                ret = rd_end(&r);
                if (ret == 0 && (m.hole.length == 0 || m.hole.offset > (uint64_t)INT64_MAX ||
                                 m.hole.length > (uint64_t)INT64_MAX - m.hole.offset))
                        ret = -EPROTO;
                break;
        case FY_CHUNK_NACK:
                m.nack.xfer_id = rd32(&r);
                m.nack.raw_len = rd32(&r);
                m.nack.offset = rd64(&r);
                m.nack.code = rd32(&r);
                rd_zero(&r, 4);
                ret = rd_end(&r);
                if (ret == 0 && m.nack.raw_len > FY_MAX_CHUNK)
                        ret = -EMSGSIZE;
                else if (ret == 0 && (m.nack.raw_len == 0 || m.nack.offset > (uint64_t)INT64_MAX - m.nack.raw_len))
                        ret = -EPROTO;
                break;
        case FY_STATS_REQ:
                m.stats_req.flags = rd32(&r);
                rd_zero(&r, 4);
                ret = rd_end(&r);
                if (ret == 0 && m.stats_req.flags)
                        ret = -EPROTO;
                break;
        case FY_STATS:
                ret = decode_stats(&r, &m.stats);
                break;
        default:
                return -ENOMSG;
        }
        if (ret < 0)
                return ret;
        *ret_msg = m;
        return 0;
}

static void encode_hello(struct wr *w, const struct fy_hello *h) {
        wr64(w, h->nonce);
        wr16(w, h->proto_min);
        wr16(w, h->proto_max);
        wr_zero(w, 4);
        wr64(w, h->features);
        wr32(w, h->max_frame);
        wr32(w, h->max_chunk);
        wr64(w, h->recv_window);
        wr_str(w, h->agent, FY_MAX_AGENT);
}

static void encode_begin(struct wr *w, const struct fy_file_begin *b, const uint32_t *how) {
        wr32(w, b->xfer_id);
        wr32(w, b->flags);
        wr64(w, b->size);
        wr32(w, b->mode);
        wr32(w, b->chunk_size);
        wr64(w, (uint64_t)b->mtime_sec);
        wr32(w, b->mtime_nsec);
        wr32(w, how ? *how : 0);
        wr_str(w, b->dest, FY_MAX_PATH);
        wr_str(w, b->name, FY_MAX_NAME);
        if (!how && (b->flags & FY_FB_RESUME)) {
                wr64(w, b->resume_off);
                wr64(w, b->resume_chunks);
        }
}

static ssize_t msg_encode(uint8_t *buf, size_t cap, const struct fy_msg *m, bool checked) {
        if (cap < FY_HDR_SIZE)
                return -EMSGSIZE;
        struct wr w = { .p = buf + FY_HDR_SIZE, .left = cap - FY_HDR_SIZE };
        if (w.left > FY_MAX_CTRL)
                w.left = FY_MAX_CTRL; /* the check counts in the cap */
        if (checked && w.left < FY_CHECK_SIZE)
                return -EMSGSIZE;
        if (checked)
                w.left -= FY_CHECK_SIZE;

        switch (m->type) {
        case FY_SYNC:
        case FY_SYNC_ACK:
                encode_hello(&w, &m->hello);
                break;
        case FY_ERROR:
                wr32(&w, m->error.code);
                wr_str(&w, m->error.text, FY_MAX_TEXT);
                break;
        case FY_BYE:
        case FY_PAD: /* an empty PAD; padding of a given size: fy_pad_encode */
                break;
        case FY_CREDIT:
                wr64(&w, m->credit.consumed);
                wr64(&w, m->credit.limit);
                wr32(&w, m->credit.reasons);
                wr_zero(&w, 4);
                break;
        case FY_FILE_BEGIN:
                encode_begin(&w, &m->begin, NULL);
                break;
        case FY_RESUME_QUERY:
                encode_begin(&w, &m->query.file, &m->query.how);
                break;
        case FY_RESUME_STATE:
                wr32(&w, m->state.xfer_id);
                wr32(&w, m->state.verdict);
                wr64(&w, m->state.offset);
                wr64(&w, m->state.chunks);
                wr64(&w, m->state.received);
                wr32(&w, m->state.chunk_size);
                wr_zero(&w, 4);
                wr_bytes(&w, m->state.digest, 16);
                break;
        case FY_FILE_END:
                wr32(&w, m->end.xfer_id);
                wr_zero(&w, 4);
                wr64(&w, m->end.size);
                wr64(&w, m->end.chunks);
                wr_bytes(&w, m->end.digest, 16);
                wr32(&w, m->end.rtt_count);
                wr32(&w, m->end.rtt_p50_us);
                wr32(&w, m->end.rtt_p99_us);
                wr32(&w, m->end.rtt_max_us);
                break;
        case FY_FILE_STATUS:
                wr32(&w, m->status.xfer_id);
                wr32(&w, m->status.code);
                wr64(&w, m->status.bytes);
                wr_bytes(&w, m->status.digest, 16);
                wr64(&w, m->status.dirty_peak);
                wr64(&w, m->status.rss_peak);
                wr_str(&w, m->status.text, FY_MAX_TEXT);
                break;
        case FY_FILE_ABORT:
                wr32(&w, m->abort.xfer_id);
                wr32(&w, m->abort.code);
                wr_str(&w, m->abort.text, FY_MAX_TEXT);
                break;
        case FY_GET:
                wr32(&w, m->get.xfer_id);
                wr32(&w, m->get.flags);
                wr32(&w, m->get.chunk_size);
                wr_zero(&w, 4);
                wr_str(&w, m->get.path, FY_MAX_PATH);
                if (m->get.flags & FY_GET_BENCH) {
                        wr64(&w, m->get.bench_size);
                        wr32(&w, m->get.bench_pattern);
                        wr_zero(&w, 4);
                }
                break;
        case FY_MKDIR:
                wr32(&w, m->mkdir.xfer_id);
                wr32(&w, m->mkdir.flags);
                wr32(&w, m->mkdir.mode);
                wr32(&w, m->mkdir.mtime_nsec);
                wr64(&w, (uint64_t)m->mkdir.mtime_sec);
                wr_str(&w, m->mkdir.dest, FY_MAX_PATH);
                break;
        case FY_SYMLINK:
                wr32(&w, m->symlink.xfer_id);
                wr32(&w, m->symlink.flags);
                wr64(&w, (uint64_t)m->symlink.mtime_sec);
                wr32(&w, m->symlink.mtime_nsec);
                wr_zero(&w, 4);
                wr_str(&w, m->symlink.dest, FY_MAX_PATH);
                wr_str(&w, m->symlink.target, FY_MAX_PATH);
                break;
        case FY_HOLE:
                wr32(&w, m->hole.xfer_id);
                wr_zero(&w, 4);
                wr64(&w, m->hole.offset);
                wr64(&w, m->hole.length);
                break;
        case FY_CHUNK_NACK:
                wr32(&w, m->nack.xfer_id);
                wr32(&w, m->nack.raw_len);
                wr64(&w, m->nack.offset);
                wr32(&w, m->nack.code);
                wr_zero(&w, 4);
                break;
        case FY_STATS_REQ:
                wr32(&w, m->stats_req.flags);
                wr_zero(&w, 4);
                break;
        case FY_STATS:
                wr64(&w, m->stats.sessions_total);
                wr32(&w, m->stats.sessions);
                wr32(&w, m->stats.pacing);
                wr64(&w, m->stats.bytes_received);
                wr64(&w, m->stats.bytes_sent);
                wr64(&w, m->stats.files_ok);
                wr64(&w, m->stats.files_failed);
                wr64(&w, m->stats.files_skipped);
                for (unsigned i = 0; i < 4; i++)
                        wr64(&w, m->stats.paced_ns[i]);
                wr64(&w, m->stats.dirty);
                wr64(&w, m->stats.window);
                wr64(&w, m->stats.rss);
                wr32(&w, m->stats.pressure_pct);
                wr_zero(&w, 4);
                break;
        default:
                return -EINVAL;
        }
        if (w.err)
                return w.err;
        size_t len = (size_t)(w.p - buf) - FY_HDR_SIZE;
        if (!checked) {
                fy_header_encode(buf, m->type, (uint32_t)len);
                return (ssize_t)(FY_HDR_SIZE + len);
        }
        struct fy_header h = { .version = FY_PROTO_VERSION, .type = m->type, .flags = FY_HF_CHECKED,
                               .length = (uint32_t)(len + FY_CHECK_SIZE) };
        header_put(buf, h.type, h.flags, h.length);
        put64(buf + FY_HDR_SIZE + len, payload_check(&h, buf + FY_HDR_SIZE, len));
        return (ssize_t)(FY_HDR_SIZE + len + FY_CHECK_SIZE);
}

ssize_t fy_msg_encode(uint8_t *buf, size_t cap, const struct fy_msg *m) {
        return msg_encode(buf, cap, m, false);
}

ssize_t fy_msg_encode_checked(uint8_t *buf, size_t cap, const struct fy_msg *m) {
        return msg_encode(buf, cap, m, true);
}

ssize_t fy_data_head_encode(uint8_t buf[FY_DATA_FRAME_HEAD], const struct fy_data *d) {
        if (d->payload_len > FY_MAX_CHUNK || d->raw_len > FY_MAX_CHUNK)
                return -EMSGSIZE;
        struct wr w = { .p = buf + FY_HDR_SIZE, .left = FY_DATA_HEAD_SIZE };
        wr32(&w, d->xfer_id);
        wr8(&w, d->codec);
        wr_zero(&w, 3);
        wr64(&w, d->offset);
        wr32(&w, d->raw_len);
        wr_zero(&w, 4);
        wr64(&w, d->digest);
        fy_header_encode(buf, FY_DATA, FY_DATA_HEAD_SIZE + d->payload_len);
        return FY_DATA_FRAME_HEAD;
}

size_t fy_pad_encode(uint8_t *buf, size_t len) {
        size_t off = 0;
        while (len - off >= FY_HDR_SIZE) {
                size_t n = MIN_SZ(len - off - FY_HDR_SIZE, (size_t)FY_MAX_CTRL);
                fy_header_encode(buf + off, FY_PAD, (uint32_t)n);
                memset(buf + off + FY_HDR_SIZE, 0, n);
                off += FY_HDR_SIZE + n;
        }
        return off;
}
