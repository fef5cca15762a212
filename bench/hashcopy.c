/* hashcopy — the floor of a verified copy, for bench/vm/raw-and-qga.sh.
 *
 *   hashcopy IN OUT [BYTES]
 *
 * Copies IN to OUT ("-": standard input or output) as `dd bs=1M
 * iflag=fullblock` does - a read of up to 1 MiB, repeated until the block is
 * full, then one write of it - and computes the chunk digest ferry sends
 * with every 1 MiB chunk (chunk_hash: XXH3-64 by the path this CPU runs
 * fastest) of each block.  Nothing else: no protocol, no second buffer, no
 * file digest.  So next to dd on the same port it shows what hashing every
 * byte costs by itself, which any copy that verifies in the guest pays; ferry
 * against it shows what the rest of ferry costs.  BYTES: stop after that
 * many (a port has no end of file).
 * Prints "hashcopy: BYTES bytes, digest path PATH, xor of digests HEX" to
 * standard error.  Exit status: 0 done, 1 an error (logged), 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/chunkhash.h"
#include "base/fd.h"

#define BLOCK (1u << 20)

static int open_end(const char *path, bool out) {
        if (!strcmp(path, "-"))
                return out ? STDOUT_FILENO : STDIN_FILENO;
        int fd = out ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                fprintf(stderr, "hashcopy: %s: %s\n", path, strerror(errno));
        return fd;
}

/* Fill buf with up to len bytes; the count (short only at end of input), or -1. */
static ssize_t read_block(int fd, uint8_t *buf, size_t len) {
        size_t got = 0;
        while (got < len) {
                ssize_t n = read(fd, buf + got, len - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        fprintf(stderr, "hashcopy: read: %s\n", strerror(errno));
                        return -1;
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        return (ssize_t)got;
}

int main(int argc, char **argv) {
        if (argc < 3 || argc > 4) {
                fprintf(stderr, "usage: hashcopy IN OUT [BYTES]\n");
                return 2;
        }
        uint64_t limit = UINT64_MAX;
        if (argc == 4) {
                char *end;
                errno = 0;
                limit = strtoull(argv[3], &end, 10);
                if (errno || end == argv[3] || *end) {
                        fprintf(stderr, "hashcopy: BYTES is not a number: %s\n", argv[3]);
                        return 2;
                }
        }
        int in = open_end(argv[1], false), out = open_end(argv[2], true);
        uint8_t *buf = malloc(BLOCK);
        if (in < 0 || out < 0 || !buf) {
                if (!buf)
                        fprintf(stderr, "hashcopy: out of memory\n");
                return 1;
        }
        uint64_t done = 0, xor = 0;
        while (done < limit) {
                size_t want = limit - done < BLOCK ? (size_t)(limit - done) : BLOCK;
                ssize_t n = read_block(in, buf, want);
                if (n < 0)
                        return 1;
                if (n == 0)
                        break;
                xor ^= chunk_hash(buf, (size_t)n);
                int r = fd_write_all(out, buf, (size_t)n);
                if (r < 0) {
                        fprintf(stderr, "hashcopy: write: %s\n", strerror(-r));
                        return 1;
                }
                done += (uint64_t)n;
        }
        fprintf(stderr, "hashcopy: %" PRIu64 " bytes, digest path %s, xor of digests %016" PRIx64 "\n", done,
                chunk_hash_impl_name(chunk_hash_impl()), xor);
        free(buf);
        return 0;
}
