/* SPDX-License-Identifier: MIT */
/*
 * zstd-peer: a hostile host for ferryd's compression (FY_FEAT_ZSTD), for
 * the integration tests.  It speaks the frames itself:
 *
 *   zstd-peer UNIX_PATH
 *
 * After the handshake, in one session it pushes
 *   bomb.bin  a 4 KiB file whose one chunk is a zstd frame of 4 MiB zeros
 *   lie.bin   a 4 KiB file whose chunk decompresses to 2 KiB (a lying raw_len)
 *   junk.bin  a 4 KiB file whose "compressed" chunk is not zstd at all
 *   ok.bin    a 64 KiB file of text, compressed properly
 * and expects FILE_STATUS EBADMSG (16) for the first three and 0 for the
 * last, then ends with BYE.  Each verdict is printed; exit 0 when all were
 * as expected, 1 otherwise, 2 on a usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <zstd.h>

#include "codec.h"

static int fd = -1;

static void die(const char *what) {
        fprintf(stderr, "zstd-peer: %s: %s\n", what, errno ? strerror(errno) : "unexpected");
        exit(1);
}

static void send_all(const void *p, size_t n) {
        const uint8_t *b = p;
        while (n) {
                ssize_t w = write(fd, b, n);
                if (w <= 0)
                        die("write");
                b += w;
                n -= (size_t)w;
        }
}

static void recv_all(void *p, size_t n) {
        uint8_t *b = p;
        while (n) {
                ssize_t r = read(fd, b, n);
                if (r <= 0) {
                        errno = r == 0 ? ECONNRESET : errno;
                        die("read");
                }
                b += r;
                n -= (size_t)r;
        }
}

static void send_msg(const struct fy_msg *m) {
        static uint8_t buf[FY_MAX_CTRL_FRAME];
        ssize_t n = fy_msg_encode(buf, sizeof buf, m);
        if (n < 0) {
                errno = (int)-n;
                die("encode");
        }
        send_all(buf, (size_t)n);
}

/* The next frame of the given type (others - CREDIT, PAD - are skipped). */
static void recv_msg(uint8_t type, struct fy_msg *m) {
        static uint8_t payload[FY_MAX_PAYLOAD];
        for (;;) {
                uint8_t h[FY_HDR_SIZE];
                struct fy_header hdr;
                recv_all(h, sizeof h);
                if (fy_header_decode(h, &hdr) < 0 || hdr.length > sizeof payload)
                        die("a bad frame header from ferryd");
                recv_all(payload, hdr.length);
                if (fy_msg_decode(&hdr, payload, hdr.length, m) < 0)
                        die("a bad frame from ferryd");
                if (m->type == FY_ERROR) {
                        fprintf(stderr, "zstd-peer: ferryd ended the session: %s\n", m->error.text);
                        exit(1);
                }
                if (m->type == type)
                        return;
        }
}

static void send_data(uint32_t id, uint64_t off, uint32_t raw_len, uint64_t digest, const uint8_t *payload,
                      uint32_t plen) {
        struct fy_data d = { .xfer_id = id, .codec = FY_CODEC_ZSTD, .offset = off, .raw_len = raw_len,
                             .digest = digest, .payload_len = plen };
        uint8_t head[FY_DATA_FRAME_HEAD];
        if (fy_data_head_encode(head, &d) < 0)
                die("encode DATA");
        send_all(head, sizeof head);
        send_all(payload, plen);
}

static void begin(uint32_t id, const char *name, uint64_t size, uint32_t chunk) {
        struct fy_msg m = { .type = FY_FILE_BEGIN, .begin = { .xfer_id = id, .size = size, .mode = 0644,
                                                              .chunk_size = chunk, .mtime_sec = 1700000000 } };
        snprintf(m.begin.dest, sizeof m.begin.dest, "%s", name);
        send_msg(&m);
}

static int expect(uint32_t id, const char *name, uint32_t code) {
        struct fy_msg m;
        recv_msg(FY_FILE_STATUS, &m);
        printf("%s: FILE_STATUS %u '%s'\n", name, m.status.code, m.status.text);
        if (m.status.xfer_id != id || m.status.code != code) {
                fprintf(stderr, "zstd-peer: %s: wanted code %u for transfer %u, got %u for %u\n", name, code, id,
                        m.status.code, m.status.xfer_id);
                return 1;
        }
        return 0;
}

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: zstd-peer UNIX_PATH\n");
                return 2;
        }
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
                die("connect");

        struct fy_msg m = { .type = FY_SYNC, .hello = { .proto_min = FY_PROTO_MIN, .proto_max = FY_PROTO_VERSION,
                                                        .features = FY_FEAT_ZSTD, .max_frame = FY_MAX_PAYLOAD,
                                                        .max_chunk = 1u << 20, .recv_window = 8u << 20,
                                                        .nonce = 0x5eed } };
        snprintf(m.hello.agent, sizeof m.hello.agent, "zstd-peer");
        send_msg(&m);
        recv_msg(FY_SYNC_ACK, &m);
        if (!(m.hello.features & FY_FEAT_ZSTD)) {
                fprintf(stderr, "zstd-peer: ferryd did not accept zstd (--compress off?)\n");
                return 1;
        }

        int bad = 0;
        static uint8_t zeros[4u << 20], z[1u << 20], raw[64u << 10];
        /* A bomb: 4 MiB of zeros in a few hundred bytes, declared as 4 KiB. */
        size_t n = ZSTD_compress(z, sizeof z, zeros, sizeof zeros, 19);
        begin(1, "bomb.bin", 4096, 4096);
        send_data(1, 0, 4096, fy_chunk_digest(zeros, 4096), z, (uint32_t)n);
        bad |= expect(1, "bomb.bin", FY_EBADMSG);
        /* A lying length: 2 KiB compressed, declared as 4 KiB. */
        n = ZSTD_compress(z, sizeof z, zeros, 2048, 1);
        begin(2, "lie.bin", 4096, 4096);
        send_data(2, 0, 4096, fy_chunk_digest(zeros, 4096), z, (uint32_t)n);
        bad |= expect(2, "lie.bin", FY_EBADMSG);
        /* Not zstd at all. */
        memset(z, 0xa5, 100);
        begin(3, "junk.bin", 4096, 4096);
        send_data(3, 0, 4096, fy_chunk_digest(zeros, 4096), z, 100);
        bad |= expect(3, "junk.bin", FY_EBADMSG);
        /* And a good one, so the daemon is known to still take files. */
        for (size_t i = 0; i < sizeof raw; i++)
                raw[i] = (uint8_t)"ferry moves files\n"[i % 18];
        n = ZSTD_compress(z, sizeof z, raw, sizeof raw, 1);
        begin(4, "ok.bin", sizeof raw, sizeof raw);
        uint64_t dg = fy_chunk_digest(raw, sizeof raw);
        send_data(4, 0, sizeof raw, dg, z, (uint32_t)n);
        struct fy_msg e = { .type = FY_FILE_END, .end = { .xfer_id = 4, .size = sizeof raw, .chunks = 1 } };
        struct fy_file_digest fd_;
        fy_file_digest_init(&fd_);
        fy_file_digest_add(&fd_, dg);
        fy_file_digest_final(&fd_, e.end.digest);
        send_msg(&e);
        bad |= expect(4, "ok.bin", FY_OK);
        struct fy_msg bye = { .type = FY_BYE };
        send_msg(&bye);
        recv_msg(FY_BYE, &m);
        close(fd);
        return bad;
}
