/* SPDX-License-Identifier: MIT */
/*
 * Receiving the non-file entries of a tree: directories and symbolic
 * links.  Each gets its own FILE_STATUS, like a file.  A directory is made
 * owner-writable first and gets its real mode and mtime when the sender
 * says it is complete (MKDIR with FY_MK_ATTRS), after its contents - else
 * writing into it, or its mtime, would be spoiled.  A symbolic link is
 * created under a temporary name and renamed into place; its target is
 * stored as given and never followed here (paths resolve beneath the root).
 * The caller checks that no file is open (entries never interleave).
 */
#pragma once

struct sctx;
struct place;
struct commits;
struct fy_mkdir;
struct fy_symlink;

int entry_on_mkdir(struct sctx *c, struct place *pl, struct commits *cm, const struct fy_mkdir *m);
int entry_on_symlink(struct sctx *c, struct place *pl, const struct fy_symlink *l);
