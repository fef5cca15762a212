/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/text.h"

/* The length of the valid UTF-8 sequence at s (1..4), or 0 if there is
 * none there (a stray continuation byte, an overlong form, a surrogate, a
 * code point past U+10FFFF, a truncated sequence). */
static size_t utf8_len(const unsigned char *s, uint32_t *ret_cp) {
        unsigned char c = s[0];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
                *ret_cp = c;
                return 1;
        }
        if ((c & 0xe0) == 0xc0)
                n = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
                n = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
                n = 4, cp = c & 0x07, min = 0x10000;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80) /* (a NUL ends it too) */
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret_cp = cp;
        return n;
}

/* The escape for the character at s, if it needs one (else ""); *ret_n:
 * the bytes it takes. */
static const char *escape_at(const unsigned char *s, size_t *ret_n, char buf[8]) {
        uint32_t cp;
        size_t n = utf8_len(s, &cp);
        *ret_n = n ? n : 1;
        if (!n) {
                snprintf(buf, 8, "\\x%02x", s[0]);
                return buf;
        }
        switch (cp) {
        case 0x1b: return "\\e";
        case '\n': return "\\n";
        case '\r': return "\\r";
        case '\t': return "\\t";
        }
        if (cp < 0x20 || cp == 0x7f) {
                snprintf(buf, 8, "\\x%02x", (unsigned)cp);
                return buf;
        }
        if (cp >= 0x80 && cp <= 0x9f) {
                snprintf(buf, 8, "\\u%04x", (unsigned)cp);
                return buf;
        }
        return "";
}

char *text_escape(char *dst, size_t cap, const char *src) {
        size_t o = 0;
        if (cap == 0)
                return dst;
        const unsigned char *s = (const unsigned char *)src;
        while (*s) {
                char buf[8];
                size_t n;
                const char *e = escape_at(s, &n, buf);
                const char *out = *e ? e : (const char *)s;
                size_t len = *e ? strlen(e) : n;
                if (o + len >= cap)
                        break;
                memcpy(dst + o, out, len);
                o += len;
                s += n;
        }
        dst[o] = 0;
        return dst;
}

bool text_needs_escape(const char *src) {
        for (const unsigned char *s = (const unsigned char *)src; *s;) {
                char buf[8];
                size_t n;
                if (*escape_at(s, &n, buf))
                        return true;
                s += n;
        }
        return false;
}
