/* json: JSON text to msgpack without a tree (see json.h).
 *
 * A recursive-descent parser that writes msgpack as it goes. Containers
 * and escaped strings get a 5-byte header first, patched and shrunk to the
 * smallest msgpack form once their size is known. Running off the end of
 * the window is "incomplete" unless the input has ended, which makes it
 * "unexpected end of input". */
#include "data/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/utf8.h"

typedef struct parser {
    ft_json *j;
    const unsigned char *s, *p, *end;
    int at_end;
    int incomplete;
    ft_err *err;
} parser;

/* Bytes that may appear in a string as they are and are ASCII. */
static unsigned char plain[256];
static int plain_ready;

static void plain_init(void)
{
    for (int c = 0; c < 256; c++)
        plain[c] = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
    plain_ready = 1;
}

static int fail(parser *ps, const unsigned char *at, const char *fmt, const char *arg)
{
    char msg[160];

    if (at >= ps->end && !ps->at_end) {
        ps->incomplete = 1;
        return -1;
    }
    if (at >= ps->end)
        fmt = "unexpected end of input";
    snprintf(msg, sizeof msg, fmt, arg);
    ps->j->err_at = (size_t)(at - ps->s);
    return ft_err_set(ps->err, "invalid JSON: %s", msg);
}

/* "'x'" or "byte 0xNN" for a message. */
static const char *show_char(const unsigned char *at, const unsigned char *end, char *tmp)
{
    if (at >= end)
        return "end of input";
    if (*at >= 0x21 && *at < 0x7f)
        sprintf(tmp, "'%c'", *at);
    else
        sprintf(tmp, "byte 0x%02X", *at);
    return tmp;
}

static int reserve(parser *ps, size_t n)
{
    ft_json *j = ps->j;
    if (j->cap - j->len >= n)
        return 0;
    return ft_grow(&j->buf, &j->cap, j->len + n, 1, ps->err);
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static int put_uint(parser *ps, uint64_t v)
{
    uint8_t *o;
    if (reserve(ps, 9) < 0)
        return -1;
    o = ps->j->buf + ps->j->len;
    if (v < 128) {
        o[0] = (uint8_t)v;
        ps->j->len += 1;
    } else if (v <= 0xff) {
        o[0] = 0xcc;
        o[1] = (uint8_t)v;
        ps->j->len += 2;
    } else if (v <= 0xffff) {
        o[0] = 0xcd;
        put_be(o + 1, v, 2);
        ps->j->len += 3;
    } else if (v <= 0xffffffffu) {
        o[0] = 0xce;
        put_be(o + 1, v, 4);
        ps->j->len += 5;
    } else {
        o[0] = 0xcf;
        put_be(o + 1, v, 8);
        ps->j->len += 9;
    }
    return 0;
}

static int put_neg(parser *ps, int64_t v)
{
    uint8_t *o;
    if (reserve(ps, 9) < 0)
        return -1;
    o = ps->j->buf + ps->j->len;
    if (v >= -32) {
        o[0] = (uint8_t)(int8_t)v;
        ps->j->len += 1;
    } else if (v >= -128) {
        o[0] = 0xd0;
        o[1] = (uint8_t)(int8_t)v;
        ps->j->len += 2;
    } else if (v >= -32768) {
        o[0] = 0xd1;
        put_be(o + 1, (uint64_t)v, 2);
        ps->j->len += 3;
    } else if (v >= INT32_MIN) {
        o[0] = 0xd2;
        put_be(o + 1, (uint64_t)v, 4);
        ps->j->len += 5;
    } else {
        o[0] = 0xd3;
        put_be(o + 1, (uint64_t)v, 8);
        ps->j->len += 9;
    }
    return 0;
}

static int put_double(parser *ps, double d)
{
    uint64_t bits;
    if (reserve(ps, 9) < 0)
        return -1;
    memcpy(&bits, &d, 8);
    ps->j->buf[ps->j->len] = 0xcb;
    put_be(ps->j->buf + ps->j->len + 1, bits, 8);
    ps->j->len += 9;
    return 0;
}

static int put_bytes(parser *ps, const void *p, size_t n)
{
    if (reserve(ps, n) < 0)
        return -1;
    memcpy(ps->j->buf + ps->j->len, p, n);
    ps->j->len += n;
    return 0;
}

/* A string header for n bytes in its smallest form. */
static int put_str_header(parser *ps, size_t n)
{
    uint8_t h[5];
    int k;
    if (n <= 31) {
        h[0] = (uint8_t)(0xa0 | n);
        k = 1;
    } else if (n <= 0xff) {
        h[0] = 0xd9;
        h[1] = (uint8_t)n;
        k = 2;
    } else if (n <= 0xffff) {
        h[0] = 0xda;
        put_be(h + 1, n, 2);
        k = 3;
    } else {
        h[0] = 0xdb;
        put_be(h + 1, n, 4);
        k = 5;
    }
    return put_bytes(ps, h, (size_t)k);
}

/* Patch the 5-byte placeholder at h (a string, map or array whose body
 * follows it) with its smallest header, sliding the body down. */
static void patch_header(ft_json *j, size_t h, uint64_t n, int kind)
{
    uint8_t *b = j->buf + h;
    size_t body = j->len - h - 5;
    int k;

    if (kind == 's' && n <= 31) {
        b[0] = (uint8_t)(0xa0 | n);
        k = 1;
    } else if (kind == 's' && n <= 0xff) {
        b[0] = 0xd9;
        b[1] = (uint8_t)n;
        k = 2;
    } else if (kind != 's' && n <= 15) {
        b[0] = (uint8_t)((kind == 'm' ? 0x80 : 0x90) | n);
        k = 1;
    } else if (n <= 0xffff) {
        b[0] = kind == 's' ? 0xda : kind == 'm' ? 0xde : 0xdc;
        put_be(b + 1, n, 2);
        k = 3;
    } else {
        b[0] = kind == 's' ? 0xdb : kind == 'm' ? 0xdf : 0xdd;
        put_be(b + 1, n, 4);
        k = 5;
    }
    if (k < 5) {
        memmove(b + k, b + 5, body);
        j->len -= (size_t)(5 - k);
    }
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end) {
        unsigned char c = *ps->p;
        if (c != ' ' && c != '\n' && c != '\t' && c != '\r')
            break;
        ps->p++;
    }
}

size_t ft_json_skip_space(const char *s, size_t n, uint64_t *lines)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) {
        if (s[i] == '\n')
            (*lines)++;
        i++;
    }
    return i;
}

static int parse_value(parser *ps, int depth);

static int hex4(parser *ps, const unsigned char *p, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        if (p + i >= ps->end)
            return fail(ps, p + i, "%s", "");
        unsigned char c = p[i];
        *v <<= 4;
        if (c >= '0' && c <= '9')
            *v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            *v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            *v |= (uint32_t)(c - 'A' + 10);
        else
            return fail(ps, p + i, "%s", "bad \\u escape (four hex digits expected)");
    }
    return 0;
}

/* A \u escape at ps->p (pointing at the backslash), joining surrogate
 * pairs; appends the UTF-8 bytes. */
static int unicode_escape(parser *ps)
{
    const unsigned char *p = ps->p;
    uint32_t cp, lo;
    char u[4];

    if (hex4(ps, p + 2, &cp) < 0)
        return -1;
    p += 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        /* A high surrogate must be followed by \u and a low one. */
        if (p + 1 >= ps->end && !ps->at_end)
            return fail(ps, ps->end, "%s", "");
        if (p + 1 < ps->end && p[0] == '\\' && p[1] == 'u') {
            if (hex4(ps, p + 2, &lo) < 0)
                return -1;
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            } else {
                cp = 0xFFFFFFFF;
            }
        } else {
            cp = 0xFFFFFFFF;
        }
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        cp = 0xFFFFFFFF;
    }
    if (cp == 0xFFFFFFFF) {
        if (!ps->j->fix_utf8)
            return fail(ps, ps->p, "%s", "lone surrogate in \\u escape");
        ps->j->n_fixed++;
        cp = 0xFFFD;
    }
    ps->p = p;
    return put_bytes(ps, u, (size_t)ft_utf8_encode(cp, u));
}

/* Append text that may hold non-ASCII bytes, checking its UTF-8. */
static int put_text(parser *ps, const unsigned char *r, size_t n)
{
    while (n > 0) {
        size_t good = ft_utf8_valid_prefix((const char *)r, n);
        if (put_bytes(ps, r, good) < 0)
            return -1;
        if (good == n)
            return 0;
        if (!ps->j->fix_utf8)
            return fail(ps, r + good, "%s", "invalid UTF-8 in a string (--fix-utf8 replaces it)");
        size_t bad = ft_utf8_bad_len((const char *)r + good, n - good);
        if (put_bytes(ps, "\xEF\xBF\xBD", 3) < 0)
            return -1;
        ps->j->n_fixed++;
        r += good + bad;
        n -= good + bad;
    }
    return 0;
}

static int parse_string(parser *ps)
{
    const unsigned char *start = ps->p + 1, *p = start, *end = ps->end;
    size_t h;
    char tmp[16];

    /* Most strings are plain ASCII up to the closing quote. */
    while (p < end && plain[*p])
        p++;
    if (p < end && *p == '"') {
        if (put_str_header(ps, (size_t)(p - start)) < 0 ||
            put_bytes(ps, start, (size_t)(p - start)) < 0)
            return -1;
        ps->p = p + 1;
        return 0;
    }

    if (reserve(ps, 5) < 0)
        return -1;
    h = ps->j->len;
    ps->j->len += 5;
    p = start;
    for (;;) {
        const unsigned char *r = p;
        while (p < end && *p >= 0x20 && *p != '"' && *p != '\\')
            p++;
        if (p >= end)
            return fail(ps, end, "%s", "");
        if (put_text(ps, r, (size_t)(p - r)) < 0)
            return -1;
        if (*p == '"')
            break;
        if (*p < 0x20)
            return fail(ps, p, "control character %s in string (escape it)",
                        show_char(p, end, tmp));
        /* A backslash escape. */
        if (p + 1 >= end)
            return fail(ps, end, "%s", "");
        char c = 0;
        switch (p[1]) {
        case '"': c = '"'; break;
        case '\\': c = '\\'; break;
        case '/': c = '/'; break;
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u':
            ps->p = p;
            if (unicode_escape(ps) < 0)
                return -1;
            p = ps->p;
            continue;
        default:
            return fail(ps, p, "bad escape \\%s in string", (const char *)
                        show_char(p + 1, end, tmp));
        }
        if (put_bytes(ps, &c, 1) < 0)
            return -1;
        p += 2;
    }
    size_t len = ps->j->len - h - 5;
    if (len > 0xffffffffu)
        return fail(ps, p, "%s", "string longer than 4 GiB");
    patch_header(ps->j, h, len, 's');
    ps->p = p + 1;
    return 0;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int parse_number(parser *ps)
{
    const unsigned char *p = ps->p, *end = ps->end, *digits;
    int neg = 0, is_int = 1;
    char tmp[16];

    if (*p == '-') {
        neg = 1;
        p++;
    }
    digits = p;
    if (p >= end)
        return fail(ps, p, "%s", "");
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (p < end && is_digit(*p))
            p++;
    else
        return fail(ps, p, "invalid number: %s after '-'", show_char(p, end, tmp));
    if (p < end && *p == '.') {
        is_int = 0;
        p++;
        if (p >= end || !is_digit(*p))
            return fail(ps, p, "invalid number: %s after '.'", show_char(p, end, tmp));
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_int = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return fail(ps, p, "invalid number: %s in exponent", show_char(p, end, tmp));
        while (p < end && is_digit(*p))
            p++;
    }
    /* The number might go on in the next window. */
    if (p >= end && !ps->at_end)
        return fail(ps, end, "%s", "");

    if (is_int) {
        uint64_t v = 0;
        const unsigned char *q;
        int overflow = 0;
        for (q = digits; q < p; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (v > (UINT64_MAX - d) / 10) {
                overflow = 1;
                break;
            }
            v = v * 10 + d;
        }
        if (!overflow && !neg) {
            ps->p = p;
            return put_uint(ps, v);
        }
        if (!overflow && v <= (uint64_t)INT64_MAX + 1) {
            ps->p = p;
            if (v == 0)
                return put_uint(ps, 0);
            return put_neg(ps, v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v);
        }
    }

    /* Fractions, exponents and integers beyond 64 bits: float64. */
    size_t len = (size_t)(p - ps->p);
    char small[64], *buf = len < sizeof small ? small : malloc(len + 1);
    if (!buf)
        return ft_err_set(ps->err, "out of memory");
    memcpy(buf, ps->p, len);
    buf[len] = '\0';
    double d = strtod(buf, NULL);
    if (buf != small)
        free(buf);
    ps->p = p;
    return put_double(ps, d);
}

static int parse_literal(parser *ps)
{
    static const char *const words[] = {"true", "false", "null"};
    static const uint8_t codes[] = {0xc3, 0xc2, 0xc0};
    char tmp[16];

    for (int w = 0; w < 3; w++) {
        size_t n = strlen(words[w]), avail = (size_t)(ps->end - ps->p);
        if (*ps->p != (unsigned char)words[w][0])
            continue;
        if (avail < n && memcmp(ps->p, words[w], avail) == 0)
            return fail(ps, ps->end, "%s", "");
        if (avail < n || memcmp(ps->p, words[w], n) != 0)
            break;
        ps->p += n;
        return put_bytes(ps, &codes[w], 1);
    }
    return fail(ps, ps->p, "unexpected %s", show_char(ps->p, ps->end, tmp));
}

static int parse_container(parser *ps, int depth, int is_map)
{
    const unsigned char close = is_map ? '}' : ']';
    uint64_t count = 0;
    size_t h;
    char tmp[16];

    if (depth >= FT_JSON_MAX_DEPTH)
        return fail(ps, ps->p, "%s", "nested too deeply");
    if (reserve(ps, 5) < 0)
        return -1;
    h = ps->j->len;
    ps->j->len += 5;
    ps->p++;
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, ps->p, "%s", "");
    if (*ps->p == close) {
        ps->p++;
        patch_header(ps->j, h, 0, is_map ? 'm' : 'a');
        return 0;
    }
    for (;;) {
        skip_ws(ps);
        if (is_map) {
            if (ps->p >= ps->end || *ps->p != '"')
                return fail(ps, ps->p, "expected a string key, found %s",
                            show_char(ps->p, ps->end, tmp));
            if (parse_string(ps) < 0)
                return -1;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':')
                return fail(ps, ps->p, "expected ':' after a key, found %s",
                            show_char(ps->p, ps->end, tmp));
            ps->p++;
        }
        if (parse_value(ps, depth + 1) < 0)
            return -1;
        if (++count > 0xffffffffu)
            return fail(ps, ps->p, "%s", "too many elements");
        skip_ws(ps);
        if (ps->p >= ps->end)
            return fail(ps, ps->p, "%s", "");
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            break;
        }
        return fail(ps, ps->p, is_map ? "expected ',' or '}', found %s"
                                      : "expected ',' or ']', found %s",
                    show_char(ps->p, ps->end, tmp));
    }
    patch_header(ps->j, h, count, is_map ? 'm' : 'a');
    return 0;
}

static int parse_value(parser *ps, int depth)
{
    char tmp[16];

    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, ps->p, "%s", "");
    switch (*ps->p) {
    case '{':
        return parse_container(ps, depth, 1);
    case '[':
        return parse_container(ps, depth, 0);
    case '"':
        return parse_string(ps);
    case 't':
    case 'f':
    case 'n':
        return parse_literal(ps);
    default:
        if (*ps->p == '-' || is_digit(*ps->p))
            return parse_number(ps);
        return fail(ps, ps->p, "unexpected %s", show_char(ps->p, ps->end, tmp));
    }
}

int ft_json_convert(ft_json *j, const char *s, size_t n, int at_end, size_t *consumed,
                    ft_err *err)
{
    parser ps = {j, (const unsigned char *)s, (const unsigned char *)s,
                 (const unsigned char *)s + n, at_end, 0, err};

    if (!plain_ready)
        plain_init();
    j->len = 0;
    j->n_fixed = 0;
    if (parse_value(&ps, 0) < 0)
        return ps.incomplete ? FT_JSON_INCOMPLETE : -1;
    *consumed = (size_t)(ps.p - ps.s);
    return FT_JSON_DONE;
}

void ft_json_free(ft_json *j)
{
    free(j->buf);
    j->buf = NULL;
    j->len = j->cap = 0;
}
