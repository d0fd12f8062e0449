/* safetensors: checked reading (mmap or memory) and deterministic writing
 * (see safetensors.h). */
#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A header larger than this is refused rather than parsed. */
#define HEADER_MAX_BYTES ((uint64_t)100 << 20)

typedef struct span {
    size_t begin, end;
    int index;
} span;

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static const ft_safetensors *sort_st;

static int name_cmp(const void *a, const void *b)
{
    return strcmp(sort_st->tensors[*(const int *)a].name,
                  sort_st->tensors[*(const int *)b].name);
}

/* An integer JSON value in [0, max], else -1. */
static int64_t json_index(const json_t *v, int64_t max)
{
    if (!json_is_integer(v))
        return -1;
    json_int_t x = json_integer_value(v);
    return x < 0 || x > max ? -1 : (int64_t)x;
}

static int parse_metadata(ft_safetensors *st, json_t *meta, ft_err *err)
{
    const char *k;
    json_t *v;

    if (!json_is_object(meta))
        return ft_err_set(err, "__metadata__ is not an object");
    st->meta = ft_calloc(2 * json_object_size(meta) + 1, sizeof *st->meta, err);
    if (!st->meta)
        return -1;
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v))
            return ft_err_set(err, "__metadata__ value of \"%s\" is not a string", k);
        st->meta[2 * st->n_meta] = (char *)k;
        st->meta[2 * st->n_meta + 1] = (char *)json_string_value(v);
        st->n_meta++;
    }
    return 0;
}

/* One header entry into t; data_len is the size of the data area. */
static int parse_entry(ft_st_tensor *t, span *sp, const char *name, json_t *v,
                       size_t data_len, ft_err *err)
{
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape");
    json_t *offs = json_object_get(v, "data_offsets");

    t->name = name;
    if (!json_is_object(v))
        return ft_err_set(err, "tensor \"%s\": entry is not an object", name);
    if (!json_is_string(dt))
        return ft_err_set(err, "tensor \"%s\": no dtype", name);
    t->dtype = ft_dtype_parse(json_string_value(dt));
    if (t->dtype < 0)
        return ft_err_set(err, "tensor \"%s\": unknown dtype \"%s\"", name,
                          json_string_value(dt));
    if (!json_is_array(shape) || json_array_size(shape) > FT_ST_MAX_DIMS)
        return ft_err_set(err, "tensor \"%s\": shape is not an array of at most %d sizes",
                          name, FT_ST_MAX_DIMS);

    /* numel, checked against overflow */
    t->ndim = (int)json_array_size(shape);
    t->numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        int64_t d = json_index(json_array_get(shape, i), INT64_MAX);
        if (d < 0)
            return ft_err_set(err, "tensor \"%s\": shape entry %d is not a size", name, i);
        t->shape[i] = d;
        if (d && t->numel > SIZE_MAX / ft_dtype_size(t->dtype) / (size_t)d)
            return ft_err_set(err, "tensor \"%s\": shape too large", name);
        t->numel *= (size_t)d;
    }
    t->n_bytes = t->numel * ft_dtype_size(t->dtype);

    /* data_offsets: [begin, end] inside the data area, matching the shape */
    if (!json_is_array(offs) || json_array_size(offs) != 2)
        return ft_err_set(err, "tensor \"%s\": data_offsets is not [begin, end]", name);
    int64_t b = json_index(json_array_get(offs, 0), INT64_MAX);
    int64_t e = json_index(json_array_get(offs, 1), INT64_MAX);
    if (b < 0 || e < 0 || e < b)
        return ft_err_set(err, "tensor \"%s\": bad data_offsets", name);
    if ((uint64_t)(e - b) != t->n_bytes)
        return ft_err_set(err,
                          "tensor \"%s\": shape needs %zu bytes of %s but data_offsets "
                          "give %lld",
                          name, t->n_bytes, ft_dtype_name(t->dtype), (long long)(e - b));
    if ((uint64_t)e > data_len)
        return ft_err_set(err,
                          "tensor \"%s\": data ends at byte %lld but the file has only %zu "
                          "bytes of data (truncated?)",
                          name, (long long)e, data_len);
    sp->begin = (size_t)b;
    sp->end = (size_t)e;
    return 0;
}

/* Parse and check everything; st->base and st->n_bytes are set. */
static int check(ft_safetensors *st, ft_err *err)
{
    const unsigned char *p = st->base;
    uint64_t hlen = 0;
    json_error_t jerr;
    span *spans = NULL;
    const char *k;
    json_t *v, *root;
    int rc = -1;

    /* header length, then the JSON header */
    if (st->n_bytes < 8)
        return ft_err_set(err, "truncated: %zu bytes, no header length", st->n_bytes);
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | p[i];
    if (hlen > st->n_bytes - 8)
        return ft_err_set(err, "header length %llu runs past the end of the file (%zu bytes)",
                          (unsigned long long)hlen, st->n_bytes);
    if (hlen > HEADER_MAX_BYTES)
        return ft_err_set(err, "header length %llu is implausibly large",
                          (unsigned long long)hlen);
    root = json_loadb((const char *)p + 8, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ft_err_set(err, "header is not valid JSON: %s", jerr.text);
    st->header = root;
    if (!json_is_object(root))
        return ft_err_set(err, "header is not a JSON object");

    size_t data_len = st->n_bytes - 8 - hlen, n = json_object_size(root);
    st->tensors = ft_calloc(n ? n : 1, sizeof *st->tensors, err);
    spans = ft_calloc(n ? n : 1, sizeof *spans, err);
    st->by_name = ft_calloc(n ? n : 1, sizeof *st->by_name, err);
    if (!st->tensors || !spans || !st->by_name)
        goto out;

    /* every entry */
    json_object_foreach(root, k, v) {
        if (!strcmp(k, "__metadata__")) {
            if (parse_metadata(st, v, err) < 0)
                goto out;
            continue;
        }
        int i = st->n_tensors++;
        if (parse_entry(&st->tensors[i], &spans[i], k, v, data_len, err) < 0)
            goto out;
        spans[i].index = i;
    }

    /* the tensors must tile the data area exactly */
    qsort(spans, st->n_tensors, sizeof *spans, span_cmp);
    size_t cursor = 0;
    for (int i = 0; i < st->n_tensors; i++) {
        const char *name = st->tensors[spans[i].index].name;
        if (spans[i].begin < cursor) {
            ft_err_set(err, "tensors \"%s\" and \"%s\" overlap",
                       st->tensors[spans[i - 1].index].name, name);
            goto out;
        }
        if (spans[i].begin > cursor) {
            ft_err_set(err, "%zu unused bytes before tensor \"%s\"", spans[i].begin - cursor,
                       name);
            goto out;
        }
        cursor = spans[i].end;
    }
    if (cursor != data_len) {
        ft_err_set(err, "%zu bytes after the last tensor's data", data_len - cursor);
        goto out;
    }

    /* data pointers, in data order; an index by name */
    ft_st_tensor *sorted = ft_calloc(st->n_tensors ? st->n_tensors : 1, sizeof *sorted, err);
    if (!sorted)
        goto out;
    for (int i = 0; i < st->n_tensors; i++) {
        sorted[i] = st->tensors[spans[i].index];
        sorted[i].data = p + 8 + hlen + spans[i].begin;
        st->by_name[i] = i;
    }
    free(st->tensors);
    st->tensors = sorted;
    sort_st = st;
    qsort(st->by_name, st->n_tensors, sizeof *st->by_name, name_cmp);
    for (int i = 1; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[st->by_name[i]].name, st->tensors[st->by_name[i - 1]].name)) {
            ft_err_set(err, "tensor \"%s\" appears twice", st->tensors[st->by_name[i]].name);
            goto out;
        }
    rc = 0;
out:
    free(spans);
    return rc;
}

ft_safetensors *ft_safetensors_open(const char *path, ft_err *err)
{
    ft_safetensors *st = ft_calloc(1, sizeof *st, err);
    struct stat sb;
    int fd;

    if (!st)
        return NULL;
    st->name = ft_strdup(path, err);
    if (!st->name)
        goto fail;
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        ft_err_errno(err, path);
        goto fail_quiet;
    }
    if (fstat(fd, &sb) < 0) {
        ft_err_errno(err, path);
        close(fd);
        goto fail_quiet;
    }
    if (!S_ISREG(sb.st_mode)) {
        ft_err_set(err, "%s: not a regular file", path);
        close(fd);
        goto fail_quiet;
    }
    st->n_bytes = (size_t)sb.st_size;
    if (st->n_bytes > 0) {
        st->base = mmap(NULL, st->n_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
        if (st->base == MAP_FAILED) {
            st->base = NULL;
            ft_err_errno(err, path);
            close(fd);
            goto fail_quiet;
        }
        st->mapped = 1;
    }
    close(fd);
    if (check(st, err) < 0)
        goto fail;
    return st;
fail:
    ft_err_prefix(err, "%s", path);
fail_quiet:
    ft_safetensors_close(st);
    return NULL;
}

ft_safetensors *ft_safetensors_from_memory(void *data, size_t n_bytes, const char *name,
                                           ft_err *err)
{
    ft_safetensors *st = ft_calloc(1, sizeof *st, err);

    if (!st) {
        free(data);
        return NULL;
    }
    st->base = data;
    st->n_bytes = n_bytes;
    st->name = ft_strdup(name, err);
    if (!st->name || check(st, err) < 0) {
        ft_err_prefix(err, "%s", name);
        ft_safetensors_close(st);
        return NULL;
    }
    return st;
}

void ft_safetensors_close(ft_safetensors *st)
{
    if (!st)
        return;
    if (st->mapped)
        munmap(st->base, st->n_bytes);
    else
        free(st->base);
    if (st->header)
        json_decref(st->header);
    free(st->tensors);
    free(st->by_name);
    free(st->meta);
    free(st->name);
    free(st);
}

const ft_st_tensor *ft_safetensors_find(const ft_safetensors *st, const char *name)
{
    int lo = 0, hi = st->n_tensors - 1;

    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const ft_st_tensor *t = &st->tensors[st->by_name[mid]];
        int c = strcmp(name, t->name);
        if (!c)
            return t;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *ft_safetensors_meta(const ft_safetensors *st, const char *key)
{
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta[2 * i], key))
            return st->meta[2 * i + 1];
    return NULL;
}

int ft_safetensors_read_f32(const ft_safetensors *st, const ft_st_tensor *t, float *out,
                            ft_err *err)
{
    if (!ft_dtype_is_float(t->dtype))
        return ft_err_set(err, "%s: tensor \"%s\": dtype %s is not a float type", st->name,
                          t->name, ft_dtype_name(t->dtype));
    ft_dtype_to_f32(out, t->data, t->numel, t->dtype);
    return 0;
}

/* --- Writing -------------------------------------------------------------- */

static size_t entry_bytes(const ft_st_entry *e)
{
    size_t n = ft_dtype_size(e->dtype);
    for (int i = 0; i < e->ndim; i++)
        n *= (size_t)e->shape[i];
    return n;
}

/* The padded header text, or NULL. */
static char *build_header(const ft_st_entry *entries, int n, const char *const *meta,
                          size_t *len, ft_err *err)
{
    json_t *root = json_object(), *m;
    size_t off = 0;
    char *text = NULL, *padded = NULL;

    if (!root)
        goto oom;
    if (meta && meta[0]) {
        if (!(m = json_object()) || json_object_set_new(root, "__metadata__", m) < 0)
            goto oom;
        for (int i = 0; meta[i] && meta[i + 1]; i += 2)
            if (json_object_set_new(m, meta[i], json_string(meta[i + 1])) < 0)
                goto oom;
    }
    for (int i = 0; i < n; i++) {
        const ft_st_entry *e = &entries[i];
        json_t *o = json_object(), *shape = json_array();
        size_t nb = entry_bytes(e);
        if (!o || !shape || json_object_set_new(root, e->name, o) < 0)
            goto oom;
        json_object_set_new(o, "dtype", json_string(ft_dtype_name(e->dtype)));
        for (int d = 0; d < e->ndim; d++)
            json_array_append_new(shape, json_integer(e->shape[d]));
        json_object_set_new(o, "shape", shape);
        json_object_set_new(o, "data_offsets",
                            json_pack("[II]", (json_int_t)off, (json_int_t)(off + nb)));
        off += nb;
    }
    text = json_dumps(root, JSON_COMPACT);
    if (!text)
        goto oom;

    /* pad with spaces to a multiple of 8 so the data starts aligned */
    size_t tl = strlen(text), pl = (tl + 7) / 8 * 8;
    padded = ft_malloc(pl + 1, err);
    if (padded) {
        memcpy(padded, text, tl);
        memset(padded + tl, ' ', pl - tl);
        padded[pl] = '\0';
        *len = pl;
    }
    free(text);
    json_decref(root);
    return padded;
oom:
    json_decref(root);
    ft_err_set(err, "out of memory building a safetensors header");
    return NULL;
}

int ft_safetensors_write(const char *path, const ft_st_entry *entries, int n,
                         const char *const *meta, ft_err *err)
{
    size_t hlen = 0;
    char *header = build_header(entries, n, meta, &hlen, err);
    unsigned char len_le[8];
    enum { CHUNK = 16384 };
    unsigned char *buf = NULL;
    FILE *f = NULL;

    if (!header)
        return ft_err_prefix(err, "%s", path);
    buf = ft_malloc(CHUNK * 4, err);
    if (!buf)
        goto fail_quiet;
    f = fopen(path, "wb");
    if (!f) {
        ft_err_errno(err, path);
        goto fail_quiet;
    }
    for (int i = 0; i < 8; i++)
        len_le[i] = (unsigned char)(hlen >> (8 * i));
    if (fwrite(len_le, 1, 8, f) != 8 || fwrite(header, 1, hlen, f) != hlen)
        goto fail_io;

    /* data in entry order, converted in chunks */
    for (int i = 0; i < n; i++) {
        const ft_st_entry *e = &entries[i];
        size_t nb = entry_bytes(e), es = ft_dtype_size(e->dtype);
        if (!e->raw && !e->f32 && nb) {
            ft_err_set(err, "%s: tensor \"%s\" has no data", path, e->name);
            fclose(f);
            goto fail_quiet;
        }
        if (e->raw || !e->f32) {
            if (nb && fwrite(e->raw, 1, nb, f) != nb)
                goto fail_io;
            continue;
        }
        for (size_t at = 0; at < nb / es; at += CHUNK) {
            size_t k = nb / es - at < CHUNK ? nb / es - at : CHUNK;
            ft_dtype_from_f32(buf, e->f32 + at, k, e->dtype);
            if (fwrite(buf, es, k, f) != k)
                goto fail_io;
        }
    }
    if (fclose(f) != 0) {
        f = NULL;
        goto fail_io;
    }
    free(buf);
    free(header);
    return 0;
fail_io:
    ft_err_errno(err, path);
    if (f)
        fclose(f);
fail_quiet:
    free(buf);
    free(header);
    return -1;
}
