/* utf8: checking and repairing UTF-8 (see utf8.h). */
#include "data/utf8.h"

#include <string.h>

/* The Unicode table of well-formed sequences (Table 3-7): the lead byte
 * fixes the length and the range of the second byte. */
static size_t seq_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (i = 2; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

size_t ft_utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        /* ASCII runs are the common case: test eight bytes at a time. */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ull)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = seq_len(p + i, n - i);
        if (len == 0)
            return i;
        i += len;
    }
    return n;
}

size_t ft_utf8_bad_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t want, i;

    /* A maximal subpart: the longest prefix of a well-formed sequence. */
    if (c >= 0xC2 && c <= 0xDF)
        want = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        want = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        want = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else
        return 1;
    if (n < 2 || p[1] < lo || p[1] > hi)
        return 1;
    for (i = 2; i < want && i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            break;
    return i;
}

int ft_utf8_fix(const char *s, size_t n, char **out, size_t *cap, size_t *out_len,
                size_t *n_fixed, ft_err *err)
{
    size_t i = 0, o = 0;

    *n_fixed = 0;
    /* At worst every byte becomes three. */
    if (ft_grow(out, cap, n * 3 + 1, 1, err) < 0)
        return -1;
    while (i < n) {
        size_t good = ft_utf8_valid_prefix(s + i, n - i);
        memcpy(*out + o, s + i, good);
        o += good;
        i += good;
        if (i >= n)
            break;
        i += ft_utf8_bad_len(s + i, n - i);
        memcpy(*out + o, "\xEF\xBF\xBD", 3);
        o += 3;
        (*n_fixed)++;
    }
    *out_len = o;
    return 0;
}

int ft_utf8_encode(uint32_t cp, char *out)
{
    unsigned char *p = (unsigned char *)out;

    if (cp < 0x80) {
        p[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        p[0] = (unsigned char)(0xC0 | (cp >> 6));
        p[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        p[0] = (unsigned char)(0xE0 | (cp >> 12));
        p[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        p[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    p[0] = (unsigned char)(0xF0 | (cp >> 18));
    p[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    p[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    p[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}
