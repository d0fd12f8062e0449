/* export: records to JSON Lines, CSV, TSV or text (see export.h). */
#include "data/export.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/utf8.h"

#define OUT_BUF_BYTES ((size_t)1 << 20)
#define MAX_DEPTH 512

struct ft_export {
    ft_export_opts o;
    const char *const *fields;
    size_t n_fields;
    int header;             /* write a header row */
    int fd;
    char *name;
    ft_textbuf out;         /* pending output */
    ft_textbuf cell;        /* one cell being rendered */
};

static const char *const default_columns[] = {"label", "text"};
static const char *const default_text[] = {"text"};

int ft_export_format_parse(const char *name)
{
    static const char *const names[] = {"jsonl", "csv", "tsv", "text"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, names[i]))
            return i;
    if (!strcmp(name, "json"))
        return FT_EXPORT_JSONL;
    return -1;
}

/* --- Text buffer ----------------------------------------------------------- */

static int tb_reserve(ft_textbuf *t, size_t n, ft_err *err)
{
    if (t->cap - t->len >= n)
        return 0;
    return ft_grow(&t->p, &t->cap, t->len + n, 1, err);
}

static int tb_put(ft_textbuf *t, const void *p, size_t n, ft_err *err)
{
    if (n == 0)
        return 0;
    if (tb_reserve(t, n, err) < 0)
        return -1;
    memcpy(t->p + t->len, p, n);
    t->len += n;
    return 0;
}

static int tb_puts(ft_textbuf *t, const char *s, ft_err *err)
{
    return tb_put(t, s, strlen(s), err);
}

/* --- msgpack reading ------------------------------------------------------- */

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static int truncated(ft_err *err)
{
    return ft_err_set(err, "truncated msgpack value");
}

/* --- JSON ------------------------------------------------------------------ */

/* JSON string escapes for ASCII: 0 plain, 1 a short escape, 2 \u00XX. */
static const char short_esc[32] = {['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n',
                                   ['\f'] = 'f', ['\r'] = 'r'};

static int json_string(ft_textbuf *t, const char *s, size_t n, ft_err *err)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;

    /* Worst case six bytes out per byte in, plus the quotes. */
    if (tb_reserve(t, n * 6 + 2, err) < 0)
        return -1;
    char *o = t->p + t->len;
    *o++ = '"';
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
            i++;
            continue;
        }
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
            i++;
            continue;
        }
        if (c < 0x20) {
            *o++ = '\\';
            if (short_esc[c]) {
                *o++ = short_esc[c];
            } else {
                memcpy(o, "u00", 3);
                o += 3;
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
            i++;
            continue;
        }
        /* Non-ASCII: one whole sequence, or U+FFFD for a bad one. */
        size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        size_t avail = n - i < want ? n - i : want;
        if (ft_utf8_valid_prefix(s + i, avail) != want || avail < want) {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += ft_utf8_bad_len(s + i, n - i);
            continue;
        }
        if (want == 3 && c == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
            ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
            memcpy(o, (unsigned char)s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", 6);
            o += 6;
        } else {
            memcpy(o, s + i, want);
            o += want;
        }
        i += want;
    }
    *o++ = '"';
    t->len = (size_t)(o - t->p);
    return 0;
}

static int json_double(ft_textbuf *t, double d, int is_float32, ft_err *err)
{
    char buf[40];
    int lo = is_float32 ? 6 : 15, hi = is_float32 ? 9 : 17;

    if (!isfinite(d))
        return tb_puts(t, "null", err);
    for (int prec = lo; prec <= hi; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (is_float32 ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d)
            break;
    }
    if (!strpbrk(buf, ".eE"))
        strcat(buf, ".0");
    return tb_puts(t, buf, err);
}

static int base64(ft_textbuf *t, const uint8_t *p, size_t n, ft_err *err)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (tb_reserve(t, (n + 2) / 3 * 4 + 2, err) < 0)
        return -1;
    char *o = t->p + t->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o++ = '"';
    t->len = (size_t)(o - t->p);
    return 0;
}

static int json_value(ft_textbuf *t, const uint8_t **pp, const uint8_t *end, int depth,
                      ft_err *err);

/* Map keys: strings as they are, anything else as its JSON text. */
static int json_key(ft_textbuf *t, const uint8_t **pp, const uint8_t *end, int depth,
                    ft_err *err)
{
    uint8_t c = **pp;
    if ((c & 0xe0) == 0xa0 || (c >= 0xd9 && c <= 0xdb))
        return json_value(t, pp, end, depth, err);
    ft_textbuf tmp = {0};
    int rc = json_value(&tmp, pp, end, depth, err);
    if (rc == 0)
        rc = json_string(t, tmp.p, tmp.len, err);
    free(tmp.p);
    return rc;
}

static int json_value(ft_textbuf *t, const uint8_t **pp, const uint8_t *end, int depth,
                      ft_err *err)
{
    const uint8_t *p = *pp;
    char num[32];
    uint64_t len = 0, count = 0;
    int head = 1, kind = 0; /* kind: 's' str, 'b' bin, 'a' array, 'm' map, 'e' ext */
    int8_t ext_type = 0;

    if (p >= end)
        return truncated(err);
    if (depth > MAX_DEPTH)
        return ft_err_set(err, "msgpack value nested too deeply");
    uint8_t c = p[0];
    if (c <= 0x7f || c >= 0xe0) {
        *pp = p + 1;
        snprintf(num, sizeof num, "%d", c <= 0x7f ? (int)c : (int)(int8_t)c);
        return tb_puts(t, num, err);
    }
    if ((c & 0xe0) == 0xa0) {
        kind = 's';
        len = c & 0x1f;
    } else if ((c & 0xf0) == 0x90) {
        kind = 'a';
        count = c & 0x0f;
    } else if ((c & 0xf0) == 0x80) {
        kind = 'm';
        count = c & 0x0f;
    } else {
        static const uint8_t size_of[] = {
            [0xcc - 0xc0] = 1, [0xcd - 0xc0] = 2, [0xce - 0xc0] = 4, [0xcf - 0xc0] = 8,
            [0xd0 - 0xc0] = 1, [0xd1 - 0xc0] = 2, [0xd2 - 0xc0] = 4, [0xd3 - 0xc0] = 8,
            [0xca - 0xc0] = 4, [0xcb - 0xc0] = 8};
        switch (c) {
        case 0xc0:
            *pp = p + 1;
            return tb_puts(t, "null", err);
        case 0xc2:
            *pp = p + 1;
            return tb_puts(t, "false", err);
        case 0xc3:
            *pp = p + 1;
            return tb_puts(t, "true", err);
        case 0xcc: case 0xcd: case 0xce: case 0xcf:
        case 0xd0: case 0xd1: case 0xd2: case 0xd3: case 0xca: case 0xcb: {
            int k = size_of[c - 0xc0];
            if (end - p < 1 + k)
                return truncated(err);
            uint64_t v = be(p + 1, k);
            *pp = p + 1 + k;
            if (c == 0xca) {
                float f;
                uint32_t u = (uint32_t)v;
                memcpy(&f, &u, 4);
                return json_double(t, f, 1, err);
            }
            if (c == 0xcb) {
                double d;
                memcpy(&d, &v, 8);
                return json_double(t, d, 0, err);
            }
            if (c <= 0xcf)
                snprintf(num, sizeof num, "%llu", (unsigned long long)v);
            else if (k == 1)
                snprintf(num, sizeof num, "%d", (int8_t)v);
            else if (k == 2)
                snprintf(num, sizeof num, "%d", (int16_t)v);
            else if (k == 4)
                snprintf(num, sizeof num, "%d", (int32_t)v);
            else
                snprintf(num, sizeof num, "%lld", (long long)(int64_t)v);
            return tb_puts(t, num, err);
        }
        case 0xd9: case 0xda: case 0xdb:
            kind = 's';
            head = 1 + (c == 0xd9 ? 1 : c == 0xda ? 2 : 4);
            break;
        case 0xc4: case 0xc5: case 0xc6:
            kind = 'b';
            head = 1 + (c == 0xc4 ? 1 : c == 0xc5 ? 2 : 4);
            break;
        case 0xdc: case 0xdd:
            kind = 'a';
            head = 1 + (c == 0xdc ? 2 : 4);
            break;
        case 0xde: case 0xdf:
            kind = 'm';
            head = 1 + (c == 0xde ? 2 : 4);
            break;
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
            kind = 'e';
            len = 1u << (c - 0xd4);
            head = 2;
            break;
        case 0xc7: case 0xc8: case 0xc9:
            kind = 'e';
            head = 2 + (c == 0xc7 ? 1 : c == 0xc8 ? 2 : 4);
            break;
        default:
            return ft_err_set(err, "malformed msgpack (byte 0x%02x)", c);
        }
        if (end - p < head)
            return truncated(err);
        if (head > 1 && c != 0xd4 && c != 0xd5 && c != 0xd6 && c != 0xd7 && c != 0xd8) {
            int k = kind == 'e' ? head - 2 : head - 1;
            uint64_t v = be(p + 1, k);
            if (kind == 'a' || kind == 'm')
                count = v;
            else
                len = v;
        }
        if (kind == 'e')
            ext_type = (int8_t)p[head - 1];
    }
    p += head;

    if (kind == 's' || kind == 'b' || kind == 'e') {
        if ((uint64_t)(end - p) < len)
            return truncated(err);
        *pp = p + len;
        if (kind == 's')
            return json_string(t, (const char *)p, len, err);
        if (kind == 'b')
            return base64(t, p, len, err);
        snprintf(num, sizeof num, "{\"ext\":%d,\"base64\":", ext_type);
        if (tb_puts(t, num, err) < 0 || base64(t, p, len, err) < 0)
            return -1;
        return tb_puts(t, "}", err);
    }

    /* Arrays and maps. */
    if (tb_puts(t, kind == 'a' ? "[" : "{", err) < 0)
        return -1;
    for (uint64_t i = 0; i < count; i++) {
        if (i > 0 && tb_puts(t, ",", err) < 0)
            return -1;
        if (kind == 'm') {
            if (json_key(t, &p, end, depth + 1, err) < 0 || tb_puts(t, ":", err) < 0)
                return -1;
        }
        if (json_value(t, &p, end, depth + 1, err) < 0)
            return -1;
    }
    *pp = p;
    return tb_puts(t, kind == 'a' ? "]" : "}", err);
}

int ft_export_json(ft_textbuf *out, const uint8_t *mp, size_t n, ft_err *err)
{
    const uint8_t *p = mp;
    return json_value(out, &p, mp + n, 0, err);
}

/* --- Export ---------------------------------------------------------------- */

static int put_cell(ft_export *e, const char *s, size_t n, const char *name, ft_err *err);

/* The names of the columns, first. */
static int put_header(ft_export *e, ft_err *err)
{
    char sep = e->o.format == FT_EXPORT_TSV ? '\t' : ',';
    for (size_t i = 0; i < e->n_fields; i++) {
        if ((i > 0 && tb_put(&e->out, &sep, 1, err) < 0) ||
            put_cell(e, e->fields[i], strlen(e->fields[i]), e->fields[i], err) < 0)
            return -1;
    }
    return tb_puts(&e->out, "\n", err);
}

ft_export *ft_export_new(const ft_export_opts *o, int fd, const char *name, ft_err *err)
{
    ft_export *e = ft_calloc(1, sizeof *e, err);

    if (!e)
        return NULL;
    e->o = *o;
    e->fd = fd;
    e->fields = o->fields;
    e->n_fields = o->n_fields;
    if (o->format == FT_EXPORT_TEXT && o->n_fields == 0) {
        e->fields = default_text;
        e->n_fields = 1;
    }
    if ((o->format == FT_EXPORT_CSV || o->format == FT_EXPORT_TSV) && o->n_fields == 0) {
        e->fields = default_columns;
        e->n_fields = 2;
    }
    if (o->format == FT_EXPORT_TEXT && e->n_fields != 1) {
        ft_err_setk(err, FT_ERR_USAGE, "--format text writes exactly one field");
        free(e);
        return NULL;
    }
    e->header = o->header < 0 ? o->n_fields > 0 : o->header;
    if (o->format != FT_EXPORT_CSV && o->format != FT_EXPORT_TSV)
        e->header = 0;
    e->name = ft_strdup(name && strcmp(name, "-") ? name : "standard output", err);
    if (!e->name) {
        free(e);
        return NULL;
    }
    if (e->header && put_header(e, err) < 0) {
        ft_export_free(e);
        return NULL;
    }
    return e;
}

void ft_export_free(ft_export *e)
{
    if (!e)
        return;
    free(e->out.p);
    free(e->cell.p);
    free(e->name);
    free(e);
}

int ft_export_flush(ft_export *e, ft_err *err)
{
    const char *p = e->out.p;
    size_t n = e->out.len;

    while (n > 0) {
        ssize_t k = write(e->fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return ft_err_errno(err, e->name);
        p += k;
        n -= (size_t)k;
    }
    e->out.len = 0;
    return 0;
}

static int is_label(const ft_field *f)
{
    return f->key_str && f->key_len == 5 && !memcmp(f->key_str, "label", 5);
}

/* The value to write for field f: the label's original value under
 * --label-map, else the field as it is. *s and *n are set for a mapped label. */
static int unmap_label(ft_export *e, const ft_field *f, const char **s, size_t *n,
                       ft_err *err)
{
    const char *name;
    size_t len;

    *s = NULL;
    if (!e->o.label_map || !is_label(f) || ft_field_is_nil(f))
        return 0;
    if (ft_field_str(f, &name, &len, err) < 0)
        return -1;
    *s = ft_labelmap_inverse(e->o.label_map, name, len, n);
    if (!*s)
        return ft_err_set(err, "label \"%.*s\" is not in --label-map",
                          (int)(len > 100 ? 100 : len), name);
    return 0;
}

static int put_jsonl(ft_export *e, const ft_record *rec, ft_err *err)
{
    int first = 1;

    if (tb_puts(&e->out, "{", err) < 0)
        return -1;
    for (size_t i = 0; i < (e->n_fields ? e->n_fields : rec->n_fields); i++) {
        const ft_field *f = e->n_fields ? ft_record_get(rec, e->fields[i]) : &rec->fields[i];
        const char *s;
        size_t n;
        if (!f)
            continue;
        if (!first && tb_puts(&e->out, ",", err) < 0)
            return -1;
        first = 0;
        const uint8_t *kp = f->key;
        if (json_key(&e->out, &kp, f->key + f->key_bytes, 1, err) < 0 ||
            tb_puts(&e->out, ":", err) < 0 || unmap_label(e, f, &s, &n, err) < 0)
            return -1;
        if (s ? json_string(&e->out, s, n, err) < 0
              : ft_export_json(&e->out, f->val, f->val_bytes, err) < 0)
            return -1;
    }
    return tb_puts(&e->out, "}\n", err);
}

/* A cell's text into e->cell: strings as they are, nil empty, the rest as
 * JSON. */
static int cell_text(ft_export *e, const ft_field *f, ft_err *err)
{
    const char *s;
    size_t n;

    e->cell.len = 0;
    if (!f || ft_field_is_nil(f))
        return 0;
    if (unmap_label(e, f, &s, &n, err) < 0)
        return -1;
    if (s)
        return tb_put(&e->cell, s, n, err);
    ft_mp_cursor c = {f->val, f->val + f->val_bytes};
    if (ft_mp_str(&c, &s, &n, NULL) == 0)
        return tb_put(&e->cell, s, n, err);
    return ft_export_json(&e->cell, f->val, f->val_bytes, err);
}

static int put_cell(ft_export *e, const char *s, size_t n, const char *name, ft_err *err)
{
    if (e->o.format == FT_EXPORT_TSV) {
        for (size_t i = 0; i < n; i++)
            if (s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
                return ft_err_set(err, "field \"%s\" holds a %s, which TSV cannot carry "
                                       "(use --format csv or jsonl)",
                                  name, s[i] == '\t' ? "tab" : "line break");
        return tb_put(&e->out, s, n, err);
    }
    if (!memchr(s, ',', n) && !memchr(s, '"', n) && !memchr(s, '\n', n) &&
        !memchr(s, '\r', n))
        return tb_put(&e->out, s, n, err);
    if (tb_reserve(&e->out, 2 * n + 2, err) < 0)
        return -1;
    char *o = e->out.p + e->out.len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            *o++ = '"';
        *o++ = s[i];
    }
    *o++ = '"';
    e->out.len = (size_t)(o - e->out.p);
    return 0;
}

static int put_table(ft_export *e, const ft_record *rec, ft_err *err)
{
    char sep = e->o.format == FT_EXPORT_TSV ? '\t' : ',';

    for (size_t i = 0; i < e->n_fields; i++) {
        const ft_field *f = ft_record_get(rec, e->fields[i]);
        if ((i > 0 && tb_put(&e->out, &sep, 1, err) < 0) || cell_text(e, f, err) < 0 ||
            put_cell(e, e->cell.p ? e->cell.p : "", e->cell.len, e->fields[i], err) < 0)
            return -1;
    }
    return tb_puts(&e->out, "\n", err);
}

static int put_text(ft_export *e, const ft_record *rec, ft_err *err)
{
    const ft_field *f = ft_record_get(rec, e->fields[0]);

    if (!f)
        return ft_err_set(err, "no field \"%s\"", e->fields[0]);
    if (cell_text(e, f, err) < 0 || tb_put(&e->out, e->cell.p, e->cell.len, err) < 0)
        return -1;
    return tb_puts(&e->out, "\n", err);
}

int ft_export_record(ft_export *e, const ft_record *rec, ft_err *err)
{
    int rc;
    size_t mark = e->out.len;

    switch (e->o.format) {
    case FT_EXPORT_CSV:
    case FT_EXPORT_TSV:
        rc = put_table(e, rec, err);
        break;
    case FT_EXPORT_TEXT:
        rc = put_text(e, rec, err);
        break;
    default:
        rc = put_jsonl(e, rec, err);
    }
    if (rc < 0) {
        /* Only whole records are written. */
        e->out.len = mark;
        return ft_err_prefix(err, "record %llu (byte %llu)",
                             (unsigned long long)rec->number,
                             (unsigned long long)rec->offset);
    }
    if (e->out.len >= OUT_BUF_BYTES)
        return ft_export_flush(e, err);
    return 0;
}
