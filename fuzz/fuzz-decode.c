/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness over the real decoder (protocol/codec.c).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iprotocol \
 *         fuzz/fuzz-decode.c protocol/codec.c -o fuzz-decode
 *   ./fuzz-decode -max_total_time=20 CORPUS_COPY_DIR
 *
 * The first input byte picks how the rest becomes a byte stream:
 *   even: the bytes are the stream as a reader would receive it;
 *   odd:  records of (type u8, length u16 LE, payload), each turned into a
 *         frame with a correct header.  The header check is a hash, so a
 *         mutator almost never produces a valid header on its own; this mode
 *         lets it reach every payload decoder with any length.
 *
 * The stream is then read the way an agent reads it: fy_scan to a header,
 * fy_header_decode, fy_msg_decode on the payload.  Every accepted message
 * must re-encode to exactly the bytes it was decoded from (v1 has one
 * encoding per message: reserved bytes are zero, no trailing bytes), and a
 * rejected one must fail with one of the documented errors.  DATA must get
 * the same verdict from its 32-byte head alone as from the whole payload.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define FUZZ_ASSERT(c)                                                        \
        do {                                                                  \
                if (!(c))                                                     \
                        abort();                                              \
        } while (0)

static void check_accepted(const uint8_t *frame, const struct fy_header *h, const struct fy_msg *m) {
        size_t n = FY_HDR_SIZE + h->length;
        FUZZ_ASSERT(m->type == h->type);

        if (m->type == FY_DATA) {
                uint8_t head[FY_DATA_FRAME_HEAD];
                FUZZ_ASSERT(m->data.payload_len == h->length - FY_DATA_HEAD_SIZE);
                /* Codec 0 carries the chunk as it is; codec 1 a zstd frame
                 * smaller than it (PROTOCOL.md 9.9); codec 2 (a keep, 9.13)
                 * nothing, and counts its raw length against the window. */
                FUZZ_ASSERT(m->data.codec == FY_CODEC_RAW || m->data.codec == FY_CODEC_ZSTD ||
                            m->data.codec == FY_CODEC_KEEP);
                FUZZ_ASSERT(m->data.raw_len >= 1);
                if (m->data.codec == FY_CODEC_RAW)
                        FUZZ_ASSERT(m->data.raw_len == m->data.payload_len);
                else if (m->data.codec == FY_CODEC_ZSTD)
                        FUZZ_ASSERT(m->data.payload_len >= 1 && m->data.payload_len < m->data.raw_len);
                else
                        FUZZ_ASSERT(m->data.payload_len == 0 && fy_data_credit(&m->data) == m->data.raw_len);
                FUZZ_ASSERT(fy_data_head_encode(head, &m->data) == FY_DATA_FRAME_HEAD);
                FUZZ_ASSERT(memcmp(head, frame, FY_DATA_FRAME_HEAD) == 0);
                (void)fy_chunk_digest(frame + FY_DATA_FRAME_HEAD, m->data.payload_len);
                return;
        }

        FUZZ_ASSERT(h->length <= FY_MAX_CTRL);
        if (m->type == FY_PAD)
                return; /* any content, ignored: it does not encode back (PROTOCOL.md 4) */
        static uint8_t buf[FY_MAX_CTRL_FRAME], buf2[FY_MAX_CTRL_FRAME];
        static struct fy_msg again;
        /* A checked frame (PROTOCOL.md 9.14) encodes back checked. */
        ssize_t (*enc)(uint8_t *, size_t, const struct fy_msg *) =
                (h->flags & FY_HF_CHECKED) ? fy_msg_encode_checked : fy_msg_encode;
        ssize_t r = enc(buf, sizeof buf, m);
        FUZZ_ASSERT(r == (ssize_t)n);
        FUZZ_ASSERT(memcmp(buf, frame, n) == 0);

        /* Decode the re-encoded frame and encode once more. */
        struct fy_header h2;
        FUZZ_ASSERT(fy_header_decode(buf, &h2) == 0);
        FUZZ_ASSERT(h2.type == h->type && h2.length == h->length);
        FUZZ_ASSERT(fy_msg_decode(&h2, buf + FY_HDR_SIZE, h2.length, &again) == 0);
        FUZZ_ASSERT(h2.flags == h->flags);
        FUZZ_ASSERT(enc(buf2, sizeof buf2, &again) == (ssize_t)n);
        FUZZ_ASSERT(memcmp(buf2, buf, n) == 0);

        /* An exact-size buffer is enough; one byte less is not. */
        FUZZ_ASSERT(enc(buf2, n, m) == (ssize_t)n);
        FUZZ_ASSERT(enc(buf2, n - 1, m) == -EMSGSIZE);
}

static void read_stream(const uint8_t *s, size_t len) {
        static struct fy_msg m;
        size_t pos = 0;

        while (pos < len) {
                size_t off = fy_scan(s + pos, len - pos);
                FUZZ_ASSERT(off <= len - pos);
                pos += off;
                if (len - pos < FY_HDR_SIZE)
                        break; /* kept tail: wait for more bytes */

                struct fy_header h;
                FUZZ_ASSERT(fy_header_decode(s + pos, &h) == 0); /* fy_scan promised */
                FUZZ_ASSERT(h.version == FY_PROTO_VERSION && (h.flags & ~FY_HF_KNOWN) == 0);
                FUZZ_ASSERT(!(h.flags & FY_HF_CHECKED) || h.type != FY_DATA);
                (void)fy_type_name(h.type);
                if (len - pos - FY_HDR_SIZE < h.length)
                        break; /* payload not here yet */

                const uint8_t *p = s + pos + FY_HDR_SIZE;
                int r = fy_msg_decode(&h, p, h.length, &m);
                if (r == 0) {
                        check_accepted(s + pos, &h, &m);
                        pos += FY_HDR_SIZE + h.length;
                } else {
                        FUZZ_ASSERT(r == -EBADMSG || r == -EMSGSIZE || r == -EPROTO || r == -EINVAL || r == -EBADE);
                        (void)fy_strerror_decode(r);
                        pos += 1; /* framing error: scan again from the next byte */
                }
                if (h.type == FY_DATA && h.length >= FY_DATA_HEAD_SIZE) {
                        /* DATA decodes from its head alone, with the same verdict
                         * and fields; less than the head is refused. */
                        static struct fy_msg head;
                        int r2 = fy_msg_decode(&h, p, FY_DATA_HEAD_SIZE, &head);
                        FUZZ_ASSERT(r2 == r);
                        if (r2 == 0)
                                FUZZ_ASSERT(head.data.xfer_id == m.data.xfer_id &&
                                            head.data.codec == m.data.codec &&
                                            head.data.offset == m.data.offset &&
                                            head.data.raw_len == m.data.raw_len &&
                                            head.data.digest == m.data.digest &&
                                            head.data.payload_len == m.data.payload_len);
                        FUZZ_ASSERT(fy_msg_decode(&h, p, FY_DATA_HEAD_SIZE - 1, &head) == -EBADMSG);
                } else if (h.type != FY_DATA && h.length > 0) {
                        /* A buffer that disagrees with the header is refused. */
                        FUZZ_ASSERT(fy_msg_decode(&h, p, h.length - 1, &m) == -EBADMSG);
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        if (!(data[0] & 1)) {
                read_stream(data + 1, size - 1);
                return 0;
        }

        /* Records -> frames.  Each record of >= 3 bytes adds a 16-byte
         * header, so the stream is at most (size / 3 + 1) * 16 + size. */
        size_t cap = (size / 3 + 1) * FY_HDR_SIZE + size;
        uint8_t *s = malloc(cap);
        if (!s)
                return 0;
        size_t i = 1, n = 0;
        while (size - i >= 3) {
                uint8_t type = data[i];
                size_t plen = (size_t)data[i + 1] | (size_t)data[i + 2] << 8;
                i += 3;
                if (plen > size - i)
                        plen = size - i;
                fy_header_encode(s + n, type, (uint32_t)plen);
                memcpy(s + n + FY_HDR_SIZE, data + i, plen);
                n += FY_HDR_SIZE + plen;
                i += plen;
        }
        read_stream(s, n);
        free(s);
        return 0;
}
