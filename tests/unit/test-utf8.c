/* utf8: validity and U+FFFD repair, against the Unicode Standard's own
 * example of "substitution of maximal subparts" (chapter 3, U+FFFD
 * substitution) and hand-worked cases for overlongs, surrogates and code
 * points past U+10FFFF. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "data/utf8.h"

#define R "\xEF\xBF\xBD"

static void check_fix(const char *in, size_t n, const char *want, size_t want_fixed)
{
    char *out = NULL;
    size_t cap = 0, len, fixed;
    ft_err err;
    CHECK(ft_utf8_fix(in, n, &out, &cap, &len, &fixed, &err) == 0);
    CHECK_MSG(len == strlen(want) && !memcmp(out, want, len), "repair of %zu bytes", n);
    CHECK_INT(fixed, want_fixed);
    free(out);
}

int main(void)
{
    /* The standard's example: a FFFD FFFD FFFD b FFFD c FFFD FFFD d. */
    const char ex[] = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
    check_fix(ex, sizeof ex - 1, "a" R R R "b" R "c" R R "d", 6);
    CHECK_INT(ft_utf8_valid_prefix(ex, sizeof ex - 1), 1);

    /* Overlong NUL, a surrogate, past U+10FFFF: each byte on its own. */
    check_fix("\xC0\x80", 2, R R, 2);
    check_fix("\xED\xA0\x80", 3, R R R, 3);
    check_fix("\xF4\x90\x80\x80", 4, R R R R, 4);
    /* A sequence cut by the end of input is one replacement. */
    check_fix("ok\xF0\x9F\x98", 5, "ok" R, 1);

    /* Valid text of every length passes whole. */
    const char good[] = "plain \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF end";
    CHECK_INT(ft_utf8_valid_prefix(good, sizeof good - 1), sizeof good - 1);
    check_fix(good, sizeof good - 1, good, 0);
    /* The first bad byte after a long ASCII run (the 8-byte fast path). */
    CHECK_INT(ft_utf8_valid_prefix("0123456789abcdef\x80", 17), 16);
    CHECK_INT(ft_utf8_valid_prefix("\xE2\x82\xAC\xE2\x82", 5), 3);

    /* Encoding at each length boundary. */
    char b[4];
    CHECK_INT(ft_utf8_encode(0x7F, b), 1);
    CHECK_INT(ft_utf8_encode(0x80, b), 2);
    CHECK(!memcmp(b, "\xC2\x80", 2));
    CHECK_INT(ft_utf8_encode(0xFFFD, b), 3);
    CHECK(!memcmp(b, R, 3));
    CHECK_INT(ft_utf8_encode(0x10FFFF, b), 4);
    CHECK(!memcmp(b, "\xF4\x8F\xBF\xBF", 4));
    return check_done();
}
