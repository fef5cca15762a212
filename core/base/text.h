/* SPDX-License-Identifier: MIT */
/*
 * Text from a peer, made safe for a terminal.  A hostile guest's error
 * text or entry name must not clear the screen, retitle the window or
 * forge a line of ours: control characters are shown as escapes - \e for
 * ESC, \n, \r, \t, \xNN for the rest of C0 and DEL, \u0080..\u009f for the
 * C1 controls as UTF-8 encodes them - and so is any byte that is not part
 * of valid UTF-8 (\xNN).  A backslash stays as it is, so escaping twice
 * changes nothing (what ferry prints may pass through here more than once).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* Write src escaped into dst (cap bytes, always NUL-terminated, cut at a
 * whole character or escape).  Returns dst. */
char *text_escape(char *dst, size_t cap, const char *src);
/* Whether text_escape would change s. */
bool text_needs_escape(const char *s);
