/* SPDX-License-Identifier: MIT */
/*
 * core/journal: what a partial file's journal vouches for.
 *
 * Real files in a temporary directory: records in any order make one
 * contiguous prefix; a torn record at the end, a gap, or a chunk whose
 * bytes no longer hash as recorded end it (but only past the last durable
 * mark: before it records are trusted); the lock keeps a second writer out;
 * a rewrite keeps exactly the prefix it was asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fs/journal.h"
#include "fs/tmpname.h"
#include "base/util.h"

#define CH 4096u

static char dir[] = "/tmp/ferry-test-journal.XXXXXX";
static int dirfd_;
static uint8_t data[8 * CH];

static const struct jnl_ident ident = { .size = 8 * CH, .mtime_sec = 1700000000, .mtime_nsec = 7, .chunk_size = CH };

/* The digest a sender computes over chunks [0, n) of data. */
static void expect_digest(unsigned n, uint8_t out[16]) {
        struct fy_file_digest d;
        fy_file_digest_init(&d);
        for (unsigned i = 0; i < n; i++)
                fy_file_digest_add(&d, fy_chunk_digest(data + i * CH, CH));
        fy_file_digest_final(&d, out);
}

static uint64_t dg(unsigned i) { return fy_chunk_digest(data + i * CH, CH); }

/* A fresh pair with chunks `order` written and journaled in that order. */
static void fresh(const char *part, const char *jname, const unsigned *order, unsigned n, int *ret_jfd, int *ret_pfd) {
        int jfd = -1, pfd = -1;
        CHECK_EQ_INT(jnl_create(dirfd_, part, jname, &ident, &jfd, &pfd, 0), 0);
        for (unsigned k = 0; k < n; k++) {
                unsigned i = order[k];
                CHECK_EQ_INT(pwrite(pfd, data + i * CH, CH, (off_t)i * CH), (ssize_t)CH);
                CHECK_EQ_INT(jnl_append(jfd, JNL_DATA, (uint64_t)i * CH, CH, dg(i)), 0);
        }
        *ret_jfd = jfd;
        *ret_pfd = pfd;
}

static int open_read(const char *name) {
        return openat(dirfd_, name, O_RDONLY | O_CLOEXEC);
}

static void test_names(void) {
        char part[FY_MAX_NAME + 1], jname[FY_MAX_NAME + 1], p2[FY_MAX_NAME + 1], j2[FY_MAX_NAME + 1];
        tmpname_partial("a.bin", part, jname);
        CHECK(!strncmp(part, ".ferry-a.bin.", 13));
        CHECK(strlen(part) == 13 + 8 + 5 && !strcmp(part + 21, ".part"));
        CHECK(!strcmp(jname + 21, ".jnl"));
        CHECK(tmpname_is_partial(part) && tmpname_is_partial(jname));
        CHECK(!tmpname_is_partial("a.bin") && !tmpname_is_partial(".ferry-a.bin.1234.tmp") && !tmpname_is_partial(".ferry-.jnl"));
        /* Two long names that agree in their first 200 bytes get other names. */
        char a[FY_MAX_NAME + 1], b[FY_MAX_NAME + 1];
        memset(a, 'x', FY_MAX_NAME);
        a[FY_MAX_NAME] = 0;
        strcpy(b, a);
        b[FY_MAX_NAME - 1] = 'y';
        tmpname_partial(a, part, jname);
        tmpname_partial(b, p2, j2);
        CHECK(strlen(part) <= FY_MAX_NAME && strlen(jname) <= FY_MAX_NAME);
        CHECK(strcmp(part, p2) != 0 && strcmp(jname, j2) != 0);
}

static void test_prefix(void) {
        /* Completed out of order, with chunk 5 missing: the prefix is 0..4. */
        static const unsigned order[] = { 1, 0, 3, 2, 4, 6, 7 };
        int jfd, pfd;
        fresh("p1.part", "p1.jnl", order, 7, &jfd, &pfd);
        struct jnl_prefix p;
        int rfd = open_read("p1.part");
        CHECK_EQ_INT(jnl_scan(jfd, rfd, UINT64_MAX, &p), 0);
        CHECK_EQ_U64(p.offset, 5 * CH);
        CHECK_EQ_U64(p.chunks, 5);
        CHECK_EQ_U64(p.received, 8 * CH); /* chunk 7 had arrived */
        uint8_t want[16], got[16];
        expect_digest(5, want);
        fy_file_digest_final(&p.digest, got);
        CHECK_EQ_MEM(got, want, 16);
        /* A limit cuts it. */
        CHECK_EQ_INT(jnl_scan(jfd, rfd, 2 * CH, &p), 0);
        CHECK_EQ_U64(p.offset, 2 * CH);

        /* A torn record at the end is ignored, the rest still counts. */
        CHECK_EQ_INT(write(jfd, "\x01\x02\x03\x04\x05\x06\x07", 7), 7);
        CHECK_EQ_INT(jnl_scan(jfd, rfd, UINT64_MAX, &p), 0);
        CHECK_EQ_U64(p.offset, 5 * CH);

        /* Damage chunk 3 in the file: with no durable mark it is read back
         * and the prefix ends before it. */
        CHECK_EQ_INT(pwrite(pfd, "!", 1, 3 * CH + 17), 1);
        CHECK_EQ_INT(jnl_scan(jfd, rfd, UINT64_MAX, &p), 0);
        CHECK_EQ_U64(p.offset, 3 * CH);
        CHECK_EQ_U64(p.chunks, 3);
        /* Without the file to read, every record is trusted. */
        CHECK_EQ_INT(jnl_scan(jfd, -1, UINT64_MAX, &p), 0);
        CHECK_EQ_U64(p.offset, 5 * CH);
        safe_close(rfd);
        safe_close(pfd);
        safe_close(jfd);
}

static void test_durable_and_holes(void) {
        static const unsigned order[] = { 0, 1 };
        int jfd, pfd;
        fresh("p2.part", "p2.jnl", order, 2, &jfd, &pfd);
        CHECK_EQ_INT(jnl_append(jfd, JNL_HOLE, 2 * CH, 3 * CH, 0), 0);
        CHECK_EQ_INT(jnl_append(jfd, JNL_DURABLE, 5 * CH, 0, 0), 0);
        CHECK_EQ_INT(pwrite(pfd, data + 5 * CH, CH, 5 * CH), (ssize_t)CH);
        CHECK_EQ_INT(jnl_append(jfd, JNL_DATA, 5 * CH, CH, dg(5)), 0);
        /* Damage before the durable mark goes unseen (trusted), after it
         * counts: chunk 5 is damaged, chunk 0 too. */
        CHECK_EQ_INT(pwrite(pfd, "!", 1, 0), 1);
        CHECK_EQ_INT(pwrite(pfd, "!", 1, 5 * CH), 1);
        int rfd = open_read("p2.part");
        struct jnl_prefix p;
        CHECK_EQ_INT(jnl_scan(jfd, rfd, UINT64_MAX, &p), 0);
        CHECK_EQ_U64(p.offset, 5 * CH);
        CHECK_EQ_U64(p.chunks, 2);
        CHECK_EQ_U64(p.records, 3);
        struct fy_file_digest d;
        fy_file_digest_init(&d);
        fy_file_digest_add(&d, dg(0));
        fy_file_digest_add(&d, dg(1));
        fy_file_digest_add_hole(&d, 2 * CH, 3 * CH);
        uint8_t want[16], got[16];
        fy_file_digest_final(&d, want);
        fy_file_digest_final(&p.digest, got);
        CHECK_EQ_MEM(got, want, 16);

        /* Rewrite to the prefix: only its records stay, marked durable; a
         * limit the journal does not hold is refused. */
        CHECK_EQ_INT(jnl_rewrite(jfd, &ident, pfd, 7 * CH), -ESTALE);
        CHECK_EQ_INT(jnl_rewrite(jfd, &ident, pfd, 2 * CH), 0);
        struct stat st;
        CHECK_EQ_INT(fstat(jfd, &st), 0);
        CHECK_EQ_U64((uint64_t)st.st_size, JNL_HEADER_SIZE + 3 * JNL_RECORD_SIZE);
        CHECK_EQ_INT(jnl_scan(jfd, rfd, UINT64_MAX, &p), 0);
        CHECK_EQ_U64(p.offset, 2 * CH);
        /* New records go after the rewritten ones. */
        CHECK_EQ_INT(jnl_append(jfd, JNL_HOLE, 2 * CH, 3 * CH, 0), 0);
        CHECK_EQ_INT(jnl_scan(jfd, rfd, UINT64_MAX, &p), 0);
        CHECK_EQ_U64(p.offset, 5 * CH);
        safe_close(rfd);
        safe_close(pfd);
        safe_close(jfd);
}

static void test_lock_and_header(void) {
        static const unsigned order[] = { 0 };
        int jfd, pfd, j2 = -1, p2 = -1;
        fresh("p3.part", "p3.jnl", order, 1, &jfd, &pfd);
        struct jnl_ident id;
        /* Held by a writer: neither opened nor replaced. */
        CHECK_EQ_INT(jnl_open(dirfd_, "p3.jnl", &j2, &id), -EBUSY);
        CHECK_EQ_INT(jnl_create(dirfd_, "p3.part", "p3.jnl", &ident, &j2, &p2, 0), -EBUSY);
        CHECK(faccessat(dirfd_, "p3.part", F_OK, 0) == 0);
        safe_close(jfd);
        safe_close(pfd);
        /* Released: it opens with its header as written... */
        CHECK_EQ_INT(jnl_open(dirfd_, "p3.jnl", &j2, &id), 0);
        CHECK(jnl_ident_eq(&id, &ident));
        safe_close(j2);
        /* ... and a new pair replaces it. */
        CHECK_EQ_INT(jnl_create(dirfd_, "p3.part", "p3.jnl", &ident, &j2, &p2, 0), 0);
        struct jnl_prefix p;
        CHECK_EQ_INT(jnl_scan(j2, -1, UINT64_MAX, &p), 0);
        CHECK_EQ_U64(p.offset, 0);
        safe_close(j2);
        safe_close(p2);
        /* A damaged header is not a journal. */
        int fd = openat(dirfd_, "p3.jnl", O_WRONLY);
        CHECK(fd >= 0);
        CHECK_EQ_INT(pwrite(fd, "\xff", 1, 9), 1);
        safe_close(fd);
        CHECK_EQ_INT(jnl_open(dirfd_, "p3.jnl", &j2, &id), -EBADMSG);
        CHECK_EQ_INT(jnl_open(dirfd_, "none.jnl", &j2, &id), -ENOENT);
        /* A symlink at the journal's name is not followed. */
        CHECK_EQ_INT(symlinkat("p3.part", dirfd_, "link.jnl"), 0);
        CHECK_EQ_INT(jnl_open(dirfd_, "link.jnl", &j2, &id), -ELOOP);
}

int main(void) {
        for (size_t i = 0; i < sizeof data; i++)
                data[i] = (uint8_t)(i * 2654435761u >> 13);
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        dirfd_ = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        CHECK(dirfd_ >= 0);
        test_names();
        test_prefix();
        test_durable_and_holes();
        test_lock_and_header();
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", dir);
        return check_done();
}
