/* SPDX-License-Identifier: MIT */
/*
 * Where a received entry goes.  The guest takes FILE_BEGIN's word (dest,
 * name, flags) beneath its root.  The host asks its agent for its GETs
 * (session_ops.recv_target), and places the entries of a pulled tree
 * beneath the tree's top directory, once that is made - never through a
 * symlink, never above it, whatever names the guest sends.
 *
 * And the session's scratch directory (bench mode, MKDIR FY_MK_SCRATCH):
 * made new by this session, removed with everything in it when the session
 * ends - so a measurement that writes real files leaves nothing behind.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "fs/pathsafe.h"
#include "session/session.h"

struct sctx;

struct place {
        uint32_t tree_id;         /* the GET whose tree is arriving (0: none) */
        struct file_result tree;  /* its verdict so far */
        struct fsroot root;       /* its top directory, once made */
        bool root_open;
        /* the scratch directory: its parent and its name there */
        bool scratch;
        int scratch_dirfd;
        char scratch_name[FY_MAX_NAME + 1];
};

struct place_dest {
        const char *dest, *name;  /* as for dest_resolve (fs/pathsafe.h) */
        uint32_t flags;
        uint32_t group;           /* the tree it belongs to (0: none) */
        struct fsroot *root;
};

/* Where the file of FILE_BEGIN b (or its RESUME_QUERY) goes.  -EPROTO for a
 * transfer this side did not ask for. */
int place_target(struct place *p, const struct sctx *c, const struct fy_file_begin *b, struct place_dest *ret);

/* A pulled tree's top directory (MKDIR without FY_MK_ATTRS, the GET's id)
 * opens it: -EPROTO when one is open already. */
int place_tree_begin(struct place *p, uint32_t id);
/* The top directory is made at dir: every other entry resolves beneath it. */
int place_tree_root(struct place *p, const char *dir);
/* An entry's verdict counts toward the tree. */
void place_tree_account(struct place *p, const struct file_result *res);
/* Make dest (beneath root) the session's scratch directory: it must not
 * exist (-EEXIST: nothing that was there is ever removed); one per session
 * (-EBUSY). */
int place_scratch_make(struct place *p, struct fsroot *root, const char *dest);
/* Remove the scratch directory and all in it, if there is one. */
void place_scratch_remove(struct place *p);
/* The session is over: the tree closed, the scratch directory removed. */
void place_close(struct place *p);
