/* SPDX-License-Identifier: MIT */
/*
 * fcmp: are two files byte-identical?  cmp(1) for the integration tests'
 * sparse and large files: a range that is a hole in both files (SEEK_DATA,
 * SEEK_HOLE) is zeros in both and is not read, so a 1 GiB hole costs two
 * lseeks instead of reading 2 GiB of zero pages (~5 s a file under load,
 * most of make check's test-tree).  Everything else is read from both and
 * compared; where a filesystem has no SEEK_DATA, everything is.
 *
 *   fcmp A B    exit 0: identical; 1: they differ (the first differing
 *               byte on stdout, as cmp says it); 2: an error
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUF (1u << 20)

static const char *name[2];

static int fail(int i, const char *what) {
        fprintf(stderr, "fcmp: %s '%s': %s\n", what, name[i], strerror(errno));
        return 2;
}

/* Where the data at or after off starts, or size past the last; the whole
 * rest is data where the filesystem cannot tell. */
static off_t next_data(int fd, off_t off, off_t size, int *ret_err) {
        off_t d = lseek(fd, off, SEEK_DATA);
        if (d >= 0)
                return d;
        if (errno == ENXIO)
                return size;
        if (errno != EINVAL && errno != EOPNOTSUPP)
                *ret_err = errno;
        return off;
}

static off_t next_hole(int fd, off_t off, off_t size) {
        off_t h = lseek(fd, off, SEEK_HOLE);
        return h >= 0 && h <= size ? h : size;
}

static int readall(int fd, uint8_t *p, size_t n, off_t off) {
        while (n) {
                ssize_t r = pread(fd, p, n, off);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0) {
                        if (r == 0)
                                errno = EIO; /* shorter than fstat said: changed under us */
                        return -1;
                }
                p += r;
                n -= (size_t)r;
                off += r;
        }
        return 0;
}

int main(int argc, char **argv) {
        if (argc != 3) {
                fprintf(stderr, "usage: fcmp FILE1 FILE2\n");
                return 2;
        }
        int fd[2];
        struct stat st[2];
        for (int i = 0; i < 2; i++) {
                name[i] = argv[1 + i];
                fd[i] = open(name[i], O_RDONLY | O_CLOEXEC);
                if (fd[i] < 0)
                        return fail(i, "cannot open");
                if (fstat(fd[i], &st[i]) < 0)
                        return fail(i, "cannot stat");
        }
        uint8_t *buf[2] = { malloc(BUF), malloc(BUF) };
        if (!buf[0] || !buf[1]) {
                fprintf(stderr, "fcmp: out of memory\n");
                return 2;
        }
        off_t size = st[0].st_size < st[1].st_size ? st[0].st_size : st[1].st_size;
        off_t off = 0;
        while (off < size) {
                int err = 0;
                off_t d[2] = { next_data(fd[0], off, size, &err), next_data(fd[1], off, size, &err) };
                if (err) {
                        errno = err;
                        return fail(0, "cannot seek in");
                }
                /* [off, min(d)) is a hole in both: zeros in both */
                off_t start = d[0] < d[1] ? d[0] : d[1];
                if (start >= size)
                        break;
                /* from start, read both until each file that has data at
                 * start reaches its next hole */
                off_t end = start;
                for (int i = 0; i < 2; i++)
                        if (d[i] == start) {
                                off_t h = next_hole(fd[i], start, size);
                                if (h > end)
                                        end = h;
                        }
                for (off_t o = start; o < end;) {
                        size_t n = (size_t)(end - o < BUF ? end - o : BUF);
                        for (int i = 0; i < 2; i++)
                                if (readall(fd[i], buf[i], n, o) < 0)
                                        return fail(i, "cannot read");
                        if (memcmp(buf[0], buf[1], n)) {
                                size_t k = 0;
                                while (buf[0][k] == buf[1][k])
                                        k++;
                                printf("%s %s differ: byte %lld\n", name[0], name[1], (long long)(o + (off_t)k + 1));
                                return 1;
                        }
                        o += (off_t)n;
                }
                off = end;
        }
        if (st[0].st_size != st[1].st_size) {
                printf("%s %s differ: sizes %lld and %lld\n", name[0], name[1], (long long)st[0].st_size,
                       (long long)st[1].st_size);
                return 1;
        }
        free(buf[0]);
        free(buf[1]);
        return 0;
}
