/* SPDX-License-Identifier: MIT */
/*
 * core/fio through io_uring (fio-backend.h).  Skipped, with the reason, when
 * the kernel refuses io_uring (old kernel, seccomp, kernel.io_uring_disabled)
 * or FERRY_NO_IO_URING turns it off; a fall back to pread/pwrite without the
 * kernel's refusal is a failure.
 */
#include "fio-backend.h"

int main(void) {
        const char *off = getenv("FERRY_NO_IO_URING");
        if (off && *off && strcmp(off, "0") != 0) {
                printf("FERRY_NO_IO_URING is set: io_uring is turned off\n");
                return T_EXIT_SKIP;
        }
        struct fio *f = NULL;
        int uerr = 0;
        int r = fio_new(NBUFS, BUFSZ, false, &f, &uerr);
        if (r < 0) {
                fprintf(stderr, "fio_new: %s\n", strerror(-r));
                return T_EXIT_FAIL;
        }
        bool uring = fio_is_uring(f);
        fio_free(f);
        if (!uring && uerr < 0) {
                printf("io_uring unavailable: %s\n", strerror(-uerr));
                return T_EXIT_SKIP;
        }

        fio_test_setup();
        test_backend(false);
        return check_done();
}
