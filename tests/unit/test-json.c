/* json: the JSON-to-msgpack converter against jansson, an independent JSON
 * parser: random documents (built and printed by jansson, compact or
 * indented, ASCII-escaped or not) and random one-byte mutations of them
 * must be accepted or refused alike, and accepted ones give the same tree.
 * Also: every proper prefix of a value is "incomplete" while more input
 * may come, and hand-checked error positions and number forms. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "data/json.h"
#include "data/records.h"

/* 1 when the msgpack at c equals the jansson value v. */
static int same(ft_mp_cursor *c, json_t *v)
{
    uint32_t n;
    const char *s;
    size_t len;
    int64_t i;
    double d;

    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        if (ft_mp_map(c, &n, NULL) < 0 || n != json_object_size(v))
            return 0;
        json_object_foreach(v, key, val)
        {
            if (ft_mp_str(c, &s, &len, NULL) < 0 || len != strlen(key) ||
                memcmp(s, key, len) || !same(c, val))
                return 0;
        }
        return 1;
    }
    case JSON_ARRAY:
        if (ft_mp_array(c, &n, NULL) < 0 || n != json_array_size(v))
            return 0;
        for (uint32_t k = 0; k < n; k++)
            if (!same(c, json_array_get(v, k)))
                return 0;
        return 1;
    case JSON_STRING:
        return ft_mp_str(c, &s, &len, NULL) == 0 && len == json_string_length(v) &&
               memcmp(s, json_string_value(v), len) == 0;
    case JSON_INTEGER:
        return ft_mp_int(c, &i, NULL) == 0 && i == json_integer_value(v);
    case JSON_REAL:
        return c->p[0] == 0xcb && ft_mp_num(c, &d, NULL) == 0 && d == json_real_value(v);
    case JSON_TRUE:
    case JSON_FALSE:
        if (c->p >= c->end || c->p[0] != (json_is_true(v) ? 0xc3 : 0xc2))
            return 0;
        c->p++;
        return 1;
    case JSON_NULL:
        if (c->p >= c->end || c->p[0] != 0xc0)
            return 0;
        c->p++;
        return 1;
    }
    return 0;
}

/* Convert the whole text; 1 accepted (and only whitespace after), 0 not. */
static int convert_all(ft_json *j, const char *s, size_t n)
{
    size_t used;
    ft_err err;
    uint64_t l = 0;
    if (ft_json_convert(j, s, n, 1, &used, &err) != FT_JSON_DONE)
        return 0;
    return used + ft_json_skip_space(s + used, n - used, &l) == n;
}

static uint32_t random_cp(ft_rng *r)
{
    switch (ft_rng_below(r, 5)) {
    case 0:
        return (uint32_t)ft_rng_below(r, 0x20);     /* control: escaped */
    case 1:
        return "\"\\/ab"[ft_rng_below(r, 5)];
    case 2:
        return 0x80 + (uint32_t)ft_rng_below(r, 0x800 - 0x80);
    case 3: {
        uint32_t cp = 0x800 + (uint32_t)ft_rng_below(r, 0x10000 - 0x800);
        return cp >= 0xD800 && cp <= 0xDFFF ? 0xE9 : cp;
    }
    default:
        return 0x10000 + (uint32_t)ft_rng_below(r, 0x110000 - 0x10000);
    }
}

static json_t *random_value(ft_rng *r, int depth)
{
    int kind = (int)ft_rng_below(r, depth > 3 ? 5 : 7);
    char buf[256];
    size_t n = 0;

    switch (kind) {
    case 0:
        return json_integer((json_int_t)(ft_rng_u64(r) >> ft_rng_below(r, 64)) *
                            (ft_rng_below(r, 2) ? 1 : -1));
    case 1: {
        double d = (ft_rng_uniform(r) - 0.5) * 1e6;
        if (ft_rng_below(r, 3) == 0)
            d *= 1e-300;
        return json_real(d);
    }
    case 2: {
        int len = (int)ft_rng_below(r, 40);
        for (int i = 0; i < len && n + 4 < sizeof buf; i++) {
            uint32_t cp = random_cp(r);
            if (cp < 0x80)
                buf[n++] = (char)cp;
            else if (cp < 0x800) {
                buf[n++] = (char)(0xC0 | cp >> 6);
                buf[n++] = (char)(0x80 | (cp & 63));
            } else if (cp < 0x10000) {
                buf[n++] = (char)(0xE0 | cp >> 12);
                buf[n++] = (char)(0x80 | ((cp >> 6) & 63));
                buf[n++] = (char)(0x80 | (cp & 63));
            } else {
                buf[n++] = (char)(0xF0 | cp >> 18);
                buf[n++] = (char)(0x80 | ((cp >> 12) & 63));
                buf[n++] = (char)(0x80 | ((cp >> 6) & 63));
                buf[n++] = (char)(0x80 | (cp & 63));
            }
        }
        return json_stringn(buf, n);
    }
    case 3:
        return ft_rng_below(r, 2) ? json_true() : json_false();
    case 4:
        return json_null();
    case 5: {
        json_t *a = json_array();
        int len = (int)ft_rng_below(r, 20);
        for (int i = 0; i < len; i++)
            json_array_append_new(a, random_value(r, depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        int len = (int)ft_rng_below(r, 20);
        for (int i = 0; i < len; i++) {
            snprintf(buf, sizeof buf, "k%d\xc3\xa9%llu", i,
                     (unsigned long long)ft_rng_below(r, 1000));
            json_object_set_new(o, buf, random_value(r, depth + 1));
        }
        return o;
    }
    }
}

static void test_random(void)
{
    ft_rng r;
    ft_json j = {0};
    int accepted = 0, refused = 0;

    ft_rng_seed(&r, 42, 0);
    for (int doc = 0; doc < 400; doc++) {
        json_t *v = random_value(&r, 0);
        size_t flags = JSON_ENCODE_ANY | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17);
        if (doc % 2)
            flags |= JSON_COMPACT;
        else
            flags |= JSON_INDENT(2);
        if (doc % 3 == 0)
            flags |= JSON_ENSURE_ASCII;
        char *text = json_dumps(v, flags);
        size_t n = strlen(text);

        /* The document itself. */
        CHECK_MSG(convert_all(&j, text, n), "refused: %.200s", text);
        ft_mp_cursor c = {j.buf, j.buf + j.len};
        CHECK_MSG(same(&c, v) && c.p == c.end, "differs: %.200s", text);

        /* Every proper prefix of a container is incomplete. */
        if (json_is_object(v) || json_is_array(v))
            for (size_t k = 0; k < n; k += 1 + k / 8) {
                size_t used;
                ft_err err;
                CHECK_MSG(ft_json_convert(&j, text, k, 0, &used, &err) ==
                              FT_JSON_INCOMPLETE,
                          "prefix %zu of %.100s", k, text);
            }

        /* One byte changed: jansson and the converter agree. */
        for (int m = 0; m < 20 && n > 0; m++) {
            char *bad = strdup(text);
            size_t at = (size_t)ft_rng_below(&r, n);
            /* (No NUL: jansson takes a NUL byte for the end of input.) */
            static const char subst[] = "{}[]\",:0-e.tn \\u\x01\xff";
            bad[at] = subst[ft_rng_below(&r, sizeof subst - 1)];
            json_error_t je;
            json_t *w = json_loadb(bad, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
            int ours = convert_all(&j, bad, n);
            if (w) {
                ft_mp_cursor c2 = {j.buf, j.buf + j.len};
                CHECK_MSG(ours && same(&c2, w), "jansson accepts: %.200s", bad);
                accepted++;
            } else if (!strstr(je.text, "too big") && !strstr(je.text, "overflow")) {
                CHECK_MSG(!ours, "jansson refuses (%s): %.200s", je.text, bad);
                refused++;
            }
            json_decref(w);
            free(bad);
        }
        free(text);
        json_decref(v);
    }
    CHECK(accepted > 100 && refused > 1000);
    ft_json_free(&j);
}

/* Hand-checked: number forms, escapes, error positions. */
static void test_cases(void)
{
    ft_json j = {0};
    ft_err err;
    size_t used;

    /* 2^63 does not fit int64 but fits uint64: cf + 8 bytes. */
    CHECK_INT(ft_json_convert(&j, "9223372036854775808", 19, 1, &used, &err), 1);
    CHECK(j.len == 9 && j.buf[0] == 0xcf && j.buf[1] == 0x80);
    /* -2^63 is int64's least: d3 80 00.. */
    CHECK_INT(ft_json_convert(&j, "-9223372036854775808", 20, 1, &used, &err), 1);
    CHECK(j.len == 9 && j.buf[0] == 0xd3 && j.buf[1] == 0x80);
    /* 2^64 is a float64: cb 43 f0 00 .. */
    CHECK_INT(ft_json_convert(&j, "18446744073709551616", 20, 1, &used, &err), 1);
    CHECK(j.len == 9 && j.buf[0] == 0xcb && j.buf[1] == 0x43 && j.buf[2] == 0xf0);
    /* -1 is a negative fixint, 1.0 a float. */
    CHECK_INT(ft_json_convert(&j, "-1", 2, 1, &used, &err), 1);
    CHECK(j.len == 1 && j.buf[0] == 0xff);
    CHECK_INT(ft_json_convert(&j, "1.0", 3, 1, &used, &err), 1);
    CHECK(j.len == 9 && j.buf[0] == 0xcb);
    /* "\ud83d\ude00" is U+1F600: f0 9f 98 80. */
    CHECK_INT(ft_json_convert(&j, "\"\\ud83d\\ude00\"", 14, 1, &used, &err), 1);
    CHECK(j.len == 5 && !memcmp(j.buf, "\xa4\xf0\x9f\x98\x80", 5));
    /* A 40-byte string takes str8 (d9 28). */
    CHECK_INT(ft_json_convert(&j, "\"0123456789012345678901234567890123456789\"", 42, 1,
                              &used, &err), 1);
    CHECK(j.len == 42 && j.buf[0] == 0xd9 && j.buf[1] == 40);
    /* 16 elements need array16 (dc 00 10). */
    CHECK_INT(ft_json_convert(&j, "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]", 33, 1, &used, &err),
              1);
    CHECK(j.len == 19 && j.buf[0] == 0xdc && j.buf[1] == 0 && j.buf[2] == 16);
    /* Only the first value is consumed. */
    CHECK_INT(ft_json_convert(&j, "{} {}", 5, 1, &used, &err), 1);
    CHECK_INT(used, 2);

    /* Errors and where they are. */
    CHECK_INT(ft_json_convert(&j, "{\"a\" 1}", 7, 1, &used, &err), -1);
    CHECK_INT(j.err_at, 5);
    CHECK_STR(err.msg, "invalid JSON: expected ':' after a key, found '1'");
    CHECK_INT(ft_json_convert(&j, "[1,]", 4, 1, &used, &err), -1);
    CHECK_INT(j.err_at, 3);
    CHECK_INT(ft_json_convert(&j, "\"a\tb\"", 5, 1, &used, &err), -1);
    CHECK_INT(j.err_at, 2);
    CHECK_INT(ft_json_convert(&j, "\"\\ud800x\"", 9, 1, &used, &err), -1);
    CHECK_STR(err.msg, "invalid JSON: lone surrogate in \\u escape");
    CHECK_INT(ft_json_convert(&j, "01", 2, 1, &used, &err), 1);
    CHECK_INT(used, 1);   /* "0", then the caller meets "1" */
    CHECK_INT(ft_json_convert(&j, "{\"a\":\"x\xc3(\"}", 11, 1, &used, &err), -1);
    CHECK_INT(j.err_at, 7);
    CHECK_INT(ft_json_convert(&j, "[1", 2, 1, &used, &err), -1);
    CHECK_STR(err.msg, "invalid JSON: unexpected end of input");

    /* --fix-utf8: bad bytes and lone surrogates become U+FFFD. */
    j.fix_utf8 = 1;
    CHECK_INT(ft_json_convert(&j, "\"a\xff\\udc00\"", 11, 1, &used, &err), 1);
    CHECK(j.len == 8 && !memcmp(j.buf, "\xa7" "a\xef\xbf\xbd\xef\xbf\xbd", 8));
    CHECK_INT(j.n_fixed, 2);
    ft_json_free(&j);
}

int main(void)
{
    test_cases();
    test_random();
    return check_done();
}
