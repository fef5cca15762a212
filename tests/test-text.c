/* SPDX-License-Identifier: MIT */
/* base/text: peer text made safe for a terminal. */
#include <string.h>

#include "base/text.h"
#include "check.h"

static void esc(const char *in, const char *want) {
        char out[256];
        CHECK_EQ_STR(text_escape(out, sizeof out, in), want);
        CHECK(text_needs_escape(in) == (strcmp(in, want) != 0));
        /* Escaping again changes nothing. */
        char again[256];
        CHECK_EQ_STR(text_escape(again, sizeof again, out), out);
        CHECK(!text_needs_escape(out));
}

int main(void) {
        esc("plain text, a/b.bin", "plain text, a/b.bin");
        esc("", "");
        esc("\033]0;pwned\007\033[2J", "\\e]0;pwned\\x07\\e[2J");
        esc("line\r\nnext\tcol", "line\\r\\nnext\\tcol");
        esc("del\x7f", "del\\x7f");
        esc("back\\slash", "back\\slash");
        /* UTF-8 stays; C1 controls (U+009B CSI) and broken UTF-8 do not. */
        esc("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
        esc("\xc2\x9b" "31m", "\\u009b31m");
        esc("\x9b" "31m", "\\x9b31m");
        esc("\xc0\xaf", "\\xc0\\xaf");       /* overlong '/' */
        esc("\xed\xa0\x80", "\\xed\\xa0\\x80"); /* a surrogate */
        esc("\xe2\x82", "\\xe2\\x82");       /* truncated */
        /* Cut at a whole escape, always terminated. */
        char small[5];
        CHECK_EQ_STR(text_escape(small, sizeof small, "ab\033cd"), "ab\\e");
        CHECK_EQ_STR(text_escape(small, sizeof small, "abc\033"), "abc");
        CHECK_EQ_STR(text_escape(small, sizeof small, "abcdefgh"), "abcd");
        return check_done();
}
