/* gguf: the GGUF container, read and written (see gguf.h).
 *
 * Everything the file says is checked against the file's size before it is
 * used: string and array lengths, tensor shapes (their products in 64 bits
 * without overflow), offsets, alignment and overlaps. The host is assumed
 * little-endian, like the files (x86-64 and arm64 are). */
#define _GNU_SOURCE
#include "model/gguf.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsout.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c reads and writes little-endian files on a little-endian host only"
#endif

/* ---------------------------------------------------------------- types */

/* ggml tensor types: name, elements per block, bytes per block
 * (gguf-py/gguf/constants.py GGMLQuantizationType and GGML_QUANT_SIZES;
 * MXFP4 = 39 from ggml.h). Gaps are types ggml removed. */
static const struct ttype {
    const char *name;
    int block_elems;
    int block_bytes;
} ttypes[] = {
    [0] = {"F32", 1, 4},         [1] = {"F16", 1, 2},
    [2] = {"Q4_0", 32, 18},      [3] = {"Q4_1", 32, 20},
    [6] = {"Q5_0", 32, 22},      [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},      [9] = {"Q8_1", 32, 40},
    [10] = {"Q2_K", 256, 84},    [11] = {"Q3_K", 256, 110},
    [12] = {"Q4_K", 256, 144},   [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},   [15] = {"Q8_K", 256, 292},
    [16] = {"IQ2_XXS", 256, 66}, [17] = {"IQ2_XS", 256, 74},
    [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},   [21] = {"IQ3_S", 256, 110},
    [22] = {"IQ2_S", 256, 82},   [23] = {"IQ4_XS", 256, 136},
    [24] = {"I8", 1, 1},         [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},        [27] = {"I64", 1, 8},
    [28] = {"F64", 1, 8},        [29] = {"IQ1_M", 256, 56},
    [30] = {"BF16", 1, 2},       [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},   [39] = {"MXFP4", 32, 17},
};
#define N_TTYPES ((int)(sizeof ttypes / sizeof ttypes[0]))

static const struct ttype *ttype_get(int type)
{
    if (type < 0 || type >= N_TTYPES || !ttypes[type].name)
        return NULL;
    return &ttypes[type];
}

const char *ft_gguf_ttype_name(int type)
{
    static __thread char buf[32];
    const struct ttype *t = ttype_get(type);
    if (t)
        return t->name;
    snprintf(buf, sizeof buf, "type %d", type);
    return buf;
}

size_t ft_gguf_ttype_block_bytes(int type)
{
    const struct ttype *t = ttype_get(type);
    return t ? (size_t)t->block_bytes : 0;
}

int ft_gguf_ttype_block_elems(int type)
{
    const struct ttype *t = ttype_get(type);
    return t ? t->block_elems : 0;
}

static const char *const vtype_names[] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool",  "string", "array", "uint64", "int64", "float64",
};

const char *ft_gguf_vtype_name(int type)
{
    if (type < 0 || type > FT_GGUF_F64)
        return "unknown type";
    return vtype_names[type];
}

/* Bytes of a fixed-size value type; 0 for string and array. */
static size_t vtype_size(int type)
{
    static const unsigned char sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return type >= 0 && type <= FT_GGUF_F64 ? sizes[type] : 0;
}

static int vtype_is_int(int type)
{
    return type == FT_GGUF_U8 || type == FT_GGUF_I8 || type == FT_GGUF_U16 ||
           type == FT_GGUF_I16 || type == FT_GGUF_U32 || type == FT_GGUF_I32 ||
           type == FT_GGUF_U64 || type == FT_GGUF_I64;
}

static int vtype_is_signed(int type)
{
    return type == FT_GGUF_I8 || type == FT_GGUF_I16 || type == FT_GGUF_I32 ||
           type == FT_GGUF_I64;
}

/* Decode a fixed-size value at p into the kv's union. */
static void scalar_decode(ft_gguf_kv *kv, int type, const uint8_t *p)
{
    uint64_t u = 0;
    int64_t i = 0;
    float f;

    switch (type) {
    case FT_GGUF_U8: case FT_GGUF_BOOL: kv->v.u = p[0]; break;
    case FT_GGUF_I8: kv->v.i = (int8_t)p[0]; break;
    case FT_GGUF_U16: memcpy(&u, p, 2); kv->v.u = (uint16_t)u; break;
    case FT_GGUF_I16: { int16_t x; memcpy(&x, p, 2); kv->v.i = x; break; }
    case FT_GGUF_U32: memcpy(&u, p, 4); kv->v.u = (uint32_t)u; break;
    case FT_GGUF_I32: { int32_t x; memcpy(&x, p, 4); kv->v.i = x; break; }
    case FT_GGUF_U64: memcpy(&u, p, 8); kv->v.u = u; break;
    case FT_GGUF_I64: memcpy(&i, p, 8); kv->v.i = i; break;
    case FT_GGUF_F32: memcpy(&f, p, 4); kv->v.f = f; break;
    case FT_GGUF_F64: memcpy(&kv->v.f, p, 8); break;
    }
}

/* --------------------------------------------------------------- reader */

typedef struct cursor {
    const uint8_t *p;
    uint64_t pos, size;
    const char *path;
    ft_err *err;
} cursor;

static int need(cursor *c, uint64_t n, const char *what)
{
    if (n > c->size - c->pos)
        return ft_err_set(c->err, "%s: %s at offset %llu runs past the end of the file "
                          "(%llu bytes)", c->path, what, (unsigned long long)c->pos,
                          (unsigned long long)c->size);
    return 0;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what)
{
    if (need(c, 4, what) < 0)
        return -1;
    memcpy(v, c->p + c->pos, 4);
    c->pos += 4;
    return 0;
}

static int rd_u64(cursor *c, uint64_t *v, const char *what)
{
    if (need(c, 8, what) < 0)
        return -1;
    memcpy(v, c->p + c->pos, 8);
    c->pos += 8;
    return 0;
}

/* A string: u64 length, bytes. *s points into the file. */
static int rd_str(cursor *c, const char **s, uint64_t *len, const char *what)
{
    if (rd_u64(c, len, what) < 0)
        return -1;
    if (*len > c->size - c->pos)
        return ft_err_set(c->err, "%s: %s: string length %llu at offset %llu runs past the "
                          "end of the file (%llu bytes)", c->path, what,
                          (unsigned long long)*len, (unsigned long long)(c->pos - 8),
                          (unsigned long long)c->size);
    *s = (const char *)c->p + c->pos;
    c->pos += *len;
    return 0;
}

static char *dup_n(const char *s, uint64_t n, ft_err *err)
{
    char *d = ft_malloc(n + 1, err);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* A metadata value of type kv->type at the cursor. */
static int rd_value(cursor *c, ft_gguf_kv *kv, const char *what)
{
    uint32_t et;
    uint64_t n;
    size_t sz;

    if (kv->type == FT_GGUF_STR) {
        const char *s;
        if (rd_str(c, &s, &kv->n, what) < 0)
            return -1;
        kv->v.s = s;
        return 0;
    }
    if (kv->type != FT_GGUF_ARR) {
        sz = vtype_size(kv->type);
        if (!sz)
            return ft_err_set(c->err, "%s: %s: unknown value type %d", c->path, what,
                              kv->type);
        if (need(c, sz, what) < 0)
            return -1;
        scalar_decode(kv, kv->type, c->p + c->pos);
        c->pos += sz;
        return 0;
    }

    /* An array: element type, count, elements. */
    if (rd_u32(c, &et, what) < 0 || rd_u64(c, &n, what) < 0)
        return -1;
    kv->elem_type = (int)et;
    kv->n = n;
    kv->v.arr = c->p + c->pos;
    if (et == FT_GGUF_ARR)
        return ft_err_set(c->err, "%s: %s: arrays of arrays are not supported", c->path,
                          what);
    if (et == FT_GGUF_STR) {
        /* Each string is at least its 8-byte length. */
        if (n > (c->size - c->pos) / 8)
            return ft_err_set(c->err, "%s: %s: array of %llu strings runs past the end of "
                              "the file", c->path, what, (unsigned long long)n);
        uint64_t *off = ft_malloc((n ? n : 1) * sizeof *off, c->err);
        if (!off)
            return -1;
        kv->str_off = off;
        for (uint64_t i = 0; i < n; i++) {
            const char *s;
            uint64_t len;
            off[i] = c->pos - (uint64_t)(kv->v.arr - c->p);
            if (rd_str(c, &s, &len, what) < 0)
                return -1;
        }
        return 0;
    }
    sz = vtype_size((int)et);
    if (!sz)
        return ft_err_set(c->err, "%s: %s: unknown array element type %u", c->path, what,
                          et);
    if (n > (c->size - c->pos) / sz)
        return ft_err_set(c->err, "%s: %s: array of %llu %s values runs past the end of the "
                          "file", c->path, what, (unsigned long long)n,
                          ft_gguf_vtype_name((int)et));
    c->pos += n * sz;
    return 0;
}

static int rd_metadata(cursor *c, ft_gguf *g, uint64_t n_kv)
{
    char what[160];

    /* Each entry is at least a key length and a value type. */
    if (n_kv > (c->size - c->pos) / 12)
        return ft_err_set(c->err, "%s: %llu metadata entries cannot fit in the file", c->path,
                          (unsigned long long)n_kv);
    g->kv = ft_calloc(n_kv ? n_kv : 1, sizeof *g->kv, c->err);
    if (!g->kv)
        return -1;
    for (uint64_t i = 0; i < n_kv; i++) {
        ft_gguf_kv *kv = &g->kv[i];
        const char *key;
        uint64_t key_len;
        uint32_t type;

        snprintf(what, sizeof what, "metadata entry %llu", (unsigned long long)i);
        if (rd_str(c, &key, &key_len, what) < 0)
            return -1;
        if (!(kv->key = dup_n(key, key_len, c->err)))
            return -1;
        g->n_kv = (int64_t)i + 1;
        snprintf(what, sizeof what, "metadata \"%.100s\"", kv->key);
        if (ft_gguf_find(g, kv->key) != kv)
            return ft_err_set(c->err, "%s: %s appears twice", c->path, what);
        if (rd_u32(c, &type, what) < 0)
            return -1;
        if (type > FT_GGUF_F64)
            return ft_err_set(c->err, "%s: %s: unknown value type %u", c->path, what, type);
        kv->type = (int)type;
        if (rd_value(c, kv, what) < 0)
            return -1;
    }
    return 0;
}

/* n_elems and n_bytes of a tensor from its shape and type, checking overflow. */
static int tensor_size(cursor *c, ft_gguf_tensor *t)
{
    const struct ttype *tt = ttype_get(t->type);
    int64_t n = 1;
    uint64_t blocks;

    if (!tt)
        return ft_err_set(c->err, "%s: tensor \"%s\": unknown tensor type %d", c->path,
                          t->name, t->type);
    for (int d = 0; d < t->n_dims; d++) {
        if (t->ne[d] < 0 || __builtin_mul_overflow(n, t->ne[d], &n))
            return ft_err_set(c->err, "%s: tensor \"%s\": the product of its dimensions "
                              "overflows 64 bits", c->path, t->name);
    }
    if (t->ne[0] % tt->block_elems)
        return ft_err_set(c->err, "%s: tensor \"%s\": its first dimension %lld is not a "
                          "multiple of %s's block of %d", c->path, t->name,
                          (long long)t->ne[0], tt->name, tt->block_elems);
    blocks = (uint64_t)n / (uint64_t)tt->block_elems;
    if (__builtin_mul_overflow(blocks, (uint64_t)tt->block_bytes, &t->n_bytes))
        return ft_err_set(c->err, "%s: tensor \"%s\": its byte size overflows 64 bits",
                          c->path, t->name);
    t->n_elems = n;
    return 0;
}

static int rd_tensor_infos(cursor *c, ft_gguf *g, uint64_t n_tensors)
{
    char what[160];

    /* Each info is at least name length, n_dims, type and offset. */
    if (n_tensors > (c->size - c->pos) / 24)
        return ft_err_set(c->err, "%s: %llu tensor infos cannot fit in the file", c->path,
                          (unsigned long long)n_tensors);
    g->tensors = ft_calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors, c->err);
    if (!g->tensors)
        return -1;
    for (uint64_t i = 0; i < n_tensors; i++) {
        ft_gguf_tensor *t = &g->tensors[i];
        const char *name;
        uint64_t name_len, ne, off;
        uint32_t n_dims, type;

        snprintf(what, sizeof what, "tensor info %llu", (unsigned long long)i);
        if (rd_str(c, &name, &name_len, what) < 0)
            return -1;
        if (!(t->name = dup_n(name, name_len, c->err)))
            return -1;
        g->n_tensors = (int64_t)i + 1;
        snprintf(what, sizeof what, "tensor \"%.100s\"", t->name);
        if (rd_u32(c, &n_dims, what) < 0)
            return -1;
        if (n_dims > FT_GGUF_MAX_DIMS)
            return ft_err_set(c->err, "%s: %s has %u dimensions (at most %d)", c->path, what,
                              n_dims, FT_GGUF_MAX_DIMS);
        t->n_dims = (int)n_dims;
        for (int d = 0; d < FT_GGUF_MAX_DIMS; d++)
            t->ne[d] = 1;
        for (uint32_t d = 0; d < n_dims; d++) {
            if (rd_u64(c, &ne, what) < 0)
                return -1;
            if (ne > INT64_MAX)
                return ft_err_set(c->err, "%s: %s: dimension %u is %llu, past 2^63", c->path,
                                  what, d, (unsigned long long)ne);
            t->ne[d] = (int64_t)ne;
        }
        if (rd_u32(c, &type, what) < 0 || rd_u64(c, &off, what) < 0)
            return -1;
        if (!ttype_get(type > 1000 ? -1 : (int)type))
            return ft_err_set(c->err, "%s: %s: unknown tensor type %u", c->path, what, type);
        t->type = (int)type;
        t->offset = off;
        if (tensor_size(c, t) < 0)
            return -1;
    }
    return 0;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    const ft_gguf_tensor *x = *(ft_gguf_tensor *const *)a, *y = *(ft_gguf_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    const ft_gguf_tensor *x = *(ft_gguf_tensor *const *)a, *y = *(ft_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Where every tensor's data lies: aligned, inside the file, disjoint;
 * names unique. */
static int check_tensor_data(cursor *c, ft_gguf *g)
{
    uint64_t data_bytes;
    ft_gguf_tensor **order;
    int rc = -1;

    g->data_offset = (c->pos + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors == 0)
        return 0;
    if (g->data_offset > c->size)
        return ft_err_set(c->err, "%s: the data section (offset %llu) starts past the end of "
                          "the file (%llu bytes)", c->path, (unsigned long long)g->data_offset,
                          (unsigned long long)c->size);
    data_bytes = c->size - g->data_offset;
    order = ft_malloc((size_t)g->n_tensors * sizeof *order, c->err);
    if (!order)
        return -1;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        ft_gguf_tensor *t = &g->tensors[i];
        order[i] = t;
        if (t->offset % g->alignment) {
            ft_err_set(c->err, "%s: tensor \"%s\": data offset %llu is not a multiple of the "
                       "alignment %u", c->path, t->name, (unsigned long long)t->offset,
                       g->alignment);
            goto out;
        }
        if (t->offset > data_bytes || t->n_bytes > data_bytes - t->offset) {
            ft_err_set(c->err, "%s: tensor \"%s\": its data (offset %llu, %llu bytes) runs "
                       "past the end of the file", c->path, t->name,
                       (unsigned long long)t->offset, (unsigned long long)t->n_bytes);
            goto out;
        }
        t->data = g->map + g->data_offset + t->offset;
    }

    qsort(order, (size_t)g->n_tensors, sizeof *order, cmp_tensor_offset);
    for (int64_t i = 0; i + 1 < g->n_tensors; i++) {
        if (order[i]->offset + order[i]->n_bytes > order[i + 1]->offset) {
            ft_err_set(c->err, "%s: tensors \"%s\" and \"%s\" overlap in the data section",
                       c->path, order[i]->name, order[i + 1]->name);
            goto out;
        }
    }
    qsort(order, (size_t)g->n_tensors, sizeof *order, cmp_tensor_name);
    for (int64_t i = 0; i + 1 < g->n_tensors; i++) {
        if (!strcmp(order[i]->name, order[i + 1]->name)) {
            ft_err_set(c->err, "%s: tensor \"%s\" appears twice", c->path, order[i]->name);
            goto out;
        }
    }
    rc = 0;
out:
    free(order);
    return rc;
}

/* general.alignment: an integer, a power of two; general.architecture: a string. */
static int check_general(cursor *c, ft_gguf *g)
{
    const ft_gguf_kv *kv = ft_gguf_find(g, "general.alignment");
    const char *arch = NULL;
    size_t len = 0;
    int rc;

    g->alignment = FT_GGUF_DEFAULT_ALIGNMENT;
    if (kv) {
        uint64_t a = vtype_is_signed(kv->type) ? (uint64_t)kv->v.i : kv->v.u;
        if (!vtype_is_int(kv->type) || (vtype_is_signed(kv->type) && kv->v.i <= 0) ||
            a == 0 || (a & (a - 1)) || a > (1u << 30))
            return ft_err_set(c->err, "%s: general.alignment must be a power of two "
                              "(an unsigned integer)", c->path);
        g->alignment = (uint32_t)a;
    }
    rc = ft_gguf_get_str(g, "general.architecture", &arch, &len, c->err);
    if (rc < 0)
        return ft_err_prefix(c->err, "%s", c->path);
    if (rc == 0)
        return ft_err_set(c->err, "%s: no general.architecture key (llama.cpp needs one)",
                          c->path);
    if (!(g->arch = dup_n(arch, len, c->err)))
        return -1;
    return 0;
}

static int parse(ft_gguf *g, ft_err *err)
{
    cursor c = {g->map, 0, g->map_bytes, g->path, err};
    uint32_t version;
    uint64_t n_tensors, n_kv;

    if (g->map_bytes < 4 || memcmp(g->map, "GGUF", 4))
        return ft_err_set(err, "%s: not a GGUF file (it does not start with \"GGUF\")",
                          g->path);
    c.pos = 4;
    if (rd_u32(&c, &version, "the version") < 0)
        return -1;
    if (version && !(version & 0xffff))
        return ft_err_set(err, "%s: a big-endian GGUF file; ft reads little-endian ones",
                          g->path);
    if (version != 2 && version != 3)
        return ft_err_set(err, "%s: GGUF version %u is not supported (ft reads versions 2 "
                          "and 3)", g->path, version);
    g->version = version;
    if (rd_u64(&c, &n_tensors, "the tensor count") < 0 ||
        rd_u64(&c, &n_kv, "the metadata count") < 0)
        return -1;
    if (rd_metadata(&c, g, n_kv) < 0 || check_general(&c, g) < 0)
        return -1;
    if (rd_tensor_infos(&c, g, n_tensors) < 0)
        return -1;
    return check_tensor_data(&c, g);
}

ft_gguf *ft_gguf_open(const char *path, ft_err *err)
{
    ft_gguf *g = ft_calloc(1, sizeof *g, err);
    struct stat st;
    int fd;

    if (!g)
        return NULL;
    if (!(g->path = ft_strdup(path, err)))
        goto fail;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ft_err_errno(err, path);
        goto fail;
    }
    if (fstat(fd, &st) < 0) {
        ft_err_errno(err, path);
        close(fd);
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        ft_err_set(err, "%s: not a GGUF file (%s)", path,
                   S_ISREG(st.st_mode) ? "it is empty" : "not a regular file");
        close(fd);
        goto fail;
    }
    g->map_bytes = (size_t)st.st_size;
    g->map = mmap(NULL, g->map_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (g->map == MAP_FAILED) {
        g->map = NULL;
        ft_err_errno(err, path);
        goto fail;
    }
    if (parse(g, err) < 0)
        goto fail;
    return g;
fail:
    ft_gguf_close(g);
    return NULL;
}

void ft_gguf_close(ft_gguf *g)
{
    if (!g)
        return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free((void *)g->kv[i].str_off);
    }
    free(g->kv);
    for (int64_t i = 0; i < g->n_tensors; i++)
        free(g->tensors[i].name);
    free(g->tensors);
    if (g->map)
        munmap((void *)g->map, g->map_bytes);
    free((void *)g->arch);
    free(g->path);
    free(g);
}

int ft_gguf_is_gguf(const char *path)
{
    char magic[4];
    size_t n_name = strlen(path);
    struct stat st;
    ssize_t n;
    int fd;

    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    if (n_name >= 5 && !strcasecmp(path + n_name - 5, ".gguf"))
        return 1;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    n = read(fd, magic, 4);
    close(fd);
    return n == 4 && !memcmp(magic, "GGUF", 4);
}

const ft_gguf_kv *ft_gguf_find(const ft_gguf *g, const char *key)
{
    for (int64_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key))
            return &g->kv[i];
    return NULL;
}

const ft_gguf_tensor *ft_gguf_tensor_find(const ft_gguf *g, const char *name)
{
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name))
            return &g->tensors[i];
    return NULL;
}

static int wrong_type(const ft_gguf *g, const ft_gguf_kv *kv, const char *want, ft_err *err)
{
    if (kv->type == FT_GGUF_ARR)
        return ft_err_set(err, "%s: metadata \"%s\" is an array of %s, not %s", g->path,
                          kv->key, ft_gguf_vtype_name(kv->elem_type), want);
    return ft_err_set(err, "%s: metadata \"%s\" is %s, not %s", g->path, kv->key,
                      ft_gguf_vtype_name(kv->type), want);
}

int ft_gguf_get_int(const ft_gguf *g, const char *key, int64_t *out, ft_err *err)
{
    const ft_gguf_kv *kv = ft_gguf_find(g, key);
    if (!kv)
        return 0;
    if (!vtype_is_int(kv->type))
        return wrong_type(g, kv, "an integer", err);
    if (!vtype_is_signed(kv->type) && kv->v.u > INT64_MAX)
        return ft_err_set(err, "%s: metadata \"%s\" is too large (%llu)", g->path, key,
                          (unsigned long long)kv->v.u);
    *out = vtype_is_signed(kv->type) ? kv->v.i : (int64_t)kv->v.u;
    return 1;
}

int ft_gguf_get_float(const ft_gguf *g, const char *key, double *out, ft_err *err)
{
    const ft_gguf_kv *kv = ft_gguf_find(g, key);
    if (!kv)
        return 0;
    if (kv->type != FT_GGUF_F32 && kv->type != FT_GGUF_F64)
        return wrong_type(g, kv, "a float", err);
    *out = kv->v.f;
    return 1;
}

int ft_gguf_get_bool(const ft_gguf *g, const char *key, int *out, ft_err *err)
{
    const ft_gguf_kv *kv = ft_gguf_find(g, key);
    if (!kv)
        return 0;
    if (kv->type != FT_GGUF_BOOL)
        return wrong_type(g, kv, "a bool", err);
    *out = kv->v.u != 0;
    return 1;
}

int ft_gguf_get_str(const ft_gguf *g, const char *key, const char **s, size_t *len,
                    ft_err *err)
{
    const ft_gguf_kv *kv = ft_gguf_find(g, key);
    if (!kv)
        return 0;
    if (kv->type != FT_GGUF_STR)
        return wrong_type(g, kv, "a string", err);
    *s = kv->v.s;
    *len = (size_t)kv->n;
    return 1;
}

int ft_gguf_get_arr(const ft_gguf *g, const char *key, int elem_type, const ft_gguf_kv **kv,
                    ft_err *err)
{
    const ft_gguf_kv *k = ft_gguf_find(g, key);
    char want[48];

    if (!k)
        return 0;
    if (k->type != FT_GGUF_ARR || k->elem_type != elem_type) {
        snprintf(want, sizeof want, "an array of %s", ft_gguf_vtype_name(elem_type));
        return wrong_type(g, k, want, err);
    }
    *kv = k;
    return 1;
}

const char *ft_gguf_arr_str(const ft_gguf_kv *kv, uint64_t i, size_t *len)
{
    const uint8_t *p = kv->v.arr + kv->str_off[i];
    uint64_t n;
    memcpy(&n, p, 8);
    *len = (size_t)n;
    return (const char *)p + 8;
}

int64_t ft_gguf_arr_int(const ft_gguf_kv *kv, uint64_t i)
{
    ft_gguf_kv one = {0};
    size_t sz = vtype_size(kv->elem_type);
    scalar_decode(&one, kv->elem_type, kv->v.arr + i * sz);
    return vtype_is_signed(kv->elem_type) ? one.v.i : (int64_t)one.v.u;
}

double ft_gguf_arr_float(const ft_gguf_kv *kv, uint64_t i)
{
    ft_gguf_kv one = {0};
    size_t sz = vtype_size(kv->elem_type);
    scalar_decode(&one, kv->elem_type, kv->v.arr + i * sz);
    if (kv->elem_type == FT_GGUF_F32 || kv->elem_type == FT_GGUF_F64)
        return one.v.f;
    return vtype_is_signed(kv->elem_type) ? (double)one.v.i : (double)one.v.u;
}

/* --------------------------------------------------------------- writer */

/* A metadata entry, its value already encoded (type field included). */
typedef struct wkv {
    char *key;
    uint8_t *val;
    size_t val_bytes;
    int type;
    uint64_t u;      /* the value of an unsigned integer (for general.alignment) */
} wkv;

typedef struct wtensor {
    char *name;
    int type, n_dims;
    int64_t ne[FT_GGUF_MAX_DIMS];
    uint64_t n_bytes, offset;
    const void *data;
    ft_gguf_fill_fn fill;
    void *ctx;
} wtensor;

struct ft_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
};

ft_gguf_writer *ft_gguf_writer_new(ft_err *err)
{
    return ft_calloc(1, sizeof(ft_gguf_writer), err);
}

void ft_gguf_writer_free(ft_gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    free(w->kv);
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->t);
    free(w);
}

/* The entry for key, created at the end if new; its old value freed. */
static wkv *wkv_slot(ft_gguf_writer *w, const char *key, ft_err *err)
{
    wkv *k;
    for (size_t i = 0; i < w->n_kv; i++) {
        if (!strcmp(w->kv[i].key, key)) {
            k = &w->kv[i];
            free(k->val);
            k->val = NULL;
            k->val_bytes = 0;
            return k;
        }
    }
    if (ft_grow(&w->kv, &w->cap_kv, w->n_kv + 1, sizeof *w->kv, err) < 0)
        return NULL;
    k = &w->kv[w->n_kv];
    memset(k, 0, sizeof *k);
    if (!(k->key = ft_strdup(key, err)))
        return NULL;
    w->n_kv++;
    return k;
}

/* Store type + payload bytes as key's value. */
static int set_raw(ft_gguf_writer *w, const char *key, int type, const void *payload,
                   size_t n_bytes, ft_err *err)
{
    wkv *k = wkv_slot(w, key, err);
    uint32_t t = (uint32_t)type;
    if (!k)
        return -1;
    if (!(k->val = ft_malloc(4 + n_bytes, err)))
        return -1;
    memcpy(k->val, &t, 4);
    if (n_bytes)
        memcpy(k->val + 4, payload, n_bytes);
    k->val_bytes = 4 + n_bytes;
    k->type = type;
    k->u = 0;
    return 0;
}

int ft_gguf_set_uint(ft_gguf_writer *w, const char *key, int type, uint64_t v, ft_err *err)
{
    size_t sz = vtype_size(type);
    if (!vtype_is_int(type) || vtype_is_signed(type))
        return ft_err_set(err, "gguf: %s: not an unsigned integer type", key);
    if (sz < 8 && v >> (8 * sz))
        return ft_err_set(err, "gguf: %s: %llu does not fit in %s", key,
                          (unsigned long long)v, ft_gguf_vtype_name(type));
    if (set_raw(w, key, type, &v, sz, err) < 0)
        return -1;
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key))
            w->kv[i].u = v;
    return 0;
}

int ft_gguf_set_int(ft_gguf_writer *w, const char *key, int type, int64_t v, ft_err *err)
{
    size_t sz = vtype_size(type);
    int64_t lim;
    if (!vtype_is_signed(type))
        return ft_err_set(err, "gguf: %s: not a signed integer type", key);
    lim = sz == 8 ? INT64_MAX : ((int64_t)1 << (8 * sz - 1)) - 1;
    if (v > lim || v < -lim - 1)
        return ft_err_set(err, "gguf: %s: %lld does not fit in %s", key, (long long)v,
                          ft_gguf_vtype_name(type));
    return set_raw(w, key, type, &v, sz, err);
}

int ft_gguf_set_u32(ft_gguf_writer *w, const char *key, uint32_t v, ft_err *err)
{
    return ft_gguf_set_uint(w, key, FT_GGUF_U32, v, err);
}

int ft_gguf_set_i32(ft_gguf_writer *w, const char *key, int32_t v, ft_err *err)
{
    return ft_gguf_set_int(w, key, FT_GGUF_I32, v, err);
}

int ft_gguf_set_f32(ft_gguf_writer *w, const char *key, float v, ft_err *err)
{
    return set_raw(w, key, FT_GGUF_F32, &v, 4, err);
}

int ft_gguf_set_f64(ft_gguf_writer *w, const char *key, double v, ft_err *err)
{
    return set_raw(w, key, FT_GGUF_F64, &v, 8, err);
}

int ft_gguf_set_bool(ft_gguf_writer *w, const char *key, int v, ft_err *err)
{
    uint8_t b = v != 0;
    return set_raw(w, key, FT_GGUF_BOOL, &b, 1, err);
}

int ft_gguf_set_str(ft_gguf_writer *w, const char *key, const char *s, ft_err *err)
{
    uint64_t n = strlen(s);
    uint8_t *buf = ft_malloc(8 + n, err);
    int rc;
    if (!buf)
        return -1;
    memcpy(buf, &n, 8);
    memcpy(buf + 8, s, n);
    rc = set_raw(w, key, FT_GGUF_STR, buf, 8 + n, err);
    free(buf);
    return rc;
}

int ft_gguf_set_arr(ft_gguf_writer *w, const char *key, int elem_type, const void *data,
                    uint64_t n, ft_err *err)
{
    size_t sz = vtype_size(elem_type);
    uint32_t et = (uint32_t)elem_type;
    uint8_t *buf;
    int rc;

    if (!sz)
        return ft_err_set(err, "gguf: %s: arrays of %s need ft_gguf_set_arr_str", key,
                          ft_gguf_vtype_name(elem_type));
    if (n > (SIZE_MAX - 12) / sz)
        return ft_err_set(err, "gguf: %s: array too large", key);
    if (!(buf = ft_malloc(12 + n * sz, err)))
        return -1;
    memcpy(buf, &et, 4);
    memcpy(buf + 4, &n, 8);
    if (n)
        memcpy(buf + 12, data, n * sz);
    rc = set_raw(w, key, FT_GGUF_ARR, buf, 12 + n * sz, err);
    free(buf);
    return rc;
}

int ft_gguf_set_arr_str(ft_gguf_writer *w, const char *key, const char *const *strs,
                        const size_t *lens, uint64_t n, ft_err *err)
{
    uint32_t et = FT_GGUF_STR;
    size_t total = 12, pos = 12;
    uint8_t *buf;
    int rc;

    for (uint64_t i = 0; i < n; i++)
        total += 8 + (lens ? lens[i] : strlen(strs[i]));
    if (!(buf = ft_malloc(total, err)))
        return -1;
    memcpy(buf, &et, 4);
    memcpy(buf + 4, &n, 8);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = lens ? lens[i] : strlen(strs[i]);
        memcpy(buf + pos, &len, 8);
        if (len)
            memcpy(buf + pos + 8, strs[i], len);
        pos += 8 + len;
    }
    rc = set_raw(w, key, FT_GGUF_ARR, buf, total, err);
    free(buf);
    return rc;
}

static int add_tensor(ft_gguf_writer *w, const char *name, int type, int n_dims,
                      const int64_t *ne, const void *data, ft_gguf_fill_fn fill, void *ctx,
                      ft_err *err)
{
    const struct ttype *tt = ttype_get(type);
    int64_t n = 1;
    wtensor *t;

    if (strlen(name) > FT_GGUF_MAX_NAME)
        return ft_err_set(err, "gguf: tensor name \"%s\" is longer than %d bytes", name,
                          FT_GGUF_MAX_NAME);
    if (!tt)
        return ft_err_set(err, "gguf: tensor \"%s\": unknown tensor type %d", name, type);
    if (n_dims < 1 || n_dims > FT_GGUF_MAX_DIMS)
        return ft_err_set(err, "gguf: tensor \"%s\": %d dimensions", name, n_dims);
    for (int d = 0; d < n_dims; d++)
        if (ne[d] < 1 || __builtin_mul_overflow(n, ne[d], &n))
            return ft_err_set(err, "gguf: tensor \"%s\": bad dimension %lld", name,
                              (long long)ne[d]);
    if (ne[0] % tt->block_elems)
        return ft_err_set(err, "gguf: tensor \"%s\": first dimension not a multiple of %d",
                          name, tt->block_elems);
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name))
            return ft_err_set(err, "gguf: tensor \"%s\" added twice", name);
    if (ft_grow(&w->t, &w->cap_t, w->n_t + 1, sizeof *w->t, err) < 0)
        return -1;
    t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    if (!(t->name = ft_strdup(name, err)))
        return -1;
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < FT_GGUF_MAX_DIMS; d++)
        t->ne[d] = d < n_dims ? ne[d] : 1;
    t->n_bytes = (uint64_t)n / (uint64_t)tt->block_elems * (uint64_t)tt->block_bytes;
    t->data = data;
    t->fill = fill;
    t->ctx = ctx;
    w->n_t++;
    return 0;
}

int ft_gguf_add_tensor(ft_gguf_writer *w, const char *name, int type, int n_dims,
                       const int64_t *ne, const void *data, ft_err *err)
{
    return add_tensor(w, name, type, n_dims, ne, data, NULL, NULL, err);
}

int ft_gguf_add_tensor_fn(ft_gguf_writer *w, const char *name, int type, int n_dims,
                          const int64_t *ne, ft_gguf_fill_fn fill, void *ctx, ft_err *err)
{
    return add_tensor(w, name, type, n_dims, ne, NULL, fill, ctx, err);
}

/* Checked output to the temporary file. */
typedef struct wout {
    FILE *f;
    const char *path;
    uint64_t pos;
    ft_err *err;
} wout;

static int put(wout *o, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, o->f) != n)
        return ft_err_errno(o->err, o->path);
    o->pos += n;
    return 0;
}

static int put_u32(wout *o, uint32_t v) { return put(o, &v, 4); }
static int put_u64(wout *o, uint64_t v) { return put(o, &v, 8); }

static int put_pad(wout *o, uint32_t alignment)
{
    static const uint8_t zeros[256];
    uint64_t n = (alignment - o->pos % alignment) % alignment;
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (put(o, zeros, k) < 0)
            return -1;
        n -= k;
    }
    return 0;
}

static int write_body(ft_gguf_writer *w, wout *o, uint32_t alignment)
{
    uint64_t off = 0;

    /* Header and metadata. */
    if (put(o, "GGUF", 4) < 0 || put_u32(o, 3) < 0 || put_u64(o, w->n_t) < 0 ||
        put_u64(o, w->n_kv) < 0)
        return -1;
    for (size_t i = 0; i < w->n_kv; i++) {
        uint64_t len = strlen(w->kv[i].key);
        if (put_u64(o, len) < 0 || put(o, w->kv[i].key, len) < 0 ||
            put(o, w->kv[i].val, w->kv[i].val_bytes) < 0)
            return -1;
    }

    /* Tensor infos, each tensor's data at an aligned offset. */
    for (size_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        uint64_t len = strlen(t->name);
        t->offset = off;
        off += (t->n_bytes + alignment - 1) / alignment * alignment;
        if (put_u64(o, len) < 0 || put(o, t->name, len) < 0 ||
            put_u32(o, (uint32_t)t->n_dims) < 0)
            return -1;
        for (int d = 0; d < t->n_dims; d++)
            if (put_u64(o, (uint64_t)t->ne[d]) < 0)
                return -1;
        if (put_u32(o, (uint32_t)t->type) < 0 || put_u64(o, t->offset) < 0)
            return -1;
    }
    if (put_pad(o, alignment) < 0)
        return -1;

    /* The data. */
    for (size_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        if (t->fill) {
            void *buf = ft_malloc(t->n_bytes ? t->n_bytes : 1, o->err);
            int rc;
            if (!buf)
                return -1;
            rc = t->fill(t->ctx, buf, t->n_bytes, o->err);
            if (rc < 0)
                ft_err_prefix(o->err, "%s: tensor %s", o->path, t->name);
            else
                rc = put(o, buf, t->n_bytes);
            free(buf);
            if (rc < 0)
                return -1;
        } else if (put(o, t->data, t->n_bytes) < 0) {
            return -1;
        }
        if (put_pad(o, alignment) < 0)
            return -1;
    }
    return 0;
}

int ft_gguf_write(ft_gguf_writer *w, const char *path, int force, ft_err *err)
{
    uint32_t alignment = FT_GGUF_DEFAULT_ALIGNMENT;
    ft_out out;
    wout o = {0};
    char buf[1 << 16];
    int rc;

    for (size_t i = 0; i < w->n_kv; i++) {
        wkv *k = &w->kv[i];
        if (strcmp(k->key, "general.alignment"))
            continue;
        if (k->type != FT_GGUF_U32 || !k->u || (k->u & (k->u - 1)))
            return ft_err_set(err, "%s: general.alignment must be a uint32 power of two",
                              path);
        alignment = (uint32_t)k->u;
    }
    if (ft_out_begin(&out, path, 0, force, err) < 0)
        return -1;
    o.path = path;
    o.err = err;
    o.f = fopen(out.tmp, "wb");
    if (!o.f) {
        ft_err_errno(err, out.tmp);
        ft_out_abort(&out);
        return -1;
    }
    setvbuf(o.f, buf, _IOFBF, sizeof buf);
    rc = write_body(w, &o, alignment);
    if (rc == 0 && fflush(o.f) != 0)
        rc = ft_err_errno(err, path);
    if (fclose(o.f) != 0 && rc == 0)
        rc = ft_err_errno(err, path);
    if (rc == 0)
        rc = ft_out_commit(&out, err);
    if (rc < 0)
        ft_out_abort(&out);
    return rc;
}
