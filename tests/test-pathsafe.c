/* SPDX-License-Identifier: MIT */
/*
 * core/pathsafe: paths from the wire never leave the root.
 *
 * Every case runs twice: with the component-by-component walk that kernels
 * without openat2 get (root.no_openat2 = true), here, and with
 * openat2(RESOLVE_BENEATH) in test-pathsafe-openat2 (this file built with
 * PATHSAFE_OPENAT2), which skips where the kernel lacks it.  Escapes must
 * fail in both: -EXDEV, or -ELOOP where the walk refuses a symlink outright.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fs/pathsafe.h"
#include "base/util.h"
#include "wire.h"

static char base[PATH_MAX / 2]; /* mkdtemp: holds root/, out/, root2/ */
static char rootdir[PATH_MAX];
static char rootabs[PATH_MAX]; /* realpath of rootdir */
static char outdir[PATH_MAX];

static void mkfile(const char *dir, const char *rel, const char *content) {
        char p[PATH_MAX * 2];
        snprintf(p, sizeof p, "%s/%s", dir, rel);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                perror(p);
                exit(T_EXIT_FAIL);
        }
        if (write(fd, content, strlen(content)) != (ssize_t)strlen(content)) {
                perror("write");
                exit(T_EXIT_FAIL);
        }
        close(fd);
}

static void mkdir_at(const char *dir, const char *rel) {
        char p[PATH_MAX * 2];
        snprintf(p, sizeof p, "%s/%s", dir, rel);
        if (mkdir(p, 0755) < 0) {
                perror(p);
                exit(T_EXIT_FAIL);
        }
}

static void symlink_at(const char *target, const char *dir, const char *rel) {
        char p[PATH_MAX * 2];
        snprintf(p, sizeof p, "%s/%s", dir, rel);
        if (symlink(target, p) < 0) {
                perror(p);
                exit(T_EXIT_FAIL);
        }
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw) {
        (void)st, (void)ftw;
        if (type == FTW_DP)
                return rmdir(p) < 0 ? -1 : 0;
        return unlink(p) < 0 ? -1 : 0;
}

static void cleanup(void) {
        if (base[0] && nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
                perror("cleanup");
}

/* Open path under r read-only; on success compare the file's content. */
static int open_read(struct fsroot *r, const char *path, char *buf, size_t cap) {
        int fd = -1;
        int ret = fsroot_open_at(r, path, O_RDONLY, 0, &fd);
        if (ret < 0) {
                CHECK_EQ_INT(fd, -1); /* ret_fd untouched on failure */
                return ret;
        }
        CHECK(fd >= 0);
        ssize_t n = read(fd, buf, cap - 1);
        buf[n < 0 ? 0 : n] = 0;
        close(fd);
        return 0;
}

static void expect_content(struct fsroot *r, const char *path, const char *want) {
        char buf[256];
        int ret = open_read(r, path, buf, sizeof buf);
        if (ret < 0)
                fprintf(stderr, "    open '%s': %s\n", path, strerror(-ret));
        CHECK_EQ_INT(ret, 0);
        if (ret == 0)
                CHECK_EQ_STR(buf, want);
}

static bool same_file(int fd, const char *path) {
        struct stat a, b;
        if (fstat(fd, &a) < 0 || stat(path, &b) < 0)
                return false;
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* An escape: EXDEV with openat2; EXDEV or ELOOP with the walk. */
static void expect_escape(struct fsroot *r, bool walk, const char *path) {
        char buf[256];
        int ret = open_read(r, path, buf, sizeof buf);
        if (!walk) {
                if (ret != -EXDEV)
                        fprintf(stderr, "    openat2 '%s': got %d\n", path, ret);
                CHECK_EQ_INT(ret, -EXDEV);
        } else {
                if (ret != -EXDEV && ret != -ELOOP)
                        fprintf(stderr, "    walk '%s': got %d\n", path, ret);
                CHECK(ret == -EXDEV || ret == -ELOOP);
        }
}

static void test_open_at(bool walk) {
        struct fsroot r;
        CHECK_EQ_INT(fsroot_open(rootdir, true, &r), 0);
        CHECK(r.fd >= 0);
        CHECK(r.beneath);
        CHECK_EQ_STR(r.abs, rootabs);
        CHECK_EQ_U64(r.abslen, strlen(rootabs));
        r.no_openat2 = walk;
        char p[PATH_MAX * 2], buf[256];

        /* paths that stay inside */
        expect_content(&r, "f", "root-f");
        expect_content(&r, "a/b", "a-b");
        expect_content(&r, "./f", "root-f");
        expect_content(&r, "a/./b", "a-b");
        expect_content(&r, "a//b", "a-b");
        snprintf(p, sizeof p, "%s/f", rootabs);
        expect_content(&r, p, "root-f");
        snprintf(p, sizeof p, "%s//a/b", rootabs);
        expect_content(&r, p, "a-b");

        /* the root itself, three spellings */
        const char *self[] = { ".", "", rootabs };
        for (size_t i = 0; i < ARRAY_SIZE(self); i++) {
                int fd = -1;
                CHECK_EQ_INT(fsroot_open_at(&r, self[i], O_RDONLY | O_DIRECTORY, 0, &fd), 0);
                CHECK(fd >= 0 && same_file(fd, rootdir));
                if (fd >= 0)
                        close(fd);
        }

        /* creating a file inside */
        int fd = -1;
        CHECK_EQ_INT(fsroot_open_at(&r, walk ? "a/c/new-walk" : "a/c/new", O_WRONLY | O_CREAT | O_EXCL, 0600, &fd), 0);
        CHECK(fd >= 0);
        if (fd >= 0) {
                struct stat st;
                CHECK_EQ_INT(fstat(fd, &st), 0);
                CHECK_EQ_INT(st.st_mode & 07777, 0600);
                int fl = fcntl(fd, F_GETFD);
                CHECK(fl >= 0 && (fl & FD_CLOEXEC)); /* O_CLOEXEC is added */
                close(fd);
        }
        snprintf(p, sizeof p, "%s/a/c/%s", rootdir, walk ? "new-walk" : "new");
        CHECK_EQ_INT(access(p, F_OK), 0);

        /* missing file is ENOENT, not an escape */
        CHECK_EQ_INT(open_read(&r, "missing", buf, sizeof buf), -ENOENT);
        CHECK_EQ_INT(open_read(&r, "a/missing/x", buf, sizeof buf), -ENOENT);

        /* escapes */
        expect_escape(&r, walk, "../x");
        expect_escape(&r, walk, "..");
        expect_escape(&r, walk, "a/../../x");
        expect_escape(&r, walk, "a/../../out/secret");
        expect_escape(&r, walk, "/etc/passwd");
        expect_escape(&r, walk, "/");
        snprintf(p, sizeof p, "%s2/x", rootabs); /* prefix trick: root2/x exists */
        CHECK_EQ_INT(access(p, R_OK), 0);
        expect_escape(&r, walk, p);
        snprintf(p, sizeof p, "%s/../out/secret", rootabs);
        expect_escape(&r, walk, p);
        expect_escape(&r, walk, "lnk_abs/secret");      /* dir symlink, absolute target */
        expect_escape(&r, walk, "lnk_rel/secret");      /* dir symlink, ../out */
        expect_escape(&r, walk, "lnk_file_abs");        /* file symlink, absolute */
        expect_escape(&r, walk, "lnk_file_rel");        /* file symlink, ../out/secret */
        expect_escape(&r, walk, "a/lnk_up2/out/secret"); /* ../.. from a/ */
        expect_escape(&r, walk, "lnk_proc");            /* /proc/self/root: a magic link */

        /* ".." that stays inside: openat2 allows it, the walk refuses all ".." */
        {
                int ret = open_read(&r, "a/../f", buf, sizeof buf);
                if (walk)
                        CHECK_EQ_INT(ret, -EXDEV);
                else {
                        CHECK_EQ_INT(ret, 0);
                        if (ret == 0)
                                CHECK_EQ_STR(buf, "root-f");
                }
        }
        /* a symlink that stays inside: openat2 follows it, the walk refuses it */
        {
                int ret = open_read(&r, "lnk_in", buf, sizeof buf);
                if (walk)
                        CHECK_EQ_INT(ret, -ELOOP);
                else {
                        CHECK_EQ_INT(ret, 0);
                        if (ret == 0)
                                CHECK_EQ_STR(buf, "root-f");
                }
        }

        /* A regular file used as a directory is ENOTDIR in both modes (the
         * protocol's "a path component is not one"), not a refused symlink. */
        {
                int ret = open_read(&r, "notdir/x", buf, sizeof buf);
                if (ret != -ENOTDIR)
                        fprintf(stderr, "    %s 'notdir/x': got %d (%s), want -ENOTDIR\n",
                                walk ? "walk" : "openat2", ret, strerror(-ret));
                CHECK_EQ_INT(ret, -ENOTDIR);
        }
        /* A trailing slash on a regular file is ENOTDIR (POSIX), in both modes. */
        {
                int ret = open_read(&r, "f/", buf, sizeof buf);
                if (ret != -ENOTDIR)
                        fprintf(stderr, "    %s 'f/': got %d (%s), want -ENOTDIR\n",
                                walk ? "walk" : "openat2", ret, ret < 0 ? strerror(-ret) : "opened");
                CHECK_EQ_INT(ret, -ENOTDIR);
        }

        /* a path over FY_MAX_PATH */
        {
                char *longp = malloc(FY_MAX_PATH + 2);
                for (size_t i = 0; i < FY_MAX_PATH + 1; i++)
                        longp[i] = (i % 2) ? '/' : 'a';
                longp[FY_MAX_PATH + 1] = 0;
                CHECK_EQ_INT(open_read(&r, longp, buf, sizeof buf), -ENAMETOOLONG);
                free(longp);
        }

        if (!walk)
                CHECK(!r.no_openat2); /* openat2 kept working */
        fsroot_close(&r);
        CHECK(r.fd < 0);
        fsroot_close(&r); /* twice is harmless */
}

static void test_fsroot_open_errors(void) {
        struct fsroot r = { .fd = -77 };
        char p[PATH_MAX * 2];
        snprintf(p, sizeof p, "%s/missing", base);
        CHECK_EQ_INT(fsroot_open(p, true, &r), -ENOENT);
        CHECK_EQ_INT(r.fd, -77); /* untouched */
        snprintf(p, sizeof p, "%s/f", rootdir);
        CHECK_EQ_INT(fsroot_open(p, true, &r), -ENOTDIR);
        CHECK_EQ_INT(r.fd, -77);
}

static void test_not_beneath(void) {
        struct fsroot r;
        CHECK_EQ_INT(fsroot_open(NULL, false, &r), 0);
        CHECK_EQ_INT(r.fd, AT_FDCWD);
        CHECK(!r.beneath);
        char p[PATH_MAX * 2], buf[256];
        snprintf(p, sizeof p, "%s/secret", outdir);
        expect_content(&r, p, "outside");
        snprintf(p, sizeof p, "%s/lnk_abs/secret", rootdir); /* symlinks followed */
        expect_content(&r, p, "outside");
        snprintf(p, sizeof p, "%s/../out/secret", rootdir);
        expect_content(&r, p, "outside");
        snprintf(p, sizeof p, "%s/nope", outdir);
        CHECK_EQ_INT(open_read(&r, p, buf, sizeof buf), -ENOENT);
        fsroot_close(&r); /* must not close AT_FDCWD or anything else */
        CHECK_EQ_INT(r.fd, AT_FDCWD);
}

#define NO_FD (-12345)

static void expect_dest(struct fsroot *r, const char *dest, const char *name, uint32_t flags,
                        const char *want_dir, const char *want_name) {
        int dirfd = NO_FD;
        char got[FY_MAX_NAME + 1] = "";
        int ret = dest_resolve(r, dest, name, flags, &dirfd, got);
        if (ret < 0)
                fprintf(stderr, "    dest_resolve('%.60s', '%.60s', %u): %s\n", dest, name, flags, strerror(-ret));
        CHECK_EQ_INT(ret, 0);
        if (ret < 0)
                return;
        char p[PATH_MAX * 2];
        snprintf(p, sizeof p, "%s/%s", rootdir, want_dir);
        CHECK(dirfd >= 0);
        if (!same_file(dirfd, p))
                fprintf(stderr, "    dest_resolve('%s', '%s', %u): dirfd is not '%s'\n", dest, name, flags, want_dir);
        CHECK(same_file(dirfd, p));
        CHECK_EQ_STR(got, want_name);
        int fl = fcntl(dirfd, F_GETFD);
        CHECK(fl >= 0 && (fl & FD_CLOEXEC));
        close(dirfd);
}

static void expect_dest_err(struct fsroot *r, const char *dest, const char *name, uint32_t flags, int want) {
        int dirfd = NO_FD;
        char got[FY_MAX_NAME + 1] = "";
        int ret = dest_resolve(r, dest, name, flags, &dirfd, got);
        if (ret != want)
                fprintf(stderr, "    dest_resolve('%.60s', '%.60s', %u) = %d (%s), want %d\n", dest, name, flags, ret,
                        ret < 0 ? strerror(-ret) : "ok", want);
        CHECK_EQ_INT(ret, want);
        if (ret >= 0 && dirfd >= 0)
                close(dirfd);
        else
                CHECK_EQ_INT(dirfd, NO_FD); /* untouched on failure */
}

/* Any error at all (the exact code is the implementation's choice). */
static void expect_dest_fails(struct fsroot *r, const char *dest, const char *name, uint32_t flags) {
        int dirfd = NO_FD;
        char got[FY_MAX_NAME + 1] = "";
        int ret = dest_resolve(r, dest, name, flags, &dirfd, got);
        if (ret >= 0)
                fprintf(stderr, "    dest_resolve('%.60s', '%.60s', %u) succeeded with name '%s', want an error\n",
                        dest, name, flags, got);
        CHECK(ret < 0);
        if (ret >= 0 && dirfd >= 0)
                close(dirfd);
        else
                CHECK_EQ_INT(dirfd, NO_FD);
}

static void test_dest_resolve(bool walk) {
        struct fsroot r;
        CHECK_EQ_INT(fsroot_open(rootdir, true, &r), 0);
        r.no_openat2 = walk;
        const uint32_t DIR = FY_FB_DEST_IS_DIR, MAYBE = FY_FB_DEST_MAYBE_DIR;
        char p[PATH_MAX * 2];

        /* FY_FB_DEST_IS_DIR */
        expect_dest(&r, "sub", "n", DIR, "sub", "n");
        expect_dest(&r, "a/c", "n", DIR, "a/c", "n");
        expect_dest(&r, ".", "n", DIR, ".", "n");
        expect_dest(&r, "sub/", "n", DIR, "sub", "n");
        snprintf(p, sizeof p, "%s/sub", rootabs);
        expect_dest(&r, p, "n", DIR, "sub", "n");
        expect_dest(&r, rootabs, "n", DIR, ".", "n");
        expect_dest_err(&r, "notdir", "n", DIR, -ENOTDIR);
        expect_dest_err(&r, "missing", "n", DIR, -ENOENT);
        expect_dest_err(&r, "../out", "n", DIR, -EXDEV);
        expect_dest_err(&r, "/", "n", DIR, -EXDEV);
        snprintf(p, sizeof p, "%s2", rootabs);
        expect_dest_err(&r, p, "n", DIR, -EXDEV);
        expect_dest_fails(&r, "lnk_abs", "n", DIR); /* EXDEV, or ENOTDIR/ELOOP from the walk */
        expect_dest_fails(&r, "lnk_rel", "n", DIR);

        /* FY_FB_DEST_MAYBE_DIR */
        expect_dest(&r, "sub", "n", MAYBE, "sub", "n");
        expect_dest(&r, "sub/", "n", MAYBE, "sub", "n");
        expect_dest(&r, "sub/newfile", "n", MAYBE, "sub", "newfile");
        expect_dest(&r, "newtop", "n", MAYBE, ".", "newtop");
        expect_dest(&r, "notdir", "n", MAYBE, ".", "notdir"); /* a file: replaced */
        expect_dest(&r, "a/b", "n", MAYBE, "a", "b");
        expect_dest_err(&r, "missing/x", "n", MAYBE, -ENOENT);
        expect_dest_err(&r, "../newfile", "n", MAYBE, -EXDEV);
        expect_dest_err(&r, "/etc/passwd", "n", MAYBE, -EXDEV);
        expect_dest_fails(&r, "lnk_abs/x", "n", MAYBE);

        /* no flag: dest is the file */
        expect_dest(&r, "sub/newfile", "", 0, "sub", "newfile");
        expect_dest(&r, "newtop", "", 0, ".", "newtop");
        expect_dest(&r, "sub", "ignored", 0, ".", "sub");
        expect_dest(&r, "a//c//x", "", 0, "a/c", "x");
        snprintf(p, sizeof p, "%s/sub/x", rootabs);
        expect_dest(&r, p, "", 0, "sub", "x");
        snprintf(p, sizeof p, "%s/x", rootabs);
        expect_dest(&r, p, "", 0, ".", "x");
        expect_dest_err(&r, "../x", "", 0, -EXDEV);
        expect_dest_err(&r, "a/../../x", "", 0, -EXDEV);
        expect_dest_err(&r, "/etc/x", "", 0, -EXDEV);
        snprintf(p, sizeof p, "%s2/x", rootabs);
        expect_dest_err(&r, p, "", 0, -EXDEV);
        expect_dest_err(&r, "missing/x", "", 0, -ENOENT);
        expect_dest_err(&r, "notdir/x", "", 0, -ENOTDIR);
        expect_dest_fails(&r, "lnk_abs/x", "", 0);
        expect_dest_fails(&r, "lnk_rel/x", "", 0);

        /* degenerate dests: an error, never a file named "." or ".." */
        expect_dest_fails(&r, ".", "", 0);
        expect_dest_fails(&r, "..", "", 0);
        expect_dest_fails(&r, "sub/.", "", 0);
        expect_dest_fails(&r, "sub/..", "", 0);
        expect_dest_fails(&r, "sub/./", "", 0);
        expect_dest_fails(&r, "", "", 0);
        expect_dest_fails(&r, "/", "", 0);
        expect_dest_fails(&r, "//", "", 0);
        expect_dest_fails(&r, ".", ".", MAYBE);
        {       /* "" with a flag: the root or an error, without a crash */
                int dirfd = NO_FD;
                char got[FY_MAX_NAME + 1];
                int ret = dest_resolve(&r, "", "n", DIR, &dirfd, got);
                if (ret == 0) {
                        CHECK(same_file(dirfd, rootdir));
                        close(dirfd);
                }
        }

        /* With a DEST flag, name must be one component (PROTOCOL.md, FILE_BEGIN):
         * not empty, no '/', not "." or "..". */
        expect_dest_fails(&r, "sub", ".", DIR);
        expect_dest_fails(&r, "sub", "..", DIR);
        expect_dest_fails(&r, "sub", "", DIR);
        expect_dest_fails(&r, "sub", "../../x", DIR);
        expect_dest_fails(&r, "sub", "..", MAYBE);
        expect_dest_fails(&r, "sub", "x/y", MAYBE);

        /* name lengths: FY_MAX_NAME fits, one more does not */
        char name[FY_MAX_NAME + 2];
        memset(name, 'n', FY_MAX_NAME);
        name[FY_MAX_NAME] = 0;
        expect_dest(&r, "sub", name, DIR, "sub", name);
        expect_dest(&r, "sub", name, MAYBE, "sub", name);
        snprintf(p, sizeof p, "sub/%s", name);
        expect_dest(&r, p, "", 0, "sub", name);
        name[FY_MAX_NAME] = 'n';
        name[FY_MAX_NAME + 1] = 0;
        expect_dest_err(&r, "sub", name, DIR, -ENAMETOOLONG);
        snprintf(p, sizeof p, "sub/%s", name);
        expect_dest_err(&r, p, "", 0, -ENAMETOOLONG);

        /* a dest over FY_MAX_PATH, with and without flags */
        char *longp = malloc(FY_MAX_PATH + 2);
        for (size_t i = 0; i < FY_MAX_PATH + 1; i++)
                longp[i] = (i % 2) ? '/' : 'a';
        longp[FY_MAX_PATH + 1] = 0;
        expect_dest_err(&r, longp, "n", 0, -ENAMETOOLONG);
        expect_dest_err(&r, longp, "n", DIR, -ENAMETOOLONG);
        expect_dest_err(&r, longp, "n", MAYBE, -ENAMETOOLONG);
        free(longp);

        fsroot_close(&r);
}

static void test_strerror(void) {
        CHECK_EQ_STR(path_strerror(EXDEV), "path escapes the root");
        CHECK_EQ_STR(path_strerror(-EXDEV), "path escapes the root");
        CHECK_EQ_STR(path_strerror(ENOENT), "no such file or directory");
        CHECK(path_strerror(ELOOP) != NULL && strlen(path_strerror(ELOOP)) > 0);
        CHECK(path_strerror(EHWPOISON) != NULL); /* falls back to strerror */
}

int main(void) {
        const char *tmp = getenv("TMPDIR");
        snprintf(base, sizeof base, "%s/ferry-pathsafe.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(base)) {
                perror("mkdtemp");
                return T_EXIT_FAIL;
        }
        atexit(cleanup);
        snprintf(rootdir, sizeof rootdir, "%s/root", base);
        snprintf(outdir, sizeof outdir, "%s/out", base);
        mkdir_at(base, "root");
        mkdir_at(base, "out");
        mkdir_at(base, "root2");
        mkfile(base, "root2/x", "prefix-trick");
        mkfile(base, "out/secret", "outside");
        mkfile(rootdir, "f", "root-f");
        mkdir_at(rootdir, "a");
        mkfile(rootdir, "a/b", "a-b");
        mkdir_at(rootdir, "a/c");
        mkdir_at(rootdir, "sub");
        mkfile(rootdir, "notdir", "not a dir");
        if (!realpath(rootdir, rootabs)) {
                perror("realpath");
                return T_EXIT_FAIL;
        }
        char outabs[PATH_MAX], t[PATH_MAX * 2];
        if (!realpath(outdir, outabs)) {
                perror("realpath");
                return T_EXIT_FAIL;
        }
        symlink_at(outabs, rootdir, "lnk_abs");
        symlink_at("../out", rootdir, "lnk_rel");
        snprintf(t, sizeof t, "%s/secret", outabs);
        symlink_at(t, rootdir, "lnk_file_abs");
        symlink_at("../out/secret", rootdir, "lnk_file_rel");
        symlink_at("../..", rootdir, "a/lnk_up2");
        symlink_at("/proc/self/root", rootdir, "lnk_proc");
        symlink_at("f", rootdir, "lnk_in");

        /* Is openat2 there at all?  Without it the kernel gets the walk,
         * which test-pathsafe always checks; the openat2 half is its own
         * test (test-pathsafe-openat2.c), skipped where openat2 is not. */
        struct fsroot probe;
        bool have_openat2 = false;
        if (fsroot_open(rootdir, true, &probe) == 0) {
                int fd;
                if (fsroot_open_at(&probe, "f", O_RDONLY, 0, &fd) == 0)
                        close(fd);
                have_openat2 = !probe.no_openat2;
                fsroot_close(&probe);
        }
#ifdef PATHSAFE_OPENAT2
        if (!have_openat2) {
                printf("openat2(RESOLVE_BENEATH) is not available on this kernel\n");
                return T_EXIT_SKIP;
        }
        test_open_at(false);
        test_dest_resolve(false);
        return check_done();
#else
        (void)have_openat2;
        test_open_at(true);
        test_fsroot_open_errors();
        test_not_beneath();
        test_dest_resolve(true);
#endif
        test_strerror();
        return check_done();
}
