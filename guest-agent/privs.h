/* SPDX-License-Identifier: MIT */
/* ferryd gives up what it does not need once it holds what it needs. */
#pragma once

#include <sys/types.h>

/* A user: a name from /etc/passwd (read by hand: ferryd is static, with no
 * NSS), or UID or UID:GID.  -ENOENT for an unknown name, -EINVAL. */
int privs_lookup(const char *user, uid_t *ret_uid, gid_t *ret_gid);
/* Become uid/gid for good (supplementary groups: gid alone), and check
 * that root cannot be had back.  For after the listener and the root
 * directory are open. */
int privs_drop(uid_t uid, gid_t gid);
/* No exec of ours, nor of anything, may gain privileges (setuid bits,
 * file capabilities): PR_SET_NO_NEW_PRIVS. */
int privs_no_new(void);
