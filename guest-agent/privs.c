/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "base/util.h"
#include "privs.h"

static int parse_id(const char *s, unsigned long *ret) {
        char *end;
        if (!*s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end || v >= (unsigned long)(uid_t)-1)
                return -EINVAL;
        *ret = v;
        return 0;
}

int privs_lookup(const char *user, uid_t *ret_uid, gid_t *ret_gid) {
        unsigned long u, g;
        char buf[64];
        const char *colon = strchr(user, ':');
        if (colon && (size_t)(colon - user) < sizeof buf) { /* UID:GID */
                memcpy(buf, user, (size_t)(colon - user));
                buf[colon - user] = 0;
                if (parse_id(buf, &u) < 0 || parse_id(colon + 1, &g) < 0)
                        return -EINVAL;
                *ret_uid = (uid_t)u;
                *ret_gid = (gid_t)g;
                return 0;
        }
        bool numeric = parse_id(user, &u) == 0;
        FILE *f = fopen("/etc/passwd", "re");
        if (!f)
                return numeric ? (*ret_uid = (uid_t)u, *ret_gid = (gid_t)u, 0) : -errno;
        char line[1024];
        int r = numeric ? 0 : -ENOENT;
        if (numeric) { /* its passwd group if it has a line, else the same number */
                *ret_uid = (uid_t)u;
                *ret_gid = (gid_t)u;
        }
        while (fgets(line, sizeof line, f)) {
                /* name:password:uid:gid:... */
                char *save = NULL, *name = strtok_r(line, ":", &save), *pw = strtok_r(NULL, ":", &save);
                char *su = strtok_r(NULL, ":", &save), *sg = strtok_r(NULL, ":\n", &save);
                unsigned long lu, lg;
                if (!name || !pw || !su || !sg || parse_id(su, &lu) < 0 || parse_id(sg, &lg) < 0)
                        continue;
                if (numeric ? lu == u : !strcmp(name, user)) {
                        *ret_uid = (uid_t)lu;
                        *ret_gid = (gid_t)lg;
                        r = 0;
                        break;
                }
        }
        fclose(f);
        return r;
}

int privs_drop(uid_t uid, gid_t gid) {
        if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
                return -errno;
        if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
                return -EPERM; /* root came back: refuse to go on */
        return 0;
}

int privs_no_new(void) {
        return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
}
