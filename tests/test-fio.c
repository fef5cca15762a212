/* SPDX-License-Identifier: MIT */
/*
 * core/fio: the pread/pwrite backend (fio-backend.h), which every machine
 * has, and fio_new's arguments and backend choice.  The io_uring backend is
 * test-fio-uring.c, a test of its own so that it can skip.
 */
#include "fio-backend.h"

static void test_new(void) {
        struct fio *f = NULL;
        int uerr = 0;
        CHECK_EQ_INT(fio_new(0, BUFSZ, true, &f, &uerr), -EINVAL);
        CHECK_EQ_INT(fio_new(1025, BUFSZ, true, &f, &uerr), -EINVAL);
        CHECK_EQ_INT(fio_new(4, 0, true, &f, &uerr), -EINVAL);
        CHECK_EQ_INT(fio_new(4, (64u << 20) + 1, true, &f, &uerr), -EINVAL);
        CHECK(f == NULL);
        CHECK_EQ_INT(fio_new(3, 1000, true, &f, NULL), 0); /* rounded up to a page */
        if (f) {
                CHECK_EQ_U64(fio_bufsize(f), 4096);
                CHECK_EQ_INT(fio_nbufs(f), 3);
                f = fio_free(f);
        }
        CHECK(fio_free(NULL) == NULL);

        /* FERRY_NO_IO_URING in the environment selects pread/pwrite */
        char *saved = getenv("FERRY_NO_IO_URING");
        saved = saved ? strdup(saved) : NULL;
        CHECK_EQ_INT(setenv("FERRY_NO_IO_URING", "1", 1), 0);
        uerr = 12345;
        CHECK_EQ_INT(fio_new(NBUFS, BUFSZ, false, &f, &uerr), 0);
        if (f) {
                CHECK(!fio_is_uring(f));
                CHECK_EQ_INT(fio_pollfd(f), -1);
                f = fio_free(f);
        }
        CHECK_EQ_INT(uerr, 0);
        CHECK_EQ_INT(unsetenv("FERRY_NO_IO_URING"), 0);
        if (saved) {
                setenv("FERRY_NO_IO_URING", saved, 1);
                free(saved);
        }
}

int main(void) {
        fio_test_setup();
        test_backend(true);
        test_new();
        return check_done();
}
