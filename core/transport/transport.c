/* SPDX-License-Identifier: MIT */
/*
 * Target strings, and the choice of a kind's ops (tr-int.h) for
 * target_connect and the listener, as wireguard-tools' ipc.c picks a
 * backend.  What a kind does lives in its tr-KIND.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/tr-int.h"
#include "base/util.h"

static int parse_u32(const char *s, uint32_t *ret) {
        char *end;
        if (*s < '0' || *s > '9') /* strtoul would take spaces and signs */
                return -EINVAL;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end || v > UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t)v;
        return 0;
}

static int copy_path(char *dst, size_t cap, const char *s) {
        if (!*s)
                return -EINVAL;
        if (strlen(s) >= cap)
                return -ENAMETOOLONG;
        strcpy(dst, s);
        return 0;
}

int target_parse(const char *s, struct target *ret) {
        struct target t = { .cid = VSOCK_CID_ANY };
        const char *colon = strchr(s, ':');
        if (!colon)
                return -EINVAL;
        size_t klen = (size_t)(colon - s);
        const char *rest = colon + 1;
        int r;

        if (klen == 4 && !strncmp(s, "unix", 4)) {
                t.kind = TARGET_UNIX;
                r = copy_path(t.path, sizeof t.path, rest);
        } else if (klen == 6 && !strncmp(s, "serial", 6)) {
                t.kind = TARGET_SERIAL;
                r = copy_path(t.path, sizeof t.path, rest);
        } else if (klen == 2 && !strncmp(s, "fc", 2)) {
                /* fc:PATH:PORT - the port is after the last colon */
                t.kind = TARGET_FC;
                const char *p = strrchr(rest, ':');
                if (!p)
                        return -EINVAL;
                char path[TARGET_PATH_MAX + 1];
                if ((size_t)(p - rest) > TARGET_PATH_MAX)
                        return -ENAMETOOLONG;
                memcpy(path, rest, (size_t)(p - rest));
                path[p - rest] = 0;
                r = copy_path(t.path, sizeof t.path, path);
                if (r == 0)
                        r = parse_u32(p + 1, &t.port);
        } else if (klen == 5 && !strncmp(s, "vsock", 5)) {
                t.kind = TARGET_VSOCK;
                const char *p = strchr(rest, ':');
                if (!p || strchr(p + 1, ':'))
                        return -EINVAL;
                char cid[16];
                if ((size_t)(p - rest) >= sizeof cid)
                        return -EINVAL;
                memcpy(cid, rest, (size_t)(p - rest));
                cid[p - rest] = 0;
                r = cid[0] ? parse_u32(cid, &t.cid) : 0;
                if (r == 0)
                        r = parse_u32(p + 1, &t.port);
        } else if (klen == 3 && !strncmp(s, "tcp", 3)) {
                t.kind = TARGET_TCP;
                const char *p = strrchr(rest, ':');
                if (!p)
                        return -EINVAL;
                size_t hlen = (size_t)(p - rest);
                const char *h = rest;
                if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') { /* [v6]:port */
                        h++;
                        hlen -= 2;
                }
                if (hlen >= sizeof t.host)
                        return -EINVAL;
                memcpy(t.host, h, hlen);
                t.host[hlen] = 0;
                r = parse_u32(p + 1, &t.port);
                if (r == 0 && (t.port == 0 || t.port > 65535))
                        r = -EINVAL;
        } else {
                return -EINVAL;
        }
        if (r < 0)
                return r;
        *ret = t;
        return 0;
}

const char *target_kind_name(enum target_kind kind) {
        switch (kind) {
        case TARGET_UNIX: return "unix";
        case TARGET_TCP: return "tcp";
        case TARGET_VSOCK: return "vsock";
        case TARGET_SERIAL: return "serial";
        case TARGET_FC: return "fc";
        }
        return "?";
}

void target_format(const struct target *t, char *buf, size_t len) {
        switch (t->kind) {
        case TARGET_UNIX:
        case TARGET_SERIAL:
                snprintf(buf, len, "%s:%s", target_kind_name(t->kind), t->path);
                break;
        case TARGET_FC:
                snprintf(buf, len, "fc:%s:%u", t->path, t->port);
                break;
        case TARGET_TCP:
                snprintf(buf, len, strchr(t->host, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u", t->host, t->port);
                break;
        case TARGET_VSOCK:
                if (t->cid == VSOCK_CID_ANY)
                        snprintf(buf, len, "vsock::%u", t->port);
                else
                        snprintf(buf, len, "vsock:%u:%u", t->cid, t->port);
                break;
        }
}

static const struct transport_ops *const ops_by_kind[] = {
        [TARGET_UNIX] = &tr_unix_ops,
        [TARGET_TCP] = &tr_tcp_ops,
        [TARGET_VSOCK] = &tr_vsock_ops,
        [TARGET_SERIAL] = &tr_serial_ops,
        [TARGET_FC] = &tr_fc_ops,
};

static const struct transport_ops *ops_of(enum target_kind kind) {
        return (unsigned)kind < ARRAY_SIZE(ops_by_kind) ? ops_by_kind[kind] : NULL;
}

int target_connect(const struct target *t, int timeout_ms, int *ret_fd) {
        const struct transport_ops *ops = ops_of(t->kind);
        if (!ops || !ops->connect)
                return -EINVAL;
        return ops->connect(t, timeout_ms, ret_fd);
}

int listener_open(const struct target *t, uint32_t allow_cid, struct listener *ret) {
        const struct transport_ops *ops = ops_of(t->kind);
        if (!ops || !ops->listen)
                return -EOPNOTSUPP; /* fc is a host-side muxer, the guest uses vsock */
        struct listener l = { .target = *t, .fd = -EBADF, .sigfd = -EBADF, .allow_cid = allow_cid, .stop_fd = -1 };
        int r = ops->listen(&l);
        if (r < 0)
                return r;
        *ret = l;
        return 0;
}

int listener_next(struct listener *l, int timeout_ms, int *ret_fd) {
        const struct transport_ops *ops = ops_of(l->target.kind);
        if (!ops || !ops->next)
                return -EINVAL; /* not a listener listener_open made */
        return ops->next(l, timeout_ms, ret_fd);
}

void listener_close(struct listener *l) {
        l->fd = safe_close(l->fd);
        l->sigfd = safe_close(l->sigfd);
}
