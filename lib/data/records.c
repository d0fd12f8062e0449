/* records: the msgpack record stream (see records.h).
 *
 * Framing is ours: ft_mp_object_size walks msgpack headers without decoding
 * values, so a record is a byte span and unowned fields are copied as raw
 * bytes. Values are packed with msgpack-c's packer. A declared length larger
 * than the record cap is refused before anything is allocated for it. */
#include "data/records.h"

#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- Framing --------------------------------------------------------------- */

enum { MP_OK = 0, MP_SHORT = 1, MP_BAD = 2, MP_BIG = 3 };

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* One header at p: its size in bytes (*head), the payload bytes that follow
 * it (*body), and the number of child objects (*kids: array elements, or
 * keys plus values of a map). Returns MP_OK, MP_SHORT (need more bytes) or
 * MP_BAD (the reserved byte 0xc1). */
static int mp_header(const uint8_t *p, size_t n, size_t *head, uint64_t *body,
                     uint64_t *kids)
{
    uint8_t c;
    size_t len_bytes = 0; /* size of a length field after the type byte */
    int kind = 0;         /* 0 payload, 1 array, 2 map */

    if (n < 1)
        return MP_SHORT;
    c = p[0];
    *head = 1;
    *body = 0;
    *kids = 0;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
        return MP_OK;
    if ((c & 0xf0) == 0x80) {
        *kids = 2 * (uint64_t)(c & 0x0f);
        return MP_OK;
    }
    if ((c & 0xf0) == 0x90) {
        *kids = c & 0x0f;
        return MP_OK;
    }
    if ((c & 0xe0) == 0xa0) {
        *body = c & 0x1f;
        return MP_OK;
    }
    switch (c) {
    case 0xcc: case 0xd0: *body = 1; return MP_OK;
    case 0xcd: case 0xd1: *body = 2; return MP_OK;
    case 0xca: case 0xce: case 0xd2: *body = 4; return MP_OK;
    case 0xcb: case 0xcf: case 0xd3: *body = 8; return MP_OK;
    case 0xd4: *body = 2; return MP_OK; /* fixext: type byte + data */
    case 0xd5: *body = 3; return MP_OK;
    case 0xd6: *body = 5; return MP_OK;
    case 0xd7: *body = 9; return MP_OK;
    case 0xd8: *body = 17; return MP_OK;
    case 0xc4: case 0xd9: len_bytes = 1; break;
    case 0xc5: case 0xda: len_bytes = 2; break;
    case 0xc6: case 0xdb: len_bytes = 4; break;
    case 0xc7: len_bytes = 1; break; /* ext: length, then type byte */
    case 0xc8: len_bytes = 2; break;
    case 0xc9: len_bytes = 4; break;
    case 0xdc: len_bytes = 2; kind = 1; break;
    case 0xdd: len_bytes = 4; kind = 1; break;
    case 0xde: len_bytes = 2; kind = 2; break;
    case 0xdf: len_bytes = 4; kind = 2; break;
    default: return MP_BAD; /* 0xc1 */
    }
    if (n < 1 + len_bytes)
        return MP_SHORT;
    uint64_t len = len_bytes == 1 ? p[1] : len_bytes == 2 ? be16(p + 1) : be32(p + 1);
    *head = 1 + len_bytes;
    if (kind == 1)
        *kids = len;
    else if (kind == 2)
        *kids = 2 * len;
    else
        *body = len + (c >= 0xc7 && c <= 0xc9); /* ext's type byte */
    return MP_OK;
}

/* Size of the object at p. Every object takes at least one byte, so the
 * objects still owed can be bounded by the cap before they are read. */
static int mp_size(const uint8_t *p, size_t n, size_t cap, size_t *size)
{
    uint64_t owed = 1, pos = 0;

    while (owed > 0) {
        size_t head;
        uint64_t body, kids;
        int rc = mp_header(p + pos, n - pos, &head, &body, &kids);
        if (rc != MP_OK)
            return rc;
        owed--;
        if (body > cap || kids > cap || pos + head + body + owed + kids > cap)
            return MP_BIG;
        pos += head + body;
        owed += kids;
        if (pos > n)
            return MP_SHORT;
    }
    *size = pos;
    return MP_OK;
}

size_t ft_mp_object_size(const uint8_t *p, size_t n)
{
    size_t size;
    return mp_size(p, n, n, &size) == MP_OK ? size : 0;
}

static const char *mp_type_name(uint8_t c)
{
    if (c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3))
        return "an integer";
    if ((c & 0xf0) == 0x80 || c == 0xde || c == 0xdf)
        return "a map";
    if ((c & 0xf0) == 0x90 || c == 0xdc || c == 0xdd)
        return "an array";
    if ((c & 0xe0) == 0xa0 || (c >= 0xd9 && c <= 0xdb))
        return "a string";
    switch (c) {
    case 0xc0: return "nil";
    case 0xc2: case 0xc3: return "a boolean";
    case 0xca: case 0xcb: return "a float";
    case 0xc4: case 0xc5: case 0xc6: return "binary data";
    default: return "an extension value";
    }
}

/* --- Cursor ---------------------------------------------------------------- */

static int cur_need(ft_mp_cursor *c, size_t n, const char *what, ft_err *err)
{
    if ((size_t)(c->end - c->p) < n)
        return ft_err_set(err, "truncated %s", what);
    return 0;
}

int ft_mp_array(ft_mp_cursor *c, uint32_t *n, ft_err *err)
{
    if (cur_need(c, 1, "array", err) < 0)
        return -1;
    uint8_t t = c->p[0];
    if ((t & 0xf0) == 0x90) {
        *n = t & 0x0f;
        c->p += 1;
    } else if (t == 0xdc && cur_need(c, 3, "array", err) == 0) {
        *n = be16(c->p + 1);
        c->p += 3;
    } else if (t == 0xdd && cur_need(c, 5, "array", err) == 0) {
        *n = be32(c->p + 1);
        c->p += 5;
    } else {
        return ft_err_set(err, "expected an array, found %s", mp_type_name(t));
    }
    return 0;
}

int ft_mp_map(ft_mp_cursor *c, uint32_t *n, ft_err *err)
{
    if (cur_need(c, 1, "map", err) < 0)
        return -1;
    uint8_t t = c->p[0];
    if ((t & 0xf0) == 0x80) {
        *n = t & 0x0f;
        c->p += 1;
    } else if (t == 0xde && cur_need(c, 3, "map", err) == 0) {
        *n = be16(c->p + 1);
        c->p += 3;
    } else if (t == 0xdf && cur_need(c, 5, "map", err) == 0) {
        *n = be32(c->p + 1);
        c->p += 5;
    } else {
        return ft_err_set(err, "expected a map, found %s", mp_type_name(t));
    }
    return 0;
}

int ft_mp_str(ft_mp_cursor *c, const char **s, size_t *len, ft_err *err)
{
    size_t head;
    uint32_t n;

    if (cur_need(c, 1, "string", err) < 0)
        return -1;
    uint8_t t = c->p[0];
    if ((t & 0xe0) == 0xa0) {
        head = 1;
        n = t & 0x1f;
    } else if (t == 0xd9 && cur_need(c, 2, "string", err) == 0) {
        head = 2;
        n = c->p[1];
    } else if (t == 0xda && cur_need(c, 3, "string", err) == 0) {
        head = 3;
        n = be16(c->p + 1);
    } else if (t == 0xdb && cur_need(c, 5, "string", err) == 0) {
        head = 5;
        n = be32(c->p + 1);
    } else {
        return ft_err_set(err, "expected a string, found %s", mp_type_name(t));
    }
    if (cur_need(c, head + n, "string", err) < 0)
        return -1;
    *s = (const char *)c->p + head;
    *len = n;
    c->p += head + n;
    return 0;
}

int ft_mp_int(ft_mp_cursor *c, int64_t *v, ft_err *err)
{
    if (cur_need(c, 1, "integer", err) < 0)
        return -1;
    const uint8_t *p = c->p;
    uint8_t t = p[0];
    size_t n = 1;
    if (t <= 0x7f)
        *v = t;
    else if (t >= 0xe0)
        *v = (int8_t)t;
    else {
        switch (t) {
        case 0xcc: case 0xd0: n = 2; break;
        case 0xcd: case 0xd1: n = 3; break;
        case 0xce: case 0xd2: n = 5; break;
        case 0xcf: case 0xd3: n = 9; break;
        default:
            return ft_err_set(err, "expected an integer, found %s", mp_type_name(t));
        }
        if (cur_need(c, n, "integer", err) < 0)
            return -1;
        switch (t) {
        case 0xcc: *v = p[1]; break;
        case 0xcd: *v = be16(p + 1); break;
        case 0xce: *v = be32(p + 1); break;
        case 0xcf:
            if (be64(p + 1) > INT64_MAX)
                return ft_err_set(err, "integer out of range");
            *v = (int64_t)be64(p + 1);
            break;
        case 0xd0: *v = (int8_t)p[1]; break;
        case 0xd1: *v = (int16_t)be16(p + 1); break;
        case 0xd2: *v = (int32_t)be32(p + 1); break;
        case 0xd3: *v = (int64_t)be64(p + 1); break;
        }
    }
    c->p += n;
    return 0;
}

int ft_mp_num(ft_mp_cursor *c, double *v, ft_err *err)
{
    if (cur_need(c, 1, "number", err) < 0)
        return -1;
    uint8_t t = c->p[0];
    if (t == 0xca) {
        if (cur_need(c, 5, "float", err) < 0)
            return -1;
        uint32_t u = be32(c->p + 1);
        float f;
        memcpy(&f, &u, 4);
        *v = f;
        c->p += 5;
        return 0;
    }
    if (t == 0xcb) {
        if (cur_need(c, 9, "float", err) < 0)
            return -1;
        uint64_t u = be64(c->p + 1);
        memcpy(v, &u, 8);
        c->p += 9;
        return 0;
    }
    int64_t i;
    if (ft_mp_int(c, &i, NULL) < 0)
        return ft_err_set(err, "expected a number, found %s", mp_type_name(t));
    *v = (double)i;
    return 0;
}

int ft_mp_skip(ft_mp_cursor *c, ft_err *err)
{
    size_t n = ft_mp_object_size(c->p, c->end - c->p);
    if (n == 0)
        return ft_err_set(err, "truncated or malformed value");
    c->p += n;
    return 0;
}

/* --- Reading --------------------------------------------------------------- */

struct ft_reader {
    int fd;                  /* -1 for a memory reader */
    char *name;
    size_t cap;              /* record size cap */
    uint8_t *buf;            /* owned buffer (fd readers) */
    const uint8_t *data;     /* buffered bytes: data[pos, len) unread */
    size_t pos, len, size;   /* size: allocated bytes of buf */
    uint64_t consumed;       /* stream offset of data[0] */
    uint64_t count;
    int eof;
    ft_field *fields;
    size_t fields_cap;
};

static ft_reader *reader_new(const char *name, size_t cap, ft_err *err)
{
    ft_reader *r = ft_calloc(1, sizeof *r, err);
    if (!r)
        return NULL;
    if (!name || !strcmp(name, "-"))
        name = "standard input";
    r->name = ft_strdup(name, err);
    if (!r->name) {
        free(r);
        return NULL;
    }
    r->cap = cap ? cap : FT_RECORD_MAX_BYTES_DEFAULT;
    r->fd = -1;
    return r;
}

ft_reader *ft_reader_open(int fd, const char *name, size_t max_record_bytes, ft_err *err)
{
    ft_reader *r = reader_new(name, max_record_bytes, err);
    if (!r)
        return NULL;
    r->fd = fd;
    r->size = 1 << 16;
    r->buf = ft_malloc(r->size, err);
    if (!r->buf) {
        ft_reader_free(r);
        return NULL;
    }
    r->data = r->buf;
    return r;
}

ft_reader *ft_reader_mem(const void *data, size_t n_bytes, const char *name,
                         size_t max_record_bytes, ft_err *err)
{
    ft_reader *r = reader_new(name, max_record_bytes, err);
    if (!r)
        return NULL;
    r->data = data;
    r->len = n_bytes;
    r->eof = 1;
    return r;
}

/* Read more bytes: move the unread tail to the front, grow if full. */
static int reader_fill(ft_reader *r, ft_err *err)
{
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->consumed += r->pos;
        r->len -= r->pos;
        r->pos = 0;
    }
    if (r->len == r->size) {
        size_t size = r->size * 2;
        uint8_t *b = ft_realloc(r->buf, size, err);
        if (!b)
            return -1;
        r->buf = b;
        r->data = b;
        r->size = size;
    }
    for (;;) {
        ssize_t n = read(r->fd, r->buf + r->len, r->size - r->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ft_err_errno(err, r->name);
        if (n == 0)
            r->eof = 1;
        r->len += n;
        return 0;
    }
}

static int reader_fail(ft_reader *r, uint64_t offset, ft_err *err, const char *fmt,
                       const char *arg)
{
    char what[256];
    snprintf(what, sizeof what, fmt, arg);
    return ft_err_set(err, "%s: record %llu (byte %llu): %s", r->name,
                      (unsigned long long)r->count + 1, (unsigned long long)offset, what);
}

/* Index the entries of the map at rec->data. */
static int reader_index(ft_reader *r, ft_record *rec, uint64_t offset, ft_err *err)
{
    ft_mp_cursor c = {rec->data, rec->data + rec->n_bytes};
    uint32_t n;

    if (ft_mp_map(&c, &n, NULL) < 0)
        return reader_fail(r, offset, err, "not a map but %s", mp_type_name(rec->data[0]));
    if (ft_grow(&r->fields, &r->fields_cap, n, sizeof *r->fields, err) < 0)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        ft_field *f = &r->fields[i];
        const uint8_t *k = c.p;
        size_t ks = ft_mp_object_size(c.p, c.end - c.p);
        size_t vs = ft_mp_object_size(c.p + ks, c.end - c.p - ks);
        f->key = k;
        f->key_bytes = ks;
        f->val = k + ks;
        f->val_bytes = vs;
        f->key_str = NULL;
        f->key_len = 0;
        ft_mp_cursor kc = {k, k + ks};
        const char *s;
        size_t len;
        if (ft_mp_str(&kc, &s, &len, NULL) == 0) {
            f->key_str = s;
            f->key_len = (uint32_t)len;
        }
        c.p += ks + vs;
    }
    rec->fields = r->fields;
    rec->n_fields = n;
    return 0;
}

int ft_reader_next(ft_reader *r, ft_record *rec, ft_err *err)
{
    size_t size = 0;

    for (;;) {
        size_t avail = r->len - r->pos;
        int rc = avail ? mp_size(r->data + r->pos, avail, r->cap, &size) : MP_SHORT;
        uint64_t offset = r->consumed + r->pos;
        if (rc == MP_OK)
            break;
        if (rc == MP_BAD)
            return reader_fail(r, offset, err, "malformed msgpack (byte 0xc1)%s", "");
        if (rc == MP_BIG)
            return ft_err_set(err,
                              "%s: record %llu (byte %llu): larger than the cap of %zu "
                              "bytes (see --max-record-bytes)",
                              r->name, (unsigned long long)r->count + 1,
                              (unsigned long long)offset, r->cap);
        if (r->eof) {
            if (avail == 0)
                return 0;
            return reader_fail(r, offset, err, "truncated record at end of input%s", "");
        }
        if (reader_fill(r, err) < 0)
            return -1;
    }

    rec->data = r->data + r->pos;
    rec->n_bytes = size;
    rec->offset = r->consumed + r->pos;
    if (reader_index(r, rec, rec->offset, err) < 0)
        return -1;
    r->pos += size;
    rec->number = ++r->count;
    return 1;
}

uint64_t ft_reader_count(const ft_reader *r)
{
    return r->count;
}

uint64_t ft_reader_offset(const ft_reader *r)
{
    return r->consumed + r->pos;
}

const char *ft_reader_name(const ft_reader *r)
{
    return r->name;
}

void ft_reader_free(ft_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r->name);
    free(r->fields);
    free(r);
}

/* --- Fields ---------------------------------------------------------------- */

const ft_field *ft_record_get(const ft_record *rec, const char *key)
{
    size_t n = strlen(key);
    for (uint32_t i = 0; i < rec->n_fields; i++) {
        const ft_field *f = &rec->fields[i];
        if (f->key_str && f->key_len == n && !memcmp(f->key_str, key, n))
            return f;
    }
    return NULL;
}

static int field_fail(const ft_field *f, ft_err *err)
{
    return ft_err_prefix(err, "field \"%.*s\"", (int)f->key_len, f->key_str ? f->key_str : "");
}

int ft_field_str(const ft_field *f, const char **s, size_t *len, ft_err *err)
{
    ft_mp_cursor c = {f->val, f->val + f->val_bytes};
    return ft_mp_str(&c, s, len, err) < 0 ? field_fail(f, err) : 0;
}

int ft_field_int(const ft_field *f, int64_t *v, ft_err *err)
{
    ft_mp_cursor c = {f->val, f->val + f->val_bytes};
    return ft_mp_int(&c, v, err) < 0 ? field_fail(f, err) : 0;
}

int ft_field_num(const ft_field *f, double *v, ft_err *err)
{
    ft_mp_cursor c = {f->val, f->val + f->val_bytes};
    return ft_mp_num(&c, v, err) < 0 ? field_fail(f, err) : 0;
}

int ft_field_bool(const ft_field *f, int *v, ft_err *err)
{
    if (f->val_bytes == 1 && (f->val[0] == 0xc2 || f->val[0] == 0xc3)) {
        *v = f->val[0] == 0xc3;
        return 0;
    }
    ft_err_set(err, "expected a boolean, found %s", mp_type_name(f->val[0]));
    return field_fail(f, err);
}

int ft_field_is_nil(const ft_field *f)
{
    return f->val_bytes == 1 && f->val[0] == 0xc0;
}

int ft_field_int_array(const ft_field *f, int32_t **ids, size_t *n, ft_err *err)
{
    ft_mp_cursor c = {f->val, f->val + f->val_bytes};
    uint32_t count;
    int32_t *out;

    if (ft_mp_array(&c, &count, err) < 0)
        return field_fail(f, err);
    out = ft_malloc((size_t)count * sizeof *out, err);
    if (!out)
        return -1;
    for (uint32_t i = 0; i < count; i++) {
        int64_t v;
        if (ft_mp_int(&c, &v, err) < 0 || v < INT32_MIN || v > INT32_MAX) {
            if (v < INT32_MIN || v > INT32_MAX)
                ft_err_set(err, "element %u does not fit 32 bits", i);
            free(out);
            return field_fail(f, err);
        }
        out[i] = (int32_t)v;
    }
    *ids = out;
    *n = count;
    return 0;
}

/* --- Building -------------------------------------------------------------- */

static int rb_write(void *data, const char *buf, size_t len)
{
    ft_rec_builder *b = data;
    if (b->failed)
        return -1;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *nb = realloc(b->buf, cap);
        if (!nb) {
            b->failed = 1;
            return -1;
        }
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, buf, len);
    b->len += len;
    return 0;
}

static msgpack_packer rb_packer(ft_rec_builder *b)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, b, rb_write);
    return pk;
}

void ft_rec_init(ft_rec_builder *b)
{
    memset(b, 0, sizeof *b);
}

void ft_rec_reset(ft_rec_builder *b)
{
    b->len = 0;
    b->n_fields = 0;
    b->failed = 0;
}

void ft_rec_free(ft_rec_builder *b)
{
    free(b->buf);
    memset(b, 0, sizeof *b);
}

void ft_rec_key(ft_rec_builder *b, const char *key)
{
    msgpack_packer pk = rb_packer(b);
    size_t n = strlen(key);
    msgpack_pack_str(&pk, n);
    msgpack_pack_str_body(&pk, key, n);
    b->n_fields++;
}

void ft_rec_val_str(ft_rec_builder *b, const char *s, size_t len)
{
    msgpack_packer pk = rb_packer(b);
    msgpack_pack_str(&pk, len);
    msgpack_pack_str_body(&pk, s, len);
}

void ft_rec_val_int(ft_rec_builder *b, int64_t v)
{
    msgpack_packer pk = rb_packer(b);
    msgpack_pack_int64(&pk, v);
}

void ft_rec_val_double(ft_rec_builder *b, double v)
{
    msgpack_packer pk = rb_packer(b);
    msgpack_pack_double(&pk, v);
}

void ft_rec_val_bool(ft_rec_builder *b, int v)
{
    msgpack_packer pk = rb_packer(b);
    if (v)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
}

void ft_rec_val_nil(ft_rec_builder *b)
{
    msgpack_packer pk = rb_packer(b);
    msgpack_pack_nil(&pk);
}

void ft_rec_val_array(ft_rec_builder *b, uint32_t n)
{
    msgpack_packer pk = rb_packer(b);
    msgpack_pack_array(&pk, n);
}

void ft_rec_val_map(ft_rec_builder *b, uint32_t n)
{
    msgpack_packer pk = rb_packer(b);
    msgpack_pack_map(&pk, n);
}

void ft_rec_val_raw(ft_rec_builder *b, const void *val, size_t val_bytes)
{
    rb_write(b, val, val_bytes);
}

void ft_rec_str(ft_rec_builder *b, const char *key, const char *s, size_t len)
{
    ft_rec_key(b, key);
    ft_rec_val_str(b, s, len);
}

void ft_rec_cstr(ft_rec_builder *b, const char *key, const char *s)
{
    ft_rec_str(b, key, s, strlen(s));
}

void ft_rec_int(ft_rec_builder *b, const char *key, int64_t v)
{
    ft_rec_key(b, key);
    ft_rec_val_int(b, v);
}

void ft_rec_double(ft_rec_builder *b, const char *key, double v)
{
    ft_rec_key(b, key);
    ft_rec_val_double(b, v);
}

void ft_rec_bool(ft_rec_builder *b, const char *key, int v)
{
    ft_rec_key(b, key);
    ft_rec_val_bool(b, v);
}

void ft_rec_int_array(ft_rec_builder *b, const char *key, const int32_t *ids, size_t n)
{
    ft_rec_key(b, key);
    ft_rec_val_array(b, (uint32_t)n);
    msgpack_packer pk = rb_packer(b);
    for (size_t i = 0; i < n; i++)
        msgpack_pack_int32(&pk, ids[i]);
}

void ft_rec_raw(ft_rec_builder *b, const char *key, const void *val, size_t val_bytes)
{
    ft_rec_key(b, key);
    rb_write(b, val, val_bytes);
}

void ft_rec_copy(ft_rec_builder *b, const ft_field *f)
{
    rb_write(b, (const char *)f->key, f->key_bytes);
    rb_write(b, (const char *)f->val, f->val_bytes);
    b->n_fields++;
}

void ft_rec_copy_except(ft_rec_builder *b, const ft_record *rec, const char *const *skip)
{
    for (uint32_t i = 0; i < rec->n_fields; i++) {
        const ft_field *f = &rec->fields[i];
        int drop = 0;
        for (const char *const *k = skip; k && *k && !drop; k++)
            drop = f->key_str && strlen(*k) == f->key_len &&
                   !memcmp(*k, f->key_str, f->key_len);
        if (!drop)
            ft_rec_copy(b, f);
    }
}

/* --- Writing --------------------------------------------------------------- */

struct ft_writer {
    int fd;
    char *name;
    uint8_t *buf;
    size_t len, cap;
    uint64_t count;
};

ft_writer *ft_writer_open(int fd, const char *name, int force, ft_err *err)
{
    ft_writer *w;

    if (!name || !strcmp(name, "-"))
        name = "standard output";
    if (!force && isatty(fd)) {
        ft_err_setk(err, FT_ERR_USAGE,
                    "%s: refusing to write binary records to a terminal "
                    "(pipe them on, or use -f)",
                    name);
        return NULL;
    }
    w = ft_calloc(1, sizeof *w, err);
    if (!w)
        return NULL;
    w->fd = fd;
    w->cap = 1 << 16;
    w->name = ft_strdup(name, err);
    w->buf = ft_malloc(w->cap, err);
    if (!w->name || !w->buf) {
        free(w->name);
        free(w->buf);
        free(w);
        return NULL;
    }
    return w;
}

static int write_all(ft_writer *w, const uint8_t *p, size_t n, ft_err *err)
{
    while (n > 0) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return ft_err_errno(err, w->name);
        p += k;
        n -= k;
    }
    return 0;
}

int ft_writer_flush(ft_writer *w, ft_err *err)
{
    if (w->len && write_all(w, w->buf, w->len, err) < 0)
        return -1;
    w->len = 0;
    return 0;
}

static int writer_add(ft_writer *w, const void *p, size_t n, ft_err *err)
{
    if (w->len + n > w->cap) {
        if (ft_writer_flush(w, err) < 0)
            return -1;
        if (n > w->cap)
            return write_all(w, p, n, err);
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    return 0;
}

int ft_writer_put(ft_writer *w, const ft_rec_builder *b, ft_err *err)
{
    uint8_t head[5];
    size_t n;

    if (b->failed)
        return ft_err_set(err, "%s: out of memory building a record", w->name);
    if (b->n_fields < 16) {
        head[0] = 0x80 | b->n_fields;
        n = 1;
    } else if (b->n_fields < 65536) {
        head[0] = 0xde;
        head[1] = b->n_fields >> 8;
        head[2] = b->n_fields & 0xff;
        n = 3;
    } else {
        head[0] = 0xdf;
        for (int i = 0; i < 4; i++)
            head[1 + i] = (b->n_fields >> (24 - 8 * i)) & 0xff;
        n = 5;
    }
    if (writer_add(w, head, n, err) < 0 || writer_add(w, b->buf, b->len, err) < 0)
        return -1;
    w->count++;
    return 0;
}

int ft_writer_put_raw(ft_writer *w, const ft_record *rec, ft_err *err)
{
    if (writer_add(w, rec->data, rec->n_bytes, err) < 0)
        return -1;
    w->count++;
    return 0;
}

int ft_writer_close(ft_writer *w, ft_err *err)
{
    int rc;
    if (!w)
        return 0;
    rc = ft_writer_flush(w, err);
    free(w->buf);
    free(w->name);
    free(w);
    return rc;
}

uint64_t ft_writer_count(const ft_writer *w)
{
    return w->count;
}
